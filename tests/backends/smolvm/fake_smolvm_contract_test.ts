/**
 * CONTRACT: the fake smolvm (tests/fixtures/fake_smolvm) against
 * /work/shared/reference/smolvm.md (v1.9.3). If the fake drifts from the
 * reference — flags, JSON keys, DB record keys, messages, exit codes — a
 * test here fails.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  createArgv,
  deleteArgv,
  execArgv,
  lsJsonArgv,
  startArgv,
  stopArgv,
  versionArgv,
} from "../../../lib/backends/smolvm/smolvm_argv.ts";

/** `smolvm machine status --name N --json` (bot-bottle itself never asks for it). */
function statusJsonArgv(name: string): string[] {
  return ["smolvm", "machine", "status", "--name", name, "--json"];
}
import { parseSmolvmVersion } from "../../../lib/backends/smolvm/smolvm_version.ts";
import {
  confinedSmolfile,
  type FakeResult,
  fakeSmolvmSandbox,
  runFake,
  writeArchive,
  writeSmolfile,
} from "../../_harness/fake_smolvm.ts";
import type { Sandbox } from "../../_harness/sandbox.ts";

const IP = "10.213.0.2";

/** Reference §1.7: machine_status_json keys, v0.8.0 list + v1.9.3 additions, exactly. */
const STATUS_KEYS_1_9_3 = [
  "name",
  "state",
  "cpus",
  "memory_mib",
  "pid",
  "mounts",
  "ports",
  "created_at",
  "storage_gb",
  "overlay_gb",
  "image",
  "entrypoint",
  "cmd",
  "ephemeral",
  "gpu",
  "gpu_vram_mib",
  "restart_policy",
  "restart_max_retries",
  "restart_count",
  "health_cmd",
  "health_interval_secs",
  "health_timeout_secs",
  "health_retries",
  "health_startup_grace_secs",
  "network",
  "cuda",
  "forkable",
  "cuda_fork_pool_size",
  "cuda_vram_limit_mib",
  "forkpoint_held",
  "labels",
].sort();

const tail = (argv: string[]) => argv.slice(1); // drop "smolvm"

async function withSandbox(fn: (sb: Sandbox) => Promise<void>, extra = {}): Promise<void> {
  const sb = await fakeSmolvmSandbox(extra);
  try {
    await fn(sb);
  } finally {
    await sb.cleanup();
  }
}

async function create(sb: Sandbox, name: string, env: Record<string, string> = {}) {
  const argv = createArgv({
    name,
    smolfilePath: await writeSmolfile(sb, confinedSmolfile(IP)),
    imageArchive: await writeArchive(sb),
    dns: IP,
    secretEnv: [{ guest: "GH_TOKEN", hostVar: "HOST_GH_TOKEN" }],
  });
  return await runFake(sb, tail(argv), { env });
}

function ok(result: FakeResult, label: string): FakeResult {
  assert.equal(result.code, 0, `${label}: ${result.stderr}`);
  return result;
}

function readRow(sb: Sandbox, name: string): Record<string, unknown> | null {
  const db = new DatabaseSync(sb.dbPath, { readOnly: true });
  try {
    const row = db.prepare("SELECT data FROM vms WHERE name = ?").get(name);
    if (!row) return null;
    assert.ok(row.data instanceof Uint8Array, "data is a BLOB of JSON bytes");
    return JSON.parse(new TextDecoder().decode(row.data as Uint8Array));
  } finally {
    db.close();
  }
}

Deno.test("contract: --version prints `smolvm 1.9.3`; FAKE_SMOLVM_VERSION overrides it", async () => {
  await withSandbox(async (sb) => {
    const result = ok(await runFake(sb, tail(versionArgv())), "version");
    assert.equal(result.stdout, "smolvm 1.9.3\n");
    assert.deepEqual(parseSmolvmVersion(result.stdout), { major: 1, minor: 9, patch: 3 });
    const old = await runFake(sb, ["-V"], { env: { FAKE_SMOLVM_VERSION: "1.2.4" } });
    assert.equal(old.stdout, "smolvm 1.2.4\n");
  });
});

Deno.test("contract: the product's argv drive a full lifecycle; messages and states match", async () => {
  await withSandbox(async (sb) => {
    const secret = "s3cr3t-value-" + crypto.randomUUID();
    ok(await create(sb, "bb-life"), "create");
    assert.equal(readRow(sb, "bb-life")?.state, "created");

    const status = JSON.parse(ok(await runFake(sb, tail(statusJsonArgv("bb-life"))), "st").stdout);
    assert.equal(status.state, "created");

    // start resolves secret refs from its own environment: unset → error, nothing changes.
    const unset = await runFake(sb, tail(startArgv("bb-life")));
    assert.equal(unset.code, 1);
    assert.match(unset.stderr, /^Error: .*HOST_GH_TOKEN/);
    assert.equal(readRow(sb, "bb-life")?.state, "created");

    const env = { HOST_GH_TOKEN: secret };
    const started = ok(await runFake(sb, tail(startArgv("bb-life")), { env }), "start");
    assert.match(started.stdout, /^Machine 'bb-life' running \(PID: \d+\)\n$/);
    const again = ok(await runFake(sb, tail(startArgv("bb-life")), { env }), "start again");
    assert.match(again.stdout, /^Machine 'bb-life' already running \(PID: \d+\)\n$/);
    const row = readRow(sb, "bb-life")!;
    assert.equal(row.state, "running");
    assert.equal(row.init_completed, true);

    // exec really runs the command: record env + resolved secret + -e, exit code passed through.
    const exec = await runFake(
      sb,
      tail(execArgv({
        name: "bb-life",
        command: ["sh", "-c", 'printf "%s|%s|%s" "$AGENT_MODE" "$GH_TOKEN" "$EXTRA"; exit 7'],
        interactive: false,
        env: { EXTRA: "cli" },
      })),
      { env },
    );
    assert.equal(exec.code, 7, exec.stderr);
    assert.equal(exec.stdout, `test|${secret}|cli`);
    const noSecret = await runFake(
      sb,
      tail(execArgv({ name: "bb-life", command: ["true"], interactive: false })),
    );
    assert.equal(noSecret.code, 1);
    assert.match(noSecret.stderr, /HOST_GH_TOKEN/);

    // The secret value is nowhere on disk.
    for (const file of [sb.dbPath, `${sb.dbPath}-wal`]) {
      const bytes = await Deno.readFile(file).catch(() => new Uint8Array());
      assert.ok(!new TextDecoder().decode(bytes).includes(secret), `${file} holds no secret`);
    }

    const stopped = ok(await runFake(sb, tail(stopArgv("bb-life"))), "stop");
    assert.equal(stopped.stdout, "Stopping machine 'bb-life'...\nStopped machine: bb-life\n");
    assert.equal(readRow(sb, "bb-life")?.state, "stopped");
    assert.equal(readRow(sb, "bb-life")?.pid, null);
    const stopAgain = ok(await runFake(sb, tail(stopArgv("bb-life"))), "stop again");
    assert.equal(stopAgain.stdout, "Machine 'bb-life' is not running (state: stopped)\n");

    const deleted = ok(await runFake(sb, tail(deleteArgv("bb-life"))), "delete");
    assert.match(deleted.stdout, /Deleted machine: bb-life\n$/);
    assert.equal(readRow(sb, "bb-life"), null);
    assert.equal(ok(await runFake(sb, tail(lsJsonArgv())), "ls").stdout.trim(), "[]");
  });
});

Deno.test("contract: ls --json / status --json keys are exactly v1.9.3's, never the allowlist or env", async () => {
  await withSandbox(async (sb) => {
    assert.deepEqual(JSON.parse(ok(await runFake(sb, tail(lsJsonArgv())), "ls").stdout), []);
    ok(await create(sb, "bb-keys"), "create");
    const list = JSON.parse(ok(await runFake(sb, tail(lsJsonArgv())), "ls").stdout);
    assert.equal(list.length, 1);
    const status = JSON.parse(ok(await runFake(sb, tail(statusJsonArgv("bb-keys"))), "s").stdout);
    for (const object of [list[0], status]) {
      assert.deepEqual(Object.keys(object).sort(), STATUS_KEYS_1_9_3);
      for (const hidden of ["allowed_cidrs", "dns_filter_hosts", "network_backend", "env"]) {
        assert.ok(!(hidden in object), hidden);
      }
      assert.equal(object.name, "bb-keys");
      assert.equal(object.network, true);
      assert.equal(object.memory_mib, 8192);
      assert.equal(object.cpus, 4);
    }
    // aliases: `vm`, `list`
    const alias = JSON.parse(ok(await runFake(sb, ["vm", "list", "--json"]), "alias").stdout);
    assert.deepEqual(alias, list);
  });
});

Deno.test("contract: the VmRecord in vms.data has the reference's keys and omission rules", async () => {
  await withSandbox(async (sb) => {
    ok(await create(sb, "bb-rec"), "create");
    const row = readRow(sb, "bb-rec")!;
    for (
      const key of [
        "name",
        "allowed_cidrs",
        "network",
        "network_backend",
        "dns",
        "state",
        "pid",
        "init_completed",
        "image",
        "env",
        "secret_refs",
        "ports",
        "mounts",
        "created_at",
        "cpus",
        "mem",
      ]
    ) assert.ok(key in row, `record has ${key}`);
    assert.deepEqual(row.allowed_cidrs, [`${IP}/32`]);
    assert.equal(row.network, true);
    assert.equal(row.network_backend, "virtio-net");
    assert.equal(row.dns, IP);
    assert.equal(row.state, "created");
    assert.equal(row.pid, null);
    assert.equal(row.init_completed, false);
    assert.match(String(row.image), /^local:\/.*image\.tar$/);
    assert.deepEqual(row.env, [["AGENT_MODE", "test"]]);
    assert.deepEqual(row.secret_refs, { GH_TOKEN: { from_env: "HOST_GH_TOKEN" } });
    assert.deepEqual(row.ports, []);
    assert.deepEqual(row.mounts, []);
    for (const omitted of ["dns_filter_hosts", "labels", "network_name"]) {
      assert.ok(!(omitted in row), `${omitted} omitted when unset`);
    }

    // No policy → allowed_cidrs present as null (unrestricted), backend omitted.
    ok(await runFake(sb, ["machine", "create", "--name", "bb-open", "--net"]), "open");
    const open = readRow(sb, "bb-open")!;
    assert.ok("allowed_cidrs" in open);
    assert.equal(open.allowed_cidrs, null);
    assert.ok(!("network_backend" in open));
    assert.ok(!("dns" in open));

    // Bare IP normalized to /32, host bits kept; allow-host stored; labels stored.
    const sf = await writeSmolfile(
      sb,
      '[network]\nallow_cidrs = ["10.1.2.3", "10.1.2.3/24"]\nallow_hosts = ["x.invalid"]\n',
      "Smolfile.hosts",
    );
    ok(
      await runFake(sb, ["machine", "create", "-n", "bb-h", "-s", sf, "--label", "k=v"]),
      "hosts",
    );
    const hosts = readRow(sb, "bb-h")!;
    assert.deepEqual(hosts.allowed_cidrs, ["10.1.2.3/32", "10.1.2.3/24"]);
    assert.deepEqual(hosts.dns_filter_hosts, ["x.invalid"]);
    assert.deepEqual(hosts.labels, { k: "v" });
  });
});

Deno.test("contract: the DB is SQLite in WAL mode at smolvm's path with vms and config tables", async () => {
  await withSandbox(async (sb) => {
    ok(await create(sb, "bb-db"), "create");
    const db = new DatabaseSync(sb.dbPath, { readOnly: true });
    try {
      assert.equal(db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
      const tables = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all();
      const sql = Object.fromEntries(tables.map((t) => [t.name, String(t.sql)]));
      assert.match(sql.vms, /name TEXT PRIMARY KEY, data BLOB/);
      assert.match(sql.config, /key TEXT PRIMARY KEY, value TEXT/);
    } finally {
      db.close();
    }
  });
});

Deno.test("contract: clap-style rejections exit 2 with `error: ...`", async () => {
  await withSandbox(async (sb) => {
    const table: [string[], RegExp][] = [
      [
        ["machine", "create", "sbx1"],
        /^error: unexpected argument 'sbx1' found\n\n {2}tip: .*'-- sbx1'/,
      ],
      [["machine", "create", "--bogus"], /^error: unexpected argument '--bogus' found\n\nUsage: /],
      [["machine", "create", "--name"], /^error: a value is required for '--name <NAME>'/],
      [["machine", "create", "--name", "--net"], /^error: a value is required for '--name <NAME>'/],
      [["machine", "create", "-n", "a", "--name", "b"], /cannot be used multiple times/],
      [["machine", "create", "--net-backend", "foo"], /\[possible values: tsi, virtio-net\]/],
      [
        ["machine", "create", "--allow-cidr", "10.0.0.300/32"],
        /^error: invalid value '10\.0\.0\.300\/32' for '--allow-cidr <CIDR>': invalid CIDR/,
      ],
      [
        ["machine", "create", "--dns", "resolver.invalid"],
        /^error: invalid value 'resolver\.invalid' for '--dns <DNS>'/,
      ],
      [["machine", "create", "--from", "x.smolmachine", "-s", "S"], /cannot be used with/],
      [["machine", "delete", "sbx1", "-f"], /^error: unexpected argument 'sbx1' found/],
      [["machine", "delete", "-f"], /required arguments were not provided:\n {2}--name <NAME>/],
      [["machine", "exec", "-n", "m", "--", "true"], /^error: unexpected argument '-n' found/],
      [["machine", "exec", "--name", "m"], /required arguments were not provided:\n {2}<COMMAND>/],
      [
        ["machine", "exec", "--name", "m", "-d", "-i", "--", "sh"],
        /'--detach' cannot be used with '--interactive'/,
      ],
      [["machine", "start", "m"], /^error: unexpected argument 'm' found/],
      [["machine", "stop", "--json"], /^error: unexpected argument '--json' found/],
      [["machine", "ls", "--name", "x"], /^error: unexpected argument '--name' found/],
      [["machine", "frobnicate"], /^error: unrecognized subcommand 'frobnicate'/],
      [["sandbox", "run"], /^error: unrecognized subcommand 'sandbox'/],
      [["machine"], /requires a subcommand/],
    ];
    for (const [args, pattern] of table) {
      const result = await runFake(sb, args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, pattern, args.join(" "));
      assert.equal(result.stdout, "", args.join(" "));
    }
    await assert.rejects(Deno.stat(sb.dbPath), Deno.errors.NotFound, "rejections write nothing");
  });
});

Deno.test("contract: accepted spellings (--flag=value, -nNAME, clusters, exec without --)", async () => {
  await withSandbox(async (sb) => {
    ok(await runFake(sb, ["machine", "create", "--name=bb-a", "--net"]), "--name=");
    ok(await runFake(sb, ["vm", "create", "-nbb-b"]), "-nNAME");
    ok(await runFake(sb, ["machine", "start", "-n", "bb-a"]), "start -n");
    const noSep = ok(
      await runFake(sb, ["machine", "exec", "--name", "bb-a", "echo", "-n", "hi"]),
      "x",
    );
    assert.equal(noSep.stdout, "hi", "trailing_var_arg swallows flags after the command");
    const it = await runFake(sb, ["machine", "exec", "--name", "bb-a", "-it", "--", "true"]);
    assert.equal(it.code, 0, it.stderr);
    ok(await runFake(sb, ["vm", "rm", "-n", "bb-b", "-f"]), "rm alias");
  });
});

Deno.test("contract: Smolfile keys are deny_unknown_fields; bad CIDRs and TOML are rejected", async () => {
  await withSandbox(async (sb) => {
    const table: [string, RegExp][] = [
      ['dns = "10.0.0.2"\n', /unknown field `dns`/],
      ['name = "x"\n', /unknown field `name`/],
      ['net_backend = "tsi"\n', /unknown field `net_backend`/],
      ["labels = []\n", /unknown field `labels`/],
      ['[network]\ndeny_cidrs = ["0.0.0.0/0"]\n', /unknown field `deny_cidrs`/],
      ['[network]\nallow_cidr = ["10.0.0.2/32"]\n', /unknown field `allow_cidr`/],
      ['[dev]\nimage = "x"\n', /unknown field `image`/],
      ['env = "A=1"\n', /invalid type: string "A=1", expected a sequence/],
      ['[secrets]\nT = { from_env = "X", extra = 1 }\n', /unknown field `extra`/],
      ["[network\n", /TOML parse error/],
    ];
    for (const [text, pattern] of table) {
      const path = await writeSmolfile(sb, text);
      const result = await runFake(sb, ["machine", "create", "--name", "bb-sf", "-s", path]);
      assert.equal(result.code, 1, text);
      assert.ok(
        result.stderr.startsWith(
          `Error: config operation failed: load smolfile: failed to parse ${path}: `,
        ),
        result.stderr,
      );
      assert.match(result.stderr, pattern, text);
    }
    const bad = await writeSmolfile(sb, '[network]\nallow_cidrs = ["10.0.0.2/33"]\n');
    const cidr = await runFake(sb, ["machine", "create", "--name", "bb-sf", "-s", bad]);
    assert.equal(cidr.code, 1);
    assert.match(cidr.stderr, /^Error: .*invalid CIDR '10\.0\.0\.2\/33'/);
    const full = await writeSmolfile(
      sb,
      'image = "alpine"\nentrypoint = ["/bin/sh"]\ncmd = ["-c", "true"]\nenv = ["A=1", "junk"]\n' +
        'workdir = "/w"\ncpus = 2\nmemory = 1024\nnet = true\n[secrets]\nT = { from_env = "H" }\n' +
        '[network]\nallow_cidrs = ["10.0.0.2/32"]\n[dev]\nenv = ["B=2"]\n',
    );
    ok(await runFake(sb, ["machine", "create", "--name", "bb-sf", "-s", full]), "full");
    const row = readRow(sb, "bb-sf")!;
    assert.deepEqual(row.env, [["A", "1"], ["B", "2"]], "entries without = are dropped");
    assert.equal(row.cpus, 2);
    assert.equal(row.mem, 1024);
    assert.deepEqual(row.secret_refs, { T: { from_env: "H" } });
    assert.equal(row.image, "alpine");
    assert.deepEqual(row.allowed_cidrs, ["10.0.0.2/32"]);
  });
});

Deno.test("contract: not-found, not-running and already-exists messages and exit codes", async () => {
  await withSandbox(async (sb) => {
    const table: [string[], number, string][] = [
      [tail(startArgv("ghost")), 1, "Error: vm not found: ghost\n"],
      [tail(stopArgv("ghost")), 1, "Error: vm not found: ghost\n"], // 1.9.3: exit 1 (0.8.0: 0)
      [tail(deleteArgv("ghost")), 1, "Error: vm not found: ghost\n"],
      [
        tail(execArgv({ name: "ghost", command: ["true"], interactive: false })),
        1,
        "Error: machine 'ghost' not found\n",
      ],
      [
        tail(statusJsonArgv("ghost")),
        1,
        "Error: config operation failed: machine status: machine 'ghost' not found\n",
      ],
    ];
    for (const [args, code, stderr] of table) {
      const result = await runFake(sb, args);
      assert.equal(result.code, code, args.join(" "));
      assert.equal(result.stderr, stderr, args.join(" "));
    }
    ok(await create(sb, "bb-x"), "create");
    const dup = await create(sb, "bb-x");
    assert.equal(dup.code, 1);
    assert.equal(dup.stderr, "Error: machine 'bb-x' already exists\n");
    const notRunning = await runFake(
      sb,
      tail(execArgv({ name: "bb-x", command: ["true"], interactive: false })),
    );
    assert.equal(notRunning.code, 1);
    assert.equal(
      notRunning.stderr,
      "Error: machine 'bb-x' is not running. Use 'smolvm machine start --name bb-x' first.\n",
    );
    const stop = ok(await runFake(sb, tail(stopArgv("bb-x"))), "stop created");
    assert.equal(stop.stdout, "Machine 'bb-x' is not running (state: created)\n");
    const text = ok(await runFake(sb, ["machine", "status", "--name", "bb-x"]), "status");
    assert.equal(text.stdout, "Machine 'bb-x': not running\n");
    const badName = await runFake(sb, ["machine", "create", "--name", "a--b"]);
    assert.equal(badName.code, 1);
    assert.match(badName.stderr, /^Error: invalid machine name: .*consecutive hyphens/);
  });
});

Deno.test("contract: delete without -f prompts; only y/yes deletes; a running machine is stopped first", async () => {
  await withSandbox(async (sb) => {
    ok(await runFake(sb, ["machine", "create", "--name", "bb-d"]), "create");
    const no = ok(
      await runFake(sb, ["machine", "delete", "--name", "bb-d"], { stdin: "n\n" }),
      "n",
    );
    assert.equal(no.stdout, "Cancelled\n");
    assert.match(no.stderr, /Delete machine 'bb-d'\? \[y\/N\] /);
    assert.ok(readRow(sb, "bb-d"), "still there");
    const eof = ok(await runFake(sb, ["machine", "delete", "--name", "bb-d"]), "eof");
    assert.equal(eof.stdout, "Cancelled\n");
    ok(await runFake(sb, ["machine", "start", "--name", "bb-d"]), "start");
    const yes = ok(
      await runFake(sb, ["machine", "delete", "--name", "bb-d"], { stdin: "y\n" }),
      "y",
    );
    assert.equal(yes.stdout, "Stopping machine 'bb-d'...\nDeleted machine: bb-d\n");
    assert.equal(readRow(sb, "bb-d"), null);
  });
});

Deno.test("contract: FAKE_SMOLVM_FAIL fails each step with exit 1 and changes nothing", async () => {
  await withSandbox(async (sb) => {
    const env = { HOST_GH_TOKEN: "x" };
    const failCreate = await create(sb, "bb-f", { FAKE_SMOLVM_FAIL: "create" });
    assert.equal(failCreate.code, 1);
    assert.match(failCreate.stderr, /^Error: .*FAKE_SMOLVM_FAIL=create/);
    await assert.rejects(Deno.stat(sb.dbPath), Deno.errors.NotFound);
    ok(await create(sb, "bb-f"), "create");
    const steps: [string, string[], string][] = [
      ["start", tail(startArgv("bb-f")), "created"],
      ["exec", tail(execArgv({ name: "bb-f", command: ["true"], interactive: false })), "created"],
      ["stop", tail(stopArgv("bb-f")), "created"],
      ["delete", tail(deleteArgv("bb-f")), "created"],
    ];
    for (const [step, args, state] of steps) {
      const result = await runFake(sb, args, { env: { ...env, FAKE_SMOLVM_FAIL: step } });
      assert.equal(result.code, 1, step);
      assert.match(result.stderr, new RegExp(`^Error: .*FAKE_SMOLVM_FAIL=${step}`), step);
      assert.equal(readRow(sb, "bb-f")?.state, state, step);
    }
  });
});

Deno.test("contract: FAKE_SMOLVM_HANG keeps the step running until it is killed", async () => {
  await withSandbox(async (sb) => {
    ok(await runFake(sb, ["machine", "create", "--name", "bb-h"]), "create");
    const child = new Deno.Command("smolvm", {
      args: tail(startArgv("bb-h")),
      env: { ...sb.env, FAKE_SMOLVM_HANG: "start" },
      clearEnv: true,
      stdout: "null",
      stderr: "null",
    }).spawn();
    const winner = await Promise.race([
      child.status.then(() => "exited"),
      new Promise((r) => setTimeout(() => r("hanging"), 1500)),
    ]);
    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(winner, "hanging");
    assert.equal(status.success, false);
    assert.equal(readRow(sb, "bb-h")?.state, "created");
  });
});

Deno.test("contract: FAKE_SMOLVM_LOG records argv and env NAMES, never values", async () => {
  await withSandbox(async (sb) => {
    const log = `${sb.home}/calls.jsonl`;
    const secret = "never-log-" + crypto.randomUUID();
    ok(await create(sb, "bb-log", { FAKE_SMOLVM_LOG: log, HOST_GH_TOKEN: secret }), "create");
    await runFake(sb, ["machine", "nope"], { env: { FAKE_SMOLVM_LOG: log } });
    const text = await Deno.readTextFile(log);
    assert.ok(!text.includes(secret));
    const lines = text.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.length, 2, "rejected calls are logged too");
    assert.deepEqual(Object.keys(lines[0]).sort(), ["argv", "env_keys"]);
    assert.deepEqual(lines[0].argv.slice(0, 4), ["smolvm", "machine", "create", "--name"]);
    assert.ok(lines[0].env_keys.includes("HOST_GH_TOKEN"));
    assert.deepEqual(lines[1].argv, ["smolvm", "machine", "nope"]);
  });
});
