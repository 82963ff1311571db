/**
 * Helpers for the smolmachines backend's integration tests: run the CLI as a
 * subprocess with exactly the product's permissions (`-P=bot-bottle`) against
 * the FAKE smolvm (tests/fixtures/bin first on PATH) and the real Docker
 * engine, each run in its own temp HOME / XDG_DATA_HOME (the fake's DB) /
 * XDG_STATE_HOME, and look at what it left behind.
 *
 * Every run gets a unique `--label bbtest-<random>`, so every resource the
 * product creates is named `bot-bottle-bbtest-<random>-<suffix>[...]` and can
 * be found (and, as a safety net, removed) by that prefix.
 */
import { Buffer } from "node:buffer";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { ensureAgentImage } from "../../lib/launch/agent_image.ts";
import { ensureImageArchive } from "../../lib/backends/smolvm/image_archive.ts";
import { ensureBundleImage } from "../../lib/bundle/bundle_image.ts";
import { DenoRunner } from "../../lib/host/runner.ts";

/** The repository root, with a trailing slash. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The directory holding the fake `smolvm` shim. */
export const FAKE_BIN = `${ROOT}tests/fixtures/bin`;
/** The Dockerfile every test bottle is built from. */
export const DOCKERFILE = `${ROOT}examples/agents/shell.Dockerfile`;
/** The bottle name (the agent image tag is derived from it). */
export const BOTTLE = "shell";
/** The host variable holding the secret, and the guest variable it becomes. */
export const SECRET_HOST_VAR = "BBTEST_NEEDLE";
export const SECRET_GUEST_VAR = "API_TOKEN";

const PERMISSION_FLAGS = ["-q", "--no-prompt", "-P=bot-bottle", `--config=${ROOT}deno.json`];
const decoder = new TextDecoder();

/** The manifest every test uses (bottle `shell`, agent `demo` = `bash -c <args>`). */
export function manifestText(): string {
  return `[bottles.${BOTTLE}]
dockerfile = "${DOCKERFILE}"
cpus = 1
memory = 1024
env = { BBTEST_MODE = "smolvm" }
secrets = { ${SECRET_GUEST_VAR} = "${SECRET_HOST_VAR}" }
egress.allow = ["deb.debian.org"]

[agents.demo]
bottle = "${BOTTLE}"
command = ["bash", "-c"]
`;
}

/** The Smolfile bot-bottle must render for {@link manifestText}'s bottle at bundle `ip`. */
export function expectedSmolfile(ip: string): string {
  const proxy = `http://${ip}:8888`;
  return `# Rendered by bot-bottle. The guest may reach only its bundle.
cpus = 1
memory = 1024
env = [
  "BBTEST_MODE=smolvm",
  "HTTPS_PROXY=${proxy}",
  "HTTP_PROXY=${proxy}",
  "NO_PROXY=localhost,127.0.0.1",
  "http_proxy=${proxy}",
  "https_proxy=${proxy}",
  "no_proxy=localhost,127.0.0.1",
]

[network]
allow_cidrs = ["${ip}/32"]
`;
}

let denoDirCache: string | undefined;

/** The host's DENO_DIR (passed through so neither the CLI nor the fake re-downloads). */
export async function hostDenoDir(): Promise<string> {
  if (denoDirCache) return denoDirCache;
  const fromEnv = Deno.env.get("DENO_DIR");
  if (fromEnv) return denoDirCache = fromEnv;
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  return denoDirCache = JSON.parse(decoder.decode(out.stdout)).denoDir as string;
}

/** `bbtest-` plus 6 random base36 characters (a valid bot-bottle label). */
export function randomLabel(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return `bbtest-${[...bytes].map((b) => (b % 36).toString(36)).join("")}`;
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** One test run's private world. */
export interface Sandbox {
  /** Temp root holding everything below. */
  root: string;
  home: string;
  /** XDG_DATA_HOME: the fake smolvm's DB lives under it. */
  data: string;
  /** XDG_STATE_HOME: bot-bottle's state root is `<state>/bot-bottle`. */
  state: string;
  /** A directory the agent writes its findings to. */
  out: string;
  manifest: string;
  /** FAKE_SMOLVM_LOG. */
  log: string;
  /** The `--label` of this run (prefix of the slug). */
  label: string;
  /** The unique secret value planted in BBTEST_NEEDLE. */
  needle: string;
  /** The fake smolvm's DB path. */
  dbPath: string;
  /** The CLI's environment. */
  env: Record<string, string>;
}

/** A fresh sandbox; `env` is added to (and overrides) the CLI's environment. */
export async function makeSandbox(env: Record<string, string> = {}): Promise<Sandbox> {
  const root = await Deno.makeTempDir({ prefix: "bbtest-smolvm-" });
  const dirs = { home: `${root}/home`, data: `${root}/data`, state: `${root}/state` };
  for (const dir of Object.values(dirs)) await Deno.mkdir(dir, { recursive: true });
  const out = `${root}/out`;
  await Deno.mkdir(out);
  const manifest = `${root}/bot-bottle.toml`;
  await Deno.writeTextFile(manifest, manifestText());
  const needle = `bbneedle-${crypto.randomUUID()}`;
  const log = `${root}/smolvm-calls.jsonl`;
  return {
    root,
    ...dirs,
    out,
    manifest,
    log,
    label: randomLabel(),
    needle,
    dbPath: `${dirs.data}/smolvm/server/smolvm.db`,
    env: {
      PATH: `${FAKE_BIN}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
      HOME: dirs.home,
      XDG_DATA_HOME: dirs.data,
      XDG_STATE_HOME: dirs.state,
      XDG_CONFIG_HOME: `${dirs.home}/.config`,
      DENO_DIR: await hostDenoDir(),
      NO_COLOR: "1",
      [SECRET_HOST_VAR]: needle,
      FAKE_SMOLVM_LOG: log,
      BOT_BOTTLE_PROBE_TARGET: `127.0.0.1:${closedPort()}`,
      ...(Deno.env.get("BOT_BOTTLE_BASE_IMAGE")
        ? { BOT_BOTTLE_BASE_IMAGE: Deno.env.get("BOT_BOTTLE_BASE_IMAGE")! }
        : {}),
      ...env,
    },
  };
}

/** The state root of a sandbox (`$XDG_STATE_HOME/bot-bottle`). */
export function stateRoot(sb: Sandbox): string {
  return `${sb.state}/bot-bottle`;
}

/** The argv after `main.ts` for `start demo --yes` in this sandbox. */
export function startArgs(sb: Sandbox, agentArgs: string[]): string[] {
  return [
    "start",
    "demo",
    "--yes",
    "--manifest",
    sb.manifest,
    "--label",
    sb.label,
    "--",
    ...agentArgs,
  ];
}

/** What a finished CLI run left. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time of the run, ms. */
  ms: number;
}

/** A running CLI process. */
export interface RunningCli {
  child: Deno.ChildProcess;
  done: Promise<CliResult>;
}

/** Spawn `deno run -P=bot-bottle main.ts <args>` with the sandbox's environment. */
export function spawnCli(sb: Sandbox, args: string[]): RunningCli {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSION_FLAGS, `${ROOT}main.ts`, ...args],
    cwd: sb.root,
    env: sb.env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const done = child.output().then((o) => ({
    code: o.code,
    stdout: decoder.decode(o.stdout),
    stderr: decoder.decode(o.stderr),
    ms: performance.now() - t0,
  }));
  return { child, done };
}

/** Run the CLI to completion. */
export function runCli(sb: Sandbox, args: string[]): Promise<CliResult> {
  return spawnCli(sb, args).done;
}

/** One line of FAKE_SMOLVM_LOG. */
export interface SmolvmCall {
  argv: string[];
  env_keys: string[];
}

/** The fake's call log (empty when it was never called). */
export async function readCalls(sb: Sandbox): Promise<SmolvmCall[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(sb.log);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return text.split("\n").filter(Boolean).map((line) => JSON.parse(line) as SmolvmCall);
}

/** `machine <sub>` calls (sub = create/start/exec/...) in the log. */
export function callsOf(calls: SmolvmCall[], sub: string): SmolvmCall[] {
  return calls.filter((c) => c.argv[1] === "machine" && c.argv[2] === sub);
}

/** The slug of the sandbox's bottle (its one state dir), or null before there is one. */
export async function slugOf(sb: Sandbox): Promise<string | null> {
  try {
    for await (const entry of Deno.readDir(`${stateRoot(sb)}/bottles`)) {
      if (entry.isDirectory) return entry.name;
    }
  } catch { /* no state yet */ }
  return null;
}

async function docker(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const o = await new Deno.Command("docker", { args, stdout: "piped", stderr: "piped" }).output();
  return { code: o.code, stdout: decoder.decode(o.stdout), stderr: decoder.decode(o.stderr) };
}

function lines(text: string): string[] {
  return text.split("\n").map((l) => l.trim()).filter(Boolean);
}

/** Containers (any state) whose name starts with `prefix`. */
export async function containersNamed(prefix: string): Promise<string[]> {
  const r = await docker(["ps", "-a", "--filter", `name=${prefix}`, "--format", "{{.Names}}"]);
  return lines(r.stdout).filter((n) => n.startsWith(prefix));
}

/** Networks whose name starts with `prefix`. */
export async function networksNamed(prefix: string): Promise<string[]> {
  const r = await docker(["network", "ls", "--filter", `name=${prefix}`, "--format", "{{.Name}}"]);
  return lines(r.stdout).filter((n) => n.startsWith(prefix));
}

/** Rows of the fake's `vms` table whose name starts with `prefix` (read-only). */
export function machineRows(dbPath: string, prefix: string): string[] {
  try {
    Deno.statSync(dbPath);
  } catch {
    return [];
  }
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'vms'")
      .get();
    if (!table) return []; // the fake is still creating its schema
    return db.prepare("SELECT name FROM vms").all().map((r) => String(r.name)).filter((n) =>
      n.startsWith(prefix)
    );
  } finally {
    db.close();
  }
}

/**
 * Everything that carries this run's label: containers, networks (by name and
 * by the slug label) and machine rows. Empty = nothing left behind.
 */
export async function leftovers(sb: Sandbox): Promise<string[]> {
  const prefix = `bot-bottle-${sb.label}-`;
  const found = [
    ...(await containersNamed(prefix)).map((n) => `container ${n}`),
    ...(await networksNamed(prefix)).map((n) => `network ${n}`),
    ...machineRows(sb.dbPath, prefix).map((n) => `machine ${n}`),
  ];
  const slug = await slugOf(sb);
  if (slug) {
    const labelled = await docker([
      "network",
      "ls",
      "--filter",
      `label=io.bot-bottle.slug=${slug}`,
      "--format",
      "{{.Name}}",
    ]);
    found.push(...lines(labelled.stdout).map((n) => `labelled network ${n}`));
    const ps = await docker([
      "ps",
      "-a",
      "--filter",
      `label=io.bot-bottle.slug=${slug}`,
      "--format",
      "{{.Names}}",
    ]);
    found.push(...lines(ps.stdout).map((n) => `labelled container ${n}`));
  }
  return [...new Set(found)];
}

/** Safety net for `finally`: remove whatever this run's label names, then the temp dir. */
export async function cleanupSandbox(sb: Sandbox): Promise<void> {
  const prefix = `bot-bottle-${sb.label}-`;
  const containers = await containersNamed(prefix);
  if (containers.length > 0) await docker(["rm", "-f", "-v", ...containers]);
  const networks = await networksNamed(prefix);
  if (networks.length > 0) await docker(["network", "rm", ...networks]);
  await Deno.remove(sb.root, { recursive: true }).catch(() => {});
}

/** The images every launch needs, built once per process. */
export interface PreparedImages {
  agentTag: string;
  agentId: string;
  bundleTag: string;
}

let prepared: Promise<PreparedImages> | undefined;

/** Make sure the agent image (from {@link DOCKERFILE}) and the bundle image exist. */
export function prepareImages(): Promise<PreparedImages> {
  prepared ??= (async () => {
    const runner = new DenoRunner();
    const baseImage = Deno.env.get("BOT_BOTTLE_BASE_IMAGE") || undefined;
    const work = await Deno.makeTempDir({ prefix: "bbtest-bundle-ctx-" });
    try {
      const agentTag = await ensureAgentImage(runner, {
        bottle: BOTTLE,
        image: null,
        dockerfile: DOCKERFILE,
        baseImage,
        progress: () => {},
      });
      const bundleTag = await ensureBundleImage(runner, { baseImage, workDir: work });
      const id = await docker(["image", "inspect", "--format", "{{.Id}}", agentTag]);
      return { agentTag, agentId: id.stdout.trim(), bundleTag };
    } finally {
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  })();
  return prepared;
}

/**
 * A `docker save` archive of the agent image in `dir` (as bot-bottle caches
 * it), for seeding sandboxes so each launch does not save 300 MB again.
 */
export async function saveArchive(dir: string): Promise<string> {
  const { agentTag } = await prepareImages();
  return (await ensureImageArchive(new DenoRunner(), {
    image: agentTag,
    cacheDir: dir,
    progress: () => {},
  })).path;
}

/** Hard-link a saved archive into the sandbox's image cache (bot-bottle then reuses it). */
export async function seedArchive(sb: Sandbox, archive: string): Promise<void> {
  const dir = `${stateRoot(sb)}/images`;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const name = archive.slice(archive.lastIndexOf("/") + 1);
  await Deno.link(archive, `${dir}/${name}`);
  await Deno.link(`${archive}.sha256`, `${dir}/${name}.sha256`);
}

/** Wait (bounded) until `probe` returns a value other than undefined/false. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined && value !== false) return value as T;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Map `items` through `fn` with at most `limit` running at once; results in input order. */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  // Every worker finishes (and cleans up) before the first failure is reported.
  const settled = await Promise.allSettled(
    Array.from({ length: Math.min(limit, items.length) }, worker),
  );
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) throw failed.reason;
  return results;
}

/** Every file under `dir` (recursively), skipping image archives (`*.tar`). */
export async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string) => {
    for await (const entry of Deno.readDir(d)) {
      const path = `${d}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && !entry.name.endsWith(".tar")) found.push(path);
    }
  };
  await walk(dir);
  return found;
}

/** True when `needle` occurs in the bytes of `path`. */
export async function fileContains(path: string, needle: string): Promise<boolean> {
  const bytes = await Deno.readFile(path);
  return Buffer.from(bytes).includes(needle);
}

/**
 * PIDs of live fake-smolvm processes of this sandbox (their environment names
 * its call log). Linux only: reads /proc.
 */
export async function fakeSmolvmProcesses(sb: Sandbox): Promise<number[]> {
  const found: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      if (!cmdline.includes("fake_smolvm/main.ts")) continue;
      const environ = await Deno.readTextFile(`/proc/${entry.name}/environ`);
      if (environ.split("\0").includes(`FAKE_SMOLVM_LOG=${sb.log}`)) found.push(Number(entry.name));
    } catch { /* gone, or not ours to read */ }
  }
  return found;
}
