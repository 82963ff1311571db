/**
 * scripts/install.sh against a fake release served by the test itself on
 * 127.0.0.1 (Deno.serve, port 0). `uname` is faked by a PATH shim, so every
 * case runs as a chosen platform; the environment is cleared so no proxy or
 * real HOME leaks in. No traffic leaves loopback.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { sha256SumsText } from "../../scripts/release.ts";

const INSTALL_SH = fileURLToPath(new URL("../../scripts/install.sh", import.meta.url));
const VERSION = "v0.1.0";
const LINUX_X64 = "x86_64-unknown-linux-gnu";
const decoder = new TextDecoder();
/** The test's own PATH (not a hard-coded /usr/bin, so the Nix check sandbox works too). */
const SYSTEM_PATH = Deno.env.get("PATH") ?? "/usr/bin:/bin";
/** What install.sh needs besides a shell; used to build PATHs that lack something. */
const BASE_TOOLS = [
  "curl",
  "awk",
  "grep",
  "mktemp",
  "rm",
  "cp",
  "chmod",
  "mv",
  "mkdir",
  "tr",
  "head",
  "cat",
  "id",
];

/** Absolute path of `tool` on the test's PATH, or undefined. */
async function findTool(tool: string): Promise<string | undefined> {
  for (const dir of SYSTEM_PATH.split(":")) {
    if (dir && await exists(`${dir}/${tool}`)) return `${dir}/${tool}`;
  }
  return undefined;
}

/** The shell install.sh runs under, resolved once from the test's PATH. */
const SH = (await findTool("sh")) ?? "/bin/sh";

/** A temp dir of symlinks to exactly `tools` (as found on PATH). */
async function toolDir(tools: readonly string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "bbtest-tools-" });
  for (const t of tools) {
    const found = await findTool(t);
    if (found) await Deno.symlink(found, `${dir}/${t}`);
  }
  return dir;
}

/** A fake release binary: a shell script printing its version and target. */
function fakeBinary(target: string): string {
  return `#!/bin/sh\necho "bot-bottle ${VERSION} fake ${target}"\n`;
}

interface Release {
  /** Files of the release, by asset name. */
  files: Record<string, string>;
  /** SHA256SUMS text; undefined = not published. */
  sums?: string;
}

/** A release with all four fake binaries and a correct SHA256SUMS. */
async function goodRelease(): Promise<Release> {
  const targets = [
    LINUX_X64,
    "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
  ];
  const files: Record<string, string> = {};
  for (const t of targets) files[`bot-bottle-${t}`] = fakeBinary(t);
  const dir = await Deno.makeTempDir({ prefix: "bbtest-sums-" });
  try {
    const paths: string[] = [];
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      paths.push(`${dir}/${name}`);
    }
    return { files, sums: await sha256SumsText(paths) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** Paths the installer requested from the fake release server. */
  requests: string[];
}

interface RunOptions {
  uname?: [string, string];
  /** Extra install.sh arguments (after --base-url). */
  args?: string[];
  home: string;
  /** Extra directories put on PATH before the shim. */
  pathPrefix?: string[];
  /** Replace the system PATH entirely (after the shim). */
  systemPath?: string;
  /** Pass the base URL as BOT_BOTTLE_BASE_URL instead of --base-url. */
  baseViaEnv?: boolean;
}

/** Serves `release` on 127.0.0.1 (GitHub layout under /releases) and runs install.sh. */
async function runInstaller(release: Release, opts: RunOptions): Promise<Run> {
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    requests.push(path);
    const m = path.match(/^\/releases\/(?:latest\/download|download\/v[0-9.]+)\/([^/]+)$/);
    const name = m?.[1];
    if (name === "SHA256SUMS" && release.sums !== undefined) return new Response(release.sums);
    if (name && name in release.files) return new Response(release.files[name]);
    return new Response("not found", { status: 404 });
  });
  const shim = await Deno.makeTempDir({ prefix: "bbtest-shim-" });
  try {
    const [os, arch] = opts.uname ?? ["Linux", "x86_64"];
    await Deno.writeTextFile(
      `${shim}/uname`,
      `#!/bin/sh\ncase "$1" in -s) echo '${os}' ;; -m) echo '${arch}' ;; *) echo '${os}' ;; esac\n`,
    );
    await Deno.chmod(`${shim}/uname`, 0o755);
    const path = [...(opts.pathPrefix ?? []), shim, opts.systemPath ?? SYSTEM_PATH].join(":");
    const base = `http://127.0.0.1:${server.addr.port}/releases`;
    const out = await new Deno.Command(SH, {
      args: [INSTALL_SH, ...(opts.baseViaEnv ? [] : ["--base-url", base]), ...(opts.args ?? [])],
      env: {
        HOME: opts.home,
        PATH: path,
        ...(opts.baseViaEnv ? { BOT_BOTTLE_BASE_URL: base } : {}),
      },
      clearEnv: true,
      stdin: "null",
    }).output();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
      requests,
    };
  } finally {
    await server.shutdown();
    await Deno.remove(shim, { recursive: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function withHome(fn: (home: string) => Promise<void>): Promise<void> {
  const home = await Deno.makeTempDir({ prefix: "bbtest-home-" });
  try {
    await fn(home);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

async function runBinary(path: string): Promise<string> {
  const out = await new Deno.Command(path, { stdin: "null" }).output();
  assert.equal(out.code, 0, decoder.decode(out.stderr));
  return decoder.decode(out.stdout).trim();
}

Deno.test("install.sh: good install to --prefix is verified, executable and runs", async () => {
  const release = await goodRelease();
  await withHome(async (home) => {
    const prefix = `${home}/opt/bin`;
    const run = await runInstaller(release, { home, args: ["--prefix", prefix] });
    assert.equal(run.code, 0, run.stderr);
    const bin = `${prefix}/bot-bottle`;
    const info = await Deno.stat(bin);
    assert.ok(info.isFile);
    assert.equal(info.mode! & 0o111, 0o111, "binary is executable");
    assert.equal(await runBinary(bin), `bot-bottle ${VERSION} fake ${LINUX_X64}`);
    assert.match(run.stdout, /verified bot-bottle-x86_64-unknown-linux-gnu: sha256 [0-9a-f]{64}/);
    // Not on PATH: the hint names the directory.
    assert.match(run.stdout, new RegExp(`export PATH="${prefix}:\\$PATH"`));
    // The manifest records exactly the binary.
    const manifest = await Deno.readTextFile(`${prefix}/.bot-bottle.install-manifest`);
    assert.match(manifest, /^file [0-9a-f]{64} bot-bottle$/m);
    // Only the binary and its manifest are left; no temp files.
    const names = [];
    for await (const e of Deno.readDir(prefix)) names.push(e.name);
    assert.deepEqual(names.sort(), [".bot-bottle.install-manifest", "bot-bottle"]);
    assert.deepEqual(run.requests, [
      "/releases/latest/download/SHA256SUMS",
      "/releases/latest/download/bot-bottle-x86_64-unknown-linux-gnu",
    ]);
  });
});

Deno.test("install.sh: default prefix is ~/.local/bin; --version picks the tag; macOS arm64 maps", async () => {
  const release = await goodRelease();
  await withHome(async (home) => {
    const run = await runInstaller(release, {
      home,
      uname: ["Darwin", "arm64"],
      args: ["--version", "0.1.0"],
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      await runBinary(`${home}/.local/bin/bot-bottle`),
      `bot-bottle ${VERSION} fake aarch64-apple-darwin`,
    );
    assert.deepEqual(run.requests, [
      "/releases/download/v0.1.0/SHA256SUMS",
      "/releases/download/v0.1.0/bot-bottle-aarch64-apple-darwin",
    ]);
  });
});

Deno.test("install.sh: BOT_BOTTLE_BASE_URL sets the download base", async () => {
  const release = await goodRelease();
  await withHome(async (home) => {
    const run = await runInstaller(release, {
      home,
      baseViaEnv: true,
      uname: ["Linux", "aarch64"],
      args: ["--prefix", `${home}/bin`],
    });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.requests, [
      "/releases/latest/download/SHA256SUMS",
      "/releases/latest/download/bot-bottle-aarch64-unknown-linux-gnu",
    ]);
    assert.equal(
      await runBinary(`${home}/bin/bot-bottle`),
      `bot-bottle ${VERSION} fake aarch64-unknown-linux-gnu`,
    );
  });
});

Deno.test("install.sh: falls back to wget when curl is missing", async () => {
  const release = await goodRelease();
  assert.ok(await findTool("wget"), "wget is needed for this test (apt-get install wget)");
  await withHome(async (home) => {
    const tools = await toolDir([...BASE_TOOLS.filter((t) => t !== "curl"), "wget", "sha256sum"]);
    try {
      const run = await runInstaller(release, {
        home,
        systemPath: tools,
        args: ["--prefix", `${home}/bin`],
      });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(
        await runBinary(`${home}/bin/bot-bottle`),
        `bot-bottle ${VERSION} fake ${LINUX_X64}`,
      );
      assert.equal(run.requests.length, 2);
    } finally {
      await Deno.remove(tools, { recursive: true });
    }
  });
});

Deno.test("install.sh: a wrong checksum is refused and nothing is installed", async () => {
  const release = await goodRelease();
  // Same entries, but the Linux x64 binary served differs from what SHA256SUMS says.
  release.files[`bot-bottle-${LINUX_X64}`] = "#!/bin/sh\necho tampered\n";
  await withHome(async (home) => {
    const prefix = `${home}/bin`;
    const run = await runInstaller(release, { home, args: ["--prefix", prefix] });
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /checksum mismatch for bot-bottle-x86_64-unknown-linux-gnu/);
    assert.match(run.stderr, /nothing was installed/);
    assert.equal(await exists(prefix), false, "prefix must not even be created");
  });
});

Deno.test("install.sh: a missing SHA256SUMS is refused and nothing is installed", async () => {
  const release = await goodRelease();
  delete release.sums;
  await withHome(async (home) => {
    const prefix = `${home}/bin`;
    const run = await runInstaller(release, { home, args: ["--prefix", prefix] });
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /could not download SHA256SUMS.*refusing to install an unverified/);
    assert.equal(await exists(prefix), false);
    // It stopped before fetching the binary.
    assert.deepEqual(run.requests, ["/releases/latest/download/SHA256SUMS"]);
  });
});

Deno.test("install.sh: a SHA256SUMS without an entry for the binary is refused", async () => {
  const release = await goodRelease();
  release.sums = release.sums!.split("\n").filter((l) => !l.endsWith(LINUX_X64)).join("\n");
  assert.ok(!release.sums.includes(LINUX_X64));
  await withHome(async (home) => {
    const prefix = `${home}/bin`;
    const run = await runInstaller(release, { home, args: ["--prefix", prefix] });
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /SHA256SUMS has no entry for bot-bottle-x86_64-unknown-linux-gnu/);
    assert.equal(await exists(prefix), false);
  });
});

Deno.test("install.sh: no sha256sum and no shasum means refusal before any download", async () => {
  const release = await goodRelease();
  await withHome(async (home) => {
    // A PATH holding only the tools install.sh needs, minus sha256sum and shasum.
    const tools = await toolDir([...BASE_TOOLS]);
    try {
      const prefix = `${home}/bin`;
      const run = await runInstaller(release, {
        home,
        args: ["--prefix", prefix],
        systemPath: tools,
      });
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, /neither sha256sum nor 'shasum -a 256' is available/);
      assert.equal(await exists(prefix), false);
      assert.deepEqual(run.requests, []);
    } finally {
      await Deno.remove(tools, { recursive: true });
    }
  });
});

const UNSUPPORTED: Array<[string, string]> = [
  ["FreeBSD", "amd64"],
  ["Linux", "riscv64"],
  ["Linux", "armv7l"],
  ["MINGW64_NT-10.0", "x86_64"],
];
for (const [os, arch] of UNSUPPORTED) {
  Deno.test(`install.sh: unsupported platform ${os} ${arch} is refused plainly`, async () => {
    const release = await goodRelease();
    await withHome(async (home) => {
      const run = await runInstaller(release, { home, uname: [os, arch] });
      assert.notEqual(run.code, 0);
      assert.match(
        run.stderr,
        new RegExp(`no bot-bottle release for this platform \\(${os} ${arch}\\)`),
      );
      assert.deepEqual(run.requests, [], "nothing downloaded");
      assert.equal(await exists(`${home}/.local`), false);
    });
  });
}

Deno.test("install.sh: plain http is refused unless the base URL is loopback", async () => {
  await withHome(async (home) => {
    // Refused while checking arguments: no request is ever made.
    const out = await new Deno.Command(SH, {
      args: [INSTALL_SH, "--base-url", "http://mirror.invalid/releases"],
      env: { HOME: home, PATH: SYSTEM_PATH },
      clearEnv: true,
      stdin: "null",
    }).output();
    assert.notEqual(out.code, 0);
    assert.match(
      decoder.decode(out.stderr),
      /is not https:\/\/ \(plain http:\/\/ is allowed only on/,
    );
    assert.equal(await exists(`${home}/.local`), false);
  });
});

Deno.test("install.sh: --uninstall removes only its own files", async () => {
  const release = await goodRelease();
  await withHome(async (home) => {
    const prefix = `${home}/bin`;
    const first = await runInstaller(release, { home, args: ["--prefix", prefix] });
    assert.equal(first.code, 0, first.stderr);
    await Deno.writeTextFile(`${prefix}/other-tool`, "#!/bin/sh\necho mine\n");
    const run = await runInstaller(release, { home, args: ["--prefix", prefix, "--uninstall"] });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await exists(`${prefix}/bot-bottle`), false);
    assert.equal(await exists(`${prefix}/.bot-bottle.install-manifest`), false);
    assert.equal(await Deno.readTextFile(`${prefix}/other-tool`), "#!/bin/sh\necho mine\n");
    assert.deepEqual(run.requests, [], "uninstall downloads nothing");
  });
});

Deno.test("install.sh: --uninstall leaves a binary that changed since install", async () => {
  const release = await goodRelease();
  await withHome(async (home) => {
    const prefix = `${home}/bin`;
    assert.equal((await runInstaller(release, { home, args: ["--prefix", prefix] })).code, 0);
    await Deno.writeTextFile(`${prefix}/bot-bottle`, "#!/bin/sh\necho replaced by the user\n");
    const run = await runInstaller(release, { home, args: ["--prefix", prefix, "--uninstall"] });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /changed since it was installed/);
    assert.equal(await exists(`${prefix}/bot-bottle`), true);
    assert.equal(await exists(`${prefix}/.bot-bottle.install-manifest`), true);
  });
});

Deno.test("install.sh: refuses to overwrite a bot-bottle it did not install", async () => {
  const release = await goodRelease();
  await withHome(async (home) => {
    const prefix = `${home}/bin`;
    await Deno.mkdir(prefix);
    await Deno.writeTextFile(`${prefix}/bot-bottle`, "foreign");
    const run = await runInstaller(release, { home, args: ["--prefix", prefix] });
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /was not installed by this installer/);
    assert.equal(await Deno.readTextFile(`${prefix}/bot-bottle`), "foreign");
    // And --uninstall will not remove it either.
    const un = await runInstaller(release, { home, args: ["--prefix", prefix, "--uninstall"] });
    assert.notEqual(un.code, 0);
    assert.equal(await Deno.readTextFile(`${prefix}/bot-bottle`), "foreign");
  });
});

Deno.test("install.sh: a reinstall replaces its own binary (upgrade path)", async () => {
  const release = await goodRelease();
  await withHome(async (home) => {
    const prefix = `${home}/bin`;
    assert.equal((await runInstaller(release, { home, args: ["--prefix", prefix] })).code, 0);
    const again = await runInstaller(release, { home, args: ["--prefix", prefix] });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(
      await runBinary(`${prefix}/bot-bottle`),
      `bot-bottle ${VERSION} fake ${LINUX_X64}`,
    );
  });
});

Deno.test("install.sh: host checks report docker, smolvm and /dev/kvm without failing", async () => {
  const release = await goodRelease();
  await withHome(async (home) => {
    // A PATH dir with fake docker and smolvm: both are reported as found.
    const fakes = await Deno.makeTempDir({ prefix: "bbtest-fakes-" });
    try {
      for (const t of ["docker", "smolvm"]) {
        await Deno.writeTextFile(`${fakes}/${t}`, "#!/bin/sh\nexit 0\n");
        await Deno.chmod(`${fakes}/${t}`, 0o755);
      }
      const found = await runInstaller(release, {
        home,
        pathPrefix: [fakes],
        args: ["--prefix", `${home}/a`],
      });
      assert.equal(found.code, 0, found.stderr);
      assert.match(found.stdout, new RegExp(`ok: docker found at ${fakes}/docker`));
      assert.match(found.stdout, new RegExp(`ok: smolvm found at ${fakes}/smolvm`));
      assert.match(found.stdout + found.stderr, /\/dev\/kvm/);
    } finally {
      await Deno.remove(fakes, { recursive: true });
    }
    // A PATH with neither (only the tools needed): warnings with fixes, still exit 0.
    const tools = await toolDir([...BASE_TOOLS, "sha256sum"]);
    try {
      const missing = await runInstaller(release, {
        home,
        systemPath: tools,
        args: ["--prefix", `${home}/b`],
      });
      assert.equal(missing.code, 0, missing.stderr);
      assert.match(missing.stderr, /docker not found: .*sudo usermod -aG docker/);
      assert.match(missing.stderr, /smolvm not found: .*smolvm/);
    } finally {
      await Deno.remove(tools, { recursive: true });
    }
  });
});

Deno.test("install.sh: --help prints usage and exits 0 without network", async () => {
  const out = await new Deno.Command(SH, {
    args: [INSTALL_SH, "--help"],
    env: { PATH: SYSTEM_PATH },
    clearEnv: true,
    stdin: "null",
  }).output();
  assert.equal(out.code, 0);
  const text = decoder.decode(out.stdout);
  for (const flag of ["--version", "--prefix", "--base-url", "--uninstall", "--help"]) {
    assert.ok(text.includes(flag), `help mentions ${flag}`);
  }
});

Deno.test('install.sh: shellcheck clean, POSIX sh, main "$@" is the last line', async () => {
  const text = await Deno.readTextFile(INSTALL_SH);
  assert.ok(text.startsWith("#!/bin/sh\n"));
  assert.equal(text.trimEnd().split("\n").at(-1), 'main "$@"');
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("shellcheck", { args: ["-s", "sh", INSTALL_SH], stdin: "null" })
      .output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error("shellcheck is not installed (apt-get install shellcheck); it is required");
    }
    throw e;
  }
  assert.equal(out.code, 0, decoder.decode(out.stdout) + decoder.decode(out.stderr));
});
