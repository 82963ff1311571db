/**
 * The Nix packaging: the dependency pin is tied to deno.lock, the Nix files
 * parse, the lock guard really fails on a stale pin, and flake.lock is a
 * well-formed pin of nixpkgs. (Building needs nixpkgs, which these machines
 * cannot fetch; `nix build` and `nix flake check` are for machines that can.)
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  DEPS_PIN_PATH,
  fileSha256Hex,
  readDepsPin,
  sriFromHex,
} from "../../scripts/nix_deps_hash.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const decoder = new TextDecoder();

async function onPath(tool: string): Promise<string | undefined> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if ((await Deno.stat(`${dir}/${tool}`)).isFile) return `${dir}/${tool}`;
    } catch {
      // not here
    }
  }
  return undefined;
}

const NIX_INSTANTIATE = await onPath("nix-instantiate");
if (!NIX_INSTANTIATE) {
  console.log(
    "nix_test: nix-instantiate not found on PATH: the Nix parse/eval tests are ignored " +
      "(install it: apt-get install nix-bin)",
  );
}

async function nixInstantiate(args: string[]) {
  const out = await new Deno.Command(NIX_INSTANTIATE!, {
    args,
    cwd: ROOT,
    stdin: "null",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

Deno.test("nix: deps pin records the sha256 of the current deno.lock", async () => {
  let lock: string;
  try {
    lock = await fileSha256Hex(`${ROOT}deno.lock`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error("deno.lock is missing: the Nix build is pinned to it (run `deno install`)");
    }
    throw e;
  }
  const pin = await readDepsPin(`${ROOT}${DEPS_PIN_PATH}`);
  assert.equal(
    pin.lockSha256,
    lock,
    `deno.lock changed but ${DEPS_PIN_PATH} was not refreshed; run: deno run -A scripts/nix_deps_hash.ts`,
  );
  assert.match(pin.outputHash, /^sha256-[A-Za-z0-9+/]{43}=$/);
});

Deno.test("nix: SRI conversion of a nix-hash hex digest", () => {
  assert.equal(
    sriFromHex("fe2ff8c8548383b63aeb276cb866aa258feeff661c04183b603ce60a2aa2b2aa"),
    "sha256-/i/4yFSDg7Y66ydsuGaqJY/u/2YcBBg7YDzmCiqisqo=",
  );
  assert.throws(() => sriFromHex("xyz"), /not a sha256 hex digest/);
});

Deno.test({
  name: "nix: flake.nix and nix/*.nix parse",
  ignore: !NIX_INSTANTIATE,
  async fn() {
    const files = ["flake.nix"];
    for await (const e of Deno.readDir(`${ROOT}nix`)) {
      if (e.name.endsWith(".nix")) files.push(`nix/${e.name}`);
    }
    assert.ok(files.length >= 4, `expected flake.nix + nix/*.nix, got ${files}`);
    for (const f of files) {
      const r = await nixInstantiate(["--parse", f]);
      assert.equal(r.code, 0, `${f}: ${r.stderr}`);
    }
  },
});

Deno.test({
  name: "nix: the deno.lock guard passes for the recorded pin and fails on a stale one",
  ignore: !NIX_INSTANTIATE,
  async fn() {
    const good = await nixInstantiate([
      "--eval",
      "--strict",
      "--json",
      "-E",
      "import ./nix/deno_deps_pin.nix { lockFile = ./deno.lock; pinFile = ./nix/deno-deps.json; }",
    ]);
    assert.equal(good.code, 0, good.stderr);
    assert.deepEqual(JSON.parse(good.stdout), await readDepsPin(`${ROOT}${DEPS_PIN_PATH}`));

    const dir = await Deno.makeTempDir({ prefix: "bbtest-pin-" });
    try {
      await Deno.writeTextFile(
        `${dir}/pin.json`,
        JSON.stringify({
          lockSha256: "0".repeat(64),
          outputHash: "sha256-" + "A".repeat(43) + "=",
        }),
      );
      const stale = await nixInstantiate([
        "--eval",
        "--strict",
        "-E",
        `import ./nix/deno_deps_pin.nix { lockFile = ./deno.lock; pinFile = ${dir}/pin.json; }`,
      ]);
      assert.notEqual(stale.code, 0);
      assert.match(stale.stderr, /deno\.lock changed: its sha256 is [0-9a-f]{64}/);
      assert.match(stale.stderr, /deno run -A scripts\/nix_deps_hash\.ts/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("nix: flake.lock pins a nixpkgs revision with its narHash", async () => {
  const lock = JSON.parse(await Deno.readTextFile(`${ROOT}flake.lock`));
  assert.equal(lock.version, 7);
  assert.equal(lock.root, "root");
  assert.deepEqual(lock.nodes.root.inputs, { nixpkgs: "nixpkgs" });
  const locked = lock.nodes.nixpkgs.locked;
  assert.equal(locked.type, "github");
  assert.equal(locked.owner, "NixOS");
  assert.equal(locked.repo, "nixpkgs");
  assert.match(locked.rev, /^[0-9a-f]{40}$/);
  assert.match(locked.narHash, /^sha256-[A-Za-z0-9+/]{43}=$/);
  assert.equal(typeof locked.lastModified, "number");
  assert.deepEqual(lock.nodes.nixpkgs.original, {
    owner: "NixOS",
    ref: "nixos-unstable",
    repo: "nixpkgs",
    type: "github",
  });
});

Deno.test("nix: package compiles offline with -P=bot-bottle, nixpkgs' denort, no strip/patchelf", async () => {
  const pkg = await Deno.readTextFile(`${ROOT}nix/package.nix`);
  assert.match(pkg, /deno compile --cached-only --frozen -P=bot-bottle /);
  assert.match(pkg, /deno\.denort or \(throw/);
  assert.match(pkg, /DENORT_BIN="\$\{denort\}\/bin\/denort"/);
  assert.match(pkg, /dontStrip = true;/);
  assert.match(pkg, /dontPatchELF = true;/);
  assert.match(pkg, /outputHash = depsPin\.outputHash;/);
  // The FOD's name carries the lock hash, so a new deno.lock cannot reuse a stale store path.
  assert.match(
    pkg,
    /name = "bot-bottle-deno-deps-\$\{builtins\.substring 0 16 depsPin\.lockSha256\}"/,
  );
  const flake = await Deno.readTextFile(`${ROOT}flake.nix`);
  assert.match(flake, /import \.\/nix\/deno_deps_pin\.nix/);
  for (
    const output of [
      "packages",
      "apps",
      "devShells",
      "checks",
      "overlays.default",
      "nixosModules.default",
    ]
  ) {
    assert.ok(flake.includes(`${output} =`), `flake.nix defines ${output}`);
  }
  const mod = await Deno.readTextFile(`${ROOT}nix/module.nix`);
  assert.match(mod, /virtualisation\.docker\.enable = lib\.mkIf cfg\.enableDocker true;/);
  assert.match(mod, /extraGroups = \[ "kvm" \] \+\+ lib\.optional cfg\.enableDocker "docker";/);
});
