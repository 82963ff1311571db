/**
 * manifest -> plan, as a pure function: every input (host facts, randomness,
 * time, preflight results, which secrets are set) comes in as an argument.
 */
import { UserError } from "../errors.ts";
import { resolveBottle } from "../manifest/resolve_bottle.ts";
import type { Manifest } from "../manifest/types.ts";
import { chooseBundleSubnet, type TakenRange } from "./bundle_subnet.ts";
import { guestEnv } from "./guest_env.ts";
import type { Backend, MetadataRecord, Plan } from "./plan_types.ts";
import { renderSmolfile } from "./render_smolfile.ts";
import { bottleLabels, ownerId, plannedResources } from "./resource_names.ts";
import { bottleStateDir } from "../state/state_paths.ts";
import type { PreflightCheck } from "../host/preflight.ts";
import { preflightPassed } from "../host/preflight.ts";

/** Everything the planner needs. */
export interface PlanInput {
  manifest: Manifest;
  agent: string;
  backend: Backend;
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
  preflight: PreflightCheck[];
  /** Whether a host variable is set (secret values are never read here). */
  hasHostVar: (name: string) => boolean;
  stateRoot: string;
  smolvmVersion: string | null;
  /** ISO-8601 UTC. */
  now: string;
  /** Notes from the host readers (e.g. routes that could not be read). */
  notes?: string[];
}

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
  const env = guestEnv(bottle, choice.bundleIp);
  const resources = plannedResources(input.slug, input.backend);
  const secrets = Object.entries(bottle.secrets)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([guest, hostVar]) => ({ guest, host_var: hostVar, present: input.hasHostVar(hostVar) }));
  const metadata: MetadataRecord = {
    schema: 1,
    slug: input.slug,
    agent: input.agent,
    bottles: bottle.chain,
    backend: input.backend,
    label: input.label ?? null,
    cwd: input.cwd ?? null,
    copy_cwd: input.cwd !== undefined,
    started_at: input.now,
    subnet: choice.subnet,
    gateway: choice.gateway,
    bundle_ip: choice.bundleIp,
    smolvm_version: input.backend === "smolmachines" ? input.smolvmVersion : null,
    resources,
  };
  const notes = [...(input.notes ?? [])];
  if (agent.scope === "project") {
    notes.push(
      `agent "${input.agent}" and its command come from the project manifest ${agent.source}, ` +
        `not from your own; it runs in your bottle "${bottle.name}" with that bottle's secrets and ` +
        "egress: read the command above before you launch",
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
    slug: input.slug,
    agent: input.agent,
    label: input.label ?? null,
    bottles: bottle.chain,
    backend: input.backend,
    image: bottle.image ?? null,
    dockerfile: bottle.dockerfile ?? null,
    command: [...agent.command, ...(input.agentArgs ?? [])],
    agent_source: { scope: agent.scope, file: agent.source },
    prompt: agent.prompt ?? null,
    subnet: choice.subnet,
    gateway: choice.gateway,
    bundle_ip: choice.bundleIp,
    seed_subnet: choice.seed.subnet,
    subnet_moves: choice.moves.map((m) => ({
      subnet: m.subnet,
      taken_by: m.takenBy.cidr,
      source: m.takenBy.source,
    })),
    guest_env: env,
    secrets,
    egress_allow: bottle.egressAllow,
    git: bottle.git.map((g) => ({ name: g.name, upstream: g.upstream })),
    resources: { cpus: bottle.cpus, memory_mib: bottle.memory },
    workdir: bottle.workdir ?? null,
    smolfile: input.backend === "smolmachines"
      ? renderSmolfile({
        env,
        bundleIp: choice.bundleIp,
        cpus: bottle.cpus,
        memory: bottle.memory,
        workdir: bottle.workdir,
      })
      : null,
    labels: bottleLabels(input.slug, input.backend, ownerId(input.stateRoot)),
    create: resources,
    state_dir: bottleStateDir(input.stateRoot, input.slug),
    metadata,
    preflight: input.preflight,
    ready: preflightPassed(input.preflight) && secrets.every((s) => s.present),
    notes,
  };
}
