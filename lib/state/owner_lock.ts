/**
 * Who owns a bottle: the `start`/`resume` process holds an exclusive flock on
 * `<state dir>/owner.lock` for the bottle's whole life. The kernel drops it
 * when that process dies, however it dies (SIGKILL included), so `list` and
 * `cleanup` can tell a live bottle from leftovers without any other
 * permission.
 */

const LOCK_FILE = "owner.lock";

/** A held owner lock. */
export interface OwnerLock {
  release(): void;
}

/** Take the owner lock; false when another live process holds it. */
export async function takeOwnerLock(stateDir: string): Promise<OwnerLock | null> {
  const file = await Deno.open(`${stateDir}/${LOCK_FILE}`, {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  if (!(await file.tryLock(true))) {
    file.close();
    return null;
  }
  return {
    release() {
      try {
        file.unlockSync();
      } catch { /* already closed */ }
      try {
        file.close();
      } catch { /* already closed */ }
    },
  };
}

/** True when a live process holds the bottle's owner lock. */
export async function ownerAlive(stateDir: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(`${stateDir}/${LOCK_FILE}`, { read: true });
  } catch {
    return false;
  }
  try {
    const got = await file.tryLock(true);
    if (got) file.unlockSync();
    return !got;
  } finally {
    file.close();
  }
}
