/**
 * Shared helpers for the docker backend's end-to-end tests: the real CLI
 * (`main.ts` under exactly the compiled binary's permissions) against a real
 * Docker engine. Each test gets a sandbox (HOME, XDG_* in a temp dir), a
 * probe target it created itself (a container on its own `--internal`
 * network, listening on 443), and manifests whose bottle builds the demo
 * agent image from examples/agents/shell.Dockerfile.
 *
 * Network rule: every address a test or its agents talk to is a container or
 * network the test (or the bot-bottle it started) created.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ensureAgentImage } from "../../lib/launch/agent_image.ts";
import { LABEL_ROLE, LABEL_SLUG } from "../../lib/plan/resource_names.ts";
import {
  bundleImage,
  createTestNetwork,
  docker,
  ensureFixtureImage,
  exec,
  runner,
} from "./bundle_fixtures.ts";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const SHELL_DOCKERFILE = `${ROOT}examples/agents/shell.Dockerfile`;
/** The bottle name every test uses, so the agent image (tagged per bottle) is built once. */
export const BOTTLE = "shell";
const PERMISSION_FLAGS = ["-q", "--no-prompt", "-P=bot-bottle", `--config=${ROOT}deno.json`];

/** Builds (or finds) the bundle, agent and fixture images once per process. */
let imagesReady: Promise<{ fixture: string; bundle: string; agent: string }> | undefined;
export function ensureImages(): Promise<{ fixture: string; bundle: string; agent: string }> {
  imagesReady ??= (async () => {
    const [fixture, bundle, agent] = await Promise.all([
      ensureFixtureImage(),
      bundleImage(),
      ensureAgentImage(runner, {
        bottle: BOTTLE,
        image: null,
        dockerfile: SHELL_DOCKERFILE,
        progress: (line) => console.log(line),
      }),
    ]);
    return { fixture, bundle, agent };
  })();
  return imagesReady;
}

/** A TOML basic string (JSON's escapes are a subset of TOML's). */
export function tomlString(value: string): string {
  return JSON.stringify(value);
}

/**
 * A manifest with one bottle `shell` (the demo agent image) and one agent per
 * entry of `agents`, each running `bash -c <script>`.
 */
export function manifestToml(opts: {
  agents: Record<string, string>;
  egressAllow?: string[];
  secrets?: Record<string, string>;
  /** Raw TOML for the bottle's `git = [...]` value. */
  git?: string;
  cpus?: number;
  memory?: number;
}): string {
  const lines = [
    `[bottles.${BOTTLE}]`,
    `dockerfile = ${tomlString(SHELL_DOCKERFILE)}`,
    `cpus = ${opts.cpus ?? 1}`,
    `memory = ${opts.memory ?? 512}`,
    `egress.allow = [${(opts.egressAllow ?? []).map(tomlString).join(", ")}]`,
  ];
  if (opts.secrets) {
    const pairs = Object.entries(opts.secrets).map(([k, v]) => `${k} = ${tomlString(v)}`);
    lines.push(`secrets = { ${pairs.join(", ")} }`);
  }
  if (opts.git) lines.push(`git = ${opts.git}`);
  for (const [name, script] of Object.entries(opts.agents)) {
    lines.push(
      "",
      `[agents.${name}]`,
      `bottle = "${BOTTLE}"`,
      `command = ["bash", "-c", ${tomlString(script)}]`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** Per-test world: temp HOME/state, test network, probe target, cleanup. */
export class Sandbox {
  readonly containers: string[] = [];
  readonly networks: string[] = [];
  private constructor(
    readonly prefix: string,
    readonly dir: string,
    readonly probeTarget: string,
  ) {}

  /** The test network's name (an `--internal` network holding the probe target). */
  get network(): string {
    return `${this.prefix}-net`;
  }

  /** Creates the sandbox dirs, the test network and the probe target (listening on 443). */
  static async create(): Promise<Sandbox> {
    const { fixture } = await ensureImages();
    // A label must be a bot-bottle name; keep it short (slugs become container names).
    const prefix = `bbtest-${crypto.randomUUID().replaceAll("-", "").slice(0, 6)}`;
    const dir = await Deno.makeTempDir({ prefix: "bbtest-docker-backend-" });
    for (const sub of ["home", "state", "config"]) await Deno.mkdir(`${dir}/${sub}`);
    const network = `${prefix}-net`;
    const target = `${prefix}-target`;
    const sandbox = new Sandbox(prefix, dir, "");
    sandbox.networks.push(network);
    await createTestNetwork(network);
    sandbox.containers.push(target);
    await docker([
      "run",
      "-d",
      "--name",
      target,
      "--network",
      network,
      fixture,
      "python3",
      "-m",
      "http.server",
      "443",
    ]);
    const ip = await containerIp(target, network);
    const up = await exec(
      target,
      "for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/443) 2>/dev/null && exit 0; sleep 0.1; done; exit 1",
    );
    assert.equal(up.code, 0, "the probe target did not start listening on 443");
    return Object.assign(sandbox, { probeTarget: `${ip}:443` });
  }

  /** Environment for the CLI: only what it needs, state in the sandbox. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    const home = Deno.env.get("HOME") ?? "/root";
    const env: Record<string, string> = {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: `${this.dir}/home`,
      XDG_STATE_HOME: `${this.dir}/state`,
      XDG_CONFIG_HOME: `${this.dir}/config`,
      DENO_DIR: Deno.env.get("DENO_DIR") ?? `${home}/.cache/deno`,
      NO_COLOR: "1",
      BOT_BOTTLE_PROBE_TARGET: this.probeTarget,
    };
    for (const name of ["DOCKER_HOST", "DOCKER_CONFIG"]) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    return { ...env, ...extra };
  }

  /** Writes a manifest into the sandbox; returns its path. */
  async writeManifest(text: string, name = "bot-bottle.toml"): Promise<string> {
    const path = `${this.dir}/${name}`;
    await Deno.writeTextFile(path, text);
    return path;
  }

  /**
   * Removes the test's own containers and networks, anything a bottle labelled with this
   * sandbox's prefix left behind (only after a failure), and the temp dir.
   */
  async cleanup(): Promise<void> {
    const filter = `name=bot-bottle-${this.prefix}-`;
    const strays = await docker(["ps", "-aq", "--filter", filter], { allowFailure: true });
    const containers = [...this.containers, ...strays.stdout.split("\n").filter(Boolean)];
    await docker(["rm", "-f", ...containers], { allowFailure: true });
    const nets = await docker(["network", "ls", "-q", "--filter", filter], { allowFailure: true });
    for (const n of nets.stdout.split("\n").filter(Boolean)) {
      await docker(["network", "rm", n], { allowFailure: true });
    }
    for (const n of this.networks) await docker(["network", "rm", n], { allowFailure: true });
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** A running `bot-bottle` CLI process with its output collected as it comes. */
export class Cli {
  stdout = "";
  stderr = "";
  readonly startedAt = performance.now();
  readonly done: Promise<{ code: number; ms: number }>;
  #exited = false;
  readonly #child: Deno.ChildProcess;

  constructor(args: string[], env: Record<string, string>) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSION_FLAGS, `${ROOT}main.ts`, ...args],
      cwd: ROOT,
      clearEnv: true,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    const pump = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) this[key] += decoder.decode(chunk, { stream: true });
    };
    const pumps = Promise.all([
      pump(child.stdout, "stdout"),
      pump(child.stderr, "stderr"),
    ]);
    this.done = (async () => {
      const status = await child.status;
      await pumps;
      this.#exited = true;
      return { code: status.code, ms: performance.now() - this.startedAt };
    })();
  }

  /** `bot-bottle start <agent> --backend docker --yes ...`. */
  static start(
    sandbox: Sandbox,
    manifest: string,
    agent: string,
    opts: { label?: string; env?: Record<string, string> } = {},
  ): Cli {
    return new Cli([
      "start",
      agent,
      "--backend",
      "docker",
      "--yes",
      "--manifest",
      manifest,
      ...(opts.label ? ["--label", opts.label] : []),
    ], sandbox.env(opts.env));
  }

  /** Send a signal to the CLI process (not its children). */
  kill(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /** Wait (bounded) until `stream` matches; throws with both streams if it never does. */
  async waitFor(
    stream: "stdout" | "stderr",
    pattern: RegExp,
    timeoutMs = 60_000,
  ): Promise<RegExpMatchArray> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const m = this[stream].match(pattern);
      if (m) return m;
      if (this.#exited) break;
      await sleep(50);
    }
    const m = this[stream].match(pattern);
    if (m) return m;
    throw new Error(
      `${pattern} not on ${stream} (${this.#exited ? "the CLI exited" : `${timeoutMs} ms`}):\n` +
        `--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`,
    );
  }

  /** The slug, from the plan the CLI prints before launching. */
  async slug(): Promise<string> {
    return (await this.waitFor("stderr", /^\s+slug\s+(\S+)$/m, 30_000))[1];
  }

  /** Both streams, for assertion messages. */
  get transcript(): string {
    return `--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A container's IP on one network. */
export async function containerIp(container: string, network: string): Promise<string> {
  const r = await docker([
    "inspect",
    "-f",
    `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
    container,
  ]);
  const ip = r.stdout.trim();
  assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/, `no IP for ${container} on ${network}`);
  return ip;
}

/** A network's first IPAM subnet and gateway. */
export async function networkIpam(network: string): Promise<{ subnet: string; gateway: string }> {
  const r = await docker([
    "network",
    "inspect",
    "-f",
    "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}",
    network,
  ]);
  const [subnet, gateway] = r.stdout.trim().split(" ");
  return { subnet, gateway };
}

/** Everything still labelled with `slug`: containers (any state) and networks. */
export async function leftovers(
  slug: string,
): Promise<{ containers: string[]; networks: string[] }> {
  const filter = `label=${LABEL_SLUG}=${slug}`;
  const ps = await docker(["ps", "-a", "--filter", filter, "--format", "{{.Names}}"]);
  const nets = await docker(["network", "ls", "--filter", filter, "--format", "{{.Name}}"]);
  const lines = (s: string) => s.split("\n").map((l) => l.trim()).filter(Boolean);
  return { containers: lines(ps.stdout), networks: lines(nets.stdout) };
}

/** Asserts nothing labelled with `slug` (and nothing named after it) remains. */
export async function assertNothingLeft(slug: string): Promise<void> {
  const left = await leftovers(slug);
  assert.deepEqual(left, { containers: [], networks: [] }, `left behind by ${slug}`);
  const named = await docker(["ps", "-a", "--filter", `name=bot-bottle-${slug}`, "-q"]);
  assert.equal(named.stdout.trim(), "", `a container named after ${slug} remains`);
  const namedNets = await docker(["network", "ls", "--filter", `name=bot-bottle-${slug}`, "-q"]);
  assert.equal(namedNets.stdout.trim(), "", `a network named after ${slug} remains`);
}

/** Force-removes whatever a failed test left labelled with `slug` (cleanup only). */
export async function removeLabelled(slug: string): Promise<void> {
  const left = await leftovers(slug);
  if (left.containers.length > 0) {
    await docker(["rm", "-f", ...left.containers], { allowFailure: true });
  }
  for (const n of left.networks) await docker(["network", "rm", n], { allowFailure: true });
}

/** Waits (bounded) for a container labelled with `slug` and `role` to exist; returns its name. */
export async function waitForRole(slug: string, role: string, timeoutMs = 60_000): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const r = await docker([
      "ps",
      "-a",
      "--filter",
      `label=${LABEL_SLUG}=${slug}`,
      "--filter",
      `label=${LABEL_ROLE}=${role}`,
      "--format",
      "{{.Names}}",
    ]);
    const name = r.stdout.trim().split("\n")[0];
    if (name) return name;
    await sleep(50);
  }
  throw new Error(`no ${role} container of ${slug} after ${timeoutMs} ms`);
}

/** Waits (bounded) until a network exists. */
export async function waitForNetwork(name: string, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if ((await docker(["network", "inspect", name], { allowFailure: true })).code === 0) return;
    await sleep(50);
  }
  throw new Error(`network ${name} did not appear within ${timeoutMs} ms`);
}

/** Lines of `text` starting with `tag ` (agent output the tests parse), without the tag. */
export function tagged(text: string, tag: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(`${tag} `)).map((l) =>
    l.slice(tag.length + 1)
  );
}

/**
 * Attaches `container` (with network `aliases`) to the egress network `bot-bottle-<slug>` of
 * the first bottle whose label is `label`, the moment Docker reports that network created —
 * before the bottle's bundle starts, so the bundle can reach it from its first second (a git
 * upstream is fetched while the bundle starts). Resolves to the network's name; bounded.
 */
export function attachWhenCreated(
  label: string,
  container: string,
  aliases: string[],
  timeoutMs = 60_000,
): Promise<string> {
  const pattern = new RegExp(`^bot-bottle-${label}-[a-z0-9]{5}$`);
  const events = new Deno.Command("docker", {
    args: [
      "events",
      "--filter",
      "type=network",
      "--filter",
      "event=create",
      "--format",
      "{{.Actor.Attributes.name}}",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const timer = setTimeout(() => events.kill("SIGTERM"), timeoutMs);
  return (async () => {
    try {
      let buffer = "";
      const decoder = new TextDecoder();
      for await (const chunk of events.stdout) {
        buffer += decoder.decode(chunk, { stream: true });
        const lines = buffer.split("\n");
        buffer = lines.pop() ?? "";
        const network = lines.map((l) => l.trim()).find((l) => pattern.test(l));
        if (network) {
          await docker([
            "network",
            "connect",
            ...aliases.flatMap((a) => ["--alias", a]),
            network,
            container,
          ]);
          return network;
        }
      }
      throw new Error(`no network matching ${pattern} was created within ${timeoutMs} ms`);
    } finally {
      clearTimeout(timer);
      try {
        events.kill("SIGTERM");
      } catch { /* already gone */ }
      await events.status;
    }
  })();
}
