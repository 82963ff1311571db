/**
 * The plan: everything a launch would do, resolved before anything is done,
 * and everything the launch needs (it never reads the manifest again).
 * Keys are snake_case because this object is also the `--json` contract;
 * `schema` versions it.
 */
import type { BundleConfig } from "../bundle/config/render_bundle_config.ts";
import type { PreflightCheck } from "../host/preflight.ts";

/** The two ways to run a bottle. */
export type BackendName = "smolmachines" | "docker";

/** All backends, default first. */
export const BACKENDS: readonly BackendName[] = ["smolmachines", "docker"];

/** One Docker or smolvm object a launch creates. */
export interface PlannedResource {
  kind: "network" | "internal-network" | "container" | "machine";
  name: string;
  role: "egress" | "internal" | "bundle" | "agent";
}

/** A secret, by name only, never the value. */
export interface PlannedSecret {
  guest: string;
  host_var: string;
  /** Whether the host variable is set right now (the value itself is never read into the plan). */
  present: boolean;
  /**
   * Who holds the value: `agent` (the string form: the guest variable holds it) or `bundle`
   * (injected: the guest variable holds {@link placeholder}, the bundle swaps the value in).
   */
  holder: "agent" | "bundle";
  /** The hosts the bundle injects it into (host patterns); empty when the agent holds it. */
  inject: string[];
  /** The random per-launch value the guest holds instead (injected secrets), else null. */
  placeholder: string | null;
}

/** What the bundle does with TLS, and what the guest trusts (SPEC §12). */
export interface PlannedTls {
  /** `egress.inspect`. */
  inspect: "credentials" | "all";
  /**
   * Host patterns whose TLS the bundle terminates (inject hosts and rule hosts); with inspect
   * "all", every allowed HTTPS host besides.
   */
  intercept: string[];
  /** `egress.rules`, in order. */
  rules: { host: string; methods: string[] | null; paths: string[] | null; where: string }[];
  /** `ca_certs` files (their certificates are in the bundle config's ca_certs.pem). */
  ca_certs: string[];
  /** Where the guest's trust files are written (bundle.pem, extra.pem); null: none needed. */
  guest_ca_dir: string | null;
  /** Whether the guest's system store is extended too (docker; smolvm's exec is not root). */
  guest_system_store: boolean;
}

/** A git remote of the bundle's git gate, as the launch needs it (no secret: the key stays on disk). */
export interface PlannedGitRemote {
  name: string;
  upstream: string;
  /** Path of the SSH identity on the host, as written in the manifest. */
  identity: string;
  host_key: string;
}

/** What `start --cwd` copies into the guest's /workspace (SPEC §11). */
export interface PlannedWorkspace {
  /** `snapshot`: the host tree at `source`; `restore`: the archive a resumed bottle left. */
  mode: "snapshot" | "restore";
  /** The host directory copied (its work tree's root), or the archive restored. */
  source: string;
  kind: "git" | "dir";
  /** Entries (files, links) to copy; null when not counted (a restore). */
  files: number | null;
  bytes: number;
  /** Above this a launch is refused (`--max-workspace` raises it). */
  limit_bytes: number;
  /** The host's HEAD (git) the agent's work starts from; null for a plain directory. */
  base: string | null;
  branch: string | null;
  /** The tree has changes not yet committed on the host (they are copied, and show in `diff`). */
  dirty: boolean;
  /** Where it lands in the guest. */
  guest_path: string;
  /** What deserves a word: symlinks out of the tree, submodules, odd names. */
  notes: string[];
  /** Paths the helper could not read (the launch is refused while there are any). */
  unreadable: { count: number; examples: string[] };
  /** A merge, rebase, ... in progress in the repository (refused), or null. */
  in_progress: string | null;
  /**
   * A restore's archives, in order (the first plain, the later ones a capture's changes); the
   * first is `source`. Absent for a snapshot.
   */
  restore_archives?: string[];
}

/** Which manifest files a plan came from. */
export interface PlannedManifest {
  user_path: string;
  user_explicit: boolean;
  /** The project manifest that was read (null: none was). */
  project_path: string | null;
}

/** The images a launch runs, and whether they exist yet (null: not known). */
export interface PlannedImages {
  /** The agent's image: built from `built_from` (a Dockerfile) or pulled when it is missing. */
  agent: { ref: string; present: boolean | null; built_from: string | null };
  /** The sidecar bundle's image, built from the files in bot-bottle when missing. */
  bundle: { ref: string; present: boolean | null };
}

/** The plan's schema version. */
export const PLAN_SCHEMA = 1;

/** A resolved plan. */
export interface Plan {
  schema: typeof PLAN_SCHEMA;
  slug: string;
  agent: string;
  label: string | null;
  /** Bottle chain, root first. */
  bottles: string[];
  backend: BackendName;
  image: string | null;
  dockerfile: string | null;
  /** The images the launch runs and which it must build or pull first (null: not resolved). */
  images: PlannedImages | null;
  command: string[];
  /** The agent's prompt, written to `$HOME/.bot-bottle-prompt.txt` in the guest before it runs. */
  prompt: string | null;
  /** Where the agent (and so its command) is defined: the user manifest or the project's. */
  agent_source: { scope: "user" | "project"; file: string };
  /**
   * The manifests this plan was read from (recorded, so `resume` reads the same ones): the
   * user manifest's path, whether it was named (--manifest, BOT_BOTTLE_MANIFEST), and the
   * project manifest it read, if any. Null when not known.
   */
  manifest: PlannedManifest | null;
  /** Host directory to copy in (`--cwd`), or null. */
  cwd: string | null;
  copy_cwd: boolean;
  /** The workspace copied into the guest, or null without `--cwd`. */
  workspace: PlannedWorkspace | null;
  /** When the plan was made (UTC ISO-8601); recorded as the bottle's start. */
  started_at: string;
  subnet: string;
  gateway: string;
  bundle_ip: string;
  /** What the seed algorithm alone gives; differs from `subnet` only when that /24 was taken. */
  seed_subnet: string;
  /** Each /24 skipped on the way, with what holds it. */
  subnet_moves: { subnet: string; taken_by: string; source: string }[];
  /** The docker backend's egress bridge /24 (its own, explicit; never Docker's default pools). */
  bridge_subnet: string | null;
  bridge_gateway: string | null;
  /**
   * Literal guest env (names and values), with the trust variables and the placeholders of
   * injected secrets; secrets the agent holds are listed separately, by name.
   */
  guest_env: Record<string, string>;
  secrets: PlannedSecret[];
  tls: PlannedTls;
  egress_allow: string[];
  git: PlannedGitRemote[];
  /** The bundle's per-bottle config, rendered (files mounted read-only at /etc/bot-bottle). */
  bundle_config: BundleConfig;
  /** The bundle's own cgroup limits. */
  bundle_limits: { memory_mib: number; cpus: number; pids: number };
  /** What the proxy does with a refused host: refuse it, or hold it for `approve`/`deny`. */
  egress_on_block: "refuse" | "ask";
  /** Live approvals and denials (`bot-bottle approve|deny`) a resumed bottle keeps, as written. */
  approvals: { approved: string[]; denied: string[] };
  /** The bundle's audit log (`<state dir>/audit/audit.jsonl`): rotation size, old files kept. */
  audit: { max_bytes: number; keep: number };
  /** The container runtime of a docker backend agent (`runsc`: gVisor); null on smolmachines. */
  runtime: "runc" | "runsc" | null;
  resources: { cpus: number; memory_mib: number };
  workdir: string | null;
  /** The rendered Smolfile (smolmachines) or null (docker). */
  smolfile: string | null;
  smolvm_version: string | null;
  labels: Record<string, string>;
  create: PlannedResource[];
  state_dir: string;
  preflight: PreflightCheck[];
  /** True when every preflight check passed and every secret's host variable is set. */
  ready: boolean;
  /** Things the planner could not check, said plainly. */
  notes: string[];
}
