import assert from "node:assert/strict";
import { main } from "../../main.ts";
import { seedSubnet } from "../../lib/plan/bundle_subnet.ts";
import { ok, on } from "../fixtures/recording_runner.ts";
import { HEALTHY_HOST, testContext } from "../fixtures/test_context.ts";

const MANIFEST = "/home/u/.config/bot-bottle/bot-bottle.toml";
const NEEDLE = "needle-7f3a9c1e-secret-value";

const USER_TOML = `
[bottles.base]
image = "bot-bottle/agent-shell:latest"
env = { EDITOR = "vi" }
secrets = { API_TOKEN = "HOST_API_TOKEN" }
egress.allow = ["api.example.test"]

[bottles.dev]
extends = "base"
cpus = 3
memory = 2048
egress.allow = ["*.cdn.example.test"]

[agents.demo]
bottle = "dev"
command = ["bash", "-l"]
`;

function ctx(extra: Parameters<typeof testContext>[0] = {}) {
  return testContext({
    files: { [MANIFEST]: USER_TOML },
    env: { HOST_API_TOKEN: NEEDLE },
    ...extra,
  });
}

Deno.test("start --dry-run --json prints one plan object with the contract keys", async () => {
  const c = ctx();
  const code = await main(["start", "demo", "--dry-run", "--json"], c);
  assert.equal(code, 0, c.stderrText);
  const plan = JSON.parse(c.stdoutText);
  for (
    const key of [
      "slug",
      "agent",
      "bottles",
      "backend",
      "subnet",
      "gateway",
      "bundle_ip",
      "guest_env",
      "egress_allow",
      "resources",
      "smolfile",
      "preflight",
    ]
  ) assert.ok(key in plan, key);
  assert.equal(plan.slug, "demo-abcde");
  assert.equal(plan.backend, "smolmachines");
  assert.deepEqual(plan.bottles, ["base", "dev"]);
  const seed = seedSubnet("demo-abcde");
  assert.equal(plan.subnet, seed.subnet);
  assert.equal(plan.gateway, seed.gateway);
  assert.equal(plan.bundle_ip, seed.bundleIp);
  assert.deepEqual(plan.subnet_moves, []);
  assert.deepEqual(plan.egress_allow, ["api.example.test", "*.cdn.example.test"]);
  assert.deepEqual(plan.resources, { cpus: 3, memory_mib: 2048 });
  assert.deepEqual(plan.secrets, [{
    guest: "API_TOKEN",
    host_var: "HOST_API_TOKEN",
    present: true,
    holder: "agent",
    inject: [],
    placeholder: null,
  }]);
  assert.equal(plan.guest_env.HTTPS_PROXY, `http://${seed.bundleIp}:8888`);
  assert.match(
    plan.smolfile,
    new RegExp(`allow_cidrs = \\["${seed.bundleIp.replaceAll(".", "\\.")}/32"\\]`),
  );
  assert.ok(plan.preflight.every((c: { status: string }) => c.status === "ok"));
  assert.equal(plan.ready, true);
  assert.equal(plan.schema, 1);
  assert.equal(plan.smolvm_version, "1.9.3");
  // The launch needs nothing the plan does not carry: the bundle config is rendered here,
  // and there is no second copy of the metadata record.
  assert.ok(!("metadata" in plan));
  assert.deepEqual(JSON.parse(plan.bundle_config.files["policy.json"]).allow[0], {
    kind: "exact",
    host: "api.example.test",
    port: null,
  });
  assert.deepEqual(plan.bundle_limits, { memory_mib: 384, cpus: 1, pids: 256 });
  assert.equal(plan.egress_on_block, "refuse");
  assert.deepEqual(plan.bundle_config.identity_mounts, []);
  assert.equal(plan.state_dir, "/home/u/.local/state/bot-bottle/bottles/demo-abcde");
  assert.equal(c.stderrText, "");
});

Deno.test("a secret's value never appears in the plan, JSON or text", async () => {
  for (const args of [["--json"], []]) {
    const c = ctx();
    assert.equal(await main(["start", "demo", "--dry-run", ...args], c), 0);
    assert.ok(!c.stdoutText.includes(NEEDLE));
    assert.ok(!c.stderrText.includes(NEEDLE));
    assert.ok(!c.runner.calls.some((call) => JSON.stringify(call).includes(NEEDLE)));
  }
});

Deno.test("a taken /24 moves the subnet and the plan says why", async () => {
  const seed = seedSubnet("demo-abcde");
  const c = ctx({
    handlers: [
      on(["docker", "network", "ls"], ok("n1\n")),
      on(["docker", "network", "inspect"], ok(`clash ${seed.subnet}\n`)),
      ...HEALTHY_HOST,
    ],
  });
  assert.equal(await main(["start", "demo", "--dry-run", "--json"], c), 0);
  const plan = JSON.parse(c.stdoutText);
  assert.notEqual(plan.subnet, seed.subnet);
  assert.equal(plan.seed_subnet, seed.subnet);
  assert.deepEqual(plan.subnet_moves, [
    { subnet: seed.subnet, taken_by: seed.subnet, source: 'docker network "clash"' },
  ]);
  const text = ctx({
    handlers: [
      on(["docker", "network", "ls"], ok("n1\n")),
      on(["docker", "network", "inspect"], ok(`clash ${seed.subnet}\n`)),
      ...HEALTHY_HOST,
    ],
  });
  await main(["start", "demo", "--dry-run"], text);
  assert.match(
    text.stdoutText,
    new RegExp(`moved past ${seed.subnet.replaceAll(".", "\\.")}: overlaps`),
  );
});

Deno.test("a dry run whose preflight failed prints the plan, says not ready, exits 1", async () => {
  const c = ctx({ have: ["docker"], kvm: { state: "missing" } });
  assert.equal(await main(["start", "demo", "--dry-run", "--json"], c), 1);
  assert.match(
    c.stderrText,
    /^bot-bottle: not ready: a start would be refused \(2 reasons\):\n {2}smolvm-installed: .*\n {4}fix: .*\n {2}kvm-device: /,
  );
  const text = ctx({ have: ["docker"], kvm: { state: "missing" } });
  assert.equal(await main(["start", "demo", "--dry-run"], text), 1);
  assert.match(text.stdoutText, /^preflight\n {2}FAIL smolvm-installed/m);
  assert.match(text.stderrText, /^bot-bottle: not ready/);
  const secret = testContext({ files: { [MANIFEST]: USER_TOML } });
  assert.equal(await main(["start", "demo", "--dry-run", "--backend", "docker"], secret), 1);
  assert.match(
    secret.stderrText,
    /not ready: a start would be refused \(1 reason\):\n {2}secret API_TOKEN reads host variable HOST_API_TOKEN, which is not set\n {4}fix: export HOST_API_TOKEN=\.\.\.\n$/,
  );
  const plan = JSON.parse(c.stdoutText);
  assert.equal(plan.ready, false);
  const failed = plan.preflight.filter((x: { status: string }) => x.status === "fail").map((
    x: { id: string },
  ) => x.id);
  assert.deepEqual(failed, ["smolvm-installed", "kvm-device"]);
});

Deno.test("a real start stops on a failed preflight before any side effect", async () => {
  const c = ctx({
    handlers: [on(["smolvm", "--version"], ok("smolvm 1.1.0")), ...HEALTHY_HOST],
  });
  assert.equal(await main(["start", "demo", "--yes"], c), 1);
  assert.match(c.stderrText, /FAIL smolvm-version/);
  assert.match(
    c.stderrText,
    /bot-bottle: error: cannot start a smolmachines bottle on this host; nothing was created/,
  );
  assertNoSideEffects(c.runner.argvs);
});

Deno.test("--backend docker plans without smolvm and without a Smolfile", async () => {
  const c = ctx({ have: ["docker"] });
  assert.equal(await main(["start", "demo", "--dry-run", "--json", "--backend", "docker"], c), 0);
  const plan = JSON.parse(c.stdoutText);
  assert.equal(plan.backend, "docker");
  assert.equal(plan.smolfile, null);
  assert.deepEqual(plan.create.map((r: { name: string }) => r.name), [
    "bot-bottle-demo-abcde",
    "bot-bottle-demo-abcde-internal",
    "bot-bottle-demo-abcde-bundle",
    "bot-bottle-demo-abcde-agent",
  ]);
  assert.ok(!c.runner.argvs.some((a) => a[0] === "smolvm"));
});

Deno.test("BOT_BOTTLE_BACKEND picks the backend; --backend wins; bad values are refused", async () => {
  const env = { HOST_API_TOKEN: "x", BOT_BOTTLE_BACKEND: "docker" };
  let c = ctx({ env });
  await main(["start", "demo", "--dry-run", "--json"], c);
  assert.equal(JSON.parse(c.stdoutText).backend, "docker");
  c = ctx({ env });
  await main(["start", "demo", "--dry-run", "--json", "--backend=smolmachines"], c);
  assert.equal(JSON.parse(c.stdoutText).backend, "smolmachines");
  c = ctx();
  assert.equal(await main(["start", "demo", "--dry-run", "--backend", "qemu"], c), 2);
  assert.match(c.stderrText, /unknown backend "qemu" for --backend/);
  c = ctx({ env: { BOT_BOTTLE_BACKEND: "podman" } });
  assert.equal(await main(["start", "demo", "--dry-run"], c), 1);
  assert.match(c.stderrText, /BOT_BOTTLE_BACKEND is "podman"/);
});

Deno.test("--label names the slug; agent args after -- join the command", async () => {
  const c = ctx();
  await main(
    ["start", "demo", "--dry-run", "--json", "--label", "fix-bug", "--", "-c", "echo hi"],
    c,
  );
  const plan = JSON.parse(c.stdoutText);
  assert.equal(plan.slug, "fix-bug-abcde");
  assert.equal(plan.label, "fix-bug");
  assert.deepEqual(plan.command, ["bash", "-l", "-c", "echo hi"]);
});

Deno.test("an unset secret host variable is a note and makes the plan not ready", async () => {
  const c = testContext({ files: { [MANIFEST]: USER_TOML } });
  await main(["start", "demo", "--dry-run", "--json"], c);
  const plan = JSON.parse(c.stdoutText);
  assert.equal(plan.ready, false);
  assert.ok(plan.notes.some((n: string) => n.includes("HOST_API_TOKEN, which is not set")));
});

Deno.test("unknown agent: did you mean, and the list of agents", async () => {
  const c = ctx();
  assert.equal(await main(["start", "dmeo", "--dry-run"], c), 1);
  assert.match(
    c.stderrText,
    /bot-bottle: error: no agent named "dmeo" in .* \(did you mean "demo"\?\)/,
  );
  assert.match(c.stderrText, /hint: defined agents: demo/);
  assert.ok(!c.stderrText.includes("    at "));
});

Deno.test("usage errors exit 2 with a one-line hint", async () => {
  const cases: [string[], RegExp][] = [
    [[], /no command given/],
    [["frobnicate"], /unknown command "frobnicate"/],
    [["start"], /start: missing <agent>/],
    [["start", "demo", "--json"], /--json needs --dry-run/],
    [["start", "demo", "--dry-run", "--bogus"], /start: unknown option --bogus\n/],
    [["agents", "extra"], /agents: unexpected argument "extra"/],
    [["doctor", "--", "x"], /doctor takes no arguments after --/],
    [
      ["start", "demo", "--dry-run", "--label", "Bad_Label"],
      /--label "Bad_Label" is not a valid name/,
    ],
  ];
  for (const [argv, pattern] of cases) {
    const c = ctx();
    assert.equal(await main(argv, c), 2, argv.join(" "));
    assert.match(c.stderrText, pattern, argv.join(" "));
    assert.match(
      c.stderrText,
      /\nhint: Run `bot-bottle( \w+)? --help` for usage\.\n$/,
      argv.join(" "),
    );
  }
});

Deno.test("lifecycle commands parse their slug and refuse bad usage", async () => {
  const cases: [string[], RegExp][] = [
    [["stop"], /stop: missing <slug>/],
    [["resume"], /resume: missing <slug>/],
    [["resume", "x", "--json"], /--json needs --dry-run/],
    [["bundle"], /bundle: missing action \(build\)/],
    [["bundle", "make"], /bundle: unknown action "make"/],
    [["ls", "--bogus"], /list: unknown option --bogus\n/],
  ];
  for (const [argv, pattern] of cases) {
    const c = ctx();
    assert.equal(await main(argv, c), 2, argv.join(" "));
    assert.match(c.stderrText, pattern, argv.join(" "));
  }
});

Deno.test("help and version", async () => {
  let c = ctx();
  assert.equal(await main(["--help"], c), 0);
  assert.match(c.stdoutText, /^bot-bottle 0\.1\.0/);
  for (const command of ["start", "resume", "list", "stop", "rm", "cleanup", "agents", "doctor"]) {
    assert.match(c.stdoutText, new RegExp(`^  ${command}\\b`, "m"), command);
  }
  c = ctx();
  assert.equal(await main(["start", "--help"], c), 0);
  assert.match(c.stdoutText, /^Usage: bot-bottle start <agent> \[options\] \[-- <agent args>\]/);
  c = ctx();
  assert.equal(await main(["--version"], c), 0);
  assert.equal(c.stdoutText, "bot-bottle 0.1.0\n");
  c = ctx();
  assert.equal(await main(["version"], c), 0);
  assert.equal(c.stdoutText, "bot-bottle 0.1.0\n");
  c = ctx();
  assert.equal(await main(["--", "version"], c), 0, "a leading -- (deno task) is ignored");
});

function assertNoSideEffects(argvs: string[][]): void {
  for (const argv of argvs) {
    const readOnly = (argv[0] === "smolvm" && argv[1] === "--version") ||
      (argv[0] === "docker" &&
        (argv[1] === "info" || (argv[1] === "network" && ["ls", "inspect"].includes(argv[2])) ||
          (argv[1] === "image" && argv[2] === "inspect")));
    assert.ok(readOnly, `unexpected side effect: ${argv.join(" ")}`);
  }
}

Deno.test("a launch without a TTY and without --yes is refused, naming --yes", async () => {
  const c = ctx();
  assert.equal(await main(["start", "demo", "--backend", "docker"], c), 1);
  assert.match(
    c.stderrText,
    /refusing to launch without confirmation: stdin is not a terminal\nhint: pass --yes/,
  );
  assertNoSideEffects(c.runner.argvs);
});

Deno.test("on a TTY the y/N prompt defaults to no", async () => {
  for (const answer of ["", "n", "no", "nope"]) {
    const c = ctx({ stdinIsTerminal: true, input: [answer] });
    assert.equal(await main(["start", "demo", "--backend", "docker"], c), 1);
    assert.match(c.stderrText, /Launch\? \[y\/N\] not launched; nothing was created\n$/);
    assertNoSideEffects(c.runner.argvs);
  }
});

Deno.test("an unset secret host variable stops a launch before any side effect", async () => {
  const c = testContext({ files: { [MANIFEST]: USER_TOML } });
  assert.equal(await main(["start", "demo", "--backend", "docker", "--yes"], c), 1);
  assert.match(c.stderrText, /secret host variable HOST_API_TOKEN not set; nothing was created/);
  assertNoSideEffects(c.runner.argvs);
});

const SURVEY = {
  kind: "dir",
  base: null,
  branch: null,
  dirty: false,
  in_progress: null,
  submodules: [],
  files: 12,
  bytes: 3 * 1024 * 1024,
  non_utf8_names: 0,
  symlinks_outside: { count: 1, examples: ["link"] },
  unreadable: { count: 0, examples: [] },
};

/** The host, plus the bundle image and a workspace helper that answers `survey`. */
function withHelper(survey: object = SURVEY) {
  return [
    ...HEALTHY_HOST,
    on(["docker", "image", "inspect"], ok("sha256:abc\n")),
    on(
      ["docker", "run"],
      (argv) =>
        argv.includes("bb-workspace") && argv.includes("survey")
          ? ok(`${JSON.stringify(survey)}\n`)
          : { code: 125, stdout: "", stderr: "unexpected docker run" },
    ),
  ];
}

Deno.test("--cwd: the helper surveys the tree (read-only, no network); the plan shows it", async () => {
  const dry = ctx({ handlers: withHelper() });
  assert.equal(
    await main(["start", "demo", "--dry-run", "--json", "--cwd"], dry),
    0,
    dry.stderrText,
  );
  const plan = JSON.parse(dry.stdoutText);
  assert.equal(plan.copy_cwd, true);
  assert.equal(plan.workspace.source, "/home/u/project");
  assert.equal(plan.workspace.kind, "dir");
  assert.equal(plan.workspace.files, 12);
  assert.equal(plan.workspace.limit_bytes, 4 * 1024 ** 3);
  assert.equal(plan.workdir, "/workspace");
  assert.equal(plan.guest_env.BOT_BOTTLE_WORKSPACE, "/workspace");
  assert.ok(
    plan.preflight.some((c: { id: string; status: string }) =>
      c.id === "workspace" && c.status === "ok"
    ),
  );
  const run = dry.runner.argvs.find((a) => a.includes("survey"))!;
  for (const flag of ["--network", "none", "--cap-drop", "ALL", "--user", "1000:1000"]) {
    assert.ok(run.includes(flag), `${flag} in ${run.join(" ")}`);
  }
  assert.ok(run.includes("type=bind,source=/home/u/project,target=/src,readonly"), run.join(" "));
  const text = ctx({ handlers: withHelper() });
  assert.equal(await main(["start", "demo", "--dry-run", "--cwd"], text), 0);
  assert.match(
    text.stdoutText,
    /workspace +\/home\/u\/project \(not git\) -> \/workspace: 12 entries, 3\.0 MiB/,
  );
  assert.match(text.stdoutText, /1 symlink\(s\) point outside the tree \(link\): copied as links/);
});

Deno.test("--cwd: over the limit, unreadable, or mid-merge is refused before anything is created", async () => {
  for (
    const [survey, args, why] of [
      [
        { ...SURVEY, bytes: 5 * 1024 ** 3 },
        [],
        /the workspace is 5\.0 GiB, over the 4\.0 GiB limit/,
      ],
      [SURVEY, ["--max-workspace", "1MiB"], /over the 1\.0 MiB limit/],
      [
        { ...SURVEY, unreadable: { count: 1, examples: ["secret.key"] } },
        [],
        /cannot be read.*secret\.key/,
      ],
      [{ ...SURVEY, kind: "git", in_progress: "merge" }, [], /in the middle of a merge/],
    ] as const
  ) {
    const c = ctx({ handlers: withHelper(survey) });
    assert.equal(await main(["start", "demo", "--yes", "--cwd", ...args], c), 1, c.stderrText);
    assert.match(c.stderrText, why);
    assert.match(c.stderrText, /nothing was created/);
    // Only reads: the image lookup and the read-only survey.
    assertNoSideEffects(
      c.runner.argvs.filter((a) =>
        !(a[1] === "image" && a[2] === "inspect") && !(a[1] === "run" && a.includes("survey"))
      ),
    );
  }
  const c = ctx({ handlers: withHelper() });
  assert.equal(await main(["start", "demo", "--yes", "--max-workspace", "1GiB"], c), 2);
  assert.match(c.stderrText, /--max-workspace needs --cwd/);
  const bad = ctx({ handlers: withHelper() });
  assert.equal(await main(["start", "demo", "--yes", "--cwd", "--max-workspace", "lots"], bad), 2);
  assert.match(bad.stderrText, /--max-workspace "lots" is not a size/);
});

Deno.test("an agent from the project manifest is flagged in the plan", async () => {
  const c = testContext({
    files: {
      [MANIFEST]: USER_TOML,
      "/home/u/project/bot-bottle.toml": '[agents.helper]\nbottle = "dev"\ncommand = ["sh"]\n',
    },
    env: { HOST_API_TOKEN: "x" },
  });
  assert.equal(await main(["start", "helper", "--dry-run", "--json"], c), 0);
  const plan = JSON.parse(c.stdoutText);
  assert.deepEqual(plan.agent_source, {
    scope: "project",
    file: "/home/u/project/bot-bottle.toml",
  });
  assert.ok(plan.notes.some((n: string) => n.includes("come from the project manifest")));
  const text = testContext({
    files: {
      [MANIFEST]: USER_TOML,
      "/home/u/project/bot-bottle.toml": '[agents.helper]\nbottle = "dev"\ncommand = ["sh"]\n',
    },
  });
  await main(["start", "helper", "--dry-run"], text);
  assert.match(text.stdoutText, /from {7}project manifest \/home\/u\/project\/bot-bottle\.toml/);
});

Deno.test("the plan says which images will be built or pulled before the launch", async () => {
  /** `docker image inspect` that finds none of `missing` (the bundle's tag is content-addressed). */
  const inspect = (missing: (argv: readonly string[]) => string[]) => (argv: readonly string[]) =>
    argv[1] === "image" && argv[2] === "inspect"
      ? {
        code: 1,
        stdout: "sha256:a\n",
        stderr: missing(argv).map((ref) =>
          `Error response from daemon: no such image: ${ref}: No such image\n`
        ).join(""),
      }
      : undefined;
  const c = ctx({ handlers: [inspect((argv) => [argv[argv.length - 1]]), ...HEALTHY_HOST] });
  assert.equal(await main(["start", "demo", "--dry-run", "--json"], c), 0, c.stderrText);
  const plan = JSON.parse(c.stdoutText);
  assert.deepEqual(plan.images.agent, {
    ref: "bot-bottle/agent-shell:latest",
    present: true,
    built_from: null,
  });
  assert.match(plan.images.bundle.ref, /^bot-bottle\/bundle:[0-9a-f]{12}$/);
  assert.equal(plan.images.bundle.present, false);
  assert.equal(c.runner.argvs.filter((a) => a[1] === "image").length, 1, "one inspect for both");

  const text = ctx({ handlers: [inspect((argv) => argv.slice(-2)), ...HEALTHY_HOST] });
  assert.equal(await main(["start", "demo", "--dry-run"], text), 0);
  assert.match(
    text.stdoutText,
    /^ {2}image {6}bot-bottle\/agent-shell:latest \(will be pulled first\)$/m,
  );
  assert.match(
    text.stdoutText,
    /^ {2}bundle {5}bot-bottle\/bundle:\w+ \(will be built first: first use\)$/m,
  );
});

Deno.test("the plan does not repeat the binary's host-routes limitation; doctor says it", async () => {
  const routes = { ranges: [], note: "host routes not checked (no /proc)", expected: true };
  const c = ctx({ routes });
  assert.equal(await main(["start", "demo", "--dry-run", "--json"], c), 0);
  assert.deepEqual(JSON.parse(c.stdoutText).notes, []);
  const failed = ctx({ routes: { ranges: [], note: "host routes not checked (EIO)" } });
  await main(["start", "demo", "--dry-run", "--json"], failed);
  assert.deepEqual(JSON.parse(failed.stdoutText).notes, ["host routes not checked (EIO)"]);
  const doctor = ctx({ routes });
  await main(["doctor"], doctor);
  assert.match(doctor.stdoutText, /note host routes not checked \(no \/proc\)/);
});

Deno.test("Ctrl-C at the Launch? prompt says nothing was created and exits 130", async () => {
  const c = ctx({ stdinIsTerminal: true, interruptRead: true });
  assert.equal(await main(["start", "demo", "--backend", "docker"], c), 130);
  assert.match(
    c.stderrText,
    /Launch\? \[y\/N\] \nbot-bottle: error: interrupted by SIGINT at the prompt; not launched, nothing was created\n$/,
  );
  assertNoSideEffects(c.runner.argvs);
});

Deno.test("the plan's wording: 1 CPU, counts on the env/secrets/git/creates headings", async () => {
  const c = testContext({
    files: {
      [MANIFEST]: USER_TOML.replace("cpus = 3", "cpus = 1"),
    },
    env: { HOST_API_TOKEN: "x" },
  });
  assert.equal(await main(["start", "demo", "--dry-run", "--backend", "docker"], c), 0);
  const text = c.stdoutText;
  assert.match(text, /^ {2}resources {2}1 CPU, 2048 MiB$/m);
  assert.match(text, /^ {2}env {8}7 variables \(literal values\)$/m);
  assert.match(
    text,
    /^ {2}secrets {4}1 secret \(read from the host at launch, values never shown\)$/m,
  );
  assert.match(text, /^ {4}API_TOKEN <- \$HOST_API_TOKEN \(set; the agent holds this value\)$/m);
  assert.match(text, /^ {2}git {8}\(none\)$/m);
  assert.match(text, /^ {2}creates {4}4 objects$/m);
  assert.ok(!/ +$/m.test(text), "no heading ends in blanks");
  const two = ctx();
  await main(["start", "demo", "--dry-run"], two);
  assert.match(two.stdoutText, /^ {2}resources {2}3 CPUs, 2048 MiB$/m);
});
