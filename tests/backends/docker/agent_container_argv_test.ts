import assert from "node:assert/strict";
import { agentExecArgv, agentRunArgv } from "../../../lib/backends/docker/agent_container_argv.ts";

const RUN = {
  name: "bot-bottle-a-abcde-agent",
  image: "bot-bottle/agent-shell:0123456789ab",
  internalNetwork: "bot-bottle-a-abcde-internal",
  bundleIp: "192.168.7.2",
  labels: { "io.bot-bottle.slug": "a-abcde" },
  env: { HTTPS_PROXY: "http://192.168.7.2:8888" },
  cpus: 2,
  memoryMib: 1024,
};

Deno.test("agentRunArgv: hardened, internal network only, literal env only", () => {
  const argv = agentRunArgv(RUN);
  const pairs = (flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]] : []));
  assert.deepEqual(pairs("--cap-drop"), ["ALL"]);
  assert.deepEqual(pairs("--security-opt"), ["no-new-privileges"]);
  assert.deepEqual(pairs("--network"), [RUN.internalNetwork]);
  assert.deepEqual(pairs("--dns"), [RUN.bundleIp]);
  assert.deepEqual(pairs("--cpus"), ["2"]);
  assert.deepEqual(pairs("--memory"), ["1024m"]);
  // Only K=V literals: a bare `-e NAME` here would store the secret's value in the
  // container's config, where `docker inspect` shows it.
  assert.deepEqual(pairs("--env"), ["HTTPS_PROXY=http://192.168.7.2:8888"]);
  assert.ok(!argv.includes("--privileged"));
  assert.deepEqual(argv.slice(-3), ["sleep", RUN.image, "infinity"]);
});

Deno.test("agentExecArgv: secrets by name only, before the container name", () => {
  assert.deepEqual(
    agentExecArgv({
      name: RUN.name,
      command: ["bash", "-l"],
      stdin: true,
      tty: true,
      secretNames: ["API_TOKEN", "OTHER"],
    }),
    [
      "docker",
      "exec",
      "--interactive",
      "--tty",
      "--env",
      "API_TOKEN",
      "--env",
      "OTHER",
      RUN.name,
      "bash",
      "-l",
    ],
  );
  assert.deepEqual(
    agentExecArgv({ name: RUN.name, command: ["true"], stdin: true, tty: false }),
    ["docker", "exec", "--interactive", RUN.name, "true"],
  );
  // Without stdin the exec gets none (an agent that reads stdin sees EOF).
  assert.deepEqual(
    agentExecArgv({ name: RUN.name, command: ["true"], stdin: false, tty: false }),
    ["docker", "exec", RUN.name, "true"],
  );
});
