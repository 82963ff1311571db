/**
 * Image builds on the real engine (Debian's Docker 20.10, the legacy builder):
 * a failing agent Dockerfile ends the start with one clean copy of the log's
 * tail and no intermediate container left; an intermediate container that a
 * build did leave (built the old way, without --force-rm) carries bot-bottle's
 * build and owner labels, so `cleanup` lists and removes it.
 *
 * Every image and container here is unique to the test (its prefix is in the
 * Dockerfile, so in the tag) and removed at the end.
 */
import assert from "node:assert/strict";
import { LABEL_BUILD, labelledDockerfile } from "../../lib/host/docker_build.ts";
import { dockerfileImageTag } from "../../lib/launch/agent_image.ts";
import { docker, lines } from "../_harness/docker.ts";
import { Sandbox } from "../_harness/sandbox.ts";

/** Remove every image (intermediate ones included) and container a build of `tag` made. */
async function removeBuild(tag: string): Promise<void> {
  const containers = lines(
    (await docker(
      ["ps", "-aq", "--filter", `label=${LABEL_BUILD}=${tag}`],
      { allowFailure: true },
    )).stdout,
  );
  if (containers.length) await docker(["rm", "-f", ...containers], { allowFailure: true });
  const images = lines(
    (await docker(
      ["image", "ls", "-aq", "--filter", `label=${LABEL_BUILD}=${tag}`],
      { allowFailure: true },
    )).stdout,
  );
  for (const id of [...new Set(images)].reverse()) {
    await docker(["rmi", "-f", id], { allowFailure: true });
  }
}

Deno.test("a failing agent build: one clean log tail, the failed step named, nothing left", async () => {
  const sb = await Sandbox.create();
  const dockerfile = `FROM debian:bookworm-slim\n# ${sb.prefix}\n` +
    `RUN printf '\\033[31mcoloured\\033[0m line\\r\\n'; echo "${sb.prefix}-marker"; exit 3\n`;
  const tag = dockerfileImageTag("broken", dockerfile);
  try {
    await Deno.writeTextFile(`${sb.dir}/Dockerfile`, dockerfile);
    const manifest = await sb.writeManifest(
      `[bottles.broken]\ndockerfile = "Dockerfile"\ncpus = 1\nmemory = 512\n\n` +
        `[agents.x]\nbottle = "broken"\ncommand = ["true"]\n`,
      "m.toml",
    );
    const r = await sb.run(sb.startArgs("x", { backend: "docker", manifest }));
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`building agent image ${tag.replace(/[/:]/g, "\\$&")} failed at step 3/\\d+ RUN `),
    );
    const output = r.stderr.split("\n").filter((l) => l.trim() === `${sb.prefix}-marker`);
    assert.equal(output.length, 1, `one copy of the log:\n${r.stderr}`);
    assert.ok(
      !r.stderr.includes("LABEL io.bot-bottle.build"),
      "bot-bottle's own step is not shown",
    );
    assert.ok(r.stderr.includes("coloured line"), r.stderr);
    assert.ok(!r.stderr.includes("\x1b"), "no raw escapes");
    assert.ok(!/\r/.test(r.stderr), "no carriage returns");
    assert.equal(r.stdout, "");
    const left = await docker(["ps", "-aq", "--filter", `label=${LABEL_BUILD}=${tag}`]);
    assert.equal(left.stdout.trim(), "", "--force-rm removed the failed step's container");
    // A start that fails before the agent runs leaves no record either.
    assert.match(r.stderr, /the agent never ran: its state was deleted/);
    assert.equal(await sb.recordedSlug(), null);
  } finally {
    await removeBuild(tag);
    await sb.cleanup();
  }
});

Deno.test("an intermediate container a build left is labelled, and cleanup removes it", async () => {
  const sb = await Sandbox.create();
  const dockerfile = `FROM debian:bookworm-slim\n# ${sb.prefix}\nRUN exit 4\n`;
  const tag = dockerfileImageTag("left", dockerfile);
  try {
    // Built the old way (no --force-rm), as a daemon restart or an older bot-bottle leaves it.
    const labelled = labelledDockerfile(dockerfile, {
      [LABEL_BUILD]: tag,
      "io.bot-bottle.owner": sb.owner,
    });
    await docker(["build", "-t", tag, "-"], { input: labelled, allowFailure: true });
    const left = lines(
      (await docker(
        ["ps", "-aq", "--filter", `label=${LABEL_BUILD}=${tag}`],
      )).stdout,
    );
    assert.equal(left.length, 1, "the failed step's container is there");

    const dry = await sb.run(["cleanup", "--dry-run", "--json"]);
    assert.equal(dry.code, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout);
    assert.equal(plan.build_leftovers.length, 1, dry.stdout);
    assert.equal(plan.build_leftovers[0].build, tag);

    const clean = await sb.run(["cleanup", "--yes"]);
    assert.equal(clean.code, 0, clean.stderr);
    assert.match(
      clean.stderr,
      /image builds \(intermediate containers of builds that did not finish\)/,
    );
    assert.match(clean.stderr, /cleanup: 1 removed, 0 failed\n$/);
    const after = await docker(["ps", "-aq", "--filter", `label=${LABEL_BUILD}=${tag}`]);
    assert.equal(after.stdout.trim(), "");
  } finally {
    await removeBuild(tag);
    await sb.cleanup();
  }
});
