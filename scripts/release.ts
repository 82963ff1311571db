/**
 * `deno run -A scripts/release.ts`: compiles all four targets into dist/,
 * copies scripts/install.sh next to them, and writes dist/SHA256SUMS over the
 * binaries and the installer (sha256sum format: `<hex>  <name>`), so
 * `sha256sum -c SHA256SUMS` checks a downloaded release and install.sh can
 * verify the binary it fetches.
 *
 * @module
 */

import { basename } from "node:path";
import { compileTargets } from "./compile.ts";
import { assetName, DIST_DIR, TARGETS } from "./compile_targets.ts";

/** Lowercase hex SHA-256 of a file's bytes (Web Crypto). */
export async function sha256File(path: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The text of a SHA256SUMS file over `files`: one `<hex>  <basename>` line per
 * file (two spaces: sha256sum's text mode), sorted by name, newline-terminated.
 * Throws if two files share a basename, since the sums name files by basename.
 */
export async function sha256SumsText(files: readonly string[]): Promise<string> {
  const names = new Set<string>();
  const entries: Array<[string, string]> = [];
  for (const file of files) {
    const name = basename(file);
    if (names.has(name)) {
      throw new Error(`two files named ${name}: SHA256SUMS names files by basename`);
    }
    names.add(name);
    entries.push([name, await sha256File(file)]);
  }
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.map(([name, hex]) => `${hex}  ${name}\n`).join("");
}

/** Writes `SHA256SUMS` over `files` to `outPath` and returns its text. */
export async function writeSha256Sums(files: readonly string[], outPath: string): Promise<string> {
  const text = await sha256SumsText(files);
  await Deno.writeTextFile(outPath, text);
  return text;
}

/** Builds the whole release into `distDir`. Returns the exit code. */
export async function release(distDir: string = DIST_DIR): Promise<number> {
  const results = await compileTargets(TARGETS, { distDir });
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) {
    for (const f of failed) console.error(`release: ${f.message}`);
    console.error(`release: not writing SHA256SUMS: ${failed.length} target(s) failed`);
    return 1;
  }
  const installer = `${distDir}/install.sh`;
  await Deno.copyFile("scripts/install.sh", installer);
  await Deno.chmod(installer, 0o755);
  const files = [...TARGETS.map((t) => `${distDir}/${assetName(t)}`), installer];
  const text = await writeSha256Sums(files, `${distDir}/SHA256SUMS`);
  console.error(`release: wrote ${distDir}/SHA256SUMS:\n${text.trimEnd()}`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await release());
}
