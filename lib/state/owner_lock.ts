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

const TAKE_TRIES = 20;
const TAKE_PAUSE_MS = 50;

/**
 * Take the owner lock (exclusive); null when another live process holds it.
 * A liveness probe holds a shared lock for an instant, so a failed try is
 * retried for about a second before the bottle counts as owned.
 */
export async function takeOwnerLock(stateDir: string): Promise<OwnerLock | null> {
  const file = await Deno.open(`${stateDir}/${LOCK_FILE}`, {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  let got = false;
  for (let i = 0; i < TAKE_TRIES && !got; i++) {
    got = await file.tryLock(true);
    if (!got) await new Promise((resolve) => setTimeout(resolve, TAKE_PAUSE_MS));
  }
  if (!got) {
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

/**
 * True when a live process holds the bottle's owner lock. The probe takes a
 * SHARED lock: it conflicts with the owner's exclusive lock only, so two
 * probes running at once never see each other as an owner.
 */
export async function ownerAlive(stateDir: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(`${stateDir}/${LOCK_FILE}`, { read: true });
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
