/**
 * The manifest as the CLI sees it: sources from --manifest / env / XDG, read
 * through the context.
 */
import { loadManifest } from "../../manifest/load_manifest.ts";
import { manifestSources } from "../../manifest/manifest_paths.ts";
import type { Manifest } from "../../manifest/types.ts";
import type { CliContext } from "./context.ts";

/** Load user + project manifests for this invocation. */
export function loadManifestForCli(ctx: CliContext, manifestFlag?: string): Promise<Manifest> {
  const sources = manifestSources({
    flag: manifestFlag,
    env: (name) => ctx.env.get(name),
    cwd: ctx.cwd,
  });
  return loadManifest(sources, (path) => ctx.readFile(path));
}
