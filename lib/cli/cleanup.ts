/**
 * `bot-bottle cleanup [--dry-run] [--yes]`: remove everything bot-bottle left
 * without a live bottle — containers, networks and smolvm machines carrying
 * its labels or name prefix, state dirs of bottles that never finished
 * cleanly (a `keep` file in a state dir protects it), and intermediate
 * containers of image builds that did not finish (lib/host/docker_build.ts). Stopped bottles, which
 * `resume` can bring back, are not orphans and stay. One plan, one y/N,
 * best effort per item, exit 1 if anything could not be removed.
 */
import type { BottleEntry } from "../bottles/inventory.ts";
import type { TeardownFailure } from "../bottles/teardown.ts";
import type { Runner } from "../host/runner.ts";
import { UsageError, UserError } from "../errors.ts";
import { stateRoot } from "../state/state_paths.ts";
import { ownerId } from "../plan/resource_names.ts";
import type { Style } from "../ui/style.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";
import { printReport, stderrStyle } from "./_shared/output.ts";
import { confirm } from "./_shared/prompt.ts";

/** One thing cleanup removes. */
interface Item {
  kind: "machine" | "container" | "network" | "state dir";
  name: string;
}

/** What cleanup would remove for one orphaned bottle. */
export function cleanupItems(bottle: BottleEntry): Item[] {
  const items: Item[] = [];
  if (bottle.machine) items.push({ kind: "machine", name: bottle.machine.name });
  for (const c of bottle.containers) items.push({ kind: "container", name: c.name });
  for (const n of bottle.networks) items.push({ kind: "network", name: n });
  if (bottle.state_dir && !bottle.keep) items.push({ kind: "state dir", name: bottle.state_dir });
  return items;
}

/** One group of things cleanup removes: an orphaned bottle's, or the dead builds'. */
interface Group {
  /** The bottle's slug; null for the build leftovers. */
  slug: string | null;
  reason: string;
  items: Item[];
  bottle?: BottleEntry;
}

/** What cleanup would remove, and the state dirs it keeps. */
function cleanupLines(
  plan: readonly Group[],
  kept: readonly BottleEntry[],
  style: Style,
): string[] {
  if (plan.length === 0) {
    return ["nothing to clean up", ...kept.map((b) => `kept ${b.state_dir} (keep marker)`)];
  }
  const lines = [style.bold("cleanup would remove:")];
  for (const group of plan) {
    lines.push(`  ${group.slug ?? "image builds"} (${group.reason})`);
    for (const item of group.items) lines.push(`    ${item.kind} ${item.name}`);
  }
  for (const b of kept) lines.push(`  ${style.dim(`keeping ${b.state_dir} (keep marker)`)}`);
  return lines;
}

/** Run `cleanup`. */
export async function runCleanup(
  ctx: CliContext,
  opts: { dryRun: boolean; yes: boolean; json?: boolean },
): Promise<number> {
  if (opts.json && !opts.dryRun) {
    throw new UsageError("--json needs --dry-run", "Run `bot-bottle cleanup --help` for usage.");
  }
  const root = stateRoot(ctx.env);
  const owner = ownerId(root);
  const [{ collectInventory }, { findBuildLeftovers }, { requireListed }, { teardownBottle }] =
    await Promise.all([
      import("../bottles/inventory.ts"),
      import("../host/docker_build.ts"),
      import("../bottles/stop_bottle.ts"),
      import("../bottles/teardown_bottle.ts"),
    ]);
  const [inventory, builds] = await Promise.all([
    collectInventory({
      runner: ctx.runner,
      stateRoot: root,
      now: ctx.now(),
      onPath: async (tool) => (await ctx.probe.which(tool)) !== null,
    }),
    findBuildLeftovers(ctx.runner, owner, `${root}/builds`),
  ]);
  const style = stderrStyle(ctx);
  if (!opts.json) {
    for (const note of inventory.notes) ctx.stderr(`${style.yellow("note:")} ${note}\n`);
  }
  // Without Docker's view, "nothing to clean up" would be a guess.
  requireListed(
    inventory,
    opts.dryRun ? "cleanup cannot tell what is left over" : "nothing was removed",
    [],
  );
  const orphans = inventory.bottles.filter((b) => b.state === "orphaned");
  const plan: Group[] = orphans.map((b) => ({
    slug: b.slug,
    reason: b.reason,
    items: cleanupItems(b),
    bottle: b,
  })).filter((p) => p.items.length > 0);
  if (builds && builds.length > 0) {
    plan.push({
      slug: null,
      reason: "intermediate containers of builds that did not finish",
      items: builds.map((b) => ({ kind: "container", name: b.name })),
    });
  }
  const kept = orphans.filter((b) => b.keep && b.state_dir);
  if (opts.dryRun) {
    // The dry run's listing is what it produces (stdout).
    printReport(ctx, {
      json: opts.json === true,
      doc: () => ({
        schema: 1,
        remove: plan.filter((g) => g.slug !== null).map((g) => ({
          slug: g.slug,
          reason: g.reason,
          items: g.items,
        })),
        build_leftovers: builds ?? [],
        kept: kept.map((b) => b.state_dir),
        notes: inventory.notes,
      }),
      text: (out) => cleanupLines(plan, kept, out),
    });
    return 0;
  }
  // A real cleanup shows the same listing as part of its y/N dialogue (stderr).
  ctx.stderr(`${cleanupLines(plan, kept, style).join("\n")}\n`);
  if (plan.length === 0) return 0;
  if (!opts.yes) {
    if (!ctx.stdinIsTerminal) {
      throw new UserError(
        "refusing to remove anything without confirmation: stdin is not a terminal",
        {
          hint: "pass --yes, or look first with --dry-run",
        },
      );
    }
    if (!(await confirm(ctx, "Remove all of the above?", "nothing was removed"))) {
      ctx.stderr("nothing removed\n");
      return 1;
    }
  }
  let removed = 0;
  let failed = 0;
  for (const { bottle, items } of plan) {
    const failures = bottle
      ? await teardownBottle(ctx.runner, bottle, owner)
      : await removeEach(ctx.runner, items.map((i) => i.name));
    const failedNames = new Set(failures.map((f) => f.name));
    for (const f of failures) ctx.stderr(`${style.red("failed")}  ${f.name}: ${f.reason}\n`);
    for (const item of items) {
      if (item.kind === "state dir") {
        try {
          await Deno.remove(item.name, { recursive: true });
        } catch (error) {
          if (!(error instanceof Deno.errors.NotFound)) {
            failed++;
            ctx.stderr(`${style.red("failed")}  ${item.name}: ${(error as Error).message}\n`);
            continue;
          }
        }
      } else if (failedNames.has(item.name)) {
        failed++;
        continue;
      }
      removed++;
      ctx.stderr(`removed ${item.kind} ${item.name}\n`);
    }
  }
  ctx.stderr(`cleanup: ${removed} removed, ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}

/** Remove containers one by one; what could not be removed. */
async function removeEach(runner: Runner, names: string[]): Promise<TeardownFailure[]> {
  const { removeContainer } = await import("../bottles/teardown.ts");
  const failures: TeardownFailure[] = [];
  for (const name of names) {
    const reason = await removeContainer(runner, name);
    if (reason !== null) failures.push({ name, reason });
  }
  return failures;
}

/** The `cleanup` command. */
export const command: Command = {
  name: "cleanup",
  args: "[--dry-run [--json]] [--yes]",
  summary: "remove leftovers of bottles that did not end cleanly",
  description: `Find everything bot-bottle left without a live bottle (containers, networks and
smolvm machines with its labels or name prefix, state dirs of bottles that did not
end cleanly, and intermediate containers of image builds that did not finish), show
one plan, ask once, remove, and report what was removed and
what failed (exit 1 if anything failed). Stopped bottles stay; a file named "keep"
in a state dir protects it.`,
  options: {
    "dry-run": {
      type: "boolean",
      help: "show what would be removed (on stdout), remove nothing",
    },
    json: { type: "boolean", help: "with --dry-run: print that as JSON on stdout" },
    yes: { type: "boolean", short: "y", help: "do not ask before removing" },
  },
  positionals: { min: 0, max: 0 },
  run: (ctx, { values }) =>
    runCleanup(ctx, {
      dryRun: values["dry-run"] === true,
      yes: values.yes === true,
      json: values.json === true,
    }),
};
