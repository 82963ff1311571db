/**
 * The compile argv, the permission set it names, and how `deno task compile`
 * reports a missing denort runtime. The no-denort run sends Deno's download
 * through an HTTPS proxy on 127.0.0.1 that this test runs and that hangs up on
 * every connection, so nothing leaves loopback (even on a machine with
 * internet) and the failure is immediate.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { compileTargets } from "../../scripts/compile.ts";
import {
  compileArgv,
  denortBinProblem,
  isDenortFailure,
  selectTargets,
  TARGETS,
} from "../../scripts/compile_targets.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const decoder = new TextDecoder();

async function denoJson(): Promise<
  {
    permissions: Record<string, Record<string, unknown>>;
    tasks: Record<string, string | { command: string }>;
  }
> {
  return JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
}

function taskCommand(task: string | { command: string }): string {
  return typeof task === "string" ? task : task.command;
}

Deno.test("compile: exactly the four release targets", () => {
  assert.deepEqual([...TARGETS], [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
  ]);
});

for (const target of TARGETS) {
  Deno.test(`compile: argv for ${target} uses exactly -P=bot-bottle and type-checks`, () => {
    const argv = compileArgv(target);
    assert.deepEqual(argv, [
      "compile",
      "-P=bot-bottle",
      "--target",
      target,
      "--output",
      `dist/bot-bottle-${target}`,
      "main.ts",
    ]);
    assert.equal(argv.filter((a) => a.startsWith("-P") || a.startsWith("--permission")).length, 1);
    assert.ok(!argv.some((a) => a.startsWith("--allow") || a === "-A" || a === "--no-check"));
  });
}

Deno.test("compile: deno.json's bot-bottle and compile tasks use the same permission set", async () => {
  const json = await denoJson();
  const run = taskCommand(json.tasks["bot-bottle"]);
  assert.match(run, /(^|\s)-P=bot-bottle(\s|$)/);
  assert.ok(!/--allow-|(^|\s)-A(\s|$)/.test(run), `bot-bottle task grants extra flags: ${run}`);
  assert.equal(taskCommand(json.tasks.compile), "deno run -A scripts/compile.ts");
});

Deno.test("compile: the bot-bottle permission set may run only docker and smolvm, no net/ffi", async () => {
  const set = (await denoJson()).permissions["bot-bottle"];
  assert.ok(set, "deno.json defines the bot-bottle permission set");
  assert.deepEqual(set.run, ["docker", "smolvm"]);
  for (const key of ["net", "ffi"]) {
    assert.ok(set[key] === undefined || set[key] === false, `${key} must be absent or false`);
  }
});

Deno.test("compile: target selection accepts known targets and names unknown ones", () => {
  assert.deepEqual(selectTargets([]), { targets: [...TARGETS] });
  assert.deepEqual(selectTargets(["aarch64-apple-darwin", "x86_64-unknown-linux-gnu"]), {
    targets: ["x86_64-unknown-linux-gnu", "aarch64-apple-darwin"],
  });
  const bad = selectTargets(["x86_64-pc-windows-msvc"]);
  assert.ok("error" in bad);
  assert.match(bad.error, /unknown target 'x86_64-pc-windows-msvc'; known targets: x86_64-unknown/);
});

Deno.test("compile: DENORT_BIN serves only the host target", () => {
  const host = "x86_64-unknown-linux-gnu";
  assert.equal(denortBinProblem(host, "/nix/store/x-denort/bin/denort", host), undefined);
  assert.equal(denortBinProblem("aarch64-apple-darwin", undefined, host), undefined);
  const problem = denortBinProblem("aarch64-apple-darwin", "/opt/denort", host);
  assert.match(problem!, /runtime for this host \(x86_64-unknown-linux-gnu\).*mislabelled/);
});

Deno.test("compile: denort failures are recognised from deno's stderr", () => {
  assert.ok(isDenortFailure(
    "error: Writing deno compile executable to temporary file 'x'\n\nCaused by:\n" +
      "    0: Setting up base binary.\n    1: error sending request for url " +
      "(https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip)",
  ));
  assert.ok(isDenortFailure("    0: Could not find denort at '/nope'"));
  assert.ok(!isDenortFailure("TS2307 [ERROR]: Cannot find module 'file:///x/main.ts'."));
});

Deno.test("compile: cross targets with DENORT_BIN are refused before deno runs", async () => {
  const dist = await Deno.makeTempDir({ prefix: "bbtest-dist-" });
  try {
    const results = await compileTargets(["aarch64-apple-darwin"], {
      distDir: dist,
      denortBin: "/opt/denort",
      hostTarget: "x86_64-unknown-linux-gnu",
      log: () => {},
    });
    assert.equal(results.length, 1);
    assert.equal(results[0].ok, false);
    assert.match(results[0].message!, /cannot compile aarch64-apple-darwin: DENORT_BIN=/);
    assert.deepEqual([...Deno.readDirSync(dist)], []);
  } finally {
    await Deno.remove(dist, { recursive: true });
  }
});

Deno.test("compile: a DENORT_BIN that is not a file is reported plainly", async () => {
  const dist = await Deno.makeTempDir({ prefix: "bbtest-dist-" });
  try {
    const host = "x86_64-unknown-linux-gnu";
    const results = await compileTargets([host], {
      distDir: dist,
      denortBin: `${dist}/no-such-denort`,
      hostTarget: host,
      log: () => {},
    });
    assert.equal(results[0].ok, false);
    assert.match(results[0].message!, /DENORT_BIN=.*no-such-denort is not a file/);
  } finally {
    await Deno.remove(dist, { recursive: true });
  }
});

/** A loopback TCP listener that accepts and immediately closes: a proxy that never works. */
function deadProxy(): { port: number; connections: () => number; close: () => Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let count = 0;
  const loop = (async () => {
    try {
      for await (const conn of listener) {
        count++;
        conn.close();
      }
    } catch {
      // listener closed
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    connections: () => count,
    close: async () => {
      listener.close();
      await loop;
    },
  };
}

Deno.test("compile: without denort, `deno task compile` says which target, why and how to fix", async () => {
  // A throwaway project: the real deno.json minus its npm imports (so nothing needs the
  // registry), the real compile scripts, and a trivial main.ts that type-checks.
  const project = await Deno.makeTempDir({ prefix: "bbtest-compile-" });
  const denoDir = await Deno.makeTempDir({ prefix: "bbtest-denodir-" });
  const proxy = deadProxy();
  try {
    const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
    delete config.imports;
    await Deno.writeTextFile(`${project}/deno.json`, JSON.stringify(config));
    await Deno.mkdir(`${project}/scripts`);
    for (const f of ["compile.ts", "compile_targets.ts"]) {
      await Deno.copyFile(`${ROOT}scripts/${f}`, `${project}/scripts/${f}`);
    }
    await Deno.writeTextFile(`${project}/main.ts`, 'console.log("hello");\n');
    const target = "x86_64-unknown-linux-gnu";
    const env: Record<string, string> = {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: project,
      DENO_DIR: denoDir,
      DENO_NO_UPDATE_CHECK: "1",
      HTTPS_PROXY: `http://127.0.0.1:${proxy.port}`,
      HTTP_PROXY: `http://127.0.0.1:${proxy.port}`,
    };
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "compile", target],
      cwd: project,
      env,
      clearEnv: true,
      stdin: "null",
      signal: AbortSignal.timeout(120_000),
    }).output();
    const stderr = decoder.decode(out.stderr);
    assert.notEqual(out.code, 0, stderr);
    assert.match(
      stderr,
      new RegExp(`cannot compile ${target}: deno compile needs the denort runtime`),
    );
    assert.match(stderr, /dl\.deno\.land/);
    assert.match(stderr, /DENORT_BIN/);
    assert.match(stderr, /deno\.denort/);
    assert.match(stderr, /1 of 1 target\(s\) failed/);
    assert.ok(!stderr.includes("Stack backtrace"), `stack trace leaked:\n${stderr}`);
    assert.equal(
      [...Deno.readDirSync(`${project}/dist`)].length,
      0,
      "no binary written",
    );
    assert.ok(proxy.connections() >= 1, "the download went to the loopback proxy");
  } finally {
    await proxy.close();
    await Deno.remove(project, { recursive: true });
    await Deno.remove(denoDir, { recursive: true });
  }
});
