/**
 * manifest -> plan, as a pure function: every input (host facts, randomness,
 * time, preflight results, which secrets are set) comes in as an argument.
 * The plan carries everything the launch needs, the bundle's rendered config
 * included, so a plan that resolves is a launch that will not fail on config.
 */
import { backendFor } from "../backends/registry.ts";
import { renderBundleConfig } from "../bundle/config/render_bundle_config.ts";
import { UserError } from "../errors.ts";
import type { PreflightCheck } from "../host/preflight.ts";
import { preflightPassed } from "../host/preflight.ts";
import { resolveBottle } from "../manifest/resolve_bottle.ts";
import type { Manifest } from "../manifest/types.ts";
import type { ManifestSources } from "../manifest/manifest_paths.ts";
import { bottleStateDir } from "../state/state_paths.ts";
import { chooseBundleSubnet, type TakenRange } from "./bundle_subnet.ts";
import { guestEnv, sortedRecord } from "./guest_env.ts";
import {
  type BackendName,
  type Plan,
  PLAN_SCHEMA,
  type PlannedImages,
  type PlannedTls,
  type PlannedWorkspace,
} from "./plan_types.ts";
import { workspaceCheck } from "../workspace/workspace_check.ts";
import { bottleLabels, ownerId } from "./resource_names.ts";

/** Everything the planner needs. */
export interface PlanInput {
  manifest: Manifest;
  agent: string;
  backend: BackendName;
  slug: string;
  label?: string;
  /** Host working directory to copy in (`--cwd`), if any. */
  cwd?: string;
  /** Extra arguments for the agent command (after `--`). */
  agentArgs?: string[];
  /** Subnets in use (Docker networks, host routes). */
  taken: TakenRange[];
  /** A resumed bottle's recorded third octet. */
  preferredOctet?: number;
  /** A resumed (docker) bottle's recorded bridge octet. */
  preferredBridgeOctet?: number;
  preflight: PreflightCheck[];
  /** Whether a host variable is set (secret values are never read here). */
  hasHostVar: (name: string) => boolean;
  /** `$HOME`, for git identities written as `~/...`. */
  home?: string;
  stateRoot: string;
  smolvmVersion: string | null;
  /** ISO-8601 UTC. */
  now: string;
  /** Notes from the host readers (e.g. routes that could not be read). */
  notes?: string[];
  /** With `--cwd`: what the workspace copy would be (surveyed by the caller). */
  workspace?: PlannedWorkspace;
  /** A resumed bottle's live approvals and denials (`bot-bottle approve|deny`), as written. */
  approvals?: { approved: string[]; denied: string[] };
  /** The audit log's rotation size (bytes); BOT_BOTTLE_AUDIT_MAX_BYTES, else 4 MiB. */
  auditMaxBytes?: number;
  /**
   * The placeholder an injected secret's guest variable holds (random per launch; the same
   * name must give the same value for every resolution of one launch, see placeholder.ts).
   * Needed only when the bottle injects secrets.
   */
  placeholder?: (guest: string) => string;
  /** The images and whether they are present (asked of Docker by the caller). */
  images?: PlannedImages;
  /** Where the manifest was read from (recorded for `resume`). */
  manifestSources?: ManifestSources;
}

/** The audit log: rotated at 4 MiB, 3 old files kept (at most 16 MiB per bottle). */
export const AUDIT_DEFAULTS = { max_bytes: 4 * 1024 * 1024, keep: 3 } as const;

/** Resolve the plan. Throws UserError (ManifestError) for anything the user must fix. */
export function resolvePlan(input: PlanInput): Plan {
  if (!Object.hasOwn(input.manifest.agents, input.agent)) {
    throw new UserError(`no agent named "${input.agent}"`);
  }
  const agent = input.manifest.agents[input.agent];
  const bottle = resolveBottle(input.manifest, agent.bottle);
  if (bottle.supervise) {
    throw new UserError(
      `bottle "${bottle.name}" sets supervise = true, but the supervise sidecar is not in this ` +
        "release of bot-bottle, so the bottle cannot be built as written",
      {
        hint: `remove \`supervise = true\` from [bottles.${bottle.name}] (or a bottle it extends)`,
      },
    );
  }
  const choice = chooseBundleSubnet(input.slug, input.taken, {
    preferredOctet: input.preferredOctet,
  });
  const workspace = input.workspace ?? null;
  const backend = backendFor(input.backend);
  const byName = ([a]: [string, unknown], [b]: [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0);
  const injected = Object.entries(bottle.injected).sort(byName).map(([guest, s]) => {
    if (!input.placeholder) {
      throw new Error(
        "resolvePlan: the bottle injects secrets and no placeholder source was given",
      );
    }
    return {
      guest,
      host_var: s.from,
      present: input.hasHostVar(s.from),
      holder: "bundle" as const,
      inject: [...s.inject],
      placeholder: input.placeholder(guest),
    };
  });
  const held = Object.entries(bottle.secrets).sort(byName).map(([guest, hostVar]) => ({
    guest,
    host_var: hostVar,
    present: input.hasHostVar(hostVar),
    holder: "agent" as const,
    inject: [],
    placeholder: null,
  }));
  const secrets = [...held, ...injected].sort((a, b) => byName([a.guest, 0], [b.guest, 0]));
  const tls = planTls(bottle, backend.guestTrust);
  const baseEnv = guestEnv(bottle, choice.bundleIp, {
    caDir: tls.guest_ca_dir,
    placeholders: Object.fromEntries(injected.map((s) => [s.guest, s.placeholder])),
  });
  const env = workspace
    ? sortedRecord({ ...baseEnv, BOT_BOTTLE_WORKSPACE: workspace.guest_path })
    : baseEnv;
  // The docker backend's egress bridge gets its own /24, chosen the same way (from the slug's
  // own seed, never the bundle /24), so no network comes from Docker's default address pools.
  const bridge = backend.needsBridge
    ? chooseBundleSubnet(`${input.slug}#bridge`, [
      ...input.taken,
      { cidr: choice.subnet, source: "this bottle's bundle /24" },
    ], { preferredOctet: input.preferredBridgeOctet })
    : null;
  const guest = backend.planGuest({
    slug: input.slug,
    env,
    bundleIp: choice.bundleIp,
    cpus: bottle.cpus,
    memoryMib: bottle.memory,
    workdir: workspace ? workspace.guest_path : bottle.workdir,
    runtime: bottle.runtime,
  });
  const bundleConfig = renderBundleConfig({
    slug: input.slug,
    egressAllow: bottle.egressAllow,
    inspect: tls.inspect,
    intercept: tls.intercept,
    rules: bottle.egressRules,
    injected: injected.map((s) => ({
      name: s.guest,
      placeholder: s.placeholder,
      inject: s.inject,
    })),
    caCertsPem: bottle.caCerts.map((c) => c.pem).join(""),
    onBlock: bottle.egressOnBlock,
    askTimeoutSeconds: bottle.egressAskTimeout,
    maxPushMib: bottle.bundle.maxPushMib,
    git: bottle.git,
    homeDir: input.home,
  });
  const notes = [...(input.notes ?? [])];
  const preflight = [...input.preflight];
  if (guest.runtime === "runsc") preflight.push(runtimeCheck(input.preflight));
  if (workspace) preflight.push(workspaceCheck(workspace));
  if (agent.scope === "project") {
    notes.push(
      `agent "${input.agent}" and its command come from the project manifest ${agent.source}, ` +
        `not from your own; it runs in your bottle "${bottle.name}" with that bottle's secrets and ` +
        "egress: read the command above before you launch",
    );
  }
  if (bottle.runtime === "runsc" && guest.runtime === null) {
    notes.push(
      `bottle "${bottle.name}" sets runtime = "runsc" (gVisor), which applies to the docker ` +
        `backend only; on ${input.backend} the agent runs in a microVM`,
    );
  }
  if (tls.guest_ca_dir !== null && !tls.guest_system_store) {
    notes.push(
      `the guest trusts the bundle's CA${bottle.caCerts.length > 0 ? " and ca_certs" : ""} ` +
        `through SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE, GIT_SSL_CAINFO and ` +
        `CURL_CA_BUNDLE (files in ${tls.guest_ca_dir}); on ${input.backend} its system store is ` +
        "not changed (smolvm runs guest commands as the image's user), so a client that reads " +
        "only the system store does not trust it",
    );
  }
  for (const secret of secrets) {
    if (!secret.present) {
      notes.push(
        `secret ${secret.guest} reads host variable ${secret.host_var}, which is not set; ` +
          `export ${secret.host_var} before launching`,
      );
    }
  }
  return {
    schema: PLAN_SCHEMA,
    slug: input.slug,
    agent: input.agent,
    label: input.label ?? null,
    bottles: bottle.chain,
    backend: input.backend,
    image: bottle.image ?? null,
    dockerfile: bottle.dockerfile ?? null,
    images: input.images ?? null,
    command: [...agent.command, ...(input.agentArgs ?? [])],
    agent_source: { scope: agent.scope, file: agent.source },
    manifest: input.manifestSources
      ? {
        user_path: input.manifestSources.userPath,
        user_explicit: input.manifestSources.userExplicit,
        project_path: input.manifestSources.projectPath !== null &&
            input.manifest.files.includes(input.manifestSources.projectPath)
          ? input.manifestSources.projectPath
          : null,
      }
      : null,
    prompt: agent.prompt ?? null,
    cwd: input.cwd ?? null,
    copy_cwd: input.cwd !== undefined,
    workspace,
    started_at: input.now,
    subnet: choice.subnet,
    gateway: choice.gateway,
    bundle_ip: choice.bundleIp,
    seed_subnet: choice.seed.subnet,
    subnet_moves: choice.moves.map((m) => ({
      subnet: m.subnet,
      taken_by: m.takenBy.cidr,
      source: m.takenBy.source,
    })),
    bridge_subnet: bridge?.subnet ?? null,
    bridge_gateway: bridge?.gateway ?? null,
    guest_env: env,
    secrets,
    tls,
    egress_allow: bottle.egressAllow,
    git: bottle.git.map((g) => ({
      name: g.name,
      upstream: g.upstream,
      identity: g.identity,
      host_key: g.hostKey,
    })),
    bundle_config: bundleConfig,
    bundle_limits: {
      memory_mib: bottle.bundle.memory,
      cpus: bottle.bundle.cpus,
      pids: bottle.bundle.pids,
    },
    egress_on_block: bottle.egressOnBlock,
    approvals: {
      approved: [...(input.approvals?.approved ?? [])],
      denied: [...(input.approvals?.denied ?? [])],
    },
    audit: {
      max_bytes: input.auditMaxBytes ?? AUDIT_DEFAULTS.max_bytes,
      keep: AUDIT_DEFAULTS.keep,
    },
    runtime: guest.runtime,
    resources: { cpus: bottle.cpus, memory_mib: bottle.memory },
    workdir: workspace ? workspace.guest_path : bottle.workdir ?? null,
    smolfile: guest.smolfile,
    smolvm_version: input.smolvmVersion,
    labels: bottleLabels(input.slug, input.backend, ownerId(input.stateRoot)),
    create: guest.create,
    state_dir: bottleStateDir(input.stateRoot, input.slug),
    preflight,
    ready: preflightPassed(preflight) && secrets.every((s) => s.present),
    notes,
  };
}

/**
 * The bottle's TLS plan: which hosts the bundle intercepts (the hosts of injected secrets and of
 * rules; with inspect "all" every allowed HTTPS host as well), and whether the guest needs extra
 * trust (the bundle's CA whenever anything can be intercepted, `ca_certs` always).
 */
export function planTls(
  bottle: {
    injected: Record<string, { inject: string[] }>;
    egressRules: readonly { host: string; methods?: string[]; paths?: string[]; where: string }[];
    egressInspect: "credentials" | "all";
    caCerts: readonly { path: string }[];
  },
  trust: { caDir: string; systemStore: boolean },
): PlannedTls {
  const intercept: string[] = [];
  for (const secret of Object.values(bottle.injected)) {
    for (const host of secret.inject) if (!intercept.includes(host)) intercept.push(host);
  }
  for (const rule of bottle.egressRules) {
    if (!intercept.includes(rule.host)) intercept.push(rule.host);
  }
  const needsTrust = intercept.length > 0 || bottle.egressInspect === "all" ||
    bottle.caCerts.length > 0;
  return {
    inspect: bottle.egressInspect,
    intercept,
    rules: bottle.egressRules.map((r) => ({
      host: r.host,
      methods: r.methods ?? null,
      paths: r.paths ?? null,
      where: r.where,
    })),
    ca_certs: bottle.caCerts.map((c) => c.path),
    guest_ca_dir: needsTrust ? trust.caDir : null,
    guest_system_store: needsTrust && trust.systemStore,
  };
}

/** A bottle that runs under gVisor needs Docker to have `runsc` registered. */
function runtimeCheck(checks: readonly PreflightCheck[]): PreflightCheck {
  const daemon = checks.find((c) => c.id === "docker-daemon");
  const registered = daemon?.runtimes?.includes("runsc") ?? false;
  return registered
    ? {
      id: "docker-runtime",
      backends: ["docker"],
      status: "ok",
      summary: "the agent runs under gVisor: Docker has the runsc runtime registered",
    }
    : {
      id: "docker-runtime",
      backends: ["docker"],
      status: "fail",
      summary: 'the bottle sets runtime = "runsc" (gVisor), and Docker has no runsc runtime ' +
        `registered (it has: ${daemon?.runtimes?.join(", ") || "none reported"})`,
      fix: "Install gVisor (Debian/Ubuntu: `sudo apt-get install runsc`), register it in " +
        '/etc/docker/daemon.json as {"runtimes": {"runsc": {"path": "/usr/bin/runsc"}}} and ' +
        "reload Docker (`sudo systemctl reload docker`); NixOS: " +
        "`virtualisation.docker.daemon.settings.runtimes.runsc.path`. Or remove `runtime` from " +
        "the bottle to run it under runc.",
    };
}
