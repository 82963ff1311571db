/**
 * The state an incremental capture starts from (SPEC §11): right after the
 * workspace is in the guest, and before the agent runs, GNU tar in the guest
 * records every directory's listing and the time (a `--listed-incremental`
 * snapshot file, outside /workspace; no file's contents are read). A capture
 * then sends only what changed since (contents by mtime or ctime — ctime,
 * which no user can set back, catches a file touched back to an old date)
 * and which names are gone. `level0.json` says which archives that state is
 * made of, for this launch only.
 *
 * A guest without GNU tar (busybox) cannot: its captures send the whole
 * workspace, as before.
 */
import type { Backend } from "../backends/backend.ts";
import type { Runner } from "../host/runner.ts";
import { GUEST_WORKSPACE, workspaceFiles, writeLevel0 } from "./workspace_state.ts";

/** Where the guest keeps the snapshot file (the agent's own /tmp: it can only spoil its own). */
export const GUEST_SNAR = "/tmp/.bot-bottle-workspace.snar";

/** The guest side (pure): the snapshot file, with nothing archived. */
export const LEVEL0_ARGV = [
  "tar",
  "-c",
  "-f",
  "/dev/null",
  `--listed-incremental=${GUEST_SNAR}`,
  "-C",
  GUEST_WORKSPACE,
  ".",
];

/** Record the guest's workspace as it is now; true when the guest could. */
export async function markLevel0(opts: {
  runner: Runner;
  backend: Backend;
  slug: string;
  stateDir: string;
  run: string;
  /** The archives the workspace was made from (names in the workspace dir). */
  archives: string[];
}): Promise<boolean> {
  const files = workspaceFiles(opts.stateDir);
  await Deno.remove(files.level0).catch(() => {});
  const r = await opts.runner.run(
    opts.backend.execArgv({ slug: opts.slug, secretNames: [] }, LEVEL0_ARGV, {
      stdin: false,
      tty: false,
    }),
  );
  if (r.code !== 0) return false;
  await writeLevel0(opts.stateDir, { schema: 1, run: opts.run, archives: opts.archives });
  return true;
}
