/**
 * The agent image of a bottle with a workspace: the bottle's own image plus
 * an empty `/workspace` owned by the image's user, so the copy lands as that
 * user on both backends (an exec runs as the image's user, who may not
 * create directories under `/`). Built once per base image (tagged by its
 * ID), with no context and no network use.
 */
import { UserError } from "../errors.ts";
import { lastLine, type Runner } from "../host/runner.ts";
import { GUEST_WORKSPACE } from "./workspace_state.ts";

/** The Dockerfile (pure): root makes the directory, then the image's user is restored. */
export function workspaceDockerfile(baseId: string, user: string): string {
  const lines = [
    `FROM ${baseId}`,
    "USER 0",
    `RUN set -e; u='${user.replaceAll("'", "")}'; name=\${u%%:*}; group=; ` +
    `case "$u" in *:*) group=\${u#*:} ;; esac; ` +
    `if [ -z "$name" ]; then uid=0; else uid=$(id -u "$name"); fi; ` +
    `if [ -n "$group" ]; then gid=$group; elif [ -z "$name" ]; then gid=0; else gid=$(id -g "$name"); fi; ` +
    `mkdir -p ${GUEST_WORKSPACE} && chown "$uid:$gid" ${GUEST_WORKSPACE} && chmod 0755 ${GUEST_WORKSPACE}`,
  ];
  if (user !== "") lines.push(`USER ${user}`);
  lines.push(`WORKDIR ${GUEST_WORKSPACE}`, "");
  return lines.join("\n");
}

/** Make sure the workspace image of `agentImage` exists; returns its tag. */
export async function ensureWorkspaceImage(
  runner: Runner,
  agentImage: string,
  progress: (line: string) => void,
): Promise<string> {
  const inspect = await runner.run([
    "docker",
    "image",
    "inspect",
    "--format",
    "{{.Id}}\t{{.Config.User}}",
    agentImage,
  ]);
  if (inspect.code !== 0) {
    throw new UserError(`cannot inspect the agent image ${agentImage}: ${lastLine(inspect)}`);
  }
  const [id, user = ""] = inspect.stdout.trim().split("\t");
  const tag = `bot-bottle/workspace:${id.replace(/^sha256:/, "").slice(0, 12)}`;
  if ((await runner.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag])).code === 0) {
    return tag;
  }
  progress(`adding ${GUEST_WORKSPACE} to the agent image (${tag}, first use only)`);
  const built = await runner.run(
    ["docker", "build", "--quiet", "--tag", tag, "--label", "io.bot-bottle.role=agent-image", "-"],
    { input: workspaceDockerfile(id, user) },
  );
  if (built.code !== 0) {
    throw new UserError(
      `could not add ${GUEST_WORKSPACE} to the agent image ${agentImage}: ${lastLine(built)}`,
      { hint: "the image needs a shell with mkdir, chown and id (coreutils or busybox)" },
    );
  }
  return tag;
}
