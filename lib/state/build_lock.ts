/**
 * Which image builds are running: a build holds an exclusive flock on
 * `<state root>/builds/<tag>.lock` while it runs (the kernel drops it however
 * the process ends), so two launches never build the same image at once and
 * `cleanup` can tell a live build's intermediate containers from a dead one's.
 */
import { ensurePrivateDir } from "./metadata_store.ts";

/** A held build lock. */
export interface BuildLock {
  release(): void;
}

/** The lock file of the build of `tag`. */
export function buildLockPath(lockDir: string, tag: string): string {
  return `${lockDir}/${tag.replace(/[^A-Za-z0-9_.-]/g, "_")}.lock`;
}

const POLL_MS = 250;

/**
 * Take the build lock of `tag`, waiting while another process holds it; `signal` ends the
 * wait (by throwing its reason).
 */
export async function takeBuildLock(
  lockDir: string,
  tag: string,
  opts: { signal?: AbortSignal; onWait?: () => void } = {},
): Promise<BuildLock> {
  await ensurePrivateDir(lockDir);
  const file = await Deno.open(buildLockPath(lockDir, tag), {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  let waited = false;
  try {
    while (!(await file.tryLock(true))) {
      if (!waited) opts.onWait?.();
      waited = true;
      opts.signal?.throwIfAborted();
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } catch (error) {
    file.close();
    throw error;
  }
  return {
    release() {
      try {
        file.close();
      } catch { /* already closed */ }
    },
  };
}

/** True when a live process holds the build lock of `tag` (a shared probe, as owner locks). */
export async function buildAlive(lockDir: string, tag: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(buildLockPath(lockDir, tag), { read: true });
  } catch {
    return false;
  }
  try {
    const got = await file.tryLock(false);
    if (got) file.unlockSync();
    return !got;
  } finally {
    file.close();
  }
}
