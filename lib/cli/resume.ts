/**
 * `bot-bottle resume <slug> [--yes] [--dry-run] [-- <agent args>]`: relaunch a
 * stopped bottle from its metadata — same slug, backend (the recorded one;
 * BOT_BOTTLE_BACKEND is for new bottles), agent, label and manifests (the
 * files it was started from; `--manifest` overrides the user one), and the
 * same /24 when it is still free (else the next free one, said in the plan).
 */
import { UsageError, UserError } from "../errors.ts";
import { resolveBottle } from "../manifest/resolve_bottle.ts";
import { isValidSlug } from "../plan/slug.ts";
import { bottleStateDir, stateRoot } from "../state/state_paths.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";
import { loadManifestForCli, sourcesForCli } from "./_shared/load_manifest_for_cli.ts";
import type { ManifestSources } from "../manifest/manifest_paths.ts";

/** Run `resume`. */
export async function runResume(
  ctx: CliContext,
  opts: {
    slug: string;
    yes: boolean;
    dryRun: boolean;
    json: boolean;
    manifest?: string;
    agentArgs: string[];
  },
): Promise<number> {
  if (opts.json && !opts.dryRun) {
    throw new UsageError("--json needs --dry-run", "Run `bot-bottle resume --help` for usage.");
  }
  const [{ readMetadata }, { collectInventory }, { requireListed }, { planAndLaunch }] =
    await Promise.all([
      import("../state/metadata_store.ts"),
      import("../bottles/inventory.ts"),
      import("../bottles/stop_bottle.ts"),
      import("../launch/plan_and_launch.ts"),
    ]);
  const root = stateRoot(ctx.env);
  const dir = bottleStateDir(root, opts.slug);
  const meta = isValidSlug(opts.slug) ? await readMetadata(dir).catch(() => null) : null;
  if (!meta) {
    throw new UserError(`no bottle "${opts.slug}" to resume: nothing is recorded in ${dir}`, {
      hint: "see `bot-bottle list` for the bottles there are",
    });
  }
  const inventory = await collectInventory({
    runner: ctx.runner,
    stateRoot: root,
    now: ctx.now(),
    onPath: async (tool) => (await ctx.probe.which(tool)) !== null,
  });
  requireListed(inventory, "nothing was resumed", [meta.backend]);
  const entry = inventory.bottles.find((b) => b.slug === opts.slug);
  if (entry?.state === "running") {
    throw new UserError(`bottle ${opts.slug} is running; only a stopped bottle can be resumed`, {
      hint: `run a command in it with \`bot-bottle exec ${opts.slug} -it -- bash\`, ` +
        `or stop it first: bot-bottle stop ${opts.slug}`,
    });
  }
  if (entry && (entry.containers.length > 0 || entry.networks.length > 0 || entry.machine)) {
    throw new UserError(`bottle ${opts.slug} still has resources left from its last run`, {
      hint: `tear them down first: bot-bottle stop ${opts.slug}`,
    });
  }
  // The manifests the bottle was started from (a --manifest now overrides the user one).
  const recorded = meta.manifest ?? null;
  const sources: ManifestSources = recorded
    ? {
      ...(opts.manifest !== undefined ? sourcesForCli(ctx, opts.manifest) : {
        userPath: recorded.user_path,
        userExplicit: recorded.user_explicit,
        userOrigin: "recorded",
      }),
      projectPath: recorded.project_path,
    }
    : sourcesForCli(ctx, opts.manifest);
  const manifest = await loadManifestForCli(ctx, opts.manifest, sources);
  if (!Object.hasOwn(manifest.agents, meta.agent)) {
    throw new UserError(
      `bottle ${opts.slug} ran agent "${meta.agent}", which is no longer defined in ${
        manifest.files.join(", ") || "any manifest"
      }`,
      {
        hint:
          `define [agents.${meta.agent}] again, or remove the bottle: bot-bottle rm ${opts.slug}`,
      },
    );
  }
  const chain = resolveBottle(manifest, manifest.agents[meta.agent].bottle).chain;
  const notes = chain.join(",") === meta.bottles.join(",")
    ? []
    : [`the bottle chain is now ${chain.join(" -> ")} (it was ${meta.bottles.join(" -> ")})`];
  const envBackend = ctx.env.get("BOT_BOTTLE_BACKEND");
  if (envBackend && envBackend !== meta.backend) {
    notes.push(
      `resumed on the backend it was started on (${meta.backend}); BOT_BOTTLE_BACKEND=` +
        `${envBackend} applies to new bottles only`,
    );
  }
  const octetOf = (subnet: string | null | undefined) => {
    const octet = Number(subnet?.split(".")[2]);
    return Number.isInteger(octet) && octet >= 1 && octet <= 254 ? octet : undefined;
  };
  return await planAndLaunch(ctx, {
    manifest,
    agent: meta.agent,
    backend: meta.backend,
    resume: {
      slug: opts.slug,
      octet: octetOf(meta.subnet),
      bridgeOctet: octetOf(meta.bridge_subnet),
    },
    label: meta.label ?? undefined,
    cwd: meta.cwd ?? undefined,
    agentArgs: opts.agentArgs,
    dryRun: opts.dryRun,
    json: opts.json,
    yes: opts.yes,
    notes,
    manifestSources: sources,
  });
}

/** The `resume` command. */
export const command: Command = {
  name: "resume",
  args: "<slug> [--dry-run [--json]] [--yes] [-- <agent args>]",
  summary: "relaunch a stopped bottle from its recorded state",
  description: `Relaunch a stopped bottle from its metadata: the same slug, backend (the one it was
started on, whatever BOT_BOTTLE_BACKEND says), agent, label and manifest files (the
ones it was started from; --manifest names another user manifest), and the same /24
when it is still free (else the next free one, said in the plan). Arguments after --
are added to the agent's command, as with start. A running bottle or an unknown slug
is refused.`,
  options: {
    "dry-run": { type: "boolean", help: "resolve and print the plan, change nothing" },
    json: { type: "boolean", help: "with --dry-run: print the plan as one JSON object on stdout" },
    yes: { type: "boolean", short: "y", help: "do not ask before launching" },
  },
  positionals: { min: 1, max: 1, missing: "<slug>" },
  completes: "slugs",
  tail: true,
  run: (ctx, { values, positionals, manifest, tail }) =>
    runResume(ctx, {
      slug: positionals[0],
      yes: values.yes === true,
      dryRun: values["dry-run"] === true,
      json: values.json === true,
      manifest,
      agentArgs: tail,
    }),
};
