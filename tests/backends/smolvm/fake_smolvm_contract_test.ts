/**
 * CONTRACT: the fake smolvm (tests/fixtures/fake_smolvm) against smolvm 1.9.3's source
 * (/work/notes/smolvm_source.md; /work/shared/reference/smolvm.md): the record it writes for
 * bot-bottle's create, `-I` staging, where its state lives, its messages and exit codes, clap's
 * errors, `--timeout`'s humantime rules, `ls --json`. No Docker is needed here: nothing is
 * started (the guest — `machine start`/`exec` — is tests/integration/fake_smolvm_guest_test.ts).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
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
import { smolvmPaths } from "../../../lib/backends/smolvm/smolvm_paths.ts";
import { parseSmolvmVersion } from "../../../lib/backends/smolvm/smolvm_version.ts";
import { IDLE_ENTRYPOINT } from "../../../lib/plan/render_smolfile.ts";
import {
  confinedSmolfile,
  type FakeResult,
  fakeSmolvmSandbox,
  runFake,
  writeArchive,
  writeSmolfile,
} from "../../_harness/fake_smolvm.ts";
import { ROOT } from "../../_harness/paths.ts";
import type { Sandbox } from "../../_harness/sandbox.ts";

const IP = "10.213.0.2";
const MORE = "\n\nFor more information, try '--help'.\n";

/** `smolvm machine status --name N --json` (bot-bottle itself never asks for it). */
function statusJsonArgv(name: string): string[] {
  return ["smolvm", "machine", "status", "--name", name, "--json"];
}

/** serde_json without preserve_order: `machine_status_json`'s keys, alphabetically. */
const STATUS_KEYS_1_9_3 = [
  "cmd",
  "cpus",
  "created_at",
  "cuda",
  "cuda_fork_pool_size",
  "cuda_vram_limit_mib",
  "entrypoint",
  "ephemeral",
  "forkable",
  "forkpoint_held",
  "gpu",
  "gpu_vram_mib",
  "health_cmd",
  "health_interval_secs",
  "health_retries",
  "health_startup_grace_secs",
  "health_timeout_secs",
  "image",
  "labels",
  "memory_mib",
  "mounts",
  "name",
  "network",
  "overlay_gb",
  "pid",
  "ports",
  "restart_count",
  "restart_max_retries",
  "restart_policy",
  "state",
  "storage_gb",
];

/** `VmRecord`'s keys in declaration order, as 1.9.3 writes them for bot-bottle's create. */
const RECORD_KEYS_1_9_3 = [
  "name",
  "created_at",
  "state",
  "pid",
  "pid_start_time",
  "cpus",
  "mem",
  "mounts",
  "ports",
  "published_sockets",
  "network",
  "gpu",
  "gpu_vram_mib",
  "rosetta",
  "restart",
  "last_exit_code",
  "init",
  "init_completed",
  "remote_volumes",
  "env",
  "secret_refs",
  "workdir",
  "storage_gb",
  "overlay_gb",
  "allowed_cidrs",
  "dns",
  "image",
  "entrypoint",
  "cmd",
  "health_cmd",
  "health_interval_secs",
  "health_timeout_secs",
  "health_retries",
  "health_startup_grace_secs",
  "ssh_agent",
  "cuda",
  "docker_socket",
  "ephemeral",
  "runtime_managed",
];

const tail = (argv: string[]) => argv.slice(1); // drop "smolvm"

async function withSandbox(
  fn: (sb: Sandbox) => Promise<void>,
  extra: Record<string, string> = {},
): Promise<void> {
  const sb = await fakeSmolvmSandbox(extra);
  try {
    await fn(sb);
  } finally {
    await sb.cleanup();
  }
}

/** bot-bottle's own create argv, with its own Smolfile, in `sb`. */
async function create(
  sb: Sandbox,
  name: string,
  env: Record<string, string> = {},
  archive?: string,
): Promise<FakeResult> {
  const argv = createArgv({
    name,
    smolfilePath: await writeSmolfile(sb, confinedSmolfile(IP)),
    imageArchive: archive ?? await writeArchive(sb, new TextEncoder().encode("archive")),
    dns: IP,
    secretEnv: [{ guest: "GH_TOKEN", hostVar: "HOST_GH_TOKEN" }],
  });
  return await runFake(sb, tail(argv), { env });
}

const ARCHIVE_SHA = createHash("sha256").update("archive").digest("hex");

function ok(result: FakeResult, label: string): FakeResult {
  assert.equal(result.code, 0, `${label}: ${result.stderr}`);
  return result;
}

function rawRow(dbPath: string, name: string): string | null {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const row = db.prepare("SELECT data FROM vms WHERE name = ?").get(name);
    if (!row) return null;
    assert.ok(row.data instanceof Uint8Array, "data is a BLOB of JSON bytes");
    return new TextDecoder().decode(row.data as Uint8Array);
  } finally {
    db.close();
  }
}

function readRow(sb: Sandbox, name: string, dbPath = sb.dbPath): Record<string, unknown> | null {
  const text = rawRow(dbPath, name);
  return text === null ? null : JSON.parse(text);
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

Deno.test("contract: bot-bottle's create writes exactly the VmRecord 1.9.3 writes, in its key order", async () => {
  await withSandbox(async (sb) => {
    const before = Math.floor(Date.now() / 1000);
    const created = ok(await create(sb, "bb-rec"), "create");
    assert.equal(
      created.stdout,
      "Created machine: bb-rec\n  CPUs: 1, Memory: 512 MiB\n\n" +
        "Use 'smolvm machine start --name bb-rec' to start the machine\n" +
        "Then use 'smolvm machine exec --name bb-rec -- <command>' to run commands\n",
    );
    assert.equal(created.stderr, "");
    const text = rawRow(sb.dbPath, "bb-rec")!;
    assert.equal(text, JSON.stringify(JSON.parse(text)), "compact JSON (serde_json::to_vec)");
    const row = JSON.parse(text);
    assert.deepEqual(Object.keys(row), RECORD_KEYS_1_9_3);
    assert.equal(typeof row.created_at, "number", "created_at is an integer, not a string");
    assert.ok(row.created_at >= before && row.created_at <= before + 60);
    assert.deepEqual({ ...row, created_at: 0 }, {
      name: "bb-rec",
      created_at: 0,
      state: "created",
      pid: null,
      pid_start_time: null,
      cpus: 1,
      mem: 512,
      mounts: [],
      ports: [],
      published_sockets: [],
      network: true,
      gpu: null,
      gpu_vram_mib: null,
      rosetta: null,
      restart: {
        policy: "never",
        max_retries: 0,
        max_backoff_secs: 0,
        restart_count: 0,
        user_stopped: false,
      },
      last_exit_code: null,
      init: [],
      init_completed: false,
      remote_volumes: [],
      env: [["AGENT_MODE", "test"]],
      secret_refs: { GH_TOKEN: { from_env: "HOST_GH_TOKEN" } },
      workdir: "/tmp",
      storage_gb: null,
      overlay_gb: null,
      allowed_cidrs: [`${IP}/32`],
      dns: IP,
      image: `local:${ARCHIVE_SHA}`,
      entrypoint: [...IDLE_ENTRYPOINT],
      cmd: [],
      health_cmd: null,
      health_interval_secs: null,
      health_timeout_secs: null,
      health_retries: null,
      health_startup_grace_secs: null,
      ssh_agent: false,
      cuda: false,
      docker_socket: false,
      ephemeral: false,
      runtime_managed: false,
    });

    // Without secrets the key is omitted; without a policy allowed_cidrs is null (unrestricted).
    ok(await runFake(sb, ["machine", "create", "--name", "bb-open", "--net"]), "open");
    const open = readRow(sb, "bb-open")!;
    assert.ok(!("secret_refs" in open), "secret_refs omitted when empty");
    assert.equal(open.allowed_cidrs, null);
    assert.equal(open.image, null);
    assert.equal(open.cpus, 4);
    assert.equal(open.mem, 8192);
    for (
      const omitted of ["network_backend", "dns", "network_name", "labels", "dns_filter_hosts"]
    ) {
      assert.ok(!(omitted in open), `${omitted} omitted when unset`);
    }
    // Only an explicit --net-backend is stored; allow-host names, labels, flags as given.
    const sf = await writeSmolfile(
      sb,
      '[network]\nallow_cidrs = ["10.1.2.3", "10.1.2.3/24"]\nallow_hosts = ["x.invalid"]\n',
      "Smolfile.hosts",
    );
    ok(
      await runFake(sb, [
        "machine",
        "create",
        "-n",
        "bb-h",
        "-s",
        sf,
        "--label",
        "k=v",
        "--net-backend",
        "virtio-net",
        "--ssh-agent",
        "--docker-socket",
        "--gpu",
        "-p",
        "8080:80",
        "--mount-socket",
        "/run/h.sock:/run/g.sock",
      ]),
      "hosts",
    );
    const hosts = readRow(sb, "bb-h")!;
    assert.deepEqual(hosts.allowed_cidrs, ["10.1.2.3/32", "10.1.2.3/24"]);
    assert.deepEqual(hosts.dns_filter_hosts, ["x.invalid"]);
    assert.deepEqual(hosts.labels, { k: "v" });
    assert.equal(hosts.network_backend, "virtio-net");
    assert.equal(hosts.ssh_agent, true);
    assert.equal(hosts.docker_socket, true);
    assert.equal(hosts.gpu, true);
    assert.deepEqual(hosts.ports, [[8080, 80]]);
    assert.deepEqual(hosts.published_sockets, [{
      direction: "mount",
      guest_path: "/run/g.sock",
      host_path: "/run/h.sock",
    }]);
  });
});

Deno.test("contract: -I stages the archive like smolvm: sha256, hard link, dedupe, never cleaned", async () => {
  await withSandbox(async (sb) => {
    const archive = await writeArchive(sb, new TextEncoder().encode("archive"));
    ok(await create(sb, "bb-stage", {}, archive), "create");
    const staged = `${sb.home}/.cache/smolvm-image-archives/${ARCHIVE_SHA}/archive.tar`;
    const [a, b] = [await Deno.stat(archive), await Deno.stat(staged)];
    assert.equal(b.ino, a.ino, "a hard link to the archive handed over");
    // An existing staged archive is kept as it is, not verified.
    await Deno.remove(staged);
    await Deno.writeTextFile(staged, "not the archive");
    ok(await create(sb, "bb-stage2", {}, archive), "create again");
    assert.equal(await Deno.readTextFile(staged), "not the archive");
    assert.equal(readRow(sb, "bb-stage2")!.image, `local:${ARCHIVE_SHA}`);
    // delete leaves the staged archive where it is.
    ok(await runFake(sb, tail(deleteArgv("bb-stage"))), "delete");
    assert.ok((await Deno.stat(staged)).isFile);

    // XDG_CACHE_HOME counts when absolute, not when relative; SMOLVM_DATA_DIR moves it.
    const xdg = `${sb.home}/xdg-cache`;
    ok(await create(sb, "bb-x1", { XDG_CACHE_HOME: xdg }, archive), "xdg");
    assert.ok((await Deno.stat(`${xdg}/smolvm-image-archives/${ARCHIVE_SHA}/archive.tar`)).isFile);
    const data = `${sb.home}/data-root`;
    ok(await create(sb, "bb-x2", { SMOLVM_DATA_DIR: data, XDG_CACHE_HOME: xdg }, archive), "data");
    assert.ok((await Deno.stat(`${data}/.cache/smolvm-image-archives/${ARCHIVE_SHA}`)).isDirectory);

    // Which values are local, and what a missing one says.
    const missing = await runFake(sb, ["machine", "create", "--name", "bb-m", "-I", "./gone.tar"]);
    assert.equal(missing.code, 1);
    assert.equal(
      missing.stderr,
      "Error: config operation failed: --image: cannot read archive ./gone.tar: No such file " +
        "or directory (os error 2)\n",
    );
    const abs = await runFake(sb, ["machine", "create", "--name", "bb-m", "-I", `${sb.home}/nope`]);
    assert.match(abs.stderr, /^Error: config operation failed: --image: cannot read archive /);
    // A name that does not look local is a registry reference, even if such a file exists
    // (and a registry image needs a network to be pulled).
    await Deno.writeTextFile(`${sb.home}/alpine`, "a file");
    const noNet = await runFake(sb, ["machine", "create", "--name", "bb-m", "-I", "alpine"]);
    assert.equal(noNet.code, 1);
    assert.match(noNet.stderr, /image 'alpine' must be pulled from a registry, but this machine/);
    ok(await runFake(sb, ["machine", "create", "--name", "bb-r", "-I", "alpine", "--net"]), "reg");
    assert.equal(readRow(sb, "bb-r")!.image, "alpine");
    const file = await writeArchive(sb, new TextEncoder().encode("x"), "img.tgz");
    ok(
      await runFake(sb, ["machine", "create", "--name", "bb-t", "-I", "img.tgz"], {}),
      ".tgz is local",
    );
    const sha = createHash("sha256").update("x").digest("hex");
    assert.equal(readRow(sb, "bb-t")!.image, `local:${sha}`);
    assert.ok((await Deno.stat(file)).isFile);
    const dockerfile = await writeArchive(sb, new TextEncoder().encode("FROM x\n"), "app.tar");
    const df = await runFake(sb, ["machine", "create", "--name", "bb-d", "-I", dockerfile]);
    assert.match(df.stderr, /looks like a Dockerfile, not an image/);
  });
});

Deno.test("contract: -I copies when it cannot hard-link (another filesystem)", async () => {
  let shm: string;
  try {
    shm = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "bbtest-" });
  } catch {
    return; // no /dev/shm here
  }
  try {
    await withSandbox(async (sb) => {
      const archive = `${shm}/image.tar`;
      await Deno.writeTextFile(archive, "archive");
      if ((await Deno.stat(archive)).dev === (await Deno.stat(sb.home)).dev) return;
      ok(await create(sb, "bb-copy", {}, archive), "create");
      const staged = `${sb.home}/.cache/smolvm-image-archives/${ARCHIVE_SHA}/archive.tar`;
      assert.equal(await Deno.readTextFile(staged), "archive");
      assert.notEqual((await Deno.stat(staged)).ino, (await Deno.stat(archive)).ino);
    });
  } finally {
    await Deno.remove(shm, { recursive: true });
  }
});

/** What the fake resolves its DB and cache to in `env` (nothing is created). */
async function fakePaths(env: Record<string, string>): Promise<{ db: string; cache: string }> {
  const store = new URL("../../fixtures/fake_smolvm/store.ts", import.meta.url).href;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { applySystemDataRoot, cacheDir, dbPath } from ${JSON.stringify(store)};\n` +
      `applySystemDataRoot(); console.log(JSON.stringify({ db: dbPath(), cache: cacheDir() }));`,
    ],
    env,
    clearEnv: true,
    cwd: ROOT,
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

function passwdHome(): string {
  for (const line of Deno.readTextFileSync("/etc/passwd").split("\n")) {
    const f = line.split(":");
    if (Number(f[2]) === Deno.uid()) return f[5];
  }
  throw new Error("no passwd entry");
}

Deno.test("contract: SMOLVM_DATA_DIR (even empty) replaces HOME and drops XDG; empty HOME → passwd", async () => {
  const sb = await fakeSmolvmSandbox();
  try {
    const base = { PATH: sb.env.PATH, DENO_DIR: sb.env.DENO_DIR };
    const xdg = { XDG_DATA_HOME: "/x/data", XDG_CACHE_HOME: "/x/cache" };
    const pw = passwdHome();
    const root = `${sb.home}/data-root`; // smolvm creates it (0755)
    const table: [string, Record<string, string>, string, string][] = [
      ["HOME", { HOME: "/h" }, "/h/.local/share", "/h/.cache"],
      ["XDG absolute", { HOME: "/h", ...xdg }, "/x/data", "/x/cache"],
      [
        "XDG relative",
        { HOME: "/h", XDG_DATA_HOME: "d", XDG_CACHE_HOME: "c" },
        "/h/.local/share",
        "/h/.cache",
      ],
      [
        "SMOLVM_DATA_DIR",
        { HOME: "/h", SMOLVM_DATA_DIR: root, ...xdg },
        `${root}/.local/share`,
        `${root}/.cache`,
      ],
      [
        "SMOLVM_DATA_DIR empty",
        { HOME: "/h", SMOLVM_DATA_DIR: "", ...xdg },
        `${pw}/.local/share`,
        `${pw}/.cache`,
      ],
      ["HOME empty", { HOME: "", ...xdg }, "/x/data", "/x/cache"],
      ["HOME unset", {}, `${pw}/.local/share`, `${pw}/.cache`],
    ];
    for (const [label, env, data, cache] of table) {
      const got = await fakePaths({ ...base, ...env });
      assert.equal(got.db, `${data}/smolvm/server/smolvm.db`, label);
      assert.equal(got.cache, cache, label);
      // bot-bottle computes the same DB path and cache.
      const product = smolvmPaths({ os: "linux", env: (n) => env[n], passwdHome: pw });
      assert.equal(product.dbPath, got.db, `${label}: product DB path`);
      assert.equal(product.cacheDir, got.cache, `${label}: product cache`);
    }
    assert.equal((await Deno.stat(root)).mode! & 0o777, 0o755, "SMOLVM_DATA_DIR is created 0755");
  } finally {
    await sb.cleanup();
  }
});

Deno.test("contract: the DB is smolvm's: WAL, its tables, ls and status create it, 15 s busy timeout", async () => {
  await withSandbox(async (sb) => {
    await assert.rejects(Deno.stat(sb.dbPath), Deno.errors.NotFound);
    assert.equal(ok(await runFake(sb, tail(lsJsonArgv())), "ls").stdout, "[]\n");
    assert.ok((await Deno.stat(sb.dbPath)).isFile, "ls created the DB");
    await Deno.remove(`${sb.home}/.local`, { recursive: true });
    const status = await runFake(sb, ["machine", "status", "--name", "nope"]);
    assert.equal(status.stderr, "Error: vm not found: nope\n");
    assert.ok((await Deno.stat(sb.dbPath)).isFile, "status created the DB");
    const db = new DatabaseSync(sb.dbPath, { readOnly: true });
    try {
      assert.equal(db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
      const tables = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all();
      const sql = Object.fromEntries(tables.map((t) => [t.name, String(t.sql)]));
      assert.deepEqual(Object.keys(sql).sort(), [
        "config",
        "fork_leases",
        "fork_pool_slots",
        "fork_pool_snapshots",
        "fork_pools",
        "vm_create_reservations",
        "vms",
      ]);
      assert.match(sql.vms, /name TEXT PRIMARY KEY NOT NULL,\s+data BLOB NOT NULL/);
      assert.match(sql.config, /key TEXT PRIMARY KEY NOT NULL,\s+value TEXT NOT NULL/);
    } finally {
      db.close();
    }
    // A writer holding the DB for 2 s: the fake waits for it instead of failing (busy_timeout).
    const writer = new DatabaseSync(sb.dbPath);
    writer.exec("BEGIN IMMEDIATE");
    const t0 = performance.now();
    const pending = create(sb, "bb-busy");
    await new Promise((r) => setTimeout(r, 2000));
    writer.exec("COMMIT");
    writer.close();
    ok(await pending, "create waited for the lock");
    assert.ok(performance.now() - t0 >= 2000);
  });
});

Deno.test("contract: not-found, not-running, duplicate and lifecycle messages are smolvm's", async () => {
  await withSandbox(async (sb) => {
    const table: [string[], number, string][] = [
      [tail(startArgv("ghost")), 1, "Error: vm not found: ghost\n"],
      [tail(stopArgv("ghost")), 1, "Error: vm not found: ghost\n"],
      [tail(deleteArgv("ghost")), 1, "Error: vm not found: ghost\n"],
      [
        tail(execArgv({ name: "ghost", command: ["true"], interactive: false })),
        1,
        "Error: vm not found: ghost\n",
      ],
      [
        ["machine", "exec", "--", "true"],
        1,
        "Error: agent operation failed: connect: machine 'default' not found\n",
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
    assert.equal(
      dup.stderr,
      "Error: config operation failed: create machine: machine 'bb-x' already exists or is " +
        "being created\n",
    );
    const notRunning = await runFake(
      sb,
      tail(execArgv({ name: "bb-x", command: ["true"], interactive: false })),
    );
    assert.equal(notRunning.code, 1);
    assert.equal(
      notRunning.stderr,
      "Error: agent operation failed: connect: machine 'bb-x' is not running. Use 'smolvm " +
        "machine start --name bb-x' first.\n",
    );
    const stop = ok(await runFake(sb, tail(stopArgv("bb-x"))), "stop created");
    assert.equal(stop.stdout, "Machine 'bb-x' is not running (state: created)\n");
    const text = ok(await runFake(sb, ["machine", "status", "--name", "bb-x"]), "status");
    assert.equal(text.stdout, "Machine 'bb-x': created\n");
    // Never started: no data directory to clean up.
    const deleted = ok(await runFake(sb, tail(deleteArgv("bb-x"))), "delete");
    assert.equal(deleted.stdout, "Deleted machine: bb-x\n");
    assert.equal(readRow(sb, "bb-x"), null);
  });
});

Deno.test("contract: machine names are validated after staging, with validate_vm_name's words", async () => {
  await withSandbox(async (sb) => {
    const table: [string, string][] = [
      ["a--b", "machine name cannot contain consecutive hyphens"],
      ["a.b", "machine name contains invalid character: '.'"],
      ["_ab", 'machine name must start with a letter or digit (got: "_ab")'],
      ["ab-", 'machine name cannot end with a hyphen (got: "ab-")'],
      ["a/b", "machine name cannot contain path separators"],
      ["x".repeat(129), "machine name too long: 129 characters (max 128)"],
    ];
    for (const [name, why] of table) {
      const r = await runFake(sb, ["machine", "create", "--name", name, "--net"]);
      assert.equal(r.code, 1, name);
      assert.equal(r.stderr, `Error: config operation failed: create machine: ${why}\n`, name);
    }
    // The archive is staged (and its errors reported) before the name is looked at.
    const r = await runFake(sb, ["machine", "create", "--name", "a.b", "-I", "/nope.tar"]);
    assert.match(r.stderr, /--image: cannot read archive \/nope\.tar/);
    const archive = await writeArchive(sb, new TextEncoder().encode("archive"));
    const staged = await runFake(sb, ["machine", "create", "--name", "a.b", "-I", archive]);
    assert.match(staged.stderr, /invalid character/);
    assert.ok(
      (await Deno.stat(`${sb.home}/.cache/smolvm-image-archives/${ARCHIVE_SHA}/archive.tar`))
        .isFile,
    );
  });
});

Deno.test("contract: clap errors exit 2 with clap 4.6's texts, tips and usage", async () => {
  await withSandbox(async (sb) => {
    const CREATE_USAGE = "Usage: smolvm machine create [OPTIONS] [-- <COMMAND>...]";
    const table: [string[], string][] = [
      [
        ["machine", "create", "--bogus"],
        "error: unexpected argument '--bogus' found\n\n  tip: to pass '--bogus' as a value, " +
        `use '-- --bogus'\n\n${CREATE_USAGE}${MORE}`,
      ],
      [
        ["machine", "create", "--nme", "x"],
        "error: unexpected argument '--nme' found\n\n  tip: a similar argument exists: '--name'\n" +
        "  tip: to pass '--nme' as a value, use '-- --nme'\n\n" +
        `Usage: smolvm machine create --name <NAME> [-- <COMMAND>...]${MORE}`,
      ],
      [
        ["machine", "exec", "--name", "m", "--tiemout", "1s", "--", "true"],
        "error: unexpected argument '--tiemout' found\n\n  tip: a similar argument exists: " +
        "'--timeout'\n  tip: to pass '--tiemout' as a value, use '-- --tiemout'\n\n" +
        `Usage: smolvm machine exec --name <NAME> --timeout <DURATION> <COMMAND>...${MORE}`,
      ],
      [
        ["machine", "start", "--nmae", "x"],
        "error: unexpected argument '--nmae' found\n\n  tip: a similar argument exists: " +
        `'--name'\n\nUsage: smolvm machine start --name <NAME>${MORE}`,
      ],
      [
        ["machine", "stop", "--json"],
        `error: unexpected argument '--json' found\n\nUsage: smolvm machine stop [OPTIONS]${MORE}`,
      ],
      [
        ["machine", "create", "sbx1"],
        `error: unexpected argument 'sbx1' found\n\n${CREATE_USAGE}${MORE}`,
      ],
      [
        ["machine", "create", "-x"],
        `error: unexpected argument '-x' found\n\n  tip: to pass '-x' as a value, use '-- -x'\n\n${CREATE_USAGE}${MORE}`,
      ],
      [
        ["machine", "exec", "-n", "m", "--", "true"],
        "error: unexpected argument '-n' found\n\n  tip: to pass '-n' as a value, use '-- -n'\n\n" +
        `Usage: smolvm machine exec [OPTIONS] <COMMAND>...${MORE}`,
      ],
      [
        ["machine", "create", "--dns", "resolver.invalid"],
        `error: invalid value 'resolver.invalid' for '--dns <IP>': invalid IPv4 address syntax${MORE}`,
      ],
      [
        ["machine", "create", "--cpus", "x"],
        `error: invalid value 'x' for '--cpus <N>': invalid digit found in string${MORE}`,
      ],
      [
        ["machine", "create", "--name"],
        `error: a value is required for '--name <NAME>' but none was supplied${MORE}`,
      ],
      [
        ["machine", "create", "-n", "a", "--name", "b"],
        `error: the argument '--name <NAME>' cannot be used multiple times\n\n${CREATE_USAGE}${MORE}`,
      ],
      [
        ["machine", "delete", "-f"],
        "error: the following required arguments were not provided:\n  --name <NAME>\n\n" +
        `Usage: smolvm machine delete --name <NAME> --force${MORE}`,
      ],
      [
        ["machine", "exec", "--name", "m"],
        "error: the following required arguments were not provided:\n  <COMMAND>...\n\n" +
        `Usage: smolvm machine exec --name <NAME> <COMMAND>...${MORE}`,
      ],
      [
        ["machine", "exec", "--name", "m", "-d", "-i", "--", "sh"],
        "error: the argument '--detach' cannot be used with '--interactive'\n\n" +
        `Usage: smolvm machine exec --name <NAME> <COMMAND>...${MORE}`,
      ],
    ];
    for (const [args, stderr] of table) {
      const result = await runFake(sb, args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.equal(result.stderr, stderr, args.join(" "));
      assert.equal(result.stdout, "", args.join(" "));
    }
    const loose: [string[], RegExp][] = [
      [["machine", "create", "--net-backend", "foo"], /\[possible values: tsi, virtio-net\]/],
      [
        ["machine", "create", "--allow-cidr", "10.0.0.300/32"],
        /for '--allow-cidr <CIDR>': invalid CIDR/,
      ],
      [["machine", "create", "--from", "x.smolmachine", "-s", "S"], /cannot be used with/],
      [["machine", "delete", "sbx1", "-f"], /^error: unexpected argument 'sbx1' found/],
      [["machine", "ls", "--name", "x"], /^error: unexpected argument '--name' found/],
      [["machine", "frobnicate"], /^error: unrecognized subcommand 'frobnicate'/],
      [["sandbox", "run"], /^error: unrecognized subcommand 'sandbox'/],
      [["machine"], /requires a subcommand/],
    ];
    for (const [args, pattern] of loose) {
      const result = await runFake(sb, args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, pattern, args.join(" "));
    }
    await assert.rejects(Deno.stat(sb.dbPath), Deno.errors.NotFound, "rejections write nothing");
  });
});

Deno.test("contract: exec --timeout is humantime: a bare number is exit 2, zero too; units parse", async () => {
  await withSandbox(async (sb) => {
    const bad: [string, string][] = [
      ["30", "time unit needed, for example 30sec or 30ms"],
      ["0s", "timeout must be greater than 0 (e.g., 5sec, 30s)"],
      ["0", "time unit needed, for example 0sec or 0ms"],
      [
        "30x",
        'unknown time unit "x", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)',
      ],
      ["", "value was empty"],
      ["s30", "expected number at 0"],
    ];
    for (const [value, why] of bad) {
      const r = await runFake(sb, [
        "machine",
        "exec",
        "--name",
        "m",
        "--timeout",
        value,
        "--",
        "true",
      ]);
      assert.equal(r.code, 2, value);
      assert.equal(
        r.stderr,
        `error: invalid value '${value}' for '--timeout <DURATION>': ${why}${MORE}`,
        value,
      );
    }
    // Accepted: past the parser, they fail only on the unknown machine (exit 1).
    for (const value of ["30s", "30sec", "1h 30m", "1h30m", "30 s", "1.5s", "500ms", "2min"]) {
      const r = await runFake(sb, [
        "machine",
        "exec",
        "--name",
        "m",
        "--timeout",
        value,
        "--",
        "true",
      ]);
      assert.equal(r.code, 1, `${value}: ${r.stderr}`);
      assert.equal(r.stderr, "Error: vm not found: m\n", value);
    }
    // What bot-bottle passes parses.
    const argv = execArgv({ name: "m", command: ["true"], interactive: false, timeout: "30s" });
    assert.equal((await runFake(sb, tail(argv))).stderr, "Error: vm not found: m\n");
    // --stream is accepted, alone and with -i / -t (which win over it).
    for (const flags of [["--stream"], ["-i", "--stream"], ["-i", "-t", "--stream"]]) {
      const r = await runFake(sb, ["machine", "exec", "--name", "m", ...flags, "--", "true"]);
      assert.equal(r.stderr, "Error: vm not found: m\n", flags.join(" "));
    }
  });
});

Deno.test("contract: ls --json / status --json: alphabetical keys, raw storage/overlay, no allowlist", async () => {
  await withSandbox(async (sb) => {
    assert.equal(ok(await runFake(sb, tail(lsJsonArgv())), "ls").stdout, "[]\n");
    ok(await create(sb, "bb-keys"), "create");
    const list = JSON.parse(ok(await runFake(sb, tail(lsJsonArgv())), "ls").stdout);
    assert.equal(list.length, 1);
    const status = JSON.parse(ok(await runFake(sb, tail(statusJsonArgv("bb-keys"))), "s").stdout);
    for (const object of [list[0], status]) {
      assert.deepEqual(Object.keys(object), STATUS_KEYS_1_9_3, "serde_json's sorted keys");
      for (const hidden of ["allowed_cidrs", "dns_filter_hosts", "network_backend", "env"]) {
        assert.ok(!(hidden in object), hidden);
      }
      assert.equal(object.name, "bb-keys");
      assert.equal(object.state, "created");
      assert.equal(object.network, true);
      assert.equal(object.memory_mib, 512);
      assert.equal(object.cpus, 1);
      assert.equal(object.storage_gb, null, "the raw record value, not 20");
      assert.equal(object.overlay_gb, null, "the raw record value, not 10");
      assert.equal(object.gpu, false, "gpu: null in the record is false here");
      assert.deepEqual(object.labels, {});
      assert.equal(typeof object.created_at, "number");
      assert.equal(object.image, `local:${ARCHIVE_SHA}`);
    }
    assert.match(
      ok(await runFake(sb, tail(lsJsonArgv())), "ls").stdout,
      /^\[\n {2}\{\n {4}"cmd": \[\],\n/,
    );
    // aliases: `vm`, `list`
    const alias = JSON.parse(ok(await runFake(sb, ["vm", "list", "--json"]), "alias").stdout);
    assert.deepEqual(alias, list);
    const table = ok(await runFake(sb, ["machine", "ls"]), "table").stdout;
    // `{:<20} {:<12} {:>5} {:>10} {:>7} {:>7} {:>8} {:>8}` (list_vms).
    assert.ok(
      table.startsWith(
        `${"NAME".padEnd(20)} ${"STATE".padEnd(12)} ${"CPUS".padStart(5)} ${
          "MEMORY".padStart(10)
        } ${"MOUNTS".padStart(7)} ${"PORTS".padStart(7)} ${"STORAGE".padStart(8)} ${
          "OVERLAY".padStart(8)
        }\n${"-".repeat(88)}\n`,
      ),
      table,
    );
    assert.match(table, /^bb-keys +created +1 +512 MiB +0 +0 +20 GiB +10 GiB$/m);
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
    assert.equal(
      cidr.stderr,
      "Error: config operation failed: smolfile [network] allow_cidrs: invalid CIDR " +
        "'10.0.0.2/33': expected format like 10.0.0.0/8 or 1.1.1.1\n",
    );
    const full = await writeSmolfile(
      sb,
      'image = "alpine"\nentrypoint = ["/bin/sh"]\ncmd = ["-c", "true"]\n' +
        'env = ["A=1", "=x", "FWD", "UNSET_VAR"]\nworkdir = "/w"\ncpus = 2\nmemory = 1024\n' +
        'net = true\n[secrets]\nT = { from_env = "H" }\n[network]\nallow_cidrs = ["10.0.0.2/32"]\n' +
        '[dev]\nenv = ["B=2"]\n',
    );
    ok(
      await runFake(sb, ["machine", "create", "--name", "bb-sf", "-s", full], {
        env: { FWD: "from-create" },
      }),
      "full",
    );
    const row = readRow(sb, "bb-sf")!;
    assert.deepEqual(
      row.env,
      [["A", "1"], ["FWD", "from-create"], ["B", "2"]],
      "key-only entries take the create process's value (dropped when unset); empty keys dropped",
    );
    assert.equal(row.cpus, 2);
    assert.equal(row.mem, 1024);
    assert.deepEqual(row.secret_refs, { T: { from_env: "H" } });
    assert.equal(row.image, "alpine", "a Smolfile image is stored verbatim in 1.9.3");
    assert.deepEqual(row.entrypoint, ["/bin/sh"]);
    assert.deepEqual(row.cmd, ["-c", "true"]);
    assert.deepEqual(row.allowed_cidrs, ["10.0.0.2/32"]);
  });
});

Deno.test("contract: delete without -f prompts; only y/yes deletes", async () => {
  await withSandbox(async (sb) => {
    ok(await runFake(sb, ["machine", "create", "--name", "bb-d"]), "create");
    const no = ok(
      await runFake(sb, ["machine", "delete", "--name", "bb-d"], { stdin: "n\n" }),
      "n",
    );
    assert.equal(no.stdout, "Cancelled\n");
    assert.equal(no.stderr, "Delete machine 'bb-d'? [y/N] ");
    assert.ok(readRow(sb, "bb-d"), "still there");
    const eof = ok(await runFake(sb, ["machine", "delete", "--name", "bb-d"]), "eof");
    assert.equal(eof.stdout, "Cancelled\n");
    const yes = ok(
      await runFake(sb, ["machine", "delete", "--name", "bb-d"], { stdin: "yes\n" }),
      "y",
    );
    assert.equal(yes.stdout, "Deleted machine: bb-d\n");
    assert.equal(readRow(sb, "bb-d"), null);
  });
});

Deno.test("contract: FAKE_SMOLVM_RECORD writes each escape field with a non-default value", async () => {
  const table: [string, string, unknown][] = [
    ["network-name", "network_name", "fabric0"],
    ["ports", "ports", [[8080, 80]]],
    ["mounts", "mounts", [["/", "/host", false]]],
    ["ssh-agent", "ssh_agent", true],
    ["docker-socket", "docker_socket", true],
    [
      "published-sockets",
      "published_sockets",
      [{ direction: "mount", guest_path: "/run/host.sock", host_path: "/run/docker.sock" }],
    ],
    ["unknown-field", "future_escape", true],
    ["workload-image", "entrypoint", []],
    ["image-other", "image", `local:${"0".repeat(63)}1`],
    ["cidrs-null", "allowed_cidrs", null],
    ["cidrs-other", "allowed_cidrs", ["203.0.113.7/32"]],
    ["cidrs-extra", "allowed_cidrs", [`${IP}/32`, "0.0.0.0/0"]],
    ["network-false", "network", false],
    ["backend-tsi", "network_backend", "tsi"],
    ["dns-filter-hosts", "dns_filter_hosts", ["allowed.invalid"]],
  ];
  await withSandbox(async (sb) => {
    for (const [mode, key, value] of table) {
      const name = `bb-${mode}`;
      ok(await create(sb, name, { FAKE_SMOLVM_RECORD: mode }), mode);
      const row = readRow(sb, name)!;
      assert.deepEqual(row[key], value, mode);
      if (mode === "workload-image") assert.deepEqual(row.cmd, []);
      // Everything else is what smolvm writes.
      assert.equal(row.state, "created", mode);
    }
    ok(await create(sb, "bb-no-dns", { FAKE_SMOLVM_RECORD: "no-dns" }), "no-dns");
    assert.ok(!("dns" in readRow(sb, "bb-no-dns")!));
    ok(await create(sb, "bb-no-row", { FAKE_SMOLVM_RECORD: "no-row" }), "no-row");
    assert.equal(readRow(sb, "bb-no-row"), null);
    ok(await create(sb, "bb-corrupt", { FAKE_SMOLVM_RECORD: "corrupt-data" }), "corrupt");
    assert.equal(rawRow(sb.dbPath, "bb-corrupt"), "{not json");
    const ls = await runFake(sb, tail(lsJsonArgv()));
    assert.equal(ls.code, 1);
    assert.match(
      ls.stderr,
      /^Error: database operation failed: deserialize vm record 'bb-corrupt': /,
    );
  });
  await withSandbox(async (sb) => {
    ok(await create(sb, "bb-elsewhere", { FAKE_SMOLVM_RECORD: "no-db" }), "no-db");
    await assert.rejects(Deno.stat(sb.dbPath), Deno.errors.NotFound, "not at smolvm's path");
    const elsewhere = `${sb.home}/.local/share/smolvm-elsewhere/server/smolvm.db`;
    assert.equal(readRow(sb, "bb-elsewhere", elsewhere)?.name, "bb-elsewhere");
    const ls = ok(
      await runFake(sb, tail(lsJsonArgv()), { env: { FAKE_SMOLVM_RECORD: "no-db" } }),
      "",
    );
    assert.equal(JSON.parse(ls.stdout).length, 1, "every command of that smolvm uses its DB");
    await assert.rejects(Deno.stat(sb.dbPath), Deno.errors.NotFound);
  });
});

Deno.test("contract: FAKE_SMOLVM_FAIL fails each step with exit 1 and changes nothing", async () => {
  await withSandbox(async (sb) => {
    const failCreate = await create(sb, "bb-f", { FAKE_SMOLVM_FAIL: "create" });
    assert.equal(failCreate.code, 1);
    assert.match(failCreate.stderr, /^Error: .*FAKE_SMOLVM_FAIL=create/);
    await assert.rejects(Deno.stat(sb.dbPath), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(`${sb.home}/.cache`), Deno.errors.NotFound, "nothing staged");
    ok(await create(sb, "bb-f"), "create");
    const steps: [string, string[]][] = [
      ["start", tail(startArgv("bb-f"))],
      ["exec", tail(execArgv({ name: "bb-f", command: ["true"], interactive: false }))],
      ["stop", tail(stopArgv("bb-f"))],
      ["delete", tail(deleteArgv("bb-f"))],
    ];
    for (const [step, args] of steps) {
      const result = await runFake(sb, args, { env: { FAKE_SMOLVM_FAIL: step } });
      assert.equal(result.code, 1, step);
      assert.match(result.stderr, new RegExp(`^Error: .*FAKE_SMOLVM_FAIL=${step}`), step);
      assert.equal(readRow(sb, "bb-f")?.state, "created", step);
    }
  });
});

Deno.test("contract: FAKE_SMOLVM_HANG keeps the step running until it is killed", async () => {
  await withSandbox(async (sb) => {
    ok(await runFake(sb, ["machine", "create", "--name", "bb-h"]), "create");
    for (const step of ["start", "exec"]) {
      const args = step === "start"
        ? tail(startArgv("bb-h"))
        : tail(execArgv({ name: "bb-h", command: ["true"], interactive: false }));
      const child = new Deno.Command("smolvm", {
        args,
        env: { ...sb.env, FAKE_SMOLVM_HANG: step },
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
      assert.equal(winner, "hanging", step);
      assert.equal(status.success, false, step);
      assert.equal(readRow(sb, "bb-h")?.state, "created", step);
    }
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
