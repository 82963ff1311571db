/**
 * `bot-bottle bundle build`: build the sidecar bundle image from the files
 * embedded in this binary (launches also build it on first use).
 */
import { ensureBundleImage } from "../bundle/bundle_image.ts";
import { UsageError } from "../errors.ts";
import { stateRoot } from "../state/state_paths.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";

/** Run `bundle <action>`. */
export async function runBundle(ctx: CliContext, action: string | undefined): Promise<number> {
  if (action !== "build") {
    throw new UsageError(
      action === undefined
        ? "bundle: missing action (build)"
        : `bundle: unknown action "${action}"`,
      "Run `bot-bottle bundle --help` for usage.",
    );
  }
  const tag = await ensureBundleImage(ctx.runner, {
    baseImage: ctx.env.get("BOT_BOTTLE_BASE_IMAGE") || undefined,
    workDir: `${stateRoot(ctx.env)}/bundle-build`,
    onProgress: (line) => ctx.stderr(`bot-bottle: ${line}\n`),
  });
  ctx.stdout(`${tag}\n`);
  return 0;
}

/** The `bundle` command. */
export const command: Command = {
  name: "bundle",
  args: "build",
  summary: "build the sidecar bundle image",
  description: `Build the sidecar bundle image (squid egress proxy, null DNS, git gate) from the
files embedded in bot-bottle. Launches build it on first use too.`,
  options: {},
  positionals: { min: 0, max: 1 },
  run: (ctx, { positionals }) => runBundle(ctx, positionals[0]),
};
