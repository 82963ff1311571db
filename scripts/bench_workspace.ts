/**
 * `deno task bench:workspace`: the workspace copy and capture (SPEC §11), against the raw work.
 *
 * 1. Copy-in of a generated repository (default 10,000 files, ~100 MB, committed) into an idle
 *    agent container: bot-bottle's copyIn (the helper's snapshot, its FIFO the stdin of
 *    `docker exec -i ... tar -x`) against a raw `tar -c | docker exec -i ... tar -x` of the same
 *    files, each started with the disk's writeback of the previous one done (`sync`).
 *    BENCH_RUNS rounds (default 9: on a shared machine one copy can take twice another) of raw
 *    and ours, in turns first; the median of the rounds' ratios is the figure (medians of the
 *    times beside it), with the helper started beforehand as a launch starts it (beside the
 *    bundle), and also given with the helper's start counted. The copy is over when the guest's
 *    tar ended and the helper said its tar was done; when its container is gone is given too.
 * 2. Capture + export after the agent changed 100 files: captureWorkspace (incremental when the
 *    guest could mark its starting state: the guest's commit and its changes out, the helper's
 *    checks, bundle, diff and gitleaks scan; else the whole workspace out and the commit in the
 *    helper) plus the export's copy, for the big repository and for a small one
 *    (BENCH_SMALL_FILES, default 1,000 files). Each round starts from a fresh copy-in, its
 *    level-0 mark and its base kept from the guest (both made at start, while the agent works:
 *    reported apart).
 *
 * Everything runs in containers this script creates (no network: the agent container is on
 * `--network none`), and is removed at the end.
 */
import { DenoRunner } from "../lib/host/runner.ts";
import { dockerBackend } from "../lib/backends/docker/docker_backend.ts";
import { ensureBundleImage } from "../lib/bundle/bundle_image.ts";
import { ensureAgentImage } from "../lib/launch/agent_image.ts";
import { ensureWorkspaceImage } from "../lib/workspace/workspace_image.ts";
import { copyIn, startSnapshot } from "../lib/workspace/copy_in.ts";
import { captureWorkspace } from "../lib/workspace/capture_workspace.ts";
import { workspaceFiles, writeWorkspaceRecord } from "../lib/workspace/workspace_state.ts";
import { keepBase, markLevel0 } from "../lib/workspace/mark_level0.ts";
import { formatSize } from "../lib/workspace/workspace_size.ts";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 9);
const FILES = Number(Deno.env.get("BENCH_FILES") ?? 10_000);
const BYTES = Number(Deno.env.get("BENCH_BYTES") ?? 100 * 1024 * 1024);
const SMALL = Number(Deno.env.get("BENCH_SMALL_FILES") ?? 1000);

const runner = new DenoRunner();
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
async function sh(script: string, cwd?: string): Promise<void> {
  const out = await new Deno.Command("bash", {
    args: ["-c", script],
    cwd,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: cwd ?? "/tmp",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_AUTHOR_NAME: "b",
      GIT_AUTHOR_EMAIL: "b@x",
      GIT_COMMITTER_NAME: "b",
      GIT_COMMITTER_EMAIL: "b@x",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(`${script}: ${new TextDecoder().decode(out.stderr)}`);
}

/** A repository of `files` files, `bytes` in all, in 100 directories, committed. */
async function makeRepo(dir: string, files: number, bytes: number): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const each = Math.max(1, Math.floor(bytes / files));
  const chunk = new Uint8Array(each);
  for (let i = 0; i < files; i++) {
    const sub = `${dir}/d${i % 100}`;
    if (i < 100) await Deno.mkdir(sub, { recursive: true });
    crypto.getRandomValues(chunk.subarray(0, Math.min(each, 65536)));
    await Deno.writeFile(`${sub}/f${i}.txt`, chunk);
  }
  // Packed, as a clone is (and no background gc racing the copy).
  await sh(
    "git init -q -b main && git -c gc.auto=0 add -A && git -c gc.auto=0 commit -qm bench && git gc -q",
    dir,
  );
}

const tmp = await Deno.makeTempDir({ prefix: "bot-bottle-bench-ws-" });
const id = crypto.randomUUID().slice(0, 6);
const containers: string[] = [];
try {
  const bundleImage = await ensureBundleImage(runner, { workDir: `${tmp}/ctx` });
  const agent = await ensureAgentImage(runner, {
    bottle: "shell",
    image: null,
    dockerfile: `${ROOT}examples/agents/shell.Dockerfile`,
    progress: () => {},
  });
  const image = await ensureWorkspaceImage(runner, agent, () => {});
  const uid = Deno.uid() ?? 0;
  const gid = Deno.gid() ?? 0;
  console.log(`bot-bottle workspace bench — runs: ${RUNS}`);

  for (
    const [label, files, bytes] of [["big", FILES, BYTES], ["small", SMALL, SMALL * 1024]] as const
  ) {
    const repo = `${tmp}/${label}`;
    await makeRepo(repo, files, bytes);
    const slug = `bench-${label}-${id}`;
    const name = `bot-bottle-${slug}-agent`;
    containers.push(name);
    const run = await runner.run([
      "docker",
      "run",
      "-d",
      "--name",
      name,
      "--network",
      "none",
      "--label",
      "io.bot-bottle.bench=1",
      "--entrypoint",
      "sleep",
      image,
      "infinity",
    ]);
    if (run.code !== 0) throw new Error(run.stderr);
    const clear = () =>
      runner.run(["docker", "exec", name, "sh", "-c", "rm -rf /workspace/* /workspace/.[!.]*"]);
    const helper = { runner, image: bundleImage, uid, gid, labels: { "io.bot-bottle.bench": "1" } };

    // 1. Copy-in: raw against ours, alternating. Ours on a launch's path: the helper started
    //    beside the bundle (here: 2 s before, about what a bundle takes to be healthy), the copy
    //    timed from there; and, apart, the whole of it with the helper's start.
    const raw: number[] = [];
    const ours: number[] = [];
    const whole: number[] = [];
    const gone: number[] = [];
    let streamed = 0;
    const copy = (source: Parameters<typeof copyIn>[0]["source"]) =>
      copyIn({
        runner,
        backend: dockerBackend,
        slug,
        helper,
        source,
        expectBytes: bytes,
        onProgress: null,
        streamDir: tmp,
      });
    // Each timed copy starts with the previous one's writes flushed (`sync`): otherwise the
    // disk's writeback of one copy lands in the next one's time, whichever it is.
    const settle = async () => {
      await clear();
      await sh("sync");
    };
    const rawCopy = async () => {
      await settle();
      const t0 = performance.now();
      await sh(
        `tar -c -f - -C ${repo} . | docker exec -i ${name} tar -x -f - -C /workspace --no-same-owner`,
      );
      raw.push(performance.now() - t0);
    };
    const ourCopy = async () => {
      await clear();
      const snapshot = await startSnapshot({
        runner,
        helper,
        root: repo,
        tree: "git",
        streamDir: tmp,
      });
      let t0 = 0;
      try {
        await new Promise((r) => setTimeout(r, 2000));
        await sh("sync");
        t0 = performance.now();
        streamed = (await copy({ kind: "started", snapshot })).bytes;
        ours.push(performance.now() - t0);
      } finally {
        // The helper's container goes meanwhile (a launch goes on with the guest's mark).
        await snapshot.cancel();
      }
      gone.push(performance.now() - t0);
    };
    for (let i = 0; i < RUNS; i++) {
      // Alternate which goes first, so neither always follows the other's writes.
      if (i % 2) {
        await ourCopy();
        await rawCopy();
      } else {
        await rawCopy();
        await ourCopy();
      }
      await settle();
      const t0 = performance.now();
      await copy({ kind: "snapshot", root: repo, tree: "git" });
      whole.push(performance.now() - t0);
    }
    const r = median(raw);
    const o = median(ours);
    const w = median(whole);
    // The figure: the median of each round's ratio (a round's raw and ours ran one after the
    // other, in turns first).
    const pair = median(ours.map((v, i) => v / raw[i]));
    const pairWhole = median(whole.map((v, i) => v / raw[i]));
    console.log(
      `copy-in ${label} (${files} files, ${formatSize(streamed)} streamed): bot-bottle ${
        o.toFixed(0)
      } ms, raw tar|docker exec ${r.toFixed(0)} ms, ratio ${pair.toFixed(2)} (median of the ` +
        `rounds' ratios; the helper's container gone at ${median(gone).toFixed(0)} ms; ` +
        `with the helper's start: ${w.toFixed(0)} ms, ${pairWhole.toFixed(2)}; ` +
        `rounds: raw ${raw.map((v) => v.toFixed(0)).join(" ")}, ours ${
          ours.map((v) => v.toFixed(0)).join(" ")
        })`,
    );

    // 2. Capture + export after 100 changed files, each round from a fresh copy-in, marked and
    //    its base kept, as a launch does.
    const stateDir = `${tmp}/state-${label}`;
    const base = new TextDecoder().decode(
      (await new Deno.Command("git", { args: ["-C", repo, "rev-parse", "HEAD"], stdout: "piped" })
        .output()).stdout,
    ).trim();
    const captures: number[] = [];
    const marks: number[] = [];
    const kept: number[] = [];
    let mode = "";
    for (let i = 0; i < RUNS; i++) {
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
      await writeWorkspaceRecord(stateDir, {
        schema: 1,
        root: repo,
        kind: "git",
        base,
        branch: "main",
        copied_at: new Date().toISOString(),
      });
      await clear();
      await copyIn({
        runner,
        backend: dockerBackend,
        slug,
        helper,
        source: { kind: "snapshot", root: repo, tree: "git" },
        expectBytes: bytes,
        onProgress: null,
        streamDir: workspaceFiles(stateDir).dir,
      });
      let t0 = performance.now();
      await markLevel0({
        runner,
        backend: dockerBackend,
        slug,
        stateDir,
        run: `run-${i}`,
        archives: ["base.tar"],
      });
      marks.push(performance.now() - t0);
      // The base, kept from the guest while the agent works (a launch does not wait for it;
      // an agent that exits sooner makes the capture wait, or a full one).
      t0 = performance.now();
      if (!(await keepBase({ runner, backend: dockerBackend, slug, stateDir }))) {
        throw new Error("the base was not kept");
      }
      kept.push(performance.now() - t0);
      await runner.run([
        "docker",
        "exec",
        name,
        "sh",
        "-c",
        `cd /workspace && for n in $(seq 0 99); do echo "change ${i}" >> d$((n % 100))/f$n.txt; done`,
      ]);
      t0 = performance.now();
      const c = await captureWorkspace({
        runner,
        backend: dockerBackend,
        slug,
        stateDir,
        run: `run-${i}`,
        by: "exit",
        helper,
        say: () => {},
      });
      await Deno.copyFile(workspaceFiles(stateDir).bundle, `${tmp}/export-${label}.bundle`);
      captures.push(performance.now() - t0);
      if (!c || c.files_changed !== 100) throw new Error(`capture: ${JSON.stringify(c)}`);
      mode = c.mode ?? "full";
    }
    console.log(
      `capture + export ${label}, 100 changed files: ${
        median(captures).toFixed(0)
      } ms (median of ${RUNS}; ${mode}); at start, the guest's level-0 mark: ${
        median(marks).toFixed(0)
      } ms, and the base kept from the guest while the agent works: ${median(kept).toFixed(0)} ms`,
    );
  }
} finally {
  // The agent containers, and any helper a failed copy left (they carry the bench's label).
  const helpers = await runner.run([
    "docker",
    "ps",
    "-aq",
    "--filter",
    "label=io.bot-bottle.bench=1",
  ]);
  for (const c of [...containers, ...helpers.stdout.split("\n").filter(Boolean)]) {
    await runner.run(["docker", "rm", "-f", c]);
  }
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
