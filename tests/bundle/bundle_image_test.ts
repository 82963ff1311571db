import assert from "node:assert/strict";
import { BUNDLE_EXECUTABLES, BUNDLE_FILES } from "../../lib/bundle/bundle_files.ts";
import {
  bundleBuildArgv,
  bundleImageTag,
  ensureBundleImage,
  writeBuildContext,
} from "../../lib/bundle/bundle_image.ts";
import { UserError } from "../../lib/errors.ts";
import { fail, ok, on, RecordingRunner } from "../fixtures/recording_runner.ts";

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

Deno.test("bundleBuildArgv: labels, --force-rm, the Dockerfile on stdin", () => {
  assert.deepEqual(bundleBuildArgv("/tmp/ctx", "bot-bottle/bundle:abc", "debian:bookworm-slim"), [
    "docker",
    "build",
    "--rm",
    "--force-rm",
    "--tag",
    "bot-bottle/bundle:abc",
    "--label",
    "io.bot-bottle.role=bundle-image",
    "--label",
    "io.bot-bottle.build=",
    "--label",
    "io.bot-bottle.owner=",
    "--build-arg",
    "BASE_IMAGE=debian:bookworm-slim",
    "--file",
    "-",
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
  const runner = new RecordingRunner([on(["docker", "image", "inspect"], ok("sha256:x\n"))]);
  const dir = await Deno.makeTempDir();
  try {
    const tag = await ensureBundleImage(runner, { workDir: dir });
    assert.equal(tag, bundleImageTag());
    assert.deepEqual(runner.argvs, [["docker", "image", "inspect", "--format", "{{.Id}}", tag]]);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ensureBundleImage writes the context and builds when missing", async () => {
  const runner = new RecordingRunner([
    on(["docker", "image", "inspect"], fail(1, "No such image")),
    on(["docker", "buildx"], fail(1, "docker: unknown command: docker buildx")),
    on(["docker", "build"], ok("Step 1/2 : FROM x\nSuccessfully built x\n")),
  ]);
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  try {
    const tag = await ensureBundleImage(runner, {
      workDir: dir,
      baseImage: "local/base:1",
      onProgress: (line) => lines.push(line),
    });
    assert.equal(tag, bundleImageTag("local/base:1"));
    const build = runner.calls.find((c) => c.argv[1] === "build")!;
    assert.deepEqual(build.argv, bundleBuildArgv(dir, tag, "local/base:1"));
    const dockerfile = new TextDecoder().decode(
      new Uint8Array((build.stdin ?? []).flatMap((c) => [...c])),
    );
    assert.match(dockerfile, /^FROM \$\{BASE_IMAGE\}\nLABEL io\.bot-bottle\.build="bot-bottle/m);
    for (const [path, content] of Object.entries(BUNDLE_FILES)) {
      assert.equal(await Deno.readTextFile(`${dir}/${path}`), content);
      const mode = (await Deno.stat(`${dir}/${path}`)).mode! & 0o777;
      assert.equal(mode, BUNDLE_EXECUTABLES.includes(path) ? 0o755 : 0o644, path);
    }
    assert.equal(lines[0], `building bundle image ${tag} (first use only)`);
    assert.equal(lines[1], `building bundle image ${tag}: step 1/2 FROM x`);
    assert.match(lines[2], new RegExp(`^built bundle image ${tag.replace(/[.:/]/g, "\\$&")} in `));
    assert.equal(lines.length, 3, "the build's own output is not echoed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ensureBundleImage: a failed build is a UserError with one clean log tail", async () => {
  const runner = new RecordingRunner([
    on(["docker", "image", "inspect"], fail(1)),
    on(["docker", "buildx"], fail(1)),
    on(["docker", "build"], {
      code: 1,
      stdout: "Step 3/9 : RUN apt-get install gitleaks\n ---> Running in abc\n",
      stderr: "\x1b[31mE: Unable to locate package gitleaks\x1b[0m\r\n",
    }),
  ]);
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  try {
    await assert.rejects(
      ensureBundleImage(runner, { workDir: dir, onProgress: (l) => lines.push(l) }),
      (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.match(
          err.message,
          /failed at step 3\/9 RUN apt-get install gitleaks after .* \(docker build exit 1\)/,
        );
        assert.equal(err.message.match(/Unable to locate package gitleaks/g)?.length, 1);
        assert.ok(!err.message.includes("\x1b"), "no raw escapes");
        assert.ok(!err.message.includes("\r"));
        assert.match(err.hint ?? "", /bot-bottle bundle build/);
        return true;
      },
    );
    assert.ok(!lines.some((l) => l.includes("Unable to locate")), "the log is not printed twice");
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
