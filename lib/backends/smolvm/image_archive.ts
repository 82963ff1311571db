/**
 * The agent image handed to smolvm as a `docker save` archive (SPEC §6.3, §16).
 *
 * - bot-bottle's cache keeps one archive per image ID (and its SHA-256), so
 *   an unchanged image is saved once; the cache is bounded (the newest
 *   {@link MAX_CACHED_ARCHIVES} are kept).
 * - Each launch hands smolvm a private copy (mode 0644) in the bottle's state
 *   dir: smolvm hard-links what it is given into its own cache, which the
 *   guest's VM sees read-write, so the cached original is never shared.
 * - smolvm stages the archive at `<cache>/smolvm-image-archives/<sha256>/`
 *   and never removes it. bot-bottle creates that dir 0755 (smolvm running as
 *   root drops each VMM to a per-VM uid that must read it) and removes it at
 *   teardown when no other live bottle uses the same archive. Creates hold a
 *   shared lock on `stage.lock` until the machine has booted; the removal
 *   takes it exclusively.
 */
import { createHash } from "node:crypto";
import { UserError } from "../../errors.ts";
import { imageIdArgv } from "../../host/docker_argv.ts";
import { lastLine, type Runner } from "../../host/runner.ts";
import { ensurePrivateDir } from "../../state/metadata_store.ts";
import { ownerAlive } from "../../state/owner_lock.ts";

/** How many archives bot-bottle's own cache keeps. */
export const MAX_CACHED_ARCHIVES = 4;

/** The file in a bottle's state dir that records the SHA-256 of the archive smolvm staged. */
export const ARCHIVE_SHA_FILE = "smolvm-archive.sha256";

/** A cached archive. */
export interface ImageArchive {
  path: string;
  /** SHA-256 of its bytes (what smolvm stores as `local:<sha256>`). */
  sha256: string;
}

/** The cache file for an image ID (`sha256:<hex>`). */
export function archivePath(cacheDir: string, imageId: string): string {
  const hex = imageId.replace(/^sha256:/, "");
  if (!/^[0-9a-f]{12,64}$/.test(hex)) {
    throw new UserError(`unexpected docker image ID "${imageId}"`);
  }
  return `${cacheDir}/${hex}.tar`;
}

/** SHA-256 of a file, streamed. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

async function readSha(path: string): Promise<string | null> {
  try {
    const text = (await Deno.readTextFile(`${path}.sha256`)).trim();
    return /^[0-9a-f]{64}$/.test(text) ? text : null;
  } catch {
    return null;
  }
}

/** Save `image` to the cache (once per image ID); returns the archive and its SHA-256. */
export async function ensureImageArchive(
  runner: Runner,
  opts: { image: string; cacheDir: string; progress(line: string): void },
): Promise<ImageArchive> {
  const id = await runner.run(imageIdArgv(opts.image));
  if (id.code !== 0) {
    throw new UserError(`cannot read the ID of image ${opts.image}: ${lastLine(id)}`);
  }
  const path = archivePath(opts.cacheDir, id.stdout.trim());
  const cached = await readSha(path);
  if (cached !== null && (await Deno.stat(path).catch(() => null))?.isFile) {
    const now = new Date();
    await Deno.utime(path, now, now).catch(() => {});
    return { path, sha256: cached };
  }
  await ensurePrivateDir(opts.cacheDir);
  const tmp = `${path}.partial-${crypto.randomUUID()}`;
  opts.progress(`saving ${opts.image} for smolvm (cached by image ID)`);
  const saved = await runner.run(["docker", "save", "--output", tmp, opts.image]);
  if (saved.code !== 0) {
    await Deno.remove(tmp).catch(() => {});
    throw new UserError(`docker save of ${opts.image} failed: ${lastLine(saved)}`);
  }
  // The tag may have moved while it was being saved: cache it only under the ID it has now.
  const after = await runner.run(imageIdArgv(opts.image));
  if (after.code !== 0 || after.stdout.trim() !== id.stdout.trim()) {
    await Deno.remove(tmp).catch(() => {});
    throw new UserError(
      `image ${opts.image} changed while it was being saved for smolvm; nothing was started`,
      { hint: "start again once the image is no longer being rebuilt" },
    );
  }
  const sha256 = await fileSha256(tmp);
  await Deno.rename(tmp, path);
  await Deno.writeTextFile(`${path}.sha256`, `${sha256}\n`, { mode: 0o600 });
  await pruneCache(opts.cacheDir, path);
  return { path, sha256 };
}

/** Keep the newest {@link MAX_CACHED_ARCHIVES} archives (and `keep`); remove the rest. */
export async function pruneCache(cacheDir: string, keep: string): Promise<void> {
  const archives: { path: string; mtime: number }[] = [];
  for await (const entry of Deno.readDir(cacheDir)) {
    if (!entry.isFile || !/^[0-9a-f]{12,64}\.tar$/.test(entry.name)) continue;
    const path = `${cacheDir}/${entry.name}`;
    const info = await Deno.stat(path).catch(() => null);
    if (info) archives.push({ path, mtime: info.mtime?.getTime() ?? 0 });
  }
  archives.sort((a, b) => b.mtime - a.mtime);
  const stale = archives.filter((a) => a.path !== keep).slice(MAX_CACHED_ARCHIVES - 1);
  for (const { path } of stale) {
    await Deno.remove(path).catch(() => {});
    await Deno.remove(`${path}.sha256`).catch(() => {});
  }
}

/** Copy the archive into the bottle's state dir (0644, readable by smolvm's per-VM uid). */
export async function privateCopy(archive: ImageArchive, stateDir: string): Promise<string> {
  const copy = `${stateDir}/image.tar`;
  await Deno.copyFile(archive.path, copy);
  await Deno.chmod(copy, 0o644);
  await Deno.writeTextFile(`${stateDir}/${ARCHIVE_SHA_FILE}`, `${archive.sha256}\n`, {
    mode: 0o600,
  });
  return copy;
}

/** Create smolvm's staging dir for an archive, traversable by a per-VM uid (0755). */
export async function prepareStagingDir(stagedDir: string): Promise<void> {
  const parent = stagedDir.slice(0, stagedDir.lastIndexOf("/"));
  await Deno.mkdir(stagedDir, { recursive: true, mode: 0o755 });
  await Deno.chmod(parent, 0o755);
  await Deno.chmod(stagedDir, 0o755);
}

/** The lock that orders creates (shared) against removing a staged archive (exclusive). */
export async function stageLock(
  cacheDir: string,
  exclusive: boolean,
  waitMs = 10_000,
): Promise<Deno.FsFile | null> {
  await ensurePrivateDir(cacheDir);
  const file = await Deno.open(`${cacheDir}/stage.lock`, {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  const deadline = Date.now() + waitMs;
  while (!(await file.tryLock(exclusive))) {
    if (Date.now() > deadline) {
      file.close();
      return null;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return file;
}

/**
 * Remove smolvm's staged copy of `sha256` unless another live bottle under
 * `bottlesDir` (other than `self`) uses it. Returns why it was kept, or null.
 */
export async function releaseStagedArchive(opts: {
  stagedDir: string;
  sha256: string;
  cacheDir: string;
  bottlesDir: string;
  self: string;
  /** How long to wait for creates in progress (default 10 s). */
  waitMs?: number;
  /**
   * The machines smolvm still has with image `local:<sha256>` (any owner: another state root,
   * or your own smolvm use), or a string when they could not be listed.
   */
  machinesUsing?: () => Promise<string[] | string>;
}): Promise<string | null> {
  const lock = await stageLock(opts.cacheDir, true, opts.waitMs);
  if (lock === null) return "another bottle is being created; the staged archive stays";
  try {
    if (opts.machinesUsing) {
      const using = await opts.machinesUsing();
      if (typeof using === "string") return `${using}; the staged archive stays`;
      if (using.length > 0) return null;
    }
    for await (const entry of Deno.readDir(opts.bottlesDir)) {
      if (!entry.isDirectory || entry.name === opts.self) continue;
      const dir = `${opts.bottlesDir}/${entry.name}`;
      const sha = await Deno.readTextFile(`${dir}/${ARCHIVE_SHA_FILE}`).catch(() => "");
      if (sha.trim() === opts.sha256 && await ownerAlive(dir)) return null;
    }
    await Deno.remove(opts.stagedDir, { recursive: true }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
    return null;
  } finally {
    lock.close();
  }
}
