/**
 * `bot-bottle bundle build`: build the sidecar bundle image from the files
 * embedded in this binary (launches also build it on first use).
 */
import { UsageError } from "../errors.ts";
import { stateRoot } from "../state/state_paths.ts";
import { ownerId } from "../plan/resource_names.ts";
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
  const [{ ensureBundleImage }, { StatusLine }] = await Promise.all([
    import("../bundle/bundle_image.ts"),
    import("../ui/status_line.ts"),
  ]);
  const root = stateRoot(ctx.env);
  const status = ctx.stderrIsTerminal ? new StatusLine((t) => ctx.stderr(t)) : null;
  const tag = await ensureBundleImage(ctx.runner, {
    baseImage: ctx.env.get("BOT_BOTTLE_BASE_IMAGE") || undefined,
    workDir: `${root}/bundle-build`,
    onProgress: (line) =>
      status ? status.line(`bot-bottle: ${line}`) : ctx.stderr(`bot-bottle: ${line}\n`),
    onStatus: status ? (text) => status.set(`bot-bottle: ${text}`) : undefined,
    owner: ownerId(root),
    lockDir: `${root}/builds`,
  });
  ctx.stdout(`${tag}\n`);
  return 0;
}

/** The `bundle` command. */
export const command: Command = {
  name: "bundle",
  args: "build",
  summary: "build the sidecar bundle image",
  description: `Build the sidecar bundle image (egress proxy, null DNS, git gate) from the files
embedded in bot-bottle, showing the current step on a terminal, and print its tag on
stdout. Launches build it on first use too.`,
  options: {},
  positionals: { min: 0, max: 1 },
  completes: ["build"],
  run: (ctx, { positionals }) => runBundle(ctx, positionals[0]),
};
