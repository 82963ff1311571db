/**
 * The manifest's data model (SPEC §3): what the TOML files may say, after
 * validation, and a bottle after its `extends` chain is resolved.
 */

/** Where a manifest file came from; decides what it may define. */
export type ManifestScope = "user" | "project";

/** One git remote the bundle's git gate mirrors (`git = [{...}]`). */
export interface GitRemote {
  /** Local name, `^[a-z][a-z0-9-]*$`, unique in a bottle. */
  name: string;
  /** Upstream URL: `ssh://user@host[:port]/path` or `user@host:path`. */
  upstream: string;
  /** Path of the SSH identity on the host (may start with `~/`); stays in the bundle. */
  identity: string;
  /** Pinned host key, e.g. `ssh-ed25519 AAAA...`. */
  hostKey: string;
}

/** A `[bottles.<name>]` table as written in one file (every field optional but validated). */
export interface BottleDef {
  name: string;
  /** File that defined it. */
  source: string;
  extends?: string;
  image?: string;
  dockerfile?: string;
  cpus?: number;
  memory?: number;
  workdir?: string;
  env?: Record<string, string>;
  /** Guest variable name -> host variable name (the string form: the agent holds the value). */
  secrets?: Record<string, string>;
  /** Injected secrets (`[bottles.X.secrets.NAME] from/inject`): the agent holds a placeholder. */
  injected?: Record<string, InjectedSecret>;
  /** `ca_certs`: absolute paths of PEM files (resolved against the defining file's directory). */
  caCerts?: string[];
  egressAllow?: string[];
  /** `egress.inspect`: which allowed HTTPS hosts the bundle terminates TLS for. */
  egressInspect?: "credentials" | "all";
  /** `egress.rules`: per host, the methods and path globs allowed. */
  egressRules?: EgressRule[];
  /** `egress.on_block`. */
  egressOnBlock?: "refuse" | "ask";
  /** `egress.ask_timeout`: how long `ask` holds a request (seconds). */
  egressAskTimeout?: number;
  git?: GitRemote[];
  supervise?: boolean;
  /** The sidecar bundle's own limits (`bundle = { memory, cpus, pids }`). */
  bundle?: BundleDef;
  /** The docker backend's runtime for the agent (`runsc`: gVisor). */
  runtime?: "runc" | "runsc";
}

/** An injected secret: read from host variable `from`, swapped in by the bundle for `inject`. */
export interface InjectedSecret {
  /** The host variable holding the value. */
  from: string;
  /** `egress.allow`-style host patterns (exact names or `*.suffix`, no port), at least one. */
  inject: string[];
}

/** One `egress.rules` entry. */
export interface EgressRule {
  /** An `egress.allow`-style host pattern (no port). */
  host: string;
  /** Allowed methods (uppercase); absent = any. */
  methods?: string[];
  /** Allowed path globs (`*` within a segment, `**` across); absent = any. */
  paths?: string[];
  /** Its key path, for messages: `bottles.dev.egress.rules[0]`. */
  where: string;
  /** The file that defined it. */
  source: string;
}

/** A `bundle` table: the sidecar's limits, each optional. */
export interface BundleDef {
  /** MiB. */
  memory?: number;
  cpus?: number;
  pids?: number;
  /** The git gate's bound on one push (MiB of new objects). */
  maxPushMib?: number;
}

/** An `[agents.<name>]` table. */
export interface AgentDef {
  name: string;
  /** File that defined it. */
  source: string;
  scope: ManifestScope;
  bottle: string;
  command: string[];
  prompt?: string;
}

/** Every file that was loaded, merged: user bottles and agents plus project agents. */
export interface Manifest {
  /** Files read, in load order (user first). */
  files: string[];
  /** Where manifests were looked for (user path, project path), found or not. */
  searched?: string[];
  bottles: Record<string, BottleDef>;
  agents: Record<string, AgentDef>;
  /** The `ca_certs` files read at load: absolute path -> PEM text (certificates only). */
  certificates?: Record<string, string>;
}

/** A bottle with its `extends` chain folded in (root first). */
export interface ResolvedBottle {
  name: string;
  /** Names from the root ancestor to this bottle, e.g. `["base", "dev"]`. */
  chain: string[];
  /** Exactly one of image / dockerfile is set. */
  image?: string;
  /**
   * Absolute path (resolved against the defining file's directory), or `builtin:<name>` for a
   * Dockerfile shipped in bot-bottle (lib/agents/builtin_dockerfiles.ts).
   */
  dockerfile?: string;
  cpus: number;
  memory: number;
  workdir?: string;
  env: Record<string, string>;
  secrets: Record<string, string>;
  /** Injected secrets, by guest name (child wins along the chain). */
  injected: Record<string, InjectedSecret>;
  /** `ca_certs` over the chain (first-seen order), each with its PEM text (read at load). */
  caCerts: { path: string; pem: string }[];
  /** Union over the chain, in first-seen order, without duplicates. */
  egressAllow: string[];
  /** `egress.inspect` (default "credentials"). */
  egressInspect: "credentials" | "all";
  /** `egress.rules` over the chain, root first. */
  egressRules: EgressRule[];
  egressOnBlock: "refuse" | "ask";
  /** Seconds `ask` holds a request (default 60). */
  egressAskTimeout: number;
  git: GitRemote[];
  supervise: boolean;
  /** The bundle's limits, defaults filled in. */
  bundle: { memory: number; cpus: number; pids: number; maxPushMib: number };
  runtime: "runc" | "runsc";
}

/** Defaults for resources a bottle does not set. */
export const DEFAULT_CPUS = 2;
/** MiB. */
export const DEFAULT_MEMORY_MIB = 4096;
/**
 * The bundle's own default limits: the proxy needs ~45 MiB, a gitleaks scan of a push up to the
 * gate's size limit ~170 MiB at worst.
 */
export const DEFAULT_BUNDLE_LIMITS = { memory: 384, cpus: 1, pids: 256, maxPushMib: 64 } as const;

/** Names of bottles, agents, git remotes and labels. */
export const NAME_PATTERN = /^[a-z][a-z0-9-]*$/;

/** Guest variables bot-bottle sets itself; a bottle may not set them in `env` or `secrets`. */
export const RESERVED_GUEST_VARS: readonly string[] = [
  "HTTPS_PROXY",
  "HTTP_PROXY",
  "https_proxy",
  "http_proxy",
  "NO_PROXY",
  "no_proxy",
  "GIT_GATE_URL",
  "MCP_SUPERVISE_URL",
  "BOT_BOTTLE_WORKSPACE",
];

/**
 * Trust variables bot-bottle sets when a bottle's guest trusts extra CAs (the bundle's CA for
 * TLS interception, `ca_certs`); a bottle may not set them itself: `ca_certs` is the way.
 */
export const TRUST_GUEST_VARS: readonly string[] = [
  "SSL_CERT_FILE",
  "NODE_EXTRA_CA_CERTS",
  "REQUESTS_CA_BUNDLE",
  "GIT_SSL_CAINFO",
  "CURL_CA_BUNDLE",
  "CODEX_CA_CERTIFICATE",
];
