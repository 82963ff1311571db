/**
 * The agent's image: present already, built from the bottle's Dockerfile on
 * first use (tagged by the Dockerfile's hash, so an edit rebuilds; a built-in
 * Dockerfile, `builtin:<name>`, is built from the text embedded in bot-bottle),
 * or pulled. A bottle with `ca_certs` builds with them trusted in every stage
 * (build_trust.ts), and its tag covers them too.
 */
import { createHash } from "node:crypto";
import { UserError } from "../errors.ts";
import { lastLine, type Runner } from "../host/runner.ts";
import { builtinDockerfile, builtinName } from "../agents/builtin_dockerfiles.ts";
import { ensureBuildCaImage, withBuildTrust } from "./build_trust.ts";

/** The tag a Dockerfile-built agent image gets. */
export function dockerfileImageTag(bottle: string, dockerfileText: string): string {
  const hash = createHash("sha256").update(dockerfileText).digest("hex").slice(0, 12);
  return `bot-bottle/agent-${bottle}:${hash}`;
}

/**
 * `docker build` of a bottle's Dockerfile with its directory as context; with `fromStdin` the
 * Dockerfile's text (rewritten to trust ca_certs) comes on stdin instead of from the file.
 */
export function agentBuildArgv(
  dockerfile: string,
  tag: string,
  baseImage?: string,
  fromStdin = false,
): string[] {
  if (builtinName(dockerfile) !== null) {
    // A built-in Dockerfile has nothing to COPY: no context, the Dockerfile on stdin.
    return [
      "docker",
      "build",
      "--tag",
      tag,
      "--label",
      "io.bot-bottle.role=agent-image",
      ...(baseImage ? ["--build-arg", `BASE_IMAGE=${baseImage}`] : []),
      "-",
    ];
  }
  const dir = dockerfile.slice(0, dockerfile.lastIndexOf("/")) || "/";
  return [
    "docker",
    "build",
    "--file",
    fromStdin ? "-" : dockerfile,
    "--tag",
    tag,
    "--label",
    "io.bot-bottle.role=agent-image",
    ...(baseImage ? ["--build-arg", `BASE_IMAGE=${baseImage}`] : []),
    dir,
  ];
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
    /** The bottle's ca_certs (PEM), trusted by every build stage; with the image to build from. */
    buildTrust?: { pem: string; fromImage: string };
  },
): Promise<string> {
  if (opts.dockerfile) {
    const builtin = builtinName(opts.dockerfile);
    let text = builtin !== null
      ? builtinDockerfile(builtin)
      : await readDockerfile(opts.bottle, opts.dockerfile);
    const trust = opts.buildTrust?.pem ? opts.buildTrust : undefined;
    // A built-in image is the same for every bottle that uses it: tagged by its own name (and,
    // built to trust ca_certs, by them).
    const tag = dockerfileImageTag(builtin ?? opts.bottle, text + (trust ? `\0${trust.pem}` : ""));
    if ((await runner.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag])).code === 0) {
      return tag;
    }
    if (trust) {
      text = withBuildTrust(text, await ensureBuildCaImage(runner, trust.pem, trust.fromImage));
    }
    opts.progress(
      `building agent image ${tag} from ${opts.dockerfile} (first use only${
        trust ? "; every stage trusts the bottle's ca_certs" : ""
      })`,
    );
    const r = await runner.run(
      agentBuildArgv(opts.dockerfile, tag, opts.baseImage, trust !== undefined),
      builtin !== null || trust ? { input: text } : {},
    );
    if (r.code !== 0) {
      const tail = `${r.stdout}\n${r.stderr}`.trim().split("\n").slice(-15).join("\n");
      throw new UserError(`building the agent image from ${opts.dockerfile} failed:\n${tail}`);
    }
    return tag;
  }
  const image = opts.image!;
  if ((await runner.run(["docker", "image", "inspect", "--format", "{{.Id}}", image])).code === 0) {
    return image;
  }
  opts.progress(`pulling agent image ${image}`);
  const r = await runner.run(["docker", "pull", image]);
  if (r.code !== 0) {
    throw new UserError(
      `the agent image ${image} is not present and could not be pulled: ${lastLine(r)}`,
      {
        hint: `build or pull it yourself (docker pull ${image}), or give the bottle a dockerfile`,
      },
    );
  }
  return image;
}
