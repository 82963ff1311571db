/**
 * What both launch flows need from the outside, and the steps they share
 * before anything is created: state, the agent image, the bundle image.
 */
import { ensureBundleImage } from "../bundle/bundle_image.ts";
import type { ResolvedBottle } from "../manifest/types.ts";
import type { TakenRange } from "../plan/bundle_subnet.ts";
import type { Plan } from "../plan/plan_types.ts";
import type { Runner } from "../host/runner.ts";
import { writeMetadata, writeStatus } from "../state/metadata_store.ts";
import { ensureAgentImage } from "./agent_image.ts";
import { UserError } from "../errors.ts";
import { WRITE_PROMPT_COMMAND } from "../plan/guest_env.ts";
import { Interrupted, type Interrupts } from "./interrupts.ts";

/** Shared inputs of a launch. */
export interface LaunchDeps {
  runner: Runner;
  env: { get(name: string): string | undefined };
  progress(line: string): void;
  stdinIsTerminal: boolean;
  interrupts: Interrupts;
  /** Re-resolve the plan with more ranges marked taken (after an overlap at create time). */
  replan(extraTaken: TakenRange[]): Plan;
  bottle: ResolvedBottle;
  /** Base image for bundle and Dockerfile builds (CI uses a locally built one). */
  baseImage?: string;
}

/** Record the launch (metadata, status "starting") and make sure both images exist. */
export async function prepareLaunch(
  plan: Plan,
  deps: LaunchDeps,
): Promise<{ agentImage: string; bundleImage: string }> {
  await writeMetadata(plan.state_dir, plan.metadata);
  await writeStatus(plan.state_dir, "starting");
  const agentImage = await ensureAgentImage(deps.runner, {
    bottle: deps.bottle.name,
    image: plan.image,
    dockerfile: plan.dockerfile,
    baseImage: deps.baseImage,
    progress: deps.progress,
    signal: deps.interrupts.signal,
  });
  deps.interrupts.check();
  const bundleImage = await ensureBundleImage(deps.runner, {
    baseImage: deps.baseImage,
    workDir: `${plan.state_dir}/bundle-build`,
    onProgress: deps.progress,
  });
  deps.interrupts.check();
  return { agentImage, bundleImage };
}

/** An error raised while a signal aborted the launch is reported as the interruption. */
export function asInterruption(error: unknown, interrupts: Interrupts): unknown {
  if (interrupts.signal.aborted && !(error instanceof Interrupted)) {
    return new Interrupted(interrupts.received ?? "SIGINT");
  }
  return error;
}

/**
 * Write the agent's prompt (if any) into the guest and mark the bottle
 * running. `execWithStdin` turns a guest command into the backend's exec argv
 * that forwards stdin; the prompt travels on stdin, never in argv.
 */
export async function enterRunning(
  plan: Plan,
  deps: LaunchDeps,
  execWithStdin: (command: string[]) => string[],
): Promise<void> {
  if (plan.prompt !== null) {
    const wrote = await deps.runner.run(execWithStdin(WRITE_PROMPT_COMMAND), {
      input: plan.prompt,
      signal: deps.interrupts.signal,
    });
    deps.interrupts.check();
    if (wrote.code !== 0) {
      throw new UserError(
        `writing the agent's prompt into the bottle failed: ${wrote.stderr.trim()}`,
      );
    }
  }
  await writeStatus(plan.state_dir, "running");
}
