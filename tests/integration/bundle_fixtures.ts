/**
 * Shared helpers for the bundle integration tests (real Docker engine). Every container and
 * network they create is named `bbtest-<random>-...`; tests remove them in `finally`.
 * Traffic goes only to containers on the test's own `--internal` network.
 */
import { ensureBundleImage } from "../../lib/bundle/bundle_image.ts";
import { DenoRunner, type RunResult } from "../../lib/runtime/runner.ts";

export const runner = new DenoRunner();

/** Runs docker; throws with stderr when it fails (unless allowFailure). */
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

/** `bbtest-<8 random base36>`. */
export function uniquePrefix(): string {
  return `bbtest-${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}`;
}

const FIXTURE_DOCKERFILE = `FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      python3 curl git openssh-server bind9-dnsutils ca-certificates && rm -rf /var/lib/apt/lists/*
`;

/** Test image (upstream servers and client): built once, cached by content tag. */
export async function ensureFixtureImage(): Promise<string> {
  const data = new TextEncoder().encode(FIXTURE_DOCKERFILE);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, 12);
  const tag = `bot-bottle-test/fixture:${hex}`;
  const inspect = await docker(["image", "inspect", tag], { allowFailure: true });
  if (inspect.code !== 0) {
    await docker(["build", "-q", "-t", tag, "-"], { input: FIXTURE_DOCKERFILE });
  }
  return tag;
}

/** Builds (or finds) the bundle image; logs how long it took. */
export async function bundleImage(): Promise<string> {
  const workDir = await Deno.makeTempDir({ prefix: "bbtest-bundle-ctx-" });
  const t0 = performance.now();
  try {
    const tag = await ensureBundleImage(runner, { workDir });
    console.log(`bundle image ${tag} ready in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    return tag;
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
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

/** Waits (bounded) until the container's health check passes; throws with its logs if not. */
export async function waitHealthy(container: string, timeoutMs = 90_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let status = "";
  while (performance.now() < deadline) {
    const r = await docker([
      "inspect",
      "-f",
      "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
      container,
    ]);
    status = r.stdout.trim();
    if (status === "running healthy") return;
    if (!status.startsWith("running")) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
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
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${container} did not exit within ${timeoutMs} ms`);
}

/** `docker exec <container> bash -c <script>` (script is test-authored). */
export function exec(container: string, script: string): Promise<RunResult> {
  return docker(["exec", container, "bash", "-c", script], { allowFailure: true });
}

/** Removes containers and networks, ignoring ones that are already gone. */
export async function cleanup(containers: string[], networks: string[]): Promise<void> {
  if (containers.length > 0) await docker(["rm", "-f", ...containers], { allowFailure: true });
  for (const network of networks) await docker(["network", "rm", network], { allowFailure: true });
}

/** Writes rendered config files under dir (dirs 0755, files 0644: they hold no secret). */
export async function writeConfig(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const target = `${dir}/${path}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true, mode: 0o755 });
    await Deno.writeTextFile(target, content, { mode: 0o644 });
  }
}
