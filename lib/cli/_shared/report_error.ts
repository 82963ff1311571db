/**
 * How a failed command ends: user errors as one message (plus hint), no
 * stack; anything else as an internal error with its stack, since it is a bug.
 */
import { UserError } from "../../errors.ts";
import type { CliContext } from "./context.ts";

/** Print `error` and return the exit code. */
export function reportError(ctx: Pick<CliContext, "stderr">, error: unknown): number {
  if (error instanceof UserError) {
    ctx.stderr(`bot-bottle: error: ${error.message}\n`);
    if (error.hint) ctx.stderr(`hint: ${error.hint}\n`);
    return error.exitCode;
  }
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  ctx.stderr(
    `bot-bottle: internal error (a bug; please report it with this output):\n${detail}\n`,
  );
  return 70;
}
