/**
 * Where a command's output goes (SPEC §2, the docker/gh convention): what a
 * command produces (help, tables, plans, diffs, `--json`) on stdout;
 * progress, prompts and diagnostics on stderr. Every reporting command prints
 * through these helpers, so a new command gets the convention, the colour
 * rules (per stream: NO_COLOR, or that stream not a terminal, turns colour
 * off) and `--json` by calling one function.
 *
 * A launch (`start`/`resume` without `--dry-run`, `cleanup` without it) shows
 * its plan on stderr as part of the y/N dialogue: there stdout belongs to what
 * the command produces, the agent's own output.
 */
import { makeStyle, type Style } from "../../ui/style.ts";
import type { CliContext } from "./context.ts";

/** Colour for text written to stdout. */
export function stdoutStyle(ctx: Pick<CliContext, "stdoutIsTerminal" | "env">): Style {
  return makeStyle(ctx.stdoutIsTerminal, ctx.env.get("NO_COLOR"));
}

/** Colour for text written to stderr. */
export function stderrStyle(ctx: Pick<CliContext, "stderrIsTerminal" | "env">): Style {
  return makeStyle(ctx.stderrIsTerminal, ctx.env.get("NO_COLOR"));
}

/** `doc` as pretty JSON on stdout (one document, one trailing newline). */
export function printJson(ctx: Pick<CliContext, "stdout">, doc: unknown): void {
  ctx.stdout(`${JSON.stringify(doc, null, 2)}\n`);
}

/**
 * The one way a reporting command prints its result: `json()` as JSON, or
 * `text(style)` (lines, coloured for stdout), both on stdout.
 */
export function printReport(
  ctx: Pick<CliContext, "stdout" | "stdoutIsTerminal" | "env">,
  opts: { json: boolean; doc: () => unknown; text: (style: Style) => string[] },
): void {
  if (opts.json) printJson(ctx, opts.doc());
  else {
    const lines = opts.text(stdoutStyle(ctx));
    if (lines.length > 0) ctx.stdout(`${lines.join("\n")}\n`);
  }
}

/** A diagnostic line on stderr: `bot-bottle: <text>`. */
export function say(ctx: Pick<CliContext, "stderr">, text: string): void {
  ctx.stderr(`bot-bottle: ${text}\n`);
}

/**
 * An aligned table: a header and rows of cells, two spaces between columns,
 * no trailing blanks. `paint(column, cell, padded)` may colour a cell (it gets
 * the padded text, so colour never shifts the alignment).
 */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  paint?: (column: number, cell: string, padded: string) => string,
): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[], painted: boolean) =>
    cells.map((cell, i) => {
      const padded = i === cells.length - 1 ? cell : cell.padEnd(widths[i]);
      return painted && paint ? paint(i, cell, padded) : padded;
    }).join("  ").trimEnd();
  return [line(header, false), ...rows.map((r) => line(r, true))];
}
