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
import { bottleChain, MAX_EXTENDS_DEPTH, resolveBottle } from "./resolve_bottle.ts";
import type { AgentDef, Manifest } from "./types.ts";
import { readCaCerts } from "./ca_certs.ts";

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
    case "recorded":
      return "the bottle was started from it; name another with --manifest PATH";
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
 * @throws ManifestError naming the file and key path of every problem found.
 */
export async function loadManifest(
  sources: ManifestSources,
  read: (path: string) => Promise<string | null> = readTextFileOrNull,
): Promise<Manifest> {
  const files: string[] = [];
  const problems: string[] = [];
  /** Run `check`, collecting the problems of a ManifestError instead of stopping at it. */
  const collect = <T>(check: () => T): T | undefined => {
    try {
      return check();
    } catch (error) {
      if (!(error instanceof ManifestError)) throw error;
      problems.push(...error.problems);
      return undefined;
    }
  };
  const userText = await read(sources.userPath);
  if (userText === null && sources.userExplicit) {
    throw new ManifestError(
      `${sources.userPath}: manifest file not found (${origin(sources)}); check the path`,
    );
  }
  let user: ParsedManifest = { bottles: {}, agents: {} };
  let userError: ManifestError | undefined;
  if (userText !== null) {
    files.push(sources.userPath);
    try {
      user = parseManifestText(userText, sources.userPath, "user");
    } catch (error) {
      if (!(error instanceof ManifestError)) throw error;
      userError = error;
      problems.push(...error.problems);
    }
  }
  let project: ParsedManifest = { bottles: {}, agents: {} };
  const projectPath = sources.projectPath;
  if (projectPath !== null && !sameFile(sources.userPath, projectPath)) {
    const projectText = await read(projectPath);
    if (projectText !== null) {
      files.push(projectPath);
      project = collect(() => parseManifestText(projectText, projectPath, "project")) ?? project;
    }
  }
  // A file that does not parse: its own problems, all of them (checks across files would
  // only repeat them).
  if (userError && problems.length === userError.problems.length) throw userError;
  if (problems.length > 0) throw ManifestError.all(problems);
  const agents: Record<string, AgentDef> = { ...user.agents };
  for (const [name, agent] of Object.entries(project.agents)) {
    if (Object.hasOwn(agents, name)) {
      problems.push(
        `agent ${quote(name)} is defined in both ${sources.userPath} and ${sources.projectPath}; ` +
          "rename one of them",
      );
      continue;
    }
    agents[name] = agent;
  }
  const searched = [
    ...new Set([sources.userPath, ...(projectPath === null ? [] : [projectPath])]),
  ];
  // Every ca_certs file, read and checked now: a bad one is an error at load, not at launch.
  const certificates: Record<string, string> = {};
  for (const bottle of Object.values(user.bottles)) {
    for (const [i, path] of (bottle.caCerts ?? []).entries()) {
      if (Object.hasOwn(certificates, path)) continue;
      const got = await readCaCerts(path);
      if ("problem" in got) {
        problems.push(
          `${bottle.source}: ${formatKeyPath(["bottles", bottle.name, "ca_certs", i])}: ${path} ` +
            `${got.problem}`,
        );
        certificates[path] = ""; // reported here; the load fails, so it is never used
      } else {
        certificates[path] = got.pem;
      }
    }
  }
  const manifest: Manifest = {
    files,
    searched,
    bottles: { ...user.bottles },
    agents,
    certificates,
  };
  // Every bottle's extends chain; one broken chain is reported once, not by every bottle on it.
  const broken = new Set<string>();
  for (const name of Object.keys(manifest.bottles)) {
    const before = problems.length;
    collect(() => bottleChain(manifest, name));
    if (problems.length === before) continue;
    const walked = extendsWalk(manifest, name);
    if (walked.some((n) => broken.has(n))) problems.length = before;
    for (const n of walked) broken.add(n);
  }
  for (const agent of Object.values(agents)) {
    if (!Object.hasOwn(manifest.bottles, agent.bottle)) {
      const where = userText === null
        ? `no user manifest exists at ${sources.userPath}`
        : `bottles are defined in ${sources.userPath}`;
      problems.push(
        `${agent.source}: ${formatKeyPath(["agents", agent.name, "bottle"])}: bottle ` +
          `${quote(agent.bottle)} is not defined ` +
          `(${where})` + didYouMeanSuffix(agent.bottle, Object.keys(manifest.bottles)),
      );
    }
  }
  const used = new Set(Object.values(agents).map((a) => a.bottle));
  for (const name of used) {
    if (Object.hasOwn(manifest.bottles, name) && !broken.has(name)) {
      collect(() => resolveBottle(manifest, name));
    }
  }
  if (problems.length > 0) throw ManifestError.all(problems);
  return manifest;
}

/** The bottles `name`'s extends chain visits, until it ends, repeats or leaves the manifest. */
function extendsWalk(manifest: Manifest, name: string): string[] {
  const walked: string[] = [];
  let current: string | undefined = name;
  while (
    current !== undefined && Object.hasOwn(manifest.bottles, current) &&
    !walked.includes(current) && walked.length <= MAX_EXTENDS_DEPTH
  ) {
    walked.push(current);
    current = manifest.bottles[current].extends;
  }
  return walked;
}
