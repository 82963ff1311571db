import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import {
  AllowlistError,
  checkVmRecord,
  verifyAllowlist,
} from "../../../lib/backends/smolvm/verify_allowlist.ts";
import { smolvmPaths } from "../../../lib/backends/smolvm/smolvm_paths.ts";
import { UserError } from "../../../lib/errors.ts";
import { IDLE_ENTRYPOINT } from "../../../lib/plan/render_smolfile.ts";
import {
  confinedSmolfile,
  fakeSmolvmSandbox,
  runFake,
  writeArchive,
  writeSmolfile,
} from "../../_harness/fake_smolvm.ts";
import type { Sandbox } from "../../_harness/sandbox.ts";
import { PERMISSION_FLAGS } from "../../_harness/cli.ts";

const IP = "10.213.0.2";
const GOOD = {
  name: "m",
  state: "created",
  network: true,
  network_backend: "virtio-net",
  allowed_cidrs: [`${IP}/32`],
  dns: IP,
  env: [["A", "1"]],
};

Deno.test("checkVmRecord accepts the record bot-bottle asks for", () => {
  assert.deepEqual(checkVmRecord(GOOD, { bundleIp: IP }), []);
  const { network_backend: _, ...noBackend } = GOOD;
  assert.deepEqual(checkVmRecord(noBackend, { bundleIp: IP }), [], "backend absent is fine");
});

Deno.test("checkVmRecord names field, expected and found for each unsafe record", () => {
  const table: [string, Record<string, unknown>, string, string][] = [
    ["null cidrs", { allowed_cidrs: null }, "allowed_cidrs", "null"],
    ["missing cidrs", { allowed_cidrs: undefined }, "allowed_cidrs", "absent"],
    ["other ip", { allowed_cidrs: ["10.0.0.9/32"] }, "allowed_cidrs", '["10.0.0.9/32"]'],
    ["extra cidr", { allowed_cidrs: [`${IP}/32`, "0.0.0.0/0"] }, "allowed_cidrs", "0.0.0.0/0"],
    ["wider prefix", { allowed_cidrs: [`${IP}/24`] }, "allowed_cidrs", `${IP}/24`],
    ["empty list", { allowed_cidrs: [] }, "allowed_cidrs", "[]"],
    ["network false", { network: false }, "network", "false"],
    ["network missing", { network: undefined }, "network", "absent"],
    ["hosts", { dns_filter_hosts: ["x.invalid"] }, "dns_filter_hosts", "x.invalid"],
    ["tsi", { network_backend: "tsi" }, "network_backend", '"tsi"'],
    ["dns missing", { dns: undefined }, "dns", "absent"],
    ["dns other", { dns: "1.1.1.1" }, "dns", '"1.1.1.1"'],
    ["running", { state: "running" }, "state", '"running"'],
  ];
  for (const [label, patch, field, found] of table) {
    const record: Record<string, unknown> = { ...GOOD, ...patch };
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete record[k];
    const problems = checkVmRecord(record, { bundleIp: IP });
    assert.equal(problems.length, 1, `${label}: ${JSON.stringify(problems)}`);
    assert.equal(problems[0].field, field, label);
    assert.ok(problems[0].found.includes(found), `${label}: found=${problems[0].found}`);
    assert.ok(problems[0].expected.length > 0, label);
  }
  const nullProblem = checkVmRecord({ ...GOOD, allowed_cidrs: null }, { bundleIp: IP })[0];
  assert.match(nullProblem.why ?? "", /unrestricted/i);
  assert.equal(checkVmRecord([1], { bundleIp: IP })[0].field, "data");
  assert.equal(checkVmRecord(null, { bundleIp: IP })[0].field, "data");
  assert.equal(checkVmRecord({}, { bundleIp: IP }).length, 4, "all required keys missing");
});

Deno.test("AllowlistError is a UserError naming the DB, the machine and every problem", () => {
  const problems = checkVmRecord({ ...GOOD, network: false, dns: "9.9.9.9" }, { bundleIp: IP });
  const error = new AllowlistError("/db/smolvm.db", "bot-bottle-x", problems);
  assert.ok(error instanceof UserError);
  assert.equal(error.exitCode, 1);
  for (const part of ["/db/smolvm.db", "bot-bottle-x", "network:", "dns:", "9.9.9.9"]) {
    assert.ok(error.message.includes(part), part);
  }
  assert.ok(error.hint?.includes("smolvm --version"));
});

/** The DB path as the product computes it for the sandbox's environment. */
function productDbPath(sb: Sandbox): string {
  return smolvmPaths({
    os: Deno.build.os,
    env: (n) => ({ HOME: sb.home, ...sb.env })[n],
    passwdHome: null,
  })
    .dbPath;
}

async function createMachine(
  sb: Sandbox,
  name: string,
  env: Record<string, string> = {},
): Promise<void> {
  const smolfile = await writeSmolfile(sb, confinedSmolfile(IP));
  const archive = await writeArchive(sb);
  const result = await runFake(
    sb,
    ["machine", "create", "--name", name, "-s", smolfile, "-I", archive, "--dns", IP],
    { env },
  );
  assert.equal(result.code, 0, result.stderr);
}

function problemsOf(fn: () => unknown): AllowlistError {
  try {
    fn();
  } catch (error) {
    if (error instanceof AllowlistError) return error;
    throw error;
  }
  assert.fail("expected an AllowlistError");
}

Deno.test("verifyAllowlist passes a record the fake smolvm wrote for a confined machine", async () => {
  const sb = await fakeSmolvmSandbox();
  try {
    await createMachine(sb, "bb-good");
    assert.equal(productDbPath(sb), sb.dbPath);
    const empty = createHash("sha256").update(new Uint8Array()).digest("hex");
    const record = verifyAllowlist(productDbPath(sb), "bb-good", {
      bundleIp: IP,
      workload: IDLE_ENTRYPOINT,
      image: `local:${empty}`,
    });
    assert.deepEqual(record.allowed_cidrs, [`${IP}/32`]);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("verifyAllowlist waits out a writer holding the DB (busy timeout), as smolvm does", async () => {
  const dir = await Deno.makeTempDir();
  const dbPath = `${dir}/smolvm.db`;
  try {
    // A rollback-journal DB (no WAL): a writer's exclusive lock blocks every reader.
    const setup = new DatabaseSync(dbPath);
    setup.exec("PRAGMA journal_mode = DELETE");
    setup.exec("CREATE TABLE vms (name TEXT PRIMARY KEY NOT NULL, data BLOB NOT NULL)");
    setup.prepare("INSERT INTO vms VALUES (?, ?)").run(
      "m",
      new TextEncoder().encode(JSON.stringify(GOOD)),
    );
    setup.close();
    // Another process takes the exclusive lock and holds it for 1.5 s.
    const holder = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { DatabaseSync } from "node:sqlite";
         const db = new DatabaseSync(${JSON.stringify(dbPath)});
         db.exec("BEGIN EXCLUSIVE");
         const data = JSON.parse(new TextDecoder().decode(db.prepare("SELECT data FROM vms").get().data));
         db.prepare("UPDATE vms SET data = ?").run(
           new TextEncoder().encode(JSON.stringify({ ...data, env: [["A", "busy-writer-committed"]] })),
         );
         console.log("locked");
         await new Promise((r) => setTimeout(r, 1500));
         db.exec("COMMIT");`,
      ],
      stdout: "piped",
    }).spawn();
    const reader = holder.stdout.getReader();
    const first = await reader.read();
    assert.match(new TextDecoder().decode(first.value), /locked/);
    reader.releaseLock();
    // The read waits for the writer (instead of failing the launch with SQLITE_BUSY) and then
    // sees the committed record.
    const t0 = performance.now();
    const record = verifyAllowlist(dbPath, "m", { bundleIp: IP });
    assert.deepEqual(record.allowed_cidrs, [`${IP}/32`]);
    assert.deepEqual(
      record.env,
      [["A", "busy-writer-committed"]],
      "the read did not wait for the commit",
    );
    assert.ok(performance.now() - t0 > 200, "the read did not wait for the lock");
    await holder.stdout.cancel().catch(() => {});
    assert.equal((await holder.status).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("verifyAllowlist reports each fake misbehaviour as its own problem", async () => {
  const table: [string, string, RegExp][] = [
    ["cidrs-null", "allowed_cidrs", /found null \(null means UNRESTRICTED/],
    ["cidrs-other", "allowed_cidrs", /found \["203\.0\.113\.7\/32"\]/],
    ["cidrs-extra", "allowed_cidrs", /0\.0\.0\.0\/0/],
    ["network-false", "network", /network: expected true, found false/],
    ["backend-tsi", "network_backend", /found "tsi" \(TSI does not enforce/],
    ["no-dns", "dns", /dns: expected "10\.213\.0\.2", found absent/],
    ["dns-filter-hosts", "dns_filter_hosts", /allowed\.invalid/],
    ["no-row", "row", /no such row/],
    ["corrupt-data", "data", /parsable JSON/],
    ["no-db", "db", /no such file/],
    ["network-name", "network_name", /network_name: expected absent, found "fabric0"/],
    ["ports", "ports", /ports: expected \[\], found \[\[8080,80\]\]/],
    ["mounts", "mounts", /mounts: expected \[\], found \[\["\/","\/host",false\]\]/],
    ["ssh-agent", "ssh_agent", /ssh_agent: expected false, found true/],
    ["docker-socket", "docker_socket", /docker_socket: expected false, found true/],
    [
      "published-sockets",
      "published_sockets",
      /published_sockets: expected \[\], found .*docker\.sock/,
    ],
    ["unknown-field", "future_escape", /future_escape: expected absent or a default .*found true/],
    ["workload-image", "entrypoint", /found \[\] \+\+ \[\]/],
    ["image-other", "image", /image: expected "local:[0-9a-f]{64}", found "local:0{63}1"/],
  ];
  const empty = createHash("sha256").update(new Uint8Array()).digest("hex");
  const full = { bundleIp: IP, workload: IDLE_ENTRYPOINT, image: `local:${empty}` };
  for (const [mode, field, pattern] of table) {
    const sb = await fakeSmolvmSandbox();
    try {
      await createMachine(sb, "bb-bad", { FAKE_SMOLVM_RECORD: mode });
      const dbPath = productDbPath(sb);
      const error = problemsOf(() => verifyAllowlist(dbPath, "bb-bad", full));
      assert.deepEqual(error.problems.map((p) => p.field), [field], mode);
      assert.match(error.message, pattern, mode);
      assert.ok(error.message.includes(dbPath), `${mode}: names the DB`);
      assert.ok(error.message.includes("'bb-bad'"), `${mode}: names the machine`);
    } finally {
      await sb.cleanup();
    }
  }
});

Deno.test("verifyAllowlist reports a DB without the vms table and a started machine", async () => {
  const sb = await fakeSmolvmSandbox();
  try {
    const empty = `${sb.home}/empty.db`;
    const db = new DatabaseSync(empty);
    db.exec("CREATE TABLE other (x)");
    db.close();
    const error = problemsOf(() => verifyAllowlist(empty, "m", { bundleIp: IP }));
    assert.deepEqual(error.problems.map((p) => p.field), ["vms"]);

    await createMachine(sb, "bb-run");
    // What `machine start` writes (tests/integration/fake_smolvm_guest_test.ts starts one).
    const writer = new DatabaseSync(sb.dbPath);
    writer.prepare(
      "UPDATE vms SET data = CAST(json_set(CAST(data AS TEXT), '$.state', 'running') AS BLOB) " +
        "WHERE name = ?",
    ).run("bb-run");
    writer.close();
    const started = problemsOf(() => verifyAllowlist(sb.dbPath, "bb-run", { bundleIp: IP }));
    assert.deepEqual(started.problems.map((p) => p.field), ["state"]);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("fake and product agree on the DB path under XDG_DATA_HOME and SMOLVM_DATA_DIR", async () => {
  for (const extra of [{ XDG_DATA_HOME: "/XDG" }, { SMOLVM_DATA_DIR: "/DATA" }]) {
    const sb = await fakeSmolvmSandbox();
    try {
      const key = Object.keys(extra)[0];
      sb.env[key] = `${sb.home}${Object.values(extra)[0]}`;
      if (key === "SMOLVM_DATA_DIR") sb.env.XDG_DATA_HOME = `${sb.home}/ignored`;
      await createMachine(sb, "bb-path");
      const dbPath = productDbPath(sb);
      assert.ok(dbPath.startsWith(sb.env[key]), dbPath);
      verifyAllowlist(dbPath, "bb-path", { bundleIp: IP });
      await assert.rejects(Deno.stat(sb.dbPath), Deno.errors.NotFound, "not under HOME");
    } finally {
      await sb.cleanup();
    }
  }
});

Deno.test("verifyAllowlist never writes the DB: bytes and mtime are unchanged", async () => {
  const sb = await fakeSmolvmSandbox();
  try {
    await createMachine(sb, "bb-ro");
    const before = await Deno.readFile(sb.dbPath);
    const mtime = (await Deno.stat(sb.dbPath)).mtime?.getTime();
    await new Promise((r) => setTimeout(r, 20));
    verifyAllowlist(sb.dbPath, "bb-ro", { bundleIp: IP });
    problemsOf(() => verifyAllowlist(sb.dbPath, "bb-ro", { bundleIp: "10.9.9.9" }));
    problemsOf(() => verifyAllowlist(sb.dbPath, "missing", { bundleIp: IP }));
    assert.deepEqual(await Deno.readFile(sb.dbPath), before);
    assert.equal((await Deno.stat(sb.dbPath)).mtime?.getTime(), mtime);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("verifyAllowlist reads through WAL while the fake still holds the DB open", async () => {
  const sb = await fakeSmolvmSandbox();
  const smolfile = await writeSmolfile(sb, confinedSmolfile(IP));
  const archive = await writeArchive(sb);
  const child = new Deno.Command("smolvm", {
    args: ["machine", "create", "--name", "bb-wal", "-s", smolfile, "-I", archive, "--dns", IP],
    env: { ...sb.env, FAKE_SMOLVM_HANG: "create" },
    clearEnv: true,
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    let record: Record<string, unknown> | null = null;
    for (let i = 0; i < 300 && record === null; i++) { // bounded: 30 s
      await new Promise((r) => setTimeout(r, 100));
      try {
        record = verifyAllowlist(sb.dbPath, "bb-wal", { bundleIp: IP });
      } catch (error) {
        if (!(error instanceof AllowlistError)) throw error;
      }
    }
    assert.ok(record, "the row became visible while the fake held the DB");
    const wal = await Deno.stat(`${sb.dbPath}-wal`);
    assert.ok(wal.size > 0, "the row was still in the WAL, not checkpointed");
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await sb.cleanup();
  }
});

Deno.test("verifyAllowlist works under the product's permission set (-P=bot-bottle)", async () => {
  const sb = await fakeSmolvmSandbox();
  try {
    await createMachine(sb, "bb-perm");
    const lib = new URL("../../../lib/backends/smolvm/verify_allowlist.ts", import.meta.url);
    const script = `${sb.home}/check.ts`;
    await Deno.writeTextFile(
      script,
      `import { verifyAllowlist } from ${JSON.stringify(lib.href)};\n` +
        `const [db, name, ip] = Deno.args;\n` +
        `try { verifyAllowlist(db, name, { bundleIp: ip }); console.log("OK"); }\n` +
        `catch (e) { console.log("REFUSED " + (e as Error).name); }\n`,
    );
    const run = async (ip: string) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...PERMISSION_FLAGS,
          script,
          sb.dbPath,
          "bb-perm",
          ip,
        ],
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, text);
      return text.trim();
    };
    assert.equal(await run(IP), "OK");
    assert.equal(await run("10.9.9.9"), "REFUSED AllowlistError");
  } finally {
    await sb.cleanup();
  }
});

/** The record smolvm 1.9.3 writes for bot-bottle's create (reference §10, source of VmRecord). */
const REAL_193 = {
  name: "bot-bottle-x-abcde",
  created_at: 1787000000,
  state: "created",
  pid: null,
  pid_start_time: null,
  cpus: 2,
  mem: 4096,
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
  env: [["A", "1"]],
  secret_refs: { API_TOKEN: { from_env: "HOST_TOKEN" } },
  workdir: "/work",
  storage_gb: null,
  overlay_gb: null,
  allowed_cidrs: [`${IP}/32`],
  dns: IP,
  image: `local:${"cd".repeat(32)}`,
  entrypoint: ["/bin/sh", "-c", "exec sleep infinity"],
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
};
const FULL = {
  bundleIp: IP,
  workload: ["/bin/sh", "-c", "exec sleep infinity"],
  image: `local:${"cd".repeat(32)}`,
};

Deno.test("the record real smolvm 1.9.3 writes passes (no network_backend, local:<sha256>, integer created_at)", () => {
  assert.deepEqual(checkVmRecord(REAL_193, FULL), []);
});

Deno.test("every field that opens another way out stops the launch, naming field, expected and found", () => {
  const table: [string, unknown, string][] = [
    ["network_name", "fabric", '"fabric"'],
    ["published_sockets", [{ direction: "mount", guest_path: "/s", host_path: "/h" }], "/h"],
    ["ports", [[8080, 80]], "8080"],
    ["mounts", [["/home", "/h", false]], "/home"],
    ["remote_volumes", [{ source: "s3://b", target: "/b", read_only: false }], "s3://b"],
    ["ssh_agent", true, "true"],
    ["docker_socket", true, "true"],
    ["gpu", true, "true"],
    ["cuda", true, "true"],
    ["init", ["curl x"], "curl x"],
    ["source_smolmachine", "/x.smolmachine", "x.smolmachine"],
    ["credential_policy", { bindings: [] }, "bindings"],
    ["disks", [{ path: "/dev/sda" }], "/dev/sda"],
    ["guest_subnet", "10.0.0.0/24", "10.0.0.0/24"],
  ];
  for (const [field, value, found] of table) {
    const problems = checkVmRecord({ ...REAL_193, [field]: value }, FULL);
    assert.equal(problems.length, 1, `${field}: ${JSON.stringify(problems)}`);
    assert.equal(problems[0].field, field);
    assert.ok(problems[0].found.includes(found), `${field}: ${problems[0].found}`);
    assert.ok(problems[0].expected.length > 0 && (problems[0].why ?? "").length > 0, field);
  }
});

Deno.test("a field bot-bottle does not know passes only with a default value", () => {
  for (const value of [null, false, 0, "", [], {}]) {
    assert.deepEqual(checkVmRecord({ ...REAL_193, future_field: value }, FULL), [], String(value));
  }
  for (const value of [true, 1, "on", ["x"], { a: 1 }]) {
    const problems = checkVmRecord({ ...REAL_193, future_field: value }, FULL);
    assert.equal(problems.length, 1, JSON.stringify(value));
    assert.equal(problems[0].field, "future_field");
    assert.match(problems[0].why ?? "", /does not know this field/);
  }
});

Deno.test("the workload must be the idle one, and the image the archive bot-bottle staged", () => {
  const workload = checkVmRecord({ ...REAL_193, entrypoint: [], cmd: [] }, FULL);
  assert.deepEqual(workload.map((p) => p.field), ["entrypoint"], "empty = the image's own CMD");
  assert.match(workload[0].why ?? "", /detached workload with every secret/);
  const image = checkVmRecord({ ...REAL_193, image: "docker.io/library/alpine" }, FULL);
  assert.deepEqual(image.map((p) => p.field), ["image"]);
});
