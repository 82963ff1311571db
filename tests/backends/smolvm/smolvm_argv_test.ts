import assert from "node:assert/strict";
import {
  ARGV_FLAG_SINCE,
  createArgv,
  deleteArgv,
  execArgv,
  isValidMachineName,
  lsJsonArgv,
  startArgv,
  stopArgv,
  versionArgv,
} from "../../../lib/backends/smolvm/smolvm_argv.ts";
import {
  compareVersions,
  MIN_SMOLVM_VERSION,
} from "../../../lib/backends/smolvm/smolvm_version.ts";

Deno.test("argv builders produce the 1.9.3 dialect", () => {
  const table: [string, string[], string[]][] = [
    [
      "create with secrets",
      createArgv({
        name: "bot-bottle-demo",
        smolfilePath: "/s/Smolfile",
        imageArchive: "/c/img.tar",
        dns: "10.213.0.2",
        secretEnv: [{ guest: "GH_TOKEN", hostVar: "BOT_BOTTLE_SECRET_GH_TOKEN" }, {
          guest: "A",
          hostVar: "B",
        }],
      }),
      [
        "smolvm",
        "machine",
        "create",
        "--name",
        "bot-bottle-demo",
        "-s",
        "/s/Smolfile",
        "-I",
        "/c/img.tar",
        "--dns",
        "10.213.0.2",
        "--secret-env",
        "GH_TOKEN=BOT_BOTTLE_SECRET_GH_TOKEN",
        "--secret-env",
        "A=B",
      ],
    ],
    [
      "create without secrets",
      createArgv({
        name: "m1",
        smolfilePath: "S",
        imageArchive: "I",
        dns: "1.2.3.4",
        secretEnv: [],
      }),
      ["smolvm", "machine", "create", "--name", "m1", "-s", "S", "-I", "I", "--dns", "1.2.3.4"],
    ],
    ["start", startArgv("m1"), ["smolvm", "machine", "start", "--name", "m1"]],
    [
      "exec interactive",
      execArgv({ name: "m1", command: ["claude", "--resume"], interactive: true }),
      ["smolvm", "machine", "exec", "--name", "m1", "-i", "-t", "--", "claude", "--resume"],
    ],
    [
      "exec buffered with env",
      execArgv({ name: "m1", command: ["sh", "-c", "true"], interactive: false, env: { X: "1" } }),
      ["smolvm", "machine", "exec", "--name", "m1", "-e", "X=1", "--", "sh", "-c", "true"],
    ],
    ["stop", stopArgv("m1"), ["smolvm", "machine", "stop", "--name", "m1"]],
    ["delete never prompts", deleteArgv("m1"), [
      "smolvm",
      "machine",
      "delete",
      "--name",
      "m1",
      "-f",
    ]],
    ["ls", lsJsonArgv(), ["smolvm", "machine", "ls", "--json"]],
    ["version", versionArgv(), ["smolvm", "--version"]],
  ];
  for (const [label, actual, expected] of table) assert.deepEqual(actual, expected, label);
});

Deno.test("exec uses the long-only --name and always separates the workload with --", () => {
  const argv = execArgv({ name: "m1", command: ["-n", "x"], interactive: false });
  assert.ok(!argv.slice(0, argv.indexOf("--")).includes("-n"));
  assert.deepEqual(argv.slice(argv.indexOf("--") + 1), ["-n", "x"]);
});

Deno.test("builders refuse what smolvm would refuse or what would put secrets in argv", () => {
  const base = { smolfilePath: "S", imageArchive: "I", dns: "10.0.0.2", secretEnv: [] };
  assert.throws(() => createArgv({ ...base, name: "-bad" }));
  assert.throws(() => createArgv({ ...base, name: "ok", dns: "10.0.0.256" }));
  assert.throws(() => createArgv({ ...base, name: "ok", dns: "host.example" }));
  assert.throws(() =>
    createArgv({ ...base, name: "ok", secretEnv: [{ guest: "A", hostVar: "B=value" }] })
  );
  assert.throws(() => execArgv({ name: "m", command: [], interactive: false }));
  assert.throws(() =>
    execArgv({ name: "m", command: ["x"], interactive: false, env: { "A=B": "" } })
  );
  assert.throws(() => stopArgv("a--b"));
});

Deno.test("machine names follow smolvm's validate_vm_name", () => {
  const table: [string, boolean][] = [
    ["bot-bottle-demo", true],
    ["a", true],
    ["A_1-b", true],
    ["x".repeat(128), true],
    ["x".repeat(129), false],
    ["", false],
    ["-a", false],
    ["_a", false],
    ["a-", false],
    ["a--b", false],
    ["a.b", false],
    ["a b", false],
  ];
  for (const [name, ok] of table) assert.equal(isValidMachineName(name), ok, name);
});

Deno.test("no flag used by the builders is newer than the supported floor", () => {
  for (const [flag, since] of Object.entries(ARGV_FLAG_SINCE)) {
    if (since === null) continue; // unknown introduction: reported, not assumed
    assert.ok(compareVersions(since, MIN_SMOLVM_VERSION) <= 0, `${flag} is newer than the floor`);
  }
});
