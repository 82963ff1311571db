/**
 * `bot-bottle list` (alias `ls`): every bottle on this machine, all backends.
 * `--json` prints `{ "schema": 1, "bottles": [...], "notes": [...] }` on stdout
 * (the BottleEntry fields in lib/backend/inventory.ts); the table goes to stderr.
 */
import { collectInventory } from "../bottles/inventory.ts";
import { stateRoot } from "../state/state_paths.ts";
import { makeStyle } from "../ui/style.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";

/** Human age: 42s, 5m, 3h, 2d. */
export function formatAge(seconds: number | null): string {
  if (seconds === null) return "-";
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

/** Run `list`. */
export async function runList(ctx: CliContext, opts: { json: boolean }): Promise<number> {
  const inventory = await collectInventory({
    runner: ctx.runner,
    stateRoot: stateRoot(ctx.env),
    now: ctx.now(),
    onPath: async (tool) => (await ctx.probe.which(tool)) !== null,
  });
  if (opts.json) {
    ctx.stdout(`${JSON.stringify({ schema: 1, ...inventory }, null, 2)}\n`);
    return 0;
  }
  const style = makeStyle(ctx.stderrIsTerminal, ctx.env.get("NO_COLOR"));
  const rows = inventory.bottles.map((b) => [
    b.slug,
    b.agent ?? "-",
    b.backend ?? "-",
    b.state,
    b.subnet ?? "-",
    formatAge(b.age_seconds),
  ]);
  const header = ["SLUG", "AGENT", "BACKEND", "STATE", "SUBNET", "AGE"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const paint = (state: string, text: string) =>
    state === "running" ? style.green(text) : state === "orphaned" ? style.yellow(text) : text;
  const lines = [header.map((h, i) => h.padEnd(widths[i])).join("  ").trimEnd()];
  for (const row of rows) {
    lines.push(
      row.map((cell, i) => (i === 3 ? paint(cell, cell.padEnd(widths[i])) : cell.padEnd(widths[i])))
        .join("  ").trimEnd(),
    );
  }
  if (rows.length === 0) lines.push("(no bottles)");
  for (const b of inventory.bottles) {
    if (b.state === "orphaned") lines.push(style.dim(`${b.slug}: orphaned: ${b.reason}`));
    const live = [
      b.approvals.approved.length > 0 ? `approved ${b.approvals.approved.join(", ")}` : "",
      b.approvals.denied.length > 0 ? `denied ${b.approvals.denied.join(", ")}` : "",
    ].filter((t) => t !== "");
    if (live.length > 0) lines.push(`${b.slug}: ${live.join("; ")}`);
  }
  for (const note of inventory.notes) lines.push(style.yellow(`note: ${note}`));
  ctx.stderr(`${lines.join("\n")}\n`);
  return 0;
}

/** The `list` command. */
export const command: Command = {
  name: "list",
  aliases: ["ls"],
  args: "[--json]",
  summary: "every bottle on this machine: running, stopped, orphaned",
  description: `Every bottle on this machine, joined from state dirs, Docker labels and
\`smolvm machine ls\`: slug, agent, backend, state (running, stopped, orphaned),
subnet, age. --json prints {"schema": 1, "bottles": [...], "notes": [...]} on stdout.`,
  options: { json: { type: "boolean", help: "print the inventory as JSON on stdout" } },
  positionals: { min: 0, max: 0 },
  run: (ctx, { values }) => runList(ctx, { json: values.json === true }),
};
