/**
 * `bot-bottle export <slug> [--to FILE] [--allow-findings] [--force]`: the
 * agent's work as a git bundle (objects and refs only: no hooks, no config)
 * with branch `bot-bottle/<slug>`, and the `git fetch` line that takes it
 * into your repository. Refused when the secret scan found something, unless
 * `--allow-findings`. Your work tree is never written.
 */
import { UsageError, UserError } from "../errors.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";
import { findCapture } from "./_shared/find_capture.ts";
import { shellQuote } from "../plan/render_plan.ts";

/** Run `export`. */
export async function runExport(
  ctx: CliContext,
  opts: { slug: string; to?: string; allowFindings: boolean; force: boolean; json: boolean },
): Promise<number> {
  const { record, capture, files } = await findCapture(ctx, opts.slug);
  if (!capture.has_bundle) {
    throw new UserError(`nothing to export: the agent left no changes in bottle ${opts.slug}`);
  }
  if (capture.findings.length > 0 && !opts.allowFindings) {
    throw new UserError(
      `not exported: gitleaks found ${capture.findings.length} thing(s) in the agent's commits ` +
        `(values not shown):\n${capture.findings.map((f) => `  ${f}`).join("\n")}`,
      {
        hint: `look at them with \`bot-bottle diff ${opts.slug}\`; export anyway with ` +
          "--allow-findings (the bundle then carries them to your machine, not anywhere else)",
      },
    );
  }
  if (opts.to === "") {
    throw new UsageError("export: --to needs a file name", "e.g. --to ../work.bundle");
  }
  const dest = absolute(ctx.cwd, opts.to ?? `bot-bottle-${opts.slug}.bundle`);
  const existing = await Deno.lstat(dest).catch(() => null);
  if (existing && !opts.force) {
    throw new UserError(`${dest} exists; not overwritten`, {
      hint: "pass --force to replace it, or --to another file",
    });
  }
  if (existing?.isDirectory) throw new UserError(`${dest} is a directory`);
  await Deno.copyFile(files.bundle, dest);
  const branch = `bot-bottle/${opts.slug}`;
  const line = record.kind === "git"
    ? `git fetch ${shellQuote(dest)} ${branch}:${branch}`
    : `git clone --branch ${branch} ${shellQuote(dest)} ${shellQuote(opts.slug)}`;
  if (opts.json) {
    ctx.stdout(`${
      JSON.stringify({
        schema: 1,
        slug: opts.slug,
        file: dest,
        branch,
        base: capture.base,
        tip: capture.tip,
        commits: capture.commits,
        findings: capture.findings,
        fetch: line,
      })
    }\n`);
    return 0;
  }
  ctx.stderr(
    `bot-bottle: exported ${capture.commits} commit(s) (${
      capture.base ? `${capture.base.slice(0, 12)}..` : ""
    }${capture.tip.slice(0, 12)}) to ${dest}${
      capture.findings.length > 0 ? `, with ${capture.findings.length} finding(s) allowed` : ""
    }; take it with:\n`,
  );
  ctx.stdout(`${line}\n`);
  return 0;
}

function absolute(cwd: string, path: string): string {
  return path.startsWith("/") ? path : `${cwd.replace(/\/+$/, "")}/${path}`;
}

/** The `export` command. */
export const command: Command = {
  name: "export",
  args: "<slug> [--to FILE] [--allow-findings] [--force]",
  summary: "the agent's work as a git bundle, with the git fetch line",
  description: `Write the agent's work (the last capture of the bottle's workspace) as a git bundle
with branch bot-bottle/<slug> to FILE (default ./bot-bottle-<slug>.bundle), and print the
\`git fetch\` line that takes it into your repository for review. A bundle carries
objects and refs only: hooks and config from the bottle never reach your machine.
Refused when gitleaks found something in the commits, unless --allow-findings.`,
  options: {
    to: { type: "string", value: "FILE", help: "where to write the bundle" },
    "allow-findings": {
      type: "boolean",
      help: "export even though gitleaks found something (see `diff`)",
    },
    force: { type: "boolean", help: "replace FILE if it exists" },
    json: { type: "boolean", help: "print what was written as JSON on stdout" },
  },
  positionals: { min: 1, max: 1, missing: "<slug>" },
  run: (ctx, { values, positionals }) =>
    runExport(ctx, {
      slug: positionals[0],
      to: values.to as string | undefined,
      allowFindings: values["allow-findings"] === true,
      force: values.force === true,
      json: values.json === true,
    }),
};
