/**
 * Shared helpers for the bundle integration tests (real Docker engine). Every container and
 * network they create is named `bbtest-<random>-...`; tests remove them in `finally`.
 * Traffic goes only to containers on the test's own `--internal` network.
 */
import { ensureBundleImage } from "../../lib/bundle/bundle_image.ts";
import { DenoRunner, type RunResult } from "../../lib/host/runner.ts";

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

/** The SSH git upstream's setup: user `git`, bare repo /srv/git/app.git seeded on `main`. */
const SSH_UPSTREAM_SETUP = `set -e
ssh-keygen -A >/dev/null
mkdir -p /run/sshd
useradd -m -s /bin/bash git && usermod -p '*' git
install -d -o git -g git -m 0700 /home/git/.ssh
printf '%s\\n' "$CLIENT_PUB" > /home/git/.ssh/authorized_keys
chown git:git /home/git/.ssh/authorized_keys && chmod 0600 /home/git/.ssh/authorized_keys
mkdir -p /srv/git && git init -q --bare -b main /srv/git/app.git
git init -q -b main /tmp/seed && cd /tmp/seed
git -c user.name=seed -c user.email=seed@test commit -q --allow-empty -m seed
git push -q /srv/git/app.git main
chown -R git:git /srv/git
exec /usr/sbin/sshd -D -e`;

/**
 * Starts an SSH git server container (`git@<alias>:/srv/git/app.git`, one empty commit "seed" on
 * main) with a throwaway ed25519 key pair generated for the test; the private key is written to
 * `identity` (mode 0600). Returns the public key and the server's pinned host key.
 */
export async function startSshUpstream(opts: {
  name: string;
  network: string;
  fixture: string;
  identity: string;
  aliases?: string[];
}): Promise<{ pub: string; hostKey: string }> {
  const keygen = await docker([
    "run",
    "--rm",
    "--network",
    "none",
    opts.fixture,
    "bash",
    "-c",
    "ssh-keygen -q -t ed25519 -N '' -C bbtest -f /tmp/k && cat /tmp/k.pub && cat /tmp/k",
  ]);
  const [pub, ...priv] = keygen.stdout.split("\n");
  await Deno.writeTextFile(opts.identity, priv.join("\n"), { mode: 0o600 });
  await docker([
    "run",
    "-d",
    "--name",
    opts.name,
    "--network",
    opts.network,
    ...(opts.aliases ?? []).flatMap((a) => ["--network-alias", a]),
    "-e",
    `CLIENT_PUB=${pub}`,
    opts.fixture,
    "bash",
    "-c",
    SSH_UPSTREAM_SETUP,
  ]);
  const sshUp = await exec(
    opts.name,
    "for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/22) 2>/dev/null && exit 0; sleep 0.1; done; exit 1",
  );
  if (sshUp.code !== 0) throw new Error(`upstream sshd in ${opts.name} did not start`);
  const hostKey = (await exec(opts.name, "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub"))
    .stdout.trim();
  if (!/^ssh-ed25519 /.test(hostKey)) throw new Error(`no host key in ${opts.name}: ${hostKey}`);
  return { pub, hostKey };
}
