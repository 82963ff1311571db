/**
 * The per-bottle state dir and its metadata.json (SPEC §4.5): dir 0700,
 * files 0600, atomic writes (temp file + rename). Never holds a secret.
 */
import type { MetadataRecord } from "../plan/plan_types.ts";

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
