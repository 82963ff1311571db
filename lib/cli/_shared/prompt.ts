/**
 * The y/N question a command asks before it changes anything (launch,
 * cleanup): on stderr, "no" unless the answer is y or yes, and an interrupt
 * (Ctrl-C) at the prompt ends the command with 130 and says that nothing was
 * done, instead of vanishing silently.
 */
import { UserError } from "../../errors.ts";
import { Interrupted } from "../../launch/interrupts.ts";
import type { CliContext } from "./context.ts";

/**
 * Ask `question` (`Launch?`); true for y/yes. `nothingDone` finishes the
 * messages for "no" and for an interrupt ("nothing was created").
 */
export async function confirm(
  ctx: Pick<CliContext, "stderr" | "readLine">,
  question: string,
  nothingDone: string,
): Promise<boolean> {
  ctx.stderr(`${question} [y/N] `);
  let answer: string | null;
  try {
    answer = await ctx.readLine();
  } catch (error) {
    if (!(error instanceof Interrupted)) throw error;
    ctx.stderr("\n");
    throw new UserError(`interrupted by ${error.signal} at the prompt; ${nothingDone}`, {
      exitCode: 130,
    });
  }
  const yes = ["y", "yes"].includes(answer?.trim().toLowerCase() ?? "");
  if (!yes && answer === null) ctx.stderr("\n");
  return yes;
}
