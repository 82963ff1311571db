/**
 * Manifests the integration tests write, and what they expect bot-bottle to render from them.
 * Every bottle is `shell` ({@link BOTTLE}), built from the demo Dockerfile, so the agent image
 * is built once for all of them.
 */
import { BOTTLE } from "./images.ts";
import { SHELL_DOCKERFILE } from "./paths.ts";
import { Sandbox } from "./sandbox.ts";

export { BOTTLE };

/** A TOML basic string (JSON's escapes are a subset of TOML's). */
export function tomlString(value: string): string {
  return JSON.stringify(value);
}

/**
 * A manifest with one bottle `shell` (the demo agent image) and one agent per entry of
 * `agents`, each running `bash -c <script>`.
 */
export function manifestToml(opts: {
  agents: Record<string, string>;
  egressAllow?: string[];
  secrets?: Record<string, string>;
  /** Raw TOML for the bottle's `git = [...]` value. */
  git?: string;
  cpus?: number;
  memory?: number;
  /** The bottle's `runtime` (`runsc`: gVisor). */
  runtime?: string;
  /** `egress.on_block` and `egress.ask_timeout`. */
  onBlock?: "refuse" | "ask";
  askTimeout?: number;
  /** Injected secrets: guest name -> { from, inject } (written as `[bottles.shell.secrets.X]`). */
  injected?: Record<string, { from: string; inject: string[] }>;
  /** `ca_certs` paths. */
  caCerts?: string[];
  /** Raw TOML for the bottle's `egress.rules = [...]` value. */
  rules?: string;
  /** `egress.inspect`. */
  inspect?: "credentials" | "all";
  /** An image instead of the demo Dockerfile (e.g. the already built agent image). */
  image?: string;
}): string {
  const lines = [
    `[bottles.${BOTTLE}]`,
    opts.image
      ? `image = ${tomlString(opts.image)}`
      : `dockerfile = ${tomlString(SHELL_DOCKERFILE)}`,
    `cpus = ${opts.cpus ?? 1}`,
    `memory = ${opts.memory ?? 512}`,
    `egress.allow = [${(opts.egressAllow ?? []).map(tomlString).join(", ")}]`,
  ];
  if (opts.secrets) {
    const pairs = Object.entries(opts.secrets).map(([k, v]) => `${k} = ${tomlString(v)}`);
    lines.push(`secrets = { ${pairs.join(", ")} }`);
  }
  if (opts.git) lines.push(`git = ${opts.git}`);
  if (opts.runtime) lines.push(`runtime = ${tomlString(opts.runtime)}`);
  if (opts.onBlock) lines.push(`egress.on_block = ${tomlString(opts.onBlock)}`);
  if (opts.askTimeout) lines.push(`egress.ask_timeout = ${opts.askTimeout}`);
  if (opts.caCerts) lines.push(`ca_certs = [${opts.caCerts.map(tomlString).join(", ")}]`);
  if (opts.rules) lines.push(`egress.rules = ${opts.rules}`);
  if (opts.inspect) lines.push(`egress.inspect = ${tomlString(opts.inspect)}`);
  for (const [name, s] of Object.entries(opts.injected ?? {})) {
    lines.push(
      "",
      `[bottles.${BOTTLE}.secrets.${name}]`,
      `from = ${tomlString(s.from)}`,
      `inject = [${s.inject.map(tomlString).join(", ")}]`,
    );
  }
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

/**
 * The lifecycle tests' agent that holds a bottle open: it waits (bounded, 90 s) for
 * `$HOME/release-<bundle ip>`, a file that never exists in the guest, so only `stop`/`rm`/
 * `cleanup` end it: they remove the docker backend's container, or the fake smolvm's guest
 * container (what a real VM's death does to its exec session).
 */
export const HOLD_SCRIPT = 'ip=${HTTPS_PROXY#http://}; ip=${ip%:*}; f="$HOME/release-$ip"; ' +
  'for i in $(seq 900); do [ -e "$f" ] && exit 0; sleep 0.1; done; exit 3';

/** The lifecycle tests' manifest: bottle `shell`; agents `hold` ({@link HOLD_SCRIPT}) and `quick`. */
export function lifecycleManifest(): string {
  return manifestToml({
    egressAllow: ["deb.debian.org"],
    agents: { hold: HOLD_SCRIPT, quick: "exit 0" },
  });
}

/** The smolmachines tests' host variable holding the secret, and the guest variable it becomes. */
export const SECRET_HOST_VAR = "BBTEST_NEEDLE";
export const SECRET_GUEST_VAR = "API_TOKEN";

/** The smolmachines tests' manifest (bottle `shell`, agent `demo` = `bash -c <args>`). */
export function smolvmManifest(): string {
  return `[bottles.${BOTTLE}]
dockerfile = "${SHELL_DOCKERFILE}"
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

/** The Smolfile bot-bottle must render for {@link smolvmManifest}'s bottle at bundle `ip`. */
export function expectedSmolfile(ip: string): string {
  const proxy = `http://${ip}:8888`;
  return `# Rendered by bot-bottle. The guest may reach only its bundle.
cpus = 1
memory = 1024
entrypoint = ["/bin/sh", "-c", "exec sleep infinity"]
cmd = []
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

/**
 * A sandbox for the smolmachines tests: the fake smolvm on PATH, {@link smolvmManifest}, and
 * the sandbox's needle planted in {@link SECRET_HOST_VAR}; `env` is added to the CLI's
 * environment.
 */
export function smolvmSandbox(env: Record<string, string> = {}): Promise<Sandbox> {
  return Sandbox.create({
    fakeSmolvm: true,
    manifest: smolvmManifest(),
    secretVar: SECRET_HOST_VAR,
    env,
  });
}
