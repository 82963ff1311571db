/**
 * `deno run -A scripts/nix_deps_hash.ts [--check]`: refreshes nix/deno-deps.json,
 * the pin that ties the Nix dependency derivation to deno.lock:
 *
 * - `lockSha256`: sha256 (hex) of deno.lock; flake.nix refuses to evaluate when
 *   it differs from the current deno.lock.
 * - `outputHash`: the NAR hash (SRI) of what the fixed-output derivation in
 *   nix/package.nix produces. Computed here the same way: `deno install --frozen
 *   --entrypoint main.ts` into an empty DENO_DIR, keep `npm/` minus the
 *   `registry.json` packuments, then `nix-hash --type sha256`. Needs the npm
 *   registry and `nix-hash`. `nix build .#deno-deps` is the authority: if it
 *   reports a different hash, record that one.
 *
 * `--check` compares instead of writing and exits 1 on a difference.
 *
 * @module
 */

/** Path of the pin file, relative to the repository root. */
export const DEPS_PIN_PATH = "nix/deno-deps.json";

/** The pin recorded in nix/deno-deps.json. */
export interface DepsPin {
  lockSha256: string;
  outputHash: string;
}

/** Lowercase hex sha256 of a file, as Nix's `builtins.hashFile "sha256"` prints it. */
export async function fileSha256Hex(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `sha256-<base64>` (SRI) from a hex sha256. */
export function sriFromHex(hex: string): string {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`not a sha256 hex digest: ${hex}`);
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return `sha256-${btoa(String.fromCharCode(...bytes))}`;
}

/** Reads and shape-checks nix/deno-deps.json. */
export async function readDepsPin(path: string = DEPS_PIN_PATH): Promise<DepsPin> {
  const pin = JSON.parse(await Deno.readTextFile(path));
  if (typeof pin?.lockSha256 !== "string" || typeof pin?.outputHash !== "string") {
    throw new Error(`${path} must be {"lockSha256": "<hex>", "outputHash": "sha256-..."}`);
  }
  return pin;
}

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdin: "null" }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${stderr}`);
  return new TextDecoder().decode(out.stdout);
}

/** Builds the dependency tree exactly as the Nix FOD does and returns its NAR hash (SRI). */
export async function computeOutputHash(): Promise<string> {
  const tmp = await Deno.makeTempDir({ prefix: "bot-bottle-nix-deps-" });
  try {
    const denoDir = `${tmp}/deno`;
    await Deno.mkdir(`${denoDir}/npm`, { recursive: true });
    await run(Deno.execPath(), ["install", "--frozen", "--entrypoint", "main.ts"], {
      DENO_DIR: denoDir,
    });
    await Deno.mkdir(`${tmp}/out`);
    await run("cp", ["-r", `${denoDir}/npm`, `${tmp}/out/npm`]);
    await run("find", [
      `${tmp}/out`,
      "(",
      "-name",
      "registry.json",
      "-o",
      "-name",
      ".deno_sync_lock",
      ")",
      "-delete",
    ]);
    const hex = (await run("nix-hash", ["--type", "sha256", `${tmp}/out`])).trim();
    return sriFromHex(hex);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

async function main(args: string[]): Promise<number> {
  const check = args.includes("--check");
  const want: DepsPin = {
    lockSha256: await fileSha256Hex("deno.lock"),
    outputHash: await computeOutputHash(),
  };
  const text = JSON.stringify(want, null, 2) + "\n";
  if (check) {
    const have = await readDepsPin();
    if (have.lockSha256 !== want.lockSha256 || have.outputHash !== want.outputHash) {
      console.error(
        `${DEPS_PIN_PATH} is stale:\n  recorded ${JSON.stringify(have)}\n  current  ${
          JSON.stringify(want)
        }\nRun: deno run -A scripts/nix_deps_hash.ts`,
      );
      return 1;
    }
    console.error(`${DEPS_PIN_PATH} is current`);
    return 0;
  }
  await Deno.writeTextFile(DEPS_PIN_PATH, text);
  console.error(`wrote ${DEPS_PIN_PATH}:\n${text.trimEnd()}`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
