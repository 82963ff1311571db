/**
 * The one place a backend is picked by name.
 */
import type { PreflightCheck, PreflightDeps } from "../host/preflight.ts";
import type { BackendName } from "../plan/plan_types.ts";
import type { Backend } from "./backend.ts";
import { dockerBackend } from "./docker/docker_backend.ts";
import { smolvmBackend } from "./smolvm/smolvm_backend.ts";

const BY_NAME: Readonly<Record<BackendName, Backend>> = {
  smolmachines: smolvmBackend,
  docker: dockerBackend,
};

/** The backend called `name`. */
export function backendFor(name: BackendName): Backend {
  return BY_NAME[name];
}

/** Every backend, default first. */
export function allBackends(): Backend[] {
  return [smolvmBackend, dockerBackend];
}

/** Every backend's checks, each check once (Docker's belong to both backends). */
export async function preflightAll(deps: PreflightDeps): Promise<PreflightCheck[]> {
  const byId = new Map<string, PreflightCheck>();
  const results = await Promise.all(allBackends().map((b) => b.preflight(deps)));
  for (const [i, backend] of allBackends().entries()) {
    for (const check of results[i]) {
      const seen = byId.get(check.id);
      if (seen) seen.backends = [...new Set([...seen.backends, backend.name])];
      else byId.set(check.id, { ...check, backends: [backend.name] });
    }
  }
  return [...byId.values()];
}
