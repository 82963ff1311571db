/**
 * The agent image handed to smolvm as a `docker save` archive (SPEC §6.3),
 * cached by image ID so the guest never pulls through the allowlist and an
 * unchanged image is saved once.
 */
import { UserError } from "../../errors.ts";
import { imageIdArgv } from "../../host/docker_argv.ts";
import { lastLine, type Runner } from "../../host/runner.ts";
import { ensurePrivateDir } from "../../state/metadata_store.ts";

/** The cache file for an image ID (`sha256:<hex>`). */
export function archivePath(cacheDir: string, imageId: string): string {
  const hex = imageId.replace(/^sha256:/, "");
  if (!/^[0-9a-f]{12,64}$/.test(hex)) {
    throw new UserError(`unexpected docker image ID "${imageId}"`);
  }
  return `${cacheDir}/${hex}.tar`;
}

/** Save `image` to the cache (once per image ID); returns the archive path. */
export async function ensureImageArchive(
  runner: Runner,
  opts: { image: string; cacheDir: string; progress(line: string): void },
): Promise<string> {
  const id = await runner.run(imageIdArgv(opts.image));
  if (id.code !== 0) {
    throw new UserError(
      `cannot read the ID of image ${opts.image}: ${lastLine(id)}`,
    );
  }
  const path = archivePath(opts.cacheDir, id.stdout.trim());
  try {
    if ((await Deno.stat(path)).isFile) return path;
  } catch { /* not cached yet */ }
  await ensurePrivateDir(opts.cacheDir);
  const tmp = `${path}.partial-${crypto.randomUUID()}`;
  opts.progress(`saving ${opts.image} for smolvm (cached by image ID)`);
  const saved = await runner.run(["docker", "save", "--output", tmp, opts.image]);
  if (saved.code !== 0) {
    await Deno.remove(tmp).catch(() => {});
    throw new UserError(
      `docker save of ${opts.image} failed: ${lastLine(saved)}`,
    );
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
  await Deno.rename(tmp, path);
  return path;
}
