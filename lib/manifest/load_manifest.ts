/**
 * Reading and merging the user and project manifests (SPEC §3).
 */
import { normalize } from "node:path";
import { didYouMeanSuffix } from "./did_you_mean.ts";
import { ManifestError } from "./manifest_error.ts";
import type { ManifestSources } from "./manifest_paths.ts";
import {
  formatKeyPath,
  MAX_MANIFEST_BYTES,
  type ParsedManifest,
  parseManifestText,
  quote,
} from "./parse_manifest.ts";
import { bottleChain, resolveBottle } from "./resolve_bottle.ts";
import type { AgentDef, Manifest } from "./types.ts";

/**
 * Read a manifest file as UTF-8 text; `null` when it does not exist.
 *
 * @throws ManifestError when it exists but cannot be read, is not a regular
 *   file, is larger than 1 MiB or is not valid UTF-8.
 */
export async function readTextFileOrNull(path: string): Promise<string | null> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new ManifestError(`${path}: not a regular file`);
    if (info.size > MAX_MANIFEST_BYTES) {
      throw new ManifestError(
        `${path}: file is larger than 1 MiB (${MAX_MANIFEST_BYTES} bytes); a manifest is a ` +
          "short hand-written file, refusing to read it",
      );
    }
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof ManifestError) throw error;
    if (error instanceof Deno.errors.NotFound) return null;
    const reason = error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : error instanceof Error
      ? error.message.split("\n", 1)[0]
      : String(error);
    throw new ManifestError(`${path}: cannot read the manifest: ${reason}`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ManifestError(`${path}: the manifest is not valid UTF-8 text`);
  }
}

function sameFile(a: string, b: string): boolean {
  if (normalize(a) === normalize(b)) return true;
  try {
    const sa = Deno.statSync(a);
    const sb = Deno.statSync(b);
    return sa.ino !== null && sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

function origin(sources: ManifestSources): string {
  switch (sources.userOrigin) {
    case "--manifest":
      return "given by --manifest";
    case "BOT_BOTTLE_MANIFEST":
      return "given by BOT_BOTTLE_MANIFEST";
    default:
      return "given explicitly";
  }
}

/**
 * Load the user manifest (bottles and agents) and the project manifest
 * (agents only) and merge them. A missing default user manifest or project
 * manifest counts as empty; a missing explicit user manifest is an error.
 * The same file at both paths is loaded once, as user scope.
 *
 * Checks across files: an agent name defined in both files, an agent whose
 * bottle is not defined, any bottle's `extends` chain, and that every bottle
 * an agent uses resolves.
 *
 * @throws ManifestError naming the file and key path of the first problem.
 */
export async function loadManifest(
  sources: ManifestSources,
  read: (path: string) => Promise<string | null> = readTextFileOrNull,
): Promise<Manifest> {
  const files: string[] = [];
  const userText = await read(sources.userPath);
  if (userText === null && sources.userExplicit) {
    throw new ManifestError(
      `${sources.userPath}: manifest file not found (${origin(sources)}); check the path`,
    );
  }
  let user: ParsedManifest = { bottles: {}, agents: {} };
  if (userText !== null) {
    files.push(sources.userPath);
    user = parseManifestText(userText, sources.userPath, "user");
  }
  let project: ParsedManifest = { bottles: {}, agents: {} };
  if (!sameFile(sources.userPath, sources.projectPath)) {
    const projectText = await read(sources.projectPath);
    if (projectText !== null) {
      files.push(sources.projectPath);
      project = parseManifestText(projectText, sources.projectPath, "project");
    }
  }
  const agents: Record<string, AgentDef> = { ...user.agents };
  for (const [name, agent] of Object.entries(project.agents)) {
    if (Object.hasOwn(agents, name)) {
      throw new ManifestError(
        `agent ${quote(name)} is defined in both ${sources.userPath} and ${sources.projectPath}; ` +
          "rename one of them",
      );
    }
    agents[name] = agent;
  }
  const manifest: Manifest = { files, bottles: { ...user.bottles }, agents };
  for (const name of Object.keys(manifest.bottles)) bottleChain(manifest, name);
  for (const agent of Object.values(agents)) {
    if (!Object.hasOwn(manifest.bottles, agent.bottle)) {
      const where = userText === null
        ? `no user manifest exists at ${sources.userPath}`
        : `bottles are defined in ${sources.userPath}`;
      throw new ManifestError(
        `${agent.source}: ${formatKeyPath(["agents", agent.name, "bottle"])}: bottle ` +
          `${quote(agent.bottle)} is not defined ` +
          `(${where})` + didYouMeanSuffix(agent.bottle, Object.keys(manifest.bottles)),
      );
    }
  }
  const used = new Set(Object.values(agents).map((a) => a.bottle));
  for (const name of used) resolveBottle(manifest, name);
  return manifest;
}
