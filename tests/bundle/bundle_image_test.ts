import assert from "node:assert/strict";
import { BUNDLE_EXECUTABLES, BUNDLE_FILES } from "../../lib/bundle/bundle_files.ts";
import {
  bundleBuildArgv,
  bundleImageTag,
  ensureBundleImage,
  writeBuildContext,
} from "../../lib/bundle/bundle_image.ts";
import { UserError } from "../../lib/errors.ts";
import type { Runner, RunOptions, RunResult, Spawned } from "../../lib/host/runner.ts";

class FakeRunner implements Runner {
  calls: string[][] = [];
  constructor(private answer: (argv: readonly string[]) => RunResult) {}
  run(argv: readonly string[], _options?: RunOptions): Promise<RunResult> {
    this.calls.push([...argv]);
    return Promise.resolve(this.answer(argv));
  }
  spawn(): Spawned {
    throw new Error("FakeRunner: the bundle image is built with run, not spawn");
  }
}

Deno.test("bundleImageTag: stable 12-hex content tag", () => {
  const tag = bundleImageTag();
  assert.match(tag, /^bot-bottle\/bundle:[0-9a-f]{12}$/);
  assert.equal(bundleImageTag(), tag);
  assert.equal(bundleImageTag("debian:bookworm-slim", { ...BUNDLE_FILES }), tag);
});

Deno.test("bundleImageTag: any change to the files or the base image changes the tag", () => {
  const tag = bundleImageTag();
  const changed = { ...BUNDLE_FILES, Dockerfile: BUNDLE_FILES.Dockerfile + "\n# x" };
  const added = { ...BUNDLE_FILES, "extra": "" };
  const renamed = Object.fromEntries(
    Object.entries(BUNDLE_FILES).map(([k, v]) => [k === "Dockerfile" ? "Dockerfile2" : k, v]),
  );
  const tags = [
    tag,
    bundleImageTag(undefined, changed),
    bundleImageTag(undefined, added),
    bundleImageTag(undefined, renamed),
    bundleImageTag("my/base:1"),
  ];
  assert.equal(new Set(tags).size, tags.length);
  // Order of insertion does not matter (files are sorted).
  const reversed = Object.fromEntries(Object.entries(BUNDLE_FILES).reverse());
  assert.equal(bundleImageTag(undefined, reversed), tag);
});

Deno.test("bundleBuildArgv", () => {
  assert.deepEqual(bundleBuildArgv("/tmp/ctx", "bot-bottle/bundle:abc", "debian:bookworm-slim"), [
    "docker",
    "build",
    "--build-arg",
    "BASE_IMAGE=debian:bookworm-slim",
    "--label",
    "io.bot-bottle.role=bundle-image",
    "-t",
    "bot-bottle/bundle:abc",
    "/tmp/ctx",
  ]);
});

Deno.test("BUNDLE_FILES: Dockerfile uses Debian packages only, base image as build ARG", () => {
  const df = BUNDLE_FILES["Dockerfile"];
  assert.match(df, /^ARG BASE_IMAGE=debian:bookworm-slim$/m);
  assert.match(df, /^FROM \$\{BASE_IMAGE\}$/m);
  assert.doesNotMatch(df, /curl |wget |ADD http|pip install|npm install/);
  assert.match(df, /apt-get install .*mitmproxy python3 openssl git openssh-client gitleaks/s);
  // Only gitleaks may come from trixie.
  const pref = BUNDLE_FILES["apt/gitleaks.pref"];
  assert.match(pref, /Package: \*\nPin: release n=trixie\nPin-Priority: -1/);
  assert.match(pref, /Package: gitleaks\nPin: release n=trixie\nPin-Priority: 500/);
  // Every COPY source exists in the context; every executable is a file of it.
  for (const m of df.matchAll(/^COPY (\S+) /gm)) {
    const src = m[1];
    assert.ok(Object.keys(BUNDLE_FILES).some((p) => p === src || p.startsWith(src)), src);
  }
  for (const exe of BUNDLE_EXECUTABLES) {
    assert.ok(exe in BUNDLE_FILES, exe);
    assert.match(BUNDLE_FILES[exe], /^#!\/(bin\/bash|usr\/bin\/python3)\n/);
  }
});

Deno.test("ensureBundleImage skips the build when the tag exists", async () => {
  const runner = new FakeRunner(() => ({ code: 0, stdout: "sha256:x\n", stderr: "" }));
  const dir = await Deno.makeTempDir();
  try {
    const tag = await ensureBundleImage(runner, { workDir: dir });
    assert.equal(tag, bundleImageTag());
    assert.deepEqual(runner.calls, [["docker", "image", "inspect", "--format", "{{.Id}}", tag]]);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ensureBundleImage writes the context and builds when missing", async () => {
  const runner = new FakeRunner((argv) =>
    argv[1] === "image"
      ? { code: 1, stdout: "", stderr: "No such image" }
      : { code: 0, stdout: "Step 1/2\nSuccessfully built x\n", stderr: "" }
  );
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  try {
    const tag = await ensureBundleImage(runner, {
      workDir: dir,
      baseImage: "local/base:1",
      onProgress: (line) => lines.push(line),
    });
    assert.equal(tag, bundleImageTag("local/base:1"));
    assert.deepEqual(runner.calls[1], bundleBuildArgv(dir, tag, "local/base:1"));
    for (const [path, content] of Object.entries(BUNDLE_FILES)) {
      assert.equal(await Deno.readTextFile(`${dir}/${path}`), content);
      const mode = (await Deno.stat(`${dir}/${path}`)).mode! & 0o777;
      assert.equal(mode, BUNDLE_EXECUTABLES.includes(path) ? 0o755 : 0o644, path);
    }
    assert.ok(lines.some((l) => l.includes("Successfully built x")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ensureBundleImage: a failed build is a UserError with the log tail", async () => {
  const runner = new FakeRunner((argv) =>
    argv[1] === "image"
      ? { code: 1, stdout: "", stderr: "" }
      : { code: 1, stdout: "", stderr: "E: Unable to locate package gitleaks\n" }
  );
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(ensureBundleImage(runner, { workDir: dir }), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /Unable to locate package gitleaks/);
      assert.match(err.hint ?? "", /bot-bottle bundle build/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeBuildContext creates nested dirs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeBuildContext(dir);
    assert.ok((await Deno.stat(`${dir}/bin/bot-bottle-init`)).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
