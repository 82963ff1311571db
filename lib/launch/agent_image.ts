/**
 * The agent's image: present already, built from the bottle's Dockerfile on
 * first use (tagged by the Dockerfile's hash, so an edit rebuilds), or pulled.
 */
import { createHash } from "node:crypto";
import { UserError } from "../errors.ts";
import { lastLine, type Runner } from "../host/runner.ts";

/** The tag a Dockerfile-built agent image gets. */
export function dockerfileImageTag(bottle: string, dockerfileText: string): string {
  const hash = createHash("sha256").update(dockerfileText).digest("hex").slice(0, 12);
  return `bot-bottle/agent-${bottle}:${hash}`;
}

/** `docker build` of a bottle's Dockerfile with its directory as context. */
export function agentBuildArgv(dockerfile: string, tag: string, baseImage?: string): string[] {
  const dir = dockerfile.slice(0, dockerfile.lastIndexOf("/")) || "/";
  return [
    "docker",
    "build",
    "--file",
    dockerfile,
    "--tag",
    tag,
    "--label",
    "io.bot-bottle.role=agent-image",
    ...(baseImage ? ["--build-arg", `BASE_IMAGE=${baseImage}`] : []),
    dir,
  ];
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
  },
): Promise<string> {
  if (opts.dockerfile) {
    let text: string;
    try {
      text = await Deno.readTextFile(opts.dockerfile);
    } catch (error) {
      throw new UserError(
        `cannot read the Dockerfile of bottle "${opts.bottle}" at ${opts.dockerfile}: ${
          (error as Error).message
        }`,
      );
    }
    const tag = dockerfileImageTag(opts.bottle, text);
    if ((await runner.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag])).code === 0) {
      return tag;
    }
    opts.progress(`building agent image ${tag} from ${opts.dockerfile} (first use only)`);
    const r = await runner.run(agentBuildArgv(opts.dockerfile, tag, opts.baseImage));
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
