/**
 * Which images a launch needs and whether they are already there, for the
 * plan ("will be built", "present"): the agent's (from the bottle's image or
 * Dockerfile) and the bundle's, both asked about in one `docker image
 * inspect`.
 */
import { bundleImageTag, DEFAULT_BUNDLE_BASE_IMAGE } from "../bundle/bundle_image.ts";
import type { Runner } from "../host/runner.ts";
import type { PlannedImages } from "../plan/plan_types.ts";
import { agentImageSource } from "./agent_image.ts";

/** The argv that asks for every `ref` at once (the missing ones are named on stderr). */
export function imagesInspectArgv(refs: readonly string[]): string[] {
  return ["docker", "image", "inspect", "--format", "{{.Id}}", ...refs];
}

/** Which of `refs` the inspect's stderr names as missing; null when it failed otherwise. */
export function missingImages(
  refs: readonly string[],
  result: { code: number; stderr: string },
): Set<string> | null {
  const missing = new Set<string>();
  for (const ref of refs) {
    const escaped = ref.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    if (new RegExp(`no such image: ${escaped}(?::|\\s|$)`, "i").test(result.stderr)) {
      missing.add(ref);
    }
  }
  return result.code === 0 || missing.size > 0 ? missing : null;
}

/** The images of a bottle, with their presence (null: Docker not asked or not answering). */
export async function planImages(
  runner: Runner,
  opts: {
    bottle: string;
    image: string | null;
    dockerfile: string | null;
    /** The bottle's ca_certs (PEM), which a Dockerfile build trusts (and its tag covers). */
    caCertsPem?: string;
    baseImage?: string;
    dockerReachable: boolean;
  },
): Promise<PlannedImages> {
  const agent = await agentImageSource(opts);
  const bundle = bundleImageTag(opts.baseImage ?? DEFAULT_BUNDLE_BASE_IMAGE);
  const refs = [agent.ref, bundle];
  let missing: Set<string> | null = null;
  if (opts.dockerReachable) {
    try {
      missing = missingImages(refs, await runner.run(imagesInspectArgv(refs)));
    } catch {
      missing = null;
    }
  }
  const present = (ref: string) => (missing === null ? null : !missing.has(ref));
  return {
    agent: { ref: agent.ref, present: present(agent.ref), built_from: agent.dockerfile },
    bundle: { ref: bundle, present: present(bundle) },
  };
}
