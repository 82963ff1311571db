/**
 * The metadata record a launch writes (SPEC §4.5), the `resume` contract,
 * derived from the plan (the plan holds no second copy of it).
 */
import type { BackendName, Plan, PlannedManifest, PlannedResource } from "./plan_types.ts";

/** `metadata.json` of a bottle's state dir. */
export interface MetadataRecord {
  schema: 1;
  slug: string;
  agent: string;
  bottles: string[];
  backend: BackendName;
  label: string | null;
  cwd: string | null;
  copy_cwd: boolean;
  started_at: string;
  subnet: string;
  gateway: string;
  bundle_ip: string;
  /** The docker backend's bridge /24 (resume keeps it when it is still free). */
  bridge_subnet?: string | null;
  smolvm_version: string | null;
  resources: PlannedResource[];
  /**
   * The guest's secrets by name (never a value). `exec` passes those the agent holds from the
   * caller's env; an injected one (`inject: true`) is only ever a placeholder in the guest, which
   * the guest's own environment already has.
   */
  secrets?: { guest: string; host_var: string; inject?: boolean }[];
  /** What the proxy does with an unlisted host (`ask`: `start` shows what is held). */
  egress_on_block?: "refuse" | "ask";
  /** The manifests the bottle was started from (`resume` reads them again); absent in old records. */
  manifest?: PlannedManifest | null;
}

/** The record for a plan. */
export function metadataOf(plan: Plan): MetadataRecord {
  return {
    schema: 1,
    slug: plan.slug,
    agent: plan.agent,
    bottles: plan.bottles,
    backend: plan.backend,
    label: plan.label,
    cwd: plan.cwd,
    copy_cwd: plan.copy_cwd,
    started_at: plan.started_at,
    subnet: plan.subnet,
    gateway: plan.gateway,
    bundle_ip: plan.bundle_ip,
    bridge_subnet: plan.bridge_subnet,
    smolvm_version: plan.smolvm_version,
    resources: plan.create,
    secrets: plan.secrets.map((s) => ({
      guest: s.guest,
      host_var: s.host_var,
      ...(s.holder === "bundle" ? { inject: true } : {}),
    })),
    egress_on_block: plan.egress_on_block,
    manifest: plan.manifest,
  };
}
