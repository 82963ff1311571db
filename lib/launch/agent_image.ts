/**
 * The agent's image: present already, built from the bottle's Dockerfile on
 * first use (tagged by the Dockerfile's hash, so an edit rebuilds; a built-in
 * Dockerfile, `builtin:<name>`, is built from the text embedded in bot-bottle),
 * or pulled. A bottle with `ca_certs` builds with them trusted in every stage
 * (build_trust.ts), and its tag covers them too.
 */
import { sha256Hex } from "../plan/sha256.ts";
import { UserError } from "../errors.ts";
import { buildArgv, buildImage, type BuildSpec, imagePresent } from "../host/docker_build.ts";
import { lastLine, type Runner } from "../host/runner.ts";
import { builtinDockerfile, builtinName } from "../agents/builtin_dockerfiles.ts";
import { ensureBuildCaImage, withBuildTrust } from "./build_trust.ts";

/** The tag a Dockerfile-built agent image gets. */
export function dockerfileImageTag(bottle: string, dockerfileText: string): string {
  const hash = sha256Hex(dockerfileText).slice(0, 12);
  return `bot-bottle/agent-${bottle}:${hash}`;
}

/** Where a bottle's agent image comes from. */
export interface AgentImageSource {
  /** The image reference a launch runs. */
  ref: string;
  /** Built from this Dockerfile (a path or `builtin:<name>`), or null: pulled if missing. */
  dockerfile: string | null;
  /** The Dockerfile's text (built images only). */
  text?: string;
  /** The build context directory (null: none, a built-in). */
  context?: string | null;
  /** The bottle's ca_certs (PEM) the build trusts in every stage (built images only). */
  trustPem?: string;
}

/** Resolve the agent image of a bottle (reads a Dockerfile from disk, nothing else). */
export async function agentImageSource(opts: {
  bottle: string;
  image: string | null;
  dockerfile: string | null;
  /** The bottle's ca_certs (PEM; empty or absent: none), which its build trusts. */
  caCertsPem?: string;
}): Promise<AgentImageSource> {
  if (!opts.dockerfile) return { ref: opts.image!, dockerfile: null };
  const trustPem = opts.caCertsPem || undefined;
  // Built to trust ca_certs, an image is tagged by them too.
  const tagged = (text: string) => text + (trustPem ? `\0${trustPem}` : "");
  const builtin = builtinName(opts.dockerfile);
  if (builtin !== null) {
    const text = builtinDockerfile(builtin);
    // A built-in image is the same for every bottle that uses it: tagged by its own name.
    return {
      ref: dockerfileImageTag(builtin, tagged(text)),
      dockerfile: opts.dockerfile,
      text,
      context: null,
      ...(trustPem ? { trustPem } : {}),
    };
  }
  const text = await readDockerfile(opts.bottle, opts.dockerfile);
  return {
    ref: dockerfileImageTag(opts.bottle, tagged(text)),
    dockerfile: opts.dockerfile,
    text,
    context: opts.dockerfile.slice(0, opts.dockerfile.lastIndexOf("/")) || "/",
    ...(trustPem ? { trustPem } : {}),
  };
}

/** The build of a Dockerfile-built agent image. Pure. */
export function agentBuildSpec(
  source: AgentImageSource,
  opts: { baseImage?: string; owner?: string; lockDir?: string } = {},
): BuildSpec {
  return {
    what: `agent image ${source.ref}`,
    tag: source.ref,
    dockerfile: source.text ?? "",
    context: source.context ?? null,
    role: "agent-image",
    baseImage: opts.baseImage,
    owner: opts.owner,
    lockDir: opts.lockDir,
    hint: `fix the Dockerfile (${source.dockerfile}) or the network it downloads from, then ` +
      "start again; the image is built only once it builds",
  };
}

/** `docker build` argv of an agent image (legacy builder; the Dockerfile on stdin). */
export function agentBuildArgv(source: AgentImageSource, baseImage?: string): string[] {
  return buildArgv(agentBuildSpec(source, { baseImage }), "legacy");
}

async function readDockerfile(bottle: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new UserError(
      `cannot read the Dockerfile of bottle "${bottle}" at ${path}: ${(error as Error).message}`,
      { hint: "fix the bottle's dockerfile path (relative to its manifest), or use builtin:NAME" },
    );
  }
}

/** Make sure the agent image exists; returns its reference. */
export async function ensureAgentImage(
  runner: Runner,
  opts: {
    bottle: string;
    image: string | null;
    dockerfile: string | null;
    baseImage?: string;
    progress: (line: string) => void;
    /** A terminal's one-line status (the build's current step). */
    status?: (text: string) => void;
    owner?: string;
    lockDir?: string;
    signal?: AbortSignal;
    /** The bottle's ca_certs (PEM), trusted by every build stage; with the image to build from. */
    buildTrust?: { pem: string; fromImage: string };
  },
): Promise<string> {
  const source = await agentImageSource({ ...opts, caCertsPem: opts.buildTrust?.pem });
  if (await imagePresent(runner, source.ref)) return source.ref;
  if (source.dockerfile) {
    const spec = agentBuildSpec(source, opts);
    if (source.trustPem && opts.buildTrust) {
      // The user's Dockerfile, with every stage trusting the certificates of a helper image.
      const ca = await ensureBuildCaImage(runner, source.trustPem, opts.buildTrust.fromImage);
      spec.dockerfile = withBuildTrust(spec.dockerfile, ca);
      spec.what += " (every stage trusts the bottle's ca_certs)";
    }
    await buildImage(runner, spec, {
      progress: { line: opts.progress, status: opts.status },
      signal: opts.signal,
    });
    return source.ref;
  }
  opts.progress(`pulling agent image ${source.ref}`);
  const r = await runner.run(["docker", "pull", source.ref]);
  if (r.code !== 0) {
    throw new UserError(
      `the agent image ${source.ref} is not present and could not be pulled: ${lastLine(r)}`,
      {
        hint: `build or pull it yourself (docker pull ${source.ref}), or give the bottle a ` +
          "dockerfile",
      },
    );
  }
  return source.ref;
}
