/**
 * The per-bottle configuration of the sidecar bundle (SPEC §8), rendered by
 * the planner so a dry run proves it renders: the egress proxy's policy
 * (policy.json: the parsed allowlist and what to do with a refused host) and,
 * when the bottle has git remotes, the git gate's remote list and
 * known_hosts, plus the identity files to mount. The launch writes `files`
 * into a directory mounted read-only at /etc/bot-bottle.
 *
 * Every input comes through the manifest's grammar (lib/policy/), which has
 * already refused anything that cannot render; a remaining failure here is
 * the `~/` identity of a host without $HOME (a user error) or a bug.
 */
import { UserError } from "../../errors.ts";
import type { EgressRule, GitRemote } from "../../manifest/types.ts";
import { hostPattern } from "../../policy/host_pattern.ts";
import { parseEgressEntry } from "../../policy/egress_entry.ts";
import { knownHostsHost, parseGitUpstream } from "../../policy/git_upstream.ts";
import { parseHostKey } from "../../policy/host_key.ts";

/** Where the per-bottle config directory is mounted in the bundle (read-only). */
export const BUNDLE_CONFIG_MOUNT = "/etc/bot-bottle";
/** Where git identities are mounted in the bundle (read-only, one file per remote). */
export const BUNDLE_IDENTITY_DIR = "/run/secrets/bot-bottle";

/** The git gate's default bound on one push's new objects, uncompressed (MiB). */
export const DEFAULT_MAX_PUSH_MIB = 64;
/** How long the gate's secret scan of one push may take. */
export const GIT_SCAN_TIMEOUT_SECONDS = 300;

/** Input of {@link renderBundleConfig}. */
export interface BundleConfigInput {
  slug: string;
  /** `egress.allow` entries as the manifest has them (already valid). */
  egressAllow: readonly string[];
  /** `egress.on_block`: refuse at once, or hold the request for `approve`/`deny`. */
  onBlock?: "refuse" | "ask";
  /** How long a held request waits (seconds). */
  askTimeoutSeconds?: number;
  /** The git gate's bound on the new objects of one push (MiB). */
  maxPushMib?: number;
  git: readonly GitRemote[];
  /** Home directory used to expand identities written as `~/...` (the caller's `$HOME`). */
  homeDir?: string;
  /** `egress.inspect` (default "credentials"). */
  inspect?: "credentials" | "all";
  /** Host patterns whose TLS the bundle terminates (inject and rule hosts). */
  intercept?: readonly string[];
  /** `egress.rules`. */
  rules?: readonly EgressRule[];
  /** Injected secrets: names, placeholders and hosts (the values reach the bundle at launch). */
  injected?: readonly { name: string; placeholder: string; inject: readonly string[] }[];
  /** The `ca_certs` certificates (PEM), "" for none. */
  caCertsPem?: string;
}

/** The config file holding the bottle's `ca_certs` (the bundle trusts them upstream). */
export const CA_CERTS_FILE = "ca_certs.pem";

/** How a rule is named in a refusal: its key path and what it allows. */
export function describeRule(rule: Pick<EgressRule, "where" | "methods" | "paths">): string {
  const parts = [
    rule.methods ? `methods ${rule.methods.join(", ")}` : "any method",
    rule.paths ? `paths ${rule.paths.join(", ")}` : "any path",
  ];
  return `${rule.where} (${parts.join("; ")})`;
}

/** A host file to bind-mount read-only into the bundle. */
export interface IdentityMount {
  host_path: string;
  container_path: string;
}

/** Output of {@link renderBundleConfig}. */
export interface BundleConfig {
  /** Path relative to the config dir -> content. */
  files: Record<string, string>;
  identity_mounts: IdentityMount[];
}

function valid<T extends object>(parsed: T | { problem: string }, what: string): T {
  if ("problem" in parsed) {
    throw new Error(`renderBundleConfig: ${what} passed the manifest but not the grammar`);
  }
  return parsed;
}

function identityHostPath(remote: GitRemote, homeDir: string | undefined): string {
  if (!remote.identity.startsWith("~/")) return remote.identity;
  if (homeDir === undefined || !homeDir.startsWith("/")) {
    throw new UserError(
      `git remote "${remote.name}": identity ${
        JSON.stringify(remote.identity)
      } needs $HOME, which is not set to an absolute path`,
      { hint: "set HOME, or give the identity as an absolute path in your user manifest" },
    );
  }
  return `${homeDir.replace(/\/+$/, "")}/${remote.identity.slice(2)}`;
}

/** Renders the bundle's per-bottle config. Pure. */
export function renderBundleConfig(input: BundleConfigInput): BundleConfig {
  const entries = input.egressAllow.map((e) => valid(parseEgressEntry(e), e).entry);
  const policy = {
    schema: 1,
    slug: input.slug,
    allow: entries,
    on_block: input.onBlock ?? "refuse",
    ask_timeout_seconds: input.askTimeoutSeconds ?? 60,
    tls: {
      inspect: input.inspect ?? "credentials",
      intercept: (input.intercept ?? []).map(hostPattern),
    },
    rules: (input.rules ?? []).map((r) => ({
      host: hostPattern(r.host),
      methods: r.methods ?? null,
      paths: r.paths ?? null,
      rule: describeRule(r),
    })),
    secrets: (input.injected ?? []).map((s) => ({
      name: s.name,
      placeholder: s.placeholder,
      inject: s.inject.map(hostPattern),
    })),
    git: {
      max_push_bytes: (input.maxPushMib ?? DEFAULT_MAX_PUSH_MIB) * 1024 * 1024,
      scan_timeout_seconds: GIT_SCAN_TIMEOUT_SECONDS,
    },
  };
  const files: Record<string, string> = { "policy.json": `${JSON.stringify(policy, null, 2)}\n` };
  if (input.caCertsPem) files[CA_CERTS_FILE] = input.caCertsPem;
  const identityMounts: IdentityMount[] = [];
  if (input.git.length > 0) {
    const remotes: string[] = [];
    const knownHosts: string[] = [];
    for (const remote of input.git) {
      const { upstream } = valid(parseGitUpstream(remote.upstream), remote.upstream);
      const { key } = valid(parseHostKey(remote.hostKey), remote.hostKey);
      const containerPath = `${BUNDLE_IDENTITY_DIR}/${remote.name}`;
      identityMounts.push({
        host_path: identityHostPath(remote, input.homeDir),
        container_path: containerPath,
      });
      remotes.push(`${remote.name}\t${remote.upstream}\t${containerPath}`);
      const line = `${knownHostsHost(upstream)} ${key.type} ${key.base64}`;
      if (!knownHosts.includes(line)) knownHosts.push(line);
    }
    files["git/remotes"] = remotes.join("\n") + "\n";
    files["git/known_hosts"] = knownHosts.join("\n") + "\n";
  }
  return { files, identity_mounts: identityMounts };
}
