/**
 * `bot-bottle version` / `--version`.
 */
import { VERSION } from "../version.ts";
import type { CliContext } from "./_shared/context.ts";

/** Print the version on stdout. */
export function runVersion(ctx: CliContext): number {
  ctx.stdout(`bot-bottle ${VERSION}\n`);
  return 0;
}
