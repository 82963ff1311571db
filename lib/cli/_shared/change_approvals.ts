/**
 * What `approve` and `deny` share: parse the host by the manifest's own
 * grammar (so nothing is approved that a manifest could not list), record the
 * change in the bottle's control file, and, when the bottle runs, wait until
 * its bundle has taken it in (the audit log shows the reload) — a change the
 * bundle never applied is reported as a failure, not as done.
 */
import { followAudit } from "../../audit/audit_follower.ts";
import { UsageError, UserError } from "../../errors.ts";
import {
  type EgressEntry,
  formatEgressEntry,
  parseEgressEntry,
} from "../../policy/egress_entry.ts";
import { quote } from "../../policy/quote.ts";
import { readApprovals, withApproval, withDenial, writeApprovals } from "../../state/approvals.ts";
import type { CliContext } from "./context.ts";
import { findBottle, isRunning } from "./find_bottle.ts";

/** How long a running bundle may take to confirm (it polls every 0.5 s). */
const CONFIRM_MS = 3000;

/** Run `approve` or `deny`. */
export async function changeApprovals(
  ctx: CliContext,
  opts: { slug: string; host: string; action: "approve" | "deny"; json: boolean },
): Promise<number> {
  const entry = parseHostArg(opts.host, opts.action);
  const text = formatEgressEntry(entry);
  const bottle = await findBottle(ctx, opts.slug);
  const before = await readApprovals(bottle.stateDir);
  const listed = await manifestAllow(bottle.stateDir);
  const leaf = bottle.meta.bottles[bottle.meta.bottles.length - 1];
  const already = opts.action === "approve"
    ? before.approved.some((e) => formatEgressEntry(e) === text)
    : before.denied.some((e) => formatEgressEntry(e) === text);
  let appliedMs: number | null = null;
  if (!already) {
    const after = opts.action === "approve"
      ? withApproval(before, entry)
      : withDenial(before, entry);
    appliedMs = bottle.running
      ? await writeAndConfirm(bottle.stateDir, () => writeApprovals(bottle.stateDir, after))
      : (await writeApprovals(bottle.stateDir, after), null);
    if (bottle.running && appliedMs === null) {
      throw new UserError(
        `${
          opts.action === "approve" ? "approved" : "denied"
        } ${text} in the state of bottle ${opts.slug}, ` +
          `but its bundle did not confirm the reload within ${CONFIRM_MS / 1000} s`,
        {
          hint:
            `see \`bot-bottle logs ${opts.slug}\`; the change applies at its next reload or resume`,
        },
      );
    }
  }
  const verb = opts.action === "approve" ? "approved" : "denied";
  const where = already
    ? `${text} was already ${verb} for bottle ${opts.slug}; nothing changed`
    : bottle.running
    ? `${verb} ${text} for bottle ${opts.slug}: the bundle applied it in ${
      (appliedMs! / 1000).toFixed(1)
    } s, without a restart${
      opts.action === "deny" ? " (open connections stay until they close)" : ""
    }`
    : `${verb} ${text} for bottle ${opts.slug}, which is stopped: \`bot-bottle resume ${opts.slug}\` ` +
      "starts it with this";
  const keep = opts.action === "approve"
    ? (listed.includes(text)
      ? null
      : `egress.allow = ${
        tomlList([...listed, text])
      }  # in [bottles.${leaf}] of your user manifest`)
    : (listed.includes(text)
      ? `egress.allow = ${tomlList(listed.filter((e) => e !== text))}  # in [bottles.${leaf}]: ` +
        `${text} is listed in the manifest; this denial overrides it for this bottle only`
      : null);
  if (opts.json) {
    ctx.stdout(`${
      JSON.stringify({
        schema: 1,
        slug: opts.slug,
        action: opts.action,
        entry: text,
        changed: !already,
        running: bottle.running,
        applied_ms: appliedMs,
        manifest_line: keep,
      })
    }\n`);
    return 0;
  }
  ctx.stderr(`bot-bottle: ${where}\n`);
  if (keep !== null) {
    ctx.stderr(
      opts.action === "approve"
        ? "bot-bottle: to allow it in every new bottle of this kind, put this in the manifest:\n"
        : "bot-bottle: to keep it out of new bottles, put this in the manifest:\n",
    );
    ctx.stdout(`${keep}\n`);
  }
  return 0;
}

/** The host argument, by the manifest's grammar; a usage error says why not. */
export function parseHostArg(host: string, action: string): EgressEntry {
  const parsed = parseEgressEntry(host);
  if ("problem" in parsed) {
    throw new UsageError(
      `${action}: ${quote(host)} ${parsed.problem}`,
      `${action} takes what egress.allow takes: a host name, "*.suffix", an IPv4 address, ` +
        "each optionally with :port",
    );
  }
  return parsed.entry;
}

/** The bottle's manifest allowlist as the launch rendered it (empty if not rendered yet). */
async function manifestAllow(stateDir: string): Promise<string[]> {
  try {
    const policy = JSON.parse(await Deno.readTextFile(`${stateDir}/bundle/policy.json`));
    return Array.isArray(policy?.allow)
      ? (policy.allow as EgressEntry[]).map(formatEgressEntry)
      : [];
  } catch {
    return [];
  }
}

function tomlList(items: string[]): string {
  return `[${items.map((i) => JSON.stringify(i)).join(", ")}]`;
}

/** Write, then wait for the bundle's reload record; the ms it took, or null. */
async function writeAndConfirm(
  stateDir: string,
  write: () => Promise<void>,
): Promise<number | null> {
  const controller = new AbortController();
  const deadline = setTimeout(() => controller.abort(), CONFIRM_MS);
  let started = 0;
  let applied: number | null = null;
  let ready!: () => void;
  const positioned = new Promise<void>((resolve) => (ready = resolve));
  const following = followAudit(stateDir, (record) => {
    if (record.source === "policy" && record.decision === "reload" && started > 0) {
      applied = Date.now() - started;
      controller.abort();
    }
  }, {
    fromEnd: true,
    signal: controller.signal,
    intervalMs: 100,
    onReady: ready,
    done: async () => !(await isRunning(stateDir)),
  });
  await positioned;
  started = Date.now();
  try {
    await write();
    await following;
  } finally {
    clearTimeout(deadline);
    controller.abort();
    await following;
  }
  return applied;
}
