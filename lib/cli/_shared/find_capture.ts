/**
 * What `diff` and `export` share: the bottle's last workspace capture, or a
 * refusal that says why there is none (no `--cwd`, not captured yet, the
 * capture could not make commits).
 */
import { visible } from "../../plan/render_plan.ts";
import { UserError } from "../../errors.ts";
import {
  type CaptureRecord,
  readCapture,
  readWorkspaceRecord,
  workspaceFiles,
  type WorkspaceRecord,
} from "../../workspace/workspace_state.ts";
import type { CliContext } from "./context.ts";
import { findBottle } from "./find_bottle.ts";

/** The capture of `slug`'s workspace. */
export async function findCapture(ctx: CliContext, slug: string): Promise<{
  record: WorkspaceRecord;
  capture: CaptureRecord;
  files: ReturnType<typeof workspaceFiles>;
}> {
  const bottle = await findBottle(ctx, slug);
  const record = await readWorkspaceRecord(bottle.stateDir);
  if (!record) {
    throw new UserError(`bottle ${slug} was started without --cwd, so it has no workspace`, {
      hint: "start a bottle with --cwd in your project to copy it in and get the work back",
    });
  }
  const capture = await readCapture(bottle.stateDir);
  if (!capture) {
    throw new UserError(`the workspace of bottle ${slug} has not been captured yet`, {
      hint: bottle.running
        ? `it is captured when the agent exits, or now with \`bot-bottle stop ${slug}\``
        : "its last run ended before a capture (see its start output); resume it and exit again",
    });
  }
  if (capture.error) {
    throw new UserError(
      `the last capture of bottle ${slug} kept its workspace, but could not make commits of it: ` +
        visible(capture.error),
      { hint: `the workspace is restored by \`bot-bottle resume ${slug}\`; fix it there` },
    );
  }
  return { record, capture, files: workspaceFiles(bottle.stateDir) };
}
