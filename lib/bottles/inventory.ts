/**
 * Every bottle on this machine, joined by slug from three sources: state dirs
 * (metadata, status, keep marker, owner lock), Docker objects carrying
 * bot-bottle's labels or name prefix, and `smolvm machine ls --json`.
 *
 * Docker objects count only when they carry this state root's owner label
 * (io.bot-bottle.owner); anything else named `bot-bottle-*` is reported and
 * left alone.
 *
 * state: `running` while a live process owns the bottle; `stopped` when it
 * was torn down cleanly and nothing is left; `orphaned` for resources without
 * a live owner or state, and for state whose bottle never finished cleanly.
 */
import type { MetadataRecord } from "../plan/metadata_record.ts";
import {
  LABEL_BACKEND,
  LABEL_OWNER,
  LABEL_ROLE,
  LABEL_SLUG,
  ownerId,
  RESOURCE_PREFIX,
} from "../plan/resource_names.ts";
import { lastLine, type Runner } from "../host/runner.ts";
import { allBackends } from "../backends/registry.ts";
import {
  type BottleStatus,
  KEEP_MARKER,
  readMetadata,
  readStatus,
} from "../state/metadata_store.ts";
import { ownerAlive } from "../state/owner_lock.ts";
import { approvalTexts, readApprovals } from "../state/approvals.ts";

/** A container of a bottle. */
export interface ContainerEntry {
  name: string;
  state: string;
  role: string;
}

/** A smolvm machine of a bottle. */
export interface MachineEntry {
  name: string;
  state: string;
}

/** One bottle as `list --json` reports it (schema 1). */
export interface BottleEntry {
  slug: string;
  agent: string | null;
  backend: string | null;
  state: "running" | "stopped" | "orphaned";
  /** Why it is orphaned (empty otherwise). */
  reason: string;
  subnet: string | null;
  started_at: string | null;
  age_seconds: number | null;
  status: BottleStatus | null;
  state_dir: string | null;
  keep: boolean;
  containers: ContainerEntry[];
  networks: string[];
  machine: MachineEntry | null;
  /** Live approvals and denials (`bot-bottle approve|deny`), kept across resume. */
  approvals: { approved: string[]; denied: string[] };
}

/** The inventory and what could not be looked at. */
export interface Inventory {
  bottles: BottleEntry[];
  notes: string[];
  /**
   * What could not be listed: `docker` (containers or networks) and/or backends whose guests
   * could not be (`smolmachines`). Commands that remove things refuse while what they would
   * remove cannot be seen.
   */
  unlisted: string[];
}

/** Inputs: the runner, where state lives, and which tools are on PATH. */
export interface InventoryDeps {
  runner: Runner;
  stateRoot: string;
  now: Date;
  /** Whether `tool` is on PATH (a backend's guests are listed only when its tool is). */
  onPath(tool: string): Promise<boolean>;
}

const TAB = "\t";

/** `docker ps -a` of bot-bottle containers (by label and by name prefix). */
export const CONTAINERS_ARGV = [
  "docker",
  "ps",
  "--all",
  "--no-trunc",
  "--filter",
  `name=^${RESOURCE_PREFIX}`,
  "--format",
  `{{.Names}}${TAB}{{.State}}${TAB}{{.Label "${LABEL_SLUG}"}}${TAB}{{.Label "${LABEL_ROLE}"}}${TAB}{{.Label "${LABEL_BACKEND}"}}${TAB}{{.Label "${LABEL_OWNER}"}}`,
];

/** Same, for containers labelled but named otherwise. */
export const LABELLED_CONTAINERS_ARGV = CONTAINERS_ARGV.map((a) =>
  a === `name=^${RESOURCE_PREFIX}` ? `label=${LABEL_SLUG}` : a
);

/** `docker network ls` of bot-bottle networks. */
export const NETWORKS_ARGV = [
  "docker",
  "network",
  "ls",
  "--filter",
  `name=^${RESOURCE_PREFIX}`,
  "--format",
  `{{.Name}}${TAB}{{.Label "${LABEL_SLUG}"}}${TAB}{{.Label "${LABEL_BACKEND}"}}${TAB}{{.Label "${LABEL_OWNER}"}}`,
];

/** Same, for networks labelled but named otherwise. */
export const LABELLED_NETWORKS_ARGV = NETWORKS_ARGV.map((a) =>
  a === `name=^${RESOURCE_PREFIX}` ? `label=${LABEL_SLUG}` : a
);

/** One line of the container or network listing. */
interface DockerRow {
  name: string;
  state: string;
  slug: string;
  role: string;
  backend: string;
  owner: string;
}

/** Parse a listing line; containers have state and role columns, networks do not. */
function parseRow(line: string, argv: readonly string[]): DockerRow | null {
  const cells = line.split(TAB);
  if (!cells[0]) return null;
  if (argv[1] === "ps") {
    const [name, state = "", slug = "", role = "", backend = "", owner = ""] = cells;
    return { name, state, slug, role, backend, owner };
  }
  const [name, slug = "", backend = "", owner = ""] = cells;
  return { name, state: "", slug, role: "", backend, owner };
}

const ROLE_SUFFIXES = ["-bundle", "-agent-probe", "-agent", "-internal"];

/** The slug a resource name implies (`bot-bottle-<slug>[-role]`). */
export function slugFromName(name: string): string | null {
  if (!name.startsWith(RESOURCE_PREFIX)) return null;
  let rest = name.slice(RESOURCE_PREFIX.length);
  for (const suffix of ROLE_SUFFIXES) {
    if (rest.endsWith(suffix)) {
      rest = rest.slice(0, -suffix.length);
      break;
    }
  }
  return rest || null;
}

/** Collect the inventory. Never throws for a missing tool: it says so in `notes`. */
export async function collectInventory(deps: InventoryDeps): Promise<Inventory> {
  const notes: string[] = [];
  const unlisted = new Set<string>();
  const bySlug = new Map<string, BottleEntry>();
  const entry = (slug: string): BottleEntry => {
    let e = bySlug.get(slug);
    if (!e) {
      e = {
        slug,
        agent: null,
        backend: null,
        state: "orphaned",
        reason: "",
        subnet: null,
        started_at: null,
        age_seconds: null,
        status: null,
        state_dir: null,
        keep: false,
        containers: [],
        networks: [],
        machine: null,
        approvals: { approved: [], denied: [] },
      };
      bySlug.set(slug, e);
    }
    return e;
  };

  // Every listing is asked at once, while the state dirs are read; the answers are then taken
  // in a fixed order (state dirs, containers, networks, guests), so the result does not
  // depend on which came back first.
  const ask = (argv: string[]) =>
    deps.runner.run(argv).catch((e) => ({ code: -1, stdout: "", stderr: String(e) }));
  const containerLists = Promise.all([CONTAINERS_ARGV, LABELLED_CONTAINERS_ARGV].map(ask));
  const networkLists = Promise.all([NETWORKS_ARGV, LABELLED_NETWORKS_ARGV].map(ask));
  const guestLists = Promise.all(
    allBackends().map(async (backend) => {
      if (backend.guestTool !== null && !(await deps.onPath(backend.guestTool))) return null;
      return await backend.listGuests(deps.runner).catch((e) => ({ note: String(e) }));
    }),
  );

  // State dirs.
  const bottlesDir = `${deps.stateRoot}/bottles`;
  const owners = new Map<string, boolean>();
  const dirs: string[] = [];
  try {
    for await (const dirEntry of Deno.readDir(bottlesDir)) {
      if (dirEntry.isDirectory) dirs.push(dirEntry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      notes.push(`cannot read ${bottlesDir}: ${(error as Error).message}`);
    }
  }
  const states = await Promise.all(dirs.map((name) => readStateDir(`${bottlesDir}/${name}`)));
  dirs.forEach((name, i) => {
    const dir = `${bottlesDir}/${name}`;
    const state = states[i];
    const e = entry(name);
    e.state_dir = dir;
    const meta = state.meta;
    if (meta === "unreadable") notes.push(`unreadable metadata in ${dir}`);
    else if (meta) {
      e.agent = meta.agent;
      e.backend = meta.backend;
      e.subnet = meta.subnet;
      e.started_at = meta.started_at;
      const started = Date.parse(meta.started_at);
      if (!Number.isNaN(started)) {
        e.age_seconds = Math.max(0, Math.round((deps.now.getTime() - started) / 1000));
      }
    }
    e.status = state.status;
    e.approvals = state.approvals;
    e.keep = state.keep;
    owners.set(name, state.ownerAlive);
  });

  // Docker containers and networks; another state root's (another user's) are not ours.
  const me = ownerId(deps.stateRoot);
  const foreign = new Set<string>();
  const unlabelled = new Set<string>();
  /** Rows of both listings (by name prefix, by label), each object once, ours only. */
  const ownRows = async (
    what: string,
    argvs: string[][],
    answers: Promise<{ code: number; stdout: string; stderr: string }[]>,
    onRow: (slug: string, row: DockerRow) => void,
  ) => {
    const seen = new Set<string>();
    const results = await answers;
    for (const [i, argv] of argvs.entries()) {
      const r = results[i];
      if (r.code !== 0) {
        notes.push(`Docker ${what} not listed: ${lastLine(r)}`);
        unlisted.add("docker");
        return;
      }
      for (const line of r.stdout.split("\n")) {
        const row = parseRow(line, argv);
        if (!row || seen.has(row.name)) continue;
        seen.add(row.name);
        // Only what carries our owner label is ours: an unlabelled object that
        // merely looks like ours (a compose project in a dir named bot-bottle,
        // say) is someone else's, and cleanup must never remove it.
        if (row.owner !== me) {
          if (row.owner) foreign.add(row.slug || row.name);
          else unlabelled.add(row.name);
          continue;
        }
        const slug = row.slug || slugFromName(row.name);
        if (slug) onRow(slug, row);
      }
    }
  };
  await ownRows("containers", [CONTAINERS_ARGV, LABELLED_CONTAINERS_ARGV], containerLists, (
    slug,
    row,
  ) => {
    const e = entry(slug);
    e.containers.push({ name: row.name, state: row.state, role: row.role || "unknown" });
    e.backend ??= row.backend || null;
  });
  await ownRows("networks", [NETWORKS_ARGV, LABELLED_NETWORKS_ARGV], networkLists, (slug, row) => {
    const e = entry(slug);
    e.networks.push(row.name);
    e.backend ??= row.backend || null;
  });
  if (unlabelled.size > 0) {
    notes.push(
      `left alone, not labelled as bot-bottle's: ${[...unlabelled].sort().join(", ")} ` +
        "(named like bot-bottle resources; remove them with docker yourself if they are leftovers)",
    );
  }
  if (foreign.size > 0) {
    notes.push(
      `${foreign.size} bottle(s) owned by another bot-bottle state dir (another user or ` +
        "XDG_STATE_HOME) were left alone",
    );
  }

  // Guests a backend runs outside Docker (smolvm machines), when its tool is on PATH.
  const guests = await guestLists;
  for (const [i, backend] of allBackends().entries()) {
    const listed = guests[i];
    if (listed === null) continue;
    if ("note" in listed) {
      notes.push(listed.note);
      unlisted.add(backend.name);
      continue;
    }
    for (const guest of listed.guests) {
      const e = entry(guest.name.slice(RESOURCE_PREFIX.length));
      e.machine = { name: guest.name, state: guest.state };
      e.backend ??= backend.name;
    }
  }

  for (const e of bySlug.values()) {
    const hasResources = e.containers.length > 0 || e.networks.length > 0 || e.machine !== null;
    if (e.state_dir && owners.get(e.slug)) {
      e.state = "running";
    } else if (!e.state_dir) {
      e.state = "orphaned";
      e.reason = "resources without a state dir";
    } else if (hasResources) {
      e.state = "orphaned";
      e.reason = "resources left without a live bot-bottle process";
    } else if (e.status === "stopped") {
      e.state = "stopped";
    } else {
      e.state = "orphaned";
      e.reason = e.status === null
        ? "state dir without metadata status"
        : `state left "${e.status}" with nothing running`;
    }
  }
  const bottles = [...bySlug.values()].sort((
    a,
    b,
  ) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0));
  return { bottles, notes, unlisted: [...unlisted] };
}

/** What one state dir says of its bottle. */
async function readStateDir(dir: string): Promise<{
  meta: MetadataRecord | null | "unreadable";
  status: BottleEntry["status"];
  approvals: BottleEntry["approvals"];
  keep: boolean;
  ownerAlive: boolean;
}> {
  const [meta, status, approvals, keep, alive] = await Promise.all([
    readMetadata(dir).catch(() => "unreadable" as const),
    readStatus(dir),
    readApprovals(dir).catch(() => ({ approved: [], denied: [] })),
    exists(`${dir}/${KEEP_MARKER}`),
    ownerAlive(dir),
  ]);
  return { meta, status, approvals: approvalTexts(approvals), keep, ownerAlive: alive };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
