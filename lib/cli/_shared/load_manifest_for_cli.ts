/**
 * The manifest as the CLI sees it: sources from --manifest / env / XDG (or,
 * for `resume`, the ones a bottle recorded), read through the context.
 */
import { loadManifest } from "../../manifest/load_manifest.ts";
import { type ManifestSources, manifestSources } from "../../manifest/manifest_paths.ts";
import type { Manifest } from "../../manifest/types.ts";
import type { CliContext } from "./context.ts";

/** Where this invocation's manifests are. */
export function sourcesForCli(ctx: CliContext, manifestFlag?: string): ManifestSources {
  return manifestSources({
    flag: manifestFlag,
    env: (name) => ctx.env.get(name),
    cwd: ctx.cwd,
  });
}

/** Load user + project manifests for this invocation (or from `sources`). */
export function loadManifestForCli(
  ctx: CliContext,
  manifestFlag?: string,
  sources: ManifestSources = sourcesForCli(ctx, manifestFlag),
): Promise<Manifest> {
  return loadManifest(sources, (path) => ctx.readFile(path));
}
