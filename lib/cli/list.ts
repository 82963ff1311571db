/**
 * `bot-bottle list` (alias `ls`): every bottle on this machine, all backends.
 * `--json` prints `{ "schema": 1, "bottles": [...], "notes": [...] }` on stdout
 * (the BottleEntry fields in lib/bottles/inventory.ts); the table, or with `-q` the slugs,
 * also on stdout; notes (what could not be listed) on stderr.
 */
import type { BottleEntry } from "../bottles/inventory.ts";
import { UsageError } from "../errors.ts";
import { DOCKER_UNREACHABLE_HINT } from "../host/preflight.ts";
import { stateRoot } from "../state/state_paths.ts";
import type { Style } from "../ui/style.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";
import { printReport, renderTable, stderrStyle } from "./_shared/output.ts";

/** Human age: 42s, 5m, 3h, 2d. */
export function formatAge(seconds: number | null): string {
  if (seconds === null) return "-";
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

/** Run `list`. */
export async function runList(
  ctx: CliContext,
  opts: { json: boolean; quiet: boolean },
): Promise<number> {
  if (opts.json && opts.quiet) {
    throw new UsageError("list: --json and -q do not go together", USAGE);
  }
  const { collectInventory } = await import("../bottles/inventory.ts");
  const inventory = await collectInventory({
    runner: ctx.runner,
    stateRoot: stateRoot(ctx.env),
    now: ctx.now(),
    onPath: async (tool) => (await ctx.probe.which(tool)) !== null,
  });
  if (opts.quiet) {
    for (const b of inventory.bottles) ctx.stdout(`${b.slug}\n`);
  } else {
    printReport(ctx, {
      json: opts.json,
      doc: () => ({ schema: 1, ...inventory }),
      text: (style) => listTable(inventory.bottles, style),
    });
  }
  if (!opts.json) {
    const style = stderrStyle(ctx);
    for (const note of inventory.notes) ctx.stderr(`${style.yellow("note:")} ${note}\n`);
  }
  // An inventory that could not see Docker (or a backend's guests) is not an answer.
  if (inventory.unlisted.length > 0) {
    ctx.stderr(
      `bot-bottle: error: the list is incomplete: ${
        inventory.unlisted.join(" and ")
      } could not be listed (see the notes)\nhint: ${DOCKER_UNREACHABLE_HINT}\n`,
    );
    return 1;
  }
  return 0;
}

/** The `list` table, with each orphan's reason under it. */
export function listTable(bottles: readonly BottleEntry[], style: Style): string[] {
  const rows = bottles.map((b) => [
    b.slug,
    b.agent ?? "-",
    b.backend ?? "-",
    b.state,
    b.subnet ?? "-",
    formatAge(b.age_seconds),
  ]);
  const paint = (column: number, cell: string, padded: string) =>
    column !== 3
      ? padded
      : cell === "running"
      ? style.green(padded)
      : cell === "orphaned"
      ? style.yellow(padded)
      : padded;
  const lines = renderTable(["SLUG", "AGENT", "BACKEND", "STATE", "SUBNET", "AGE"], rows, paint);
  if (rows.length === 0) lines.push("(no bottles)");
  for (const b of bottles) {
    if (b.state === "orphaned") lines.push(style.dim(`${b.slug}: orphaned: ${b.reason}`));
    const live = [
      b.approvals.approved.length > 0 ? `approved ${b.approvals.approved.join(", ")}` : "",
      b.approvals.denied.length > 0 ? `denied ${b.approvals.denied.join(", ")}` : "",
    ].filter((t) => t !== "");
    if (live.length > 0) lines.push(`${b.slug}: ${live.join("; ")}`);
  }
  return lines;
}

const USAGE = "Run `bot-bottle list --help` for usage.";

/** The `list` command. */
export const command: Command = {
  name: "list",
  aliases: ["ls"],
  args: "[--json | -q]",
  summary: "every bottle on this machine: running, stopped, orphaned",
  description: `Every bottle on this machine, joined from state dirs, Docker labels and
\`smolvm machine ls\`: slug, agent, backend, state (running, stopped, orphaned),
subnet, age, as a table on stdout. --json prints {"schema": 1, "bottles": [...],
"notes": [...], "unlisted": [...]} instead; -q prints only the slugs, one a line.
Exits 1 when Docker (or smolvm) could not be asked: the list would be incomplete.`,
  options: {
    json: { type: "boolean", help: "print the inventory as JSON on stdout" },
    quiet: { type: "boolean", short: "q", help: "print only the slugs, one a line" },
  },
  positionals: { min: 0, max: 0 },
  run: (ctx, { values }) =>
    runList(ctx, { json: values.json === true, quiet: values.quiet === true }),
};
