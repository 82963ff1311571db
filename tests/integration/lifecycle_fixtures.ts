/**
 * Helpers for the lifecycle integration tests: the real CLI (`main.ts` under
 * exactly the compiled binary's permissions) against the real Docker engine
 * and the FAKE smolvm (tests/fixtures/bin first on PATH), each sandbox with
 * its own HOME, XDG_STATE_HOME and XDG_DATA_HOME (the fake's DB).
 *
 * Network rule: the egress probe's direct target is a closed port on
 * 127.0.0.1 (the agent's own loopback on docker; the host's loopback under
 * the fake smolvm, which runs the probe on the host). Nothing else is dialled.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { ensureAgentImage } from "../../lib/launch/agent_image.ts";
import { ensureImageArchive } from "../../lib/backends/smolvm/image_archive.ts";
import { ensureBundleImage } from "../../lib/bundle/bundle_image.ts";
import { LABEL_OWNER, LABEL_SLUG, ownerId } from "../../lib/plan/resource_names.ts";
import { DenoRunner } from "../../lib/host/runner.ts";

/** The repository root, with a trailing slash. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FAKE_BIN = `${ROOT}tests/fixtures/bin`;
/** The demo agent's Dockerfile (absolute). */
export const SHELL_DOCKERFILE = `${ROOT}examples/agents/shell.Dockerfile`;
const PERMISSION_FLAGS = ["-q", "--no-prompt", "-P=bot-bottle", `--config=${ROOT}deno.json`];
const decoder = new TextDecoder();
export const runner = new DenoRunner();

/**
 * The agent that holds a bottle open: it waits (bounded, 90 s) for
 * `$HOME/release-<bundle ip>`. Under docker that file never exists in the
 * container, so only `stop`/`rm`/`cleanup` (removing the container) end it;
 * under the fake smolvm the agent runs on the host, where a stopped machine
 * does not end an exec session, so the test creates the file after a stop
 * (what a real VM's death does to its exec session).
 */
export const HOLD_SCRIPT = 'ip=${HTTPS_PROXY#http://}; ip=${ip%:*}; f="$HOME/release-$ip"; ' +
  'for i in $(seq 900); do [ -e "$f" ] && exit 0; sleep 0.1; done; exit 3';

/** The manifest: bottle `shell` from the demo Dockerfile; agents `hold` and `quick`. */
export function manifestToml(): string {
  return [
    "[bottles.shell]",
    `dockerfile = ${JSON.stringify(SHELL_DOCKERFILE)}`,
    "cpus = 1",
    "memory = 512",
    'egress.allow = ["deb.debian.org"]',
    "",
    "[agents.hold]",
    'bottle = "shell"',
    `command = ["bash", "-c", ${JSON.stringify(HOLD_SCRIPT)}]`,
    "",
    "[agents.quick]",
    'bottle = "shell"',
    'command = ["bash", "-c", "exit 0"]',
    "",
  ].join("\n");
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

let denoDir: string | undefined;
async function hostDenoDir(): Promise<string> {
  if (denoDir) return denoDir;
  const fromEnv = Deno.env.get("DENO_DIR");
  if (fromEnv) return denoDir = fromEnv;
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  return denoDir = JSON.parse(decoder.decode(out.stdout)).denoDir as string;
}

let imagesReady: Promise<{ agent: string; bundle: string }> | undefined;
/** The agent and bundle images, built once per process (normally already there). */
export function ensureImages(): Promise<{ agent: string; bundle: string }> {
  imagesReady ??= (async () => {
    const tmp = await Deno.makeTempDir({ prefix: "bbtest-lifecycle-build-" });
    try {
      const baseImage = Deno.env.get("BOT_BOTTLE_BASE_IMAGE") || undefined;
      const [agent, bundle] = await Promise.all([
        ensureAgentImage(runner, {
          bottle: "shell",
          image: null,
          dockerfile: SHELL_DOCKERFILE,
          baseImage,
          progress: (l) => console.log(l),
        }),
        ensureBundleImage(runner, { baseImage, workDir: `${tmp}/bundle` }),
      ]);
      return { agent, bundle };
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  })();
  return imagesReady;
}

/** `bbtest-` plus 6 random base36 characters. */
export function randomPrefix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return `bbtest-${[...bytes].map((b) => (b % 36).toString(36)).join("")}`;
}

/** One test's private world. */
export class Sandbox {
  private constructor(
    readonly dir: string,
    readonly prefix: string,
    readonly env: Record<string, string>,
  ) {}

  static async create(opts: { smolvmArchive?: boolean } = {}): Promise<Sandbox> {
    const { agent } = await ensureImages();
    const dir = await Deno.makeTempDir({ prefix: "bbtest-lifecycle-" });
    for (const sub of ["home", "data", "state", "config"]) await Deno.mkdir(`${dir}/${sub}`);
    await Deno.writeTextFile(`${dir}/bot-bottle.toml`, manifestToml());
    const env: Record<string, string> = {
      PATH: `${FAKE_BIN}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
      HOME: `${dir}/home`,
      XDG_STATE_HOME: `${dir}/state`,
      XDG_DATA_HOME: `${dir}/data`,
      XDG_CONFIG_HOME: `${dir}/config`,
      DENO_DIR: await hostDenoDir(),
      NO_COLOR: "1",
      BOT_BOTTLE_PROBE_TARGET: `127.0.0.1:${closedPort()}`,
    };
    for (const name of ["DOCKER_HOST", "DOCKER_CONFIG", "BOT_BOTTLE_BASE_IMAGE"]) {
      const value = Deno.env.get(name);
      if (value) env[name] = value;
    }
    const sb = new Sandbox(dir, randomPrefix(), env);
    if (opts.smolvmArchive) {
      // Fill the product's own `docker save` cache once, so parallel launches do not each save.
      await Deno.mkdir(sb.stateRoot, { mode: 0o700 });
      await ensureImageArchive(runner, {
        image: agent,
        cacheDir: `${sb.stateRoot}/images`,
        progress: () => {},
      });
    }
    return sb;
  }

  get manifest(): string {
    return `${this.dir}/bot-bottle.toml`;
  }
  get stateRoot(): string {
    return `${this.dir}/state/bot-bottle`;
  }
  get owner(): string {
    return ownerId(this.stateRoot);
  }
  get dbPath(): string {
    return `${this.dir}/data/smolvm/server/smolvm.db`;
  }
  stateDir(slug: string): string {
    return `${this.stateRoot}/bottles/${slug}`;
  }

  /** Let the fake-smolvm agent of the bottle whose bundle is at `ip` finish. */
  async release(ip: string): Promise<void> {
    await Deno.writeTextFile(`${this.env.HOME}/release-${ip}`, "");
  }
  async unrelease(ip: string): Promise<void> {
    await Deno.remove(`${this.env.HOME}/release-${ip}`).catch(() => {});
  }

  /** Spawn the CLI with `args` (after main.ts) in this sandbox. */
  spawn(args: string[], extraEnv: Record<string, string> = {}): Cli {
    return new Cli(args, { ...this.env, ...extraEnv }, this.dir);
  }

  /** Run the CLI to completion (bounded). */
  async run(args: string[], extraEnv: Record<string, string> = {}, timeoutMs = 120_000) {
    const cli = this.spawn(args, extraEnv);
    return await cli.wait(timeoutMs);
  }

  /** `start <agent> --yes` in the background. */
  start(agent: string, backend: string, label: string, extraEnv: Record<string, string> = {}) {
    return this.spawn(
      [
        "start",
        agent,
        "--backend",
        backend,
        "--label",
        `${this.prefix}-${label}`,
        "--yes",
        "--manifest",
        this.manifest,
      ],
      extraEnv,
    );
  }

  /**
   * `list --json`, parsed, with `bottles` narrowed to this sandbox's: resources another test
   * creates beside this one without an owner label (the bundle tests do) are listed by every
   * state root, and are not this test's business.
   */
  async list(): Promise<ListDoc> {
    const r = await this.run(["list", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as ListDoc;
    return {
      ...doc,
      bottles: doc.bottles.filter((b) => b.state_dir || b.slug.startsWith(`${this.prefix}-`)),
    };
  }

  /** Machine names in the fake smolvm's DB. */
  machines(): string[] {
    try {
      Deno.statSync(this.dbPath);
    } catch {
      return [];
    }
    const db = new DatabaseSync(this.dbPath, { readOnly: true });
    try {
      return (db.prepare("SELECT name FROM vms ORDER BY name").all() as { name: string }[])
        .map((r) => r.name);
    } finally {
      db.close();
    }
  }

  /** Docker containers and networks labelled with `slug` (any owner). */
  async labelled(slug: string): Promise<{ containers: string[]; networks: string[] }> {
    const filter = ["--filter", `label=${LABEL_SLUG}=${slug}`];
    return {
      containers: lines(await docker(["ps", "-a", ...filter, "--format", "{{.Names}}"])),
      networks: lines(await docker(["network", "ls", ...filter, "--format", "{{.Name}}"])),
    };
  }

  /** Everything this sandbox's state root owns in Docker. */
  async owned(): Promise<{ containers: string[]; networks: string[] }> {
    const filter = ["--filter", `label=${LABEL_OWNER}=${this.owner}`];
    return {
      containers: lines(await docker(["ps", "-a", ...filter, "--format", "{{.Names}}"])),
      networks: lines(await docker(["network", "ls", ...filter, "--format", "{{.Name}}"])),
    };
  }

  /** Safety net: remove whatever this sandbox's bottles left, then the temp dir. */
  async cleanup(): Promise<void> {
    const owned = await this.owned();
    const byName = lines(
      await docker([
        "ps",
        "-a",
        "--filter",
        `name=bot-bottle-${this.prefix}-`,
        "--format",
        "{{.Names}}",
      ]),
    );
    const containers = [...new Set([...owned.containers, ...byName])];
    if (containers.length) await docker(["rm", "-f", ...containers]);
    const nets = [
      ...new Set([
        ...owned.networks,
        ...lines(
          await docker([
            "network",
            "ls",
            "--filter",
            `name=bot-bottle-${this.prefix}-`,
            "--format",
            "{{.Name}}",
          ]),
        ),
      ]),
    ];
    for (const n of nets) await docker(["network", "rm", n]);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** `list --json`. */
export interface ListDoc {
  schema: number;
  notes: string[];
  bottles: {
    slug: string;
    agent: string | null;
    backend: string | null;
    state: "running" | "stopped" | "orphaned";
    reason: string;
    subnet: string | null;
    status: string | null;
    state_dir: string | null;
    keep: boolean;
    containers: { name: string; state: string; role: string }[];
    networks: string[];
    machine: { name: string; state: string } | null;
  }[];
}

/** A running CLI process with its output collected as it comes. */
export class Cli {
  stdout = "";
  stderr = "";
  readonly child: Deno.ChildProcess;
  readonly done: Promise<{ code: number; signal: Deno.Signal | null }>;
  #exited = false;

  constructor(args: string[], env: Record<string, string>, cwd: string) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSION_FLAGS, `${ROOT}main.ts`, ...args],
      cwd,
      clearEnv: true,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pump = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
      const d = new TextDecoder();
      for await (const chunk of stream) this[key] += d.decode(chunk, { stream: true });
    };
    const pumps = Promise.all([
      pump(this.child.stdout, "stdout"),
      pump(this.child.stderr, "stderr"),
    ]);
    this.done = this.child.status.then(async (s) => {
      this.#exited = true;
      await pumps;
      return { code: s.code, signal: s.signal };
    });
  }

  get pid(): number {
    return this.child.pid;
  }
  get exited(): boolean {
    return this.#exited;
  }

  /** Wait (bounded) until stderr matches `pattern`; fails if the process exits first. */
  async waitFor(pattern: RegExp, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.stderr)) {
      if (this.#exited) {
        await this.done;
        if (pattern.test(this.stderr)) return;
        assert.fail(`CLI exited before printing ${pattern}:\n${this.stderr}`);
      }
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${pattern}:\n${this.stderr}`);
      await sleep(100);
    }
  }

  /** Wait (bounded) for the exit; SIGKILL on timeout (then fail). */
  async wait(timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) =>
      timer = setTimeout(() => r("timeout"), timeoutMs)
    );
    const result = await Promise.race([this.done, timeout]);
    clearTimeout(timer);
    if (result === "timeout") {
      this.kill("SIGKILL");
      await this.done;
      assert.fail(`CLI did not exit within ${timeoutMs} ms:\n${this.stderr}`);
    }
    return { code: result.code, stdout: this.stdout, stderr: this.stderr };
  }

  kill(signal: Deno.Signal): void {
    if (this.#exited) return;
    try {
      this.child.kill(signal);
    } catch { /* already gone */ }
  }
}

/** Children of `pid` (from /proc; Linux). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(entry.name));
    } catch { /* gone */ }
  }
  return out;
}

/** Every descendant of `pid`, parents first. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const queue = childPids(pid);
  while (queue.length > 0) {
    const next = queue.shift()!;
    out.push(next);
    queue.push(...childPids(next));
  }
  return out;
}

/** argv of a process, or null when it is gone. */
export function cmdline(pid: number): string[] | null {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter(Boolean);
  } catch {
    return null;
  }
}

/** True while `pid` exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `check` (bounded) until it returns a truthy value. */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | null | undefined | false>,
  timeoutMs = 60_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Run docker (through the product's runner); fails the test on error. */
export async function docker(args: string[]): Promise<string> {
  const r = await runner.run(["docker", ...args]);
  assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function lines(text: string): string[] {
  return text.split("\n").map((l) => l.trim()).filter(Boolean);
}
