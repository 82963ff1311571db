import assert from "node:assert/strict";
import {
  buildArgv,
  buildImage,
  type BuildSpec,
  findBuildLeftovers,
  labelledDockerfile,
  parseBuildLine,
  plainText,
} from "../../lib/host/docker_build.ts";
import { takeBuildLock } from "../../lib/state/build_lock.ts";
import { formatDuration, StatusLine } from "../../lib/ui/status_line.ts";
import { fail, ok, on, RecordingRunner } from "../fixtures/recording_runner.ts";

const LABELS = { "io.bot-bottle.build": "t:1", "io.bot-bottle.owner": "me" };
const LABEL = 'LABEL io.bot-bottle.build="t:1" io.bot-bottle.owner="me"';

Deno.test("labelledDockerfile: a LABEL after every FROM, continuations and escape respected", () => {
  assert.equal(
    labelledDockerfile("ARG B=x\nFROM ${B} AS one\nRUN a\nfrom one\nRUN b\n", LABELS),
    `ARG B=x\nFROM \${B} AS one\n${LABEL}\nRUN a\nfrom one\n${LABEL}\nRUN b\n`,
  );
  assert.equal(
    labelledDockerfile("FROM \\\n  debian:12 \\\n  AS x\nRUN a\n", LABELS),
    `FROM \\\n  debian:12 \\\n  AS x\n${LABEL}\nRUN a\n`,
  );
  assert.equal(
    labelledDockerfile("# escape=`\nFROM `\n  debian\nRUN a\n", LABELS),
    `# escape=\`\nFROM \`\n  debian\n${LABEL}\nRUN a\n`,
  );
  // A RUN that mentions FROM is not a FROM.
  assert.equal(
    labelledDockerfile("FROM a\nRUN echo \\\n FROM b\n", LABELS),
    `FROM a\n${LABEL}\nRUN echo \\\n FROM b\n`,
  );
});

Deno.test("parseBuildLine: legacy and BuildKit steps and output; bookkeeping is not output", () => {
  assert.deepEqual(parseBuildLine("Step 3/7 : RUN apt-get update"), {
    step: "3/7 RUN apt-get update",
  });
  assert.deepEqual(parseBuildLine("#6 [stage-1 2/4] RUN apt-get update"), {
    step: "2/4 RUN apt-get update",
  });
  assert.deepEqual(parseBuildLine("#6 [2/4] COPY a b"), { step: "2/4 COPY a b" });
  assert.deepEqual(parseBuildLine("#6 1.234 Get:1 http://deb.debian.org"), {
    output: "Get:1 http://deb.debian.org",
  });
  assert.deepEqual(parseBuildLine("#6 DONE 4.1s"), {});
  assert.deepEqual(parseBuildLine(" ---> Running in abc"), {});
  assert.deepEqual(parseBuildLine("Removing intermediate container abc"), {});
  assert.deepEqual(parseBuildLine("Get:1 http://deb.debian.org"), {
    output: "Get:1 http://deb.debian.org",
  });
  assert.equal(plainText("\x1b[1;31mE: bad\x1b[0m\x07"), "E: bad");
});

function spec(extra: Partial<BuildSpec> = {}): BuildSpec {
  return {
    what: "agent image t:1",
    tag: "t:1",
    dockerfile: "FROM x\nRUN y\n",
    context: null,
    role: "agent-image",
    owner: "me",
    ...extra,
  };
}

Deno.test("buildArgv: BuildKit gets --progress=plain, the legacy builder --rm --force-rm", () => {
  assert.deepEqual(buildArgv(spec(), "buildkit").slice(0, 3), [
    "docker",
    "build",
    "--progress=plain",
  ]);
  assert.deepEqual(buildArgv(spec(), "legacy").slice(0, 4), [
    "docker",
    "build",
    "--rm",
    "--force-rm",
  ]);
  assert.equal(buildArgv(spec(), "legacy").at(-1), "-");
});

Deno.test("buildImage on a terminal: a status per step and output line, then the time", async () => {
  const runner = new RecordingRunner([
    on(["docker", "buildx"], ok("github.com/docker/buildx v0.12\n")),
    on(["docker", "build"], ok("#5 [1/2] FROM x\n#6 [2/2] RUN y\n#6 0.5 hello\r\n#6 DONE 1s\n")),
  ]);
  const lines: string[] = [];
  const statuses: string[] = [];
  let t = 0;
  await buildImage(runner, spec(), {
    progress: { line: (l) => lines.push(l), status: (s) => statuses.push(s) },
    now: () => (t += 1000),
  });
  const build = runner.calls.find((c) => c.argv[1] === "build")!;
  assert.equal(build.options.env?.DOCKER_BUILDKIT, "1");
  assert.deepEqual(lines[0], "building agent image t:1 (first use only)");
  assert.match(lines[1], /^built agent image t:1 in \d+\.\ds$/);
  assert.ok(statuses.some((s) => /: step 2\/2, \d+\.\ds \| RUN y$/.test(s)), statuses.join("\n"));
  assert.ok(statuses.some((s) => /: step 2\/2, \d+\.\ds \| hello$/.test(s)), statuses.join("\n"));
});

Deno.test("buildImage waits for another build of the same tag, then uses its image", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const held = await takeBuildLock(dir, "t:1");
    const runner = new RecordingRunner([on(["docker", "image", "inspect"], ok("sha256:x\n"))]);
    const lines: string[] = [];
    const done = buildImage(runner, spec({ lockDir: dir }), {
      progress: { line: (l) => lines.push(l) },
    });
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(lines, ["waiting for another bot-bottle process building agent image t:1"]);
    held.release();
    await done;
    assert.ok(!runner.argvs.some((a) => a[1] === "build"), "not built twice");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findBuildLeftovers: ours, not of the final image, not of a live build", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const live = await takeBuildLock(dir, "live:1");
    const runner = new RecordingRunner([
      on(["docker", "ps"], ok("a\texited\tdead:1\nb\trunning\tlive:1\nc\trunning\t\n")),
    ]);
    assert.deepEqual(await findBuildLeftovers(runner, "me", dir), [
      { name: "a", state: "exited", build: "dead:1" },
    ]);
    assert.ok(runner.argvs[0].includes("label=io.bot-bottle.owner=me"));
    live.release();
    const down = new RecordingRunner([on(["docker"], fail(1, "Cannot connect"))]);
    assert.equal(await findBuildLeftovers(down, "me", dir), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("StatusLine redraws in place, truncates to the width, clears before lines", () => {
  const out: string[] = [];
  const status = new StatusLine((t) => out.push(t), () => 30);
  status.set("x".repeat(50));
  status.line("done");
  assert.deepEqual(out, [`\r\x1b[K${"x".repeat(28)}…`, "\r\x1b[K", "done\n"]);
  assert.equal(formatDuration(850), "850ms");
  assert.equal(formatDuration(4_200), "4.2s");
  assert.equal(formatDuration(65_000), "1m05s");
});

Deno.test("bot-bottle's own LABEL step is neither shown as a step nor kept in the tail", async () => {
  const runner = new RecordingRunner([
    on(["docker", "buildx"], fail(1)),
    on(["docker", "build"], {
      code: 1,
      stdout:
        'Step 1/4 : FROM x\nStep 2/4 : LABEL io.bot-bottle.build="t:1" io.bot-bottle.owner="me"\n' +
        "Step 3/4 : RUN y\nboom\nStep 4/4 : LABEL io.bot-bottle.owner= io.bot-bottle.role=x\n",
      stderr: "",
    }),
  ]);
  const lines: string[] = [];
  const statuses: string[] = [];
  await assert.rejects(
    buildImage(runner, spec(), {
      progress: { line: (l) => lines.push(l), status: (s) => statuses.push(s) },
    }),
    (err: Error) => {
      assert.ok(!err.message.includes("LABEL io.bot-bottle"), err.message);
      assert.match(err.message, /failed at step 3\/4 RUN y/);
      return true;
    },
  );
  assert.ok(!statuses.some((s) => s.includes("LABEL io.bot-bottle")), statuses.join("\n"));
});
