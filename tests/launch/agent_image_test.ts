import assert from "node:assert/strict";
import {
  agentBuildArgv,
  dockerfileImageTag,
  ensureAgentImage,
} from "../../lib/launch/agent_image.ts";
import { BUILTIN_DOCKERFILES } from "../../lib/agents/builtin_dockerfiles.ts";
import { fail, ok, on, RecordingRunner } from "../fixtures/recording_runner.ts";

Deno.test("a built-in Dockerfile builds with no context, its text on stdin, tagged by its name", async () => {
  const runner = new RecordingRunner([
    on(["docker", "image", "inspect"], fail(1, "No such image")),
    on(["docker", "buildx"], fail(1)),
    on(["docker", "build"], ok("Successfully built abc\n")),
  ]);
  const tag = await ensureAgentImage(runner, {
    bottle: "mine",
    image: null,
    dockerfile: "builtin:codex",
    progress: () => {},
  });
  assert.equal(tag, dockerfileImageTag("codex", BUILTIN_DOCKERFILES.codex.text));
  assert.match(tag, /^bot-bottle\/agent-codex:[0-9a-f]{12}$/);
  const build = runner.calls.find((c) => c.argv[1] === "build")!;
  assert.equal(build.argv[build.argv.length - 1], "-");
  const stdin = new TextDecoder().decode(
    new Uint8Array((build.stdin ?? []).flatMap((c) => [...c])),
  );
  assert.ok(stdin.startsWith(BUILTIN_DOCKERFILES.codex.text.split("FROM ${BASE_IMAGE}")[0]));
  assert.match(
    stdin,
    /FROM \$\{BASE_IMAGE\}\nLABEL io\.bot-bottle\.build="bot-bottle\/agent-codex:/,
  );
});

Deno.test("every built-in Dockerfile starts from BASE_IMAGE and runs as the agent user", () => {
  for (const [name, { text }] of Object.entries(BUILTIN_DOCKERFILES)) {
    assert.match(text, /^ARG BASE_IMAGE=debian:bookworm-slim\nFROM \$\{BASE_IMAGE\}$/m, name);
    assert.match(text, /^USER agent$/m, name);
    assert.ok(!/^\s*(COPY|ADD)\b/m.test(text), `${name}: a built-in has no build context`);
  }
  const source = { ref: "t:1", dockerfile: "/a/b/Dockerfile", text: "FROM x\n", context: "/a/b" };
  assert.deepEqual(agentBuildArgv(source).slice(-3), ["--file", "-", "/a/b"]);
});
