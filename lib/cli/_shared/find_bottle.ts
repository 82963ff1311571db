/**
 * Look a bottle up by slug for the commands that act on one (logs, approve,
 * deny, exec, verify): its state dir and metadata, or a plain refusal that
 * names what was looked at and where the known bottles are listed.
 */
import { UserError } from "../../errors.ts";
import type { MetadataRecord } from "../../plan/metadata_record.ts";
import { isValidSlug } from "../../plan/slug.ts";
import { readMetadata, readStatus } from "../../state/metadata_store.ts";
import { ownerAlive } from "../../state/owner_lock.ts";
import { bottleStateDir, stateRoot } from "../../state/state_paths.ts";
import type { CliContext } from "./context.ts";

/** A recorded bottle. */
export interface FoundBottle {
  slug: string;
  stateDir: string;
  meta: MetadataRecord;
  /** A live bot-bottle process owns it and its guest is up (status `running`). */
  running: boolean;
}

/** The bottle `slug`, or a UserError. */
export async function findBottle(ctx: CliContext, slug: string): Promise<FoundBottle> {
  const root = stateRoot(ctx.env);
  const stateDir = bottleStateDir(root, slug);
  const meta = isValidSlug(slug) ? await readMetadata(stateDir).catch(() => null) : null;
  if (!meta) {
    throw new UserError(`no bottle "${slug}": nothing is recorded in ${stateDir}`, {
      hint: "see `bot-bottle list` for the bottles there are",
    });
  }
  return { slug, stateDir, meta, running: await isRunning(stateDir) };
}

/** Whether the bottle of `stateDir` is up: its owner lives and it reached `running`. */
export async function isRunning(stateDir: string): Promise<boolean> {
  return await ownerAlive(stateDir) && (await readStatus(stateDir)) === "running";
}
