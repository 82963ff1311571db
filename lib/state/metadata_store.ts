/**
 * The per-bottle state dir and its metadata.json (SPEC §4.5): dir 0700,
 * files 0600, atomic writes (temp file + rename). Never holds a secret.
 */
import type { MetadataRecord } from "../plan/metadata_record.ts";

/** Create `dir` (and parents) with mode 0700; tighten it if it already exists. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await Deno.chmod(dir, 0o700);
}

/** Write `text` to `path` atomically with mode `mode`. */
export async function writeFileAtomic(path: string, text: string, mode = 0o600): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    await Deno.writeTextFile(tmp, text, { mode, createNew: true });
    await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/** Write the metadata record of a bottle into its state dir. */
export async function writeMetadata(stateDir: string, record: MetadataRecord): Promise<void> {
  await ensurePrivateDir(stateDir);
  await writeFileAtomic(`${stateDir}/metadata.json`, `${JSON.stringify(record, null, 2)}\n`);
}

/** Read a bottle's metadata record; null when there is none. */
export async function readMetadata(stateDir: string): Promise<MetadataRecord | null> {
  try {
    return JSON.parse(await Deno.readTextFile(`${stateDir}/metadata.json`)) as MetadataRecord;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** Where a launch is in its life; written beside metadata.json. */
export type BottleStatus = "starting" | "running" | "stopped";

/** Record the status of a bottle (`status` file, atomic). */
export async function writeStatus(stateDir: string, status: BottleStatus): Promise<void> {
  await writeFileAtomic(`${stateDir}/status`, `${status}\n`);
}

/** The recorded status, or null when there is none or it is unreadable. */
export async function readStatus(stateDir: string): Promise<BottleStatus | null> {
  try {
    const text = (await Deno.readTextFile(`${stateDir}/status`)).trim();
    return text === "starting" || text === "running" || text === "stopped" ? text : null;
  } catch {
    return null;
  }
}

/** Name of the marker file that keeps a state dir through `cleanup`. */
export const KEEP_MARKER = "keep";

/**
 * Reserve a new bottle's state dir: a plain (non-recursive) mkdir is atomic,
 * so two launches can never get the same slug. False when it already exists.
 */
export async function reserveStateDir(stateDir: string): Promise<boolean> {
  await ensurePrivateDir(stateDir.slice(0, stateDir.lastIndexOf("/")));
  try {
    await Deno.mkdir(stateDir, { mode: 0o700 });
    await Deno.chmod(stateDir, 0o700);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  }
}
