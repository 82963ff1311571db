/**
 * Docker for the integration tests, all through the product's own {@link DenoRunner}: one
 * `docker()` call, unique name prefixes, `--internal` test networks, bounded waits on
 * containers and networks, and what a bottle (or a sandbox) left behind.
 *
 * Every object a test creates is named `bbtest-<random>...` (or `bot-bottle-bbtest-...` when
 * the product names it) so tests never touch each other's, or anyone else's, objects.
 * Network rule: tests only talk to containers and networks they created themselves.
 */
import assert from "node:assert/strict";
import { DenoRunner, type RunResult } from "../../lib/host/runner.ts";
import { LABEL_OWNER, LABEL_ROLE, LABEL_SLUG } from "../../lib/plan/resource_names.ts";
import { sleep } from "./wait.ts";

/** The product's real runner (the tests' Docker calls go the same way the product's do). */
export const runner = new DenoRunner();

/** Runs `docker <args>`; throws with its stderr when it fails (unless `allowFailure`). */
export async function docker(
  args: string[],
  opts: { input?: string; allowFailure?: boolean } = {},
): Promise<RunResult> {
  const result = await runner.run(["docker", ...args], { input: opts.input });
  if (result.code !== 0 && !opts.allowFailure) {
    throw new Error(`docker ${args.join(" ")} failed (${result.code}): ${result.stderr}`);
  }
  return result;
}

/**
 * `bbtest-` plus 6 random base36 characters: a valid bot-bottle label, short because slugs
 * built from it become container names.
 */
export function uniquePrefix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return `bbtest-${[...bytes].map((b) => (b % 36).toString(36)).join("")}`;
}

/** Non-empty trimmed lines of `text`. */
export function lines(text: string): string[] {
  return text.split("\n").map((l) => l.trim()).filter(Boolean);
}

/** An `--internal` test network on a free 10.213.x.0/24 (dynamic IPs from .128 up). */
export async function createTestNetwork(name: string): Promise<{ prefix: string }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const x = 1 + Math.floor(Math.random() * 250);
    const prefix = `10.213.${x}`;
    const result = await docker([
      "network",
      "create",
      "--internal",
      "--subnet",
      `${prefix}.0/24`,
      "--ip-range",
      `${prefix}.128/25`,
      "--label",
      "io.bot-bottle.test=1",
      name,
    ], { allowFailure: true });
    if (result.code === 0) return { prefix };
    if (!/overlap|in use/i.test(result.stderr)) throw new Error(result.stderr);
  }
  throw new Error("no free 10.213.x.0/24 test subnet after 20 tries");
}

/** `docker exec <container> bash -c <script>` (script is test-authored); never throws. */
export function exec(container: string, script: string): Promise<RunResult> {
  return docker(["exec", container, "bash", "-c", script], { allowFailure: true });
}

/**
 * Waits (bounded) until the bundle's health script, asked directly as the launch asks it,
 * says healthy; throws with its logs if not (Docker's own check runs only every 30 s).
 */
export async function waitHealthy(container: string, timeoutMs = 90_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let status = "";
  while (performance.now() < deadline) {
    const r = await docker(["exec", container, "/usr/local/bin/bot-bottle-health", "--wait", "5"], {
      allowFailure: true,
    });
    status = (r.stdout.trim() || r.stderr.trim()).split("\n").pop() ?? "";
    if (r.code === 0 && status === "healthy") return;
    const state = await docker(["inspect", "-f", "{{.State.Status}}", container], {
      allowFailure: true,
    });
    if (state.stdout.trim() !== "running") break;
    await sleep(250);
  }
  const logs = await docker(["logs", container], { allowFailure: true });
  throw new Error(`${container} not healthy (${status}):\n${logs.stdout}\n${logs.stderr}`);
}

/** Waits (bounded) until the container has exited; returns its exit code. */
export async function waitExited(container: string, timeoutMs = 20_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const r = await docker(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", container]);
    const [status, code] = r.stdout.trim().split(" ");
    if (status === "exited" || status === "dead") return Number(code);
    await sleep(200);
  }
  throw new Error(`${container} did not exit within ${timeoutMs} ms`);
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

/** Waits (bounded) until a network exists. */
export async function waitForNetwork(name: string, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if ((await docker(["network", "inspect", name], { allowFailure: true })).code === 0) return;
    await sleep(50);
  }
  throw new Error(`network ${name} did not appear within ${timeoutMs} ms`);
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

/** Containers (any state) and networks carrying the Docker label `key=value`. */
async function withLabel(
  key: string,
  value: string,
): Promise<{ containers: string[]; networks: string[] }> {
  const filter = ["--filter", `label=${key}=${value}`];
  const ps = await docker(["ps", "-a", ...filter, "--format", "{{.Names}}"]);
  const nets = await docker(["network", "ls", ...filter, "--format", "{{.Name}}"]);
  return { containers: lines(ps.stdout), networks: lines(nets.stdout) };
}

/** Everything labelled with `slug` (any owner): containers (any state) and networks. */
export function labelled(slug: string): Promise<{ containers: string[]; networks: string[] }> {
  return withLabel(LABEL_SLUG, slug);
}

/** Everything a state root (its owner id) owns in Docker. */
export function owned(owner: string): Promise<{ containers: string[]; networks: string[] }> {
  return withLabel(LABEL_OWNER, owner);
}

/** Asserts nothing labelled with `slug` (and nothing named after it) remains. */
export async function assertNothingLeft(slug: string): Promise<void> {
  const left = await labelled(slug);
  assert.deepEqual(left, { containers: [], networks: [] }, `left behind by ${slug}`);
  const named = await docker(["ps", "-a", "--filter", `name=bot-bottle-${slug}`, "-q"]);
  assert.equal(named.stdout.trim(), "", `a container named after ${slug} remains`);
  const namedNets = await docker(["network", "ls", "--filter", `name=bot-bottle-${slug}`, "-q"]);
  assert.equal(namedNets.stdout.trim(), "", `a network named after ${slug} remains`);
}

/** Removes containers (with their anonymous volumes), then networks; ignores ones already gone. */
export async function removeAll(containers: string[], networks: string[]): Promise<void> {
  const uniqueContainers = [...new Set(containers)];
  if (uniqueContainers.length > 0) {
    await docker(["rm", "-f", "-v", ...uniqueContainers], { allowFailure: true });
  }
  for (const network of new Set(networks)) {
    await docker(["network", "rm", network], { allowFailure: true });
  }
}

/** Force-removes whatever a failed test left labelled with `slug` (cleanup only). */
export async function removeLabelled(slug: string): Promise<void> {
  const left = await labelled(slug);
  await removeAll(left.containers, left.networks);
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
  const events = runner.spawn([
    "docker",
    "events",
    "--filter",
    "type=network",
    "--filter",
    "event=create",
    "--format",
    "{{.Actor.Attributes.name}}",
  ], { stdout: "piped", stderr: "null" });
  const timer = setTimeout(() => events.kill("SIGTERM"), timeoutMs);
  return (async () => {
    try {
      let buffer = "";
      const decoder = new TextDecoder();
      for await (const chunk of events.stdout!) {
        buffer += decoder.decode(chunk, { stream: true });
        const parts = buffer.split("\n");
        buffer = parts.pop() ?? "";
        const network = parts.map((l) => l.trim()).find((l) => pattern.test(l));
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
      events.kill("SIGTERM");
      await events.status;
    }
  })();
}
