/**
 * Remove what is left of one bottle (stop, rm, cleanup) through its backend.
 */
import { backendFor } from "../backends/registry.ts";
import type { Runner } from "../host/runner.ts";
import { type BackendName, BACKENDS } from "../plan/plan_types.ts";
import type { TeardownFailure } from "./teardown.ts";

/** What of one bottle is there to remove (an inventory entry). */
export interface BottleLeftovers {
  slug: string;
  backend: string | null;
  containers: readonly { name: string }[];
  networks: readonly string[];
  machine: { name: string } | null;
}

/** Remove everything of a bottle through its backend (docker when it cannot be told). */
export function teardownBottle(
  runner: Runner,
  bottle: BottleLeftovers,
  owner: string,
): Promise<TeardownFailure[]> {
  const name = (BACKENDS as readonly string[]).includes(bottle.backend ?? "")
    ? bottle.backend as BackendName
    : "docker";
  return backendFor(name).teardown(runner, {
    slug: bottle.slug,
    owner,
    containers: bottle.containers.map((c) => c.name),
    networks: [...bottle.networks],
    machine: bottle.machine?.name ?? null,
  });
}
