/**
 * One test's private world: a temp dir holding its HOME, XDG_STATE_HOME (bot-bottle's state
 * root is `<state>/bot-bottle`), XDG_DATA_HOME (the fake smolvm's DB), XDG_CONFIG_HOME, an
 * `out` dir for agents' findings and an empty working dir; the CLI's whole environment (nothing
 * else of the host's leaks in); manifests; the CLI run in it; and, in `cleanup`, the removal of
 * everything its bottles (or the test) left in Docker, then of the temp dir.
 *
 * Every sandbox has a unique `prefix` (`bbtest-<random>`), the default `--label` of the
 * bottles it starts, so what they create is named `bot-bottle-<prefix>-...` and found by that.
 *
 * Network rule: the egress probe's direct target is either a closed port on 127.0.0.1 (the
 * default: the guest's own loopback, on docker and in the fake smolvm's guest container) or,
 * with `network`, a container of the sandbox's own on its own `--internal` test network (under
 * the fake smolvm the guest is given a route to it, FAKE_SMOLVM_EXTRA_NETWORKS, so only the
 * emulated allowlist stands between them). Nothing else is dialled.
 */
import assert from "node:assert/strict";
import { ownerId } from "../../lib/plan/resource_names.ts";
import { Cli, type CliResult } from "./cli.ts";
import {
  containersNamed,
  createTestNetwork,
  labelled,
  networksNamed,
  owned,
  removeAll,
  uniquePrefix,
} from "./docker.ts";
import { guestsUnder, machineRows } from "./fake_smolvm.ts";
import { ensureImages, fixtureImage, saveAgentArchive } from "./images.ts";
import { FAKE_BIN, hostDenoDir } from "./paths.ts";
import { startProbeTarget } from "./upstreams.ts";

/** How to make a {@link Sandbox}. */
export interface SandboxOptions {
  /** Put the fake smolvm first on PATH (and, unless bare, log its calls to `smolvmLog`). */
  fakeSmolvm?: boolean;
  /**
   * Create an `--internal` test network (`<prefix>-net`) with a probe target on it (a
   * container listening on 443) and aim the egress probe at it.
   */
  network?: boolean;
  /** Written to `<dir>/bot-bottle.toml` (the sandbox's `manifest`). */
  manifest?: string;
  /** Put a `docker save` archive of the agent image in the state root's image cache. */
  agentArchive?: boolean;
  /** Plant the sandbox's `needle` (a unique value) in this host variable of the CLI's env. */
  secretVar?: string;
  /**
   * Only PATH, HOME and DENO_DIR in the environment, no images, no Docker at cleanup: for
   * running the fake smolvm by itself (its DB then lands under HOME, where smolvm puts it).
   */
  bare?: boolean;
  /** Added to (and overriding) the environment. */
  env?: Record<string, string>;
}

/** `list --json`. */
export interface ListDoc {
  schema: number;
  notes: string[];
  bottles: {
    slug: string;
    agent: string | null;
    backend: string | null;
    state: "running" | "stopped" | "orphaned";
    reason: string;
    subnet: string | null;
    status: string | null;
    state_dir: string | null;
    keep: boolean;
    containers: { name: string; state: string; role: string }[];
    networks: string[];
    machine: { name: string; state: string } | null;
  }[];
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

export class Sandbox {
  /** Docker containers the test made itself (removed at cleanup, before the networks). */
  readonly containers: string[] = [];
  /** Docker networks the test made itself (removed at cleanup). */
  readonly networks: string[] = [];
  /** The fake smolvm's DB for this environment (a test may point it elsewhere). */
  dbPath: string;

  private constructor(
    /** The temp dir holding everything. */
    readonly dir: string,
    /** `bbtest-<random>`: the default label of the bottles this sandbox starts. */
    readonly prefix: string,
    /** The CLI's whole environment (tests may change it). */
    readonly env: Record<string, string>,
    /** A unique value, planted in the CLI's env when `secretVar` was given. */
    readonly needle: string,
    private readonly bare: boolean,
  ) {
    this.dbPath = bare
      ? `${this.home}/.local/share/smolvm/server/smolvm.db`
      : `${this.data}/smolvm/server/smolvm.db`;
  }

  static async create(opts: SandboxOptions = {}): Promise<Sandbox> {
    if (!opts.bare) await ensureImages();
    const dir = await Deno.makeTempDir({ prefix: "bbtest-" });
    const prefix = uniquePrefix();
    const needle = `bbneedle-${crypto.randomUUID()}`;
    const path = Deno.env.get("PATH") ?? "/usr/bin:/bin";
    const env: Record<string, string> = {
      PATH: opts.fakeSmolvm ? `${FAKE_BIN}:${path}` : path,
      HOME: `${dir}/home`,
      DENO_DIR: await hostDenoDir(),
    };
    const sb = new Sandbox(dir, prefix, env, needle, opts.bare ?? false);
    await Deno.mkdir(sb.home);
    if (!opts.bare) {
      for (const sub of [sb.state, sb.data, sb.config, sb.out, sb.cwd]) await Deno.mkdir(sub);
      Object.assign(env, {
        XDG_STATE_HOME: sb.state,
        XDG_DATA_HOME: sb.data,
        XDG_CONFIG_HOME: sb.config,
        NO_COLOR: "1",
        BOT_BOTTLE_PROBE_TARGET: `127.0.0.1:${closedPort()}`,
      });
      if (opts.fakeSmolvm) env.FAKE_SMOLVM_LOG = sb.smolvmLog;
      for (const name of ["DOCKER_HOST", "DOCKER_CONFIG", "BOT_BOTTLE_BASE_IMAGE"]) {
        const value = Deno.env.get(name);
        if (value) env[name] = value;
      }
    }
    if (opts.secretVar) env[opts.secretVar] = needle;
    Object.assign(env, opts.env);
    try {
      if (opts.manifest !== undefined) await sb.writeManifest(opts.manifest);
      if (opts.network) {
        const fixture = await fixtureImage();
        sb.networks.push(sb.network);
        await createTestNetwork(sb.network);
        const target = `${prefix}-target`;
        sb.containers.push(target);
        env.BOT_BOTTLE_PROBE_TARGET = await startProbeTarget(target, sb.network, fixture);
        if (opts.fakeSmolvm) env.FAKE_SMOLVM_EXTRA_NETWORKS = sb.network;
      }
      if (opts.agentArchive) {
        // Fill the product's own `docker save` cache once, so parallel launches do not each save.
        await Deno.mkdir(sb.stateRoot, { mode: 0o700 });
        await saveAgentArchive(`${sb.stateRoot}/images`);
      }
    } catch (error) {
      await sb.cleanup();
      throw error;
    }
    return sb;
  }

  get home(): string {
    return `${this.dir}/home`;
  }
  /** XDG_STATE_HOME. */
  get state(): string {
    return `${this.dir}/state`;
  }
  /** XDG_DATA_HOME (the fake smolvm's DB lives under it). */
  get data(): string {
    return `${this.dir}/data`;
  }
  /** XDG_CONFIG_HOME. */
  get config(): string {
    return `${this.dir}/config`;
  }
  /** A directory agents (running on the host under the fake smolvm) write findings to. */
  get out(): string {
    return `${this.dir}/out`;
  }
  /**
   * The CLI's working directory: empty, so there is no project manifest (`<cwd>/bot-bottle.toml`)
   * beside the sandbox's manifests, which define bottles and are passed with `--manifest`.
   */
  get cwd(): string {
    return `${this.dir}/work`;
  }
  /** FAKE_SMOLVM_LOG (set when the fake is on PATH). */
  get smolvmLog(): string {
    return `${this.dir}/smolvm-calls.jsonl`;
  }
  /** The default manifest path (`opts.manifest` is written there). */
  get manifest(): string {
    return `${this.dir}/bot-bottle.toml`;
  }
  /** bot-bottle's state root. */
  get stateRoot(): string {
    return `${this.state}/bot-bottle`;
  }
  /** The owner id the state root's bottles are labelled with. */
  get owner(): string {
    return ownerId(this.stateRoot);
  }
  /** The test network (with `network`). */
  get network(): string {
    return `${this.prefix}-net`;
  }
  /** Where the egress probe aims (`host:port`). */
  get probeTarget(): string {
    return this.env.BOT_BOTTLE_PROBE_TARGET;
  }

  /** A bottle's state dir. */
  stateDir(slug: string): string {
    return `${this.stateRoot}/bottles/${slug}`;
  }

  /** Writes a manifest into the sandbox; returns its path. */
  async writeManifest(text: string, name = "bot-bottle.toml"): Promise<string> {
    const path = `${this.dir}/${name}`;
    await Deno.writeTextFile(path, text);
    return path;
  }

  /** Hard-links a saved agent image archive into the state root's image cache. */
  async seedArchive(archive: string): Promise<void> {
    const dir = `${this.stateRoot}/images`;
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const name = archive.slice(archive.lastIndexOf("/") + 1);
    await Deno.link(archive, `${dir}/${name}`);
    await Deno.link(`${archive}.sha256`, `${dir}/${name}.sha256`);
  }

  /** Spawn the CLI (`main.ts <args>`) in this sandbox, `env` added to its environment. */
  spawn(args: string[], env: Record<string, string> = {}): Cli {
    return new Cli(args, { env: { ...this.env, ...env }, cwd: this.cwd });
  }

  /** Run the CLI to completion (bounded). */
  run(args: string[], env: Record<string, string> = {}, timeoutMs = 300_000): Promise<CliResult> {
    return this.spawn(args, env).wait(timeoutMs);
  }

  /**
   * `start <agent> [--backend B] --yes --manifest M --label L [-- args]`; the manifest defaults
   * to the sandbox's, the label to its prefix.
   */
  startArgs(
    agent: string,
    opts: { backend?: string; manifest?: string; label?: string; args?: string[] } = {},
  ): string[] {
    return [
      "start",
      agent,
      ...(opts.backend ? ["--backend", opts.backend] : []),
      "--yes",
      "--manifest",
      opts.manifest ?? this.manifest,
      "--label",
      opts.label ?? this.prefix,
      ...(opts.args ? ["--", ...opts.args] : []),
    ];
  }

  /** {@link startArgs} in the background. */
  start(
    agent: string,
    opts: {
      backend?: string;
      manifest?: string;
      label?: string;
      args?: string[];
      env?: Record<string, string>;
    } = {},
  ): Cli {
    return this.spawn(this.startArgs(agent, opts), opts.env);
  }

  /** The slug of the sandbox's bottle (its one state dir), or null before there is one. */
  async recordedSlug(): Promise<string | null> {
    try {
      for await (const entry of Deno.readDir(`${this.stateRoot}/bottles`)) {
        if (entry.isDirectory) return entry.name;
      }
    } catch { /* no state yet */ }
    return null;
  }

  /**
   * `list --json`, parsed, with `bottles` narrowed to this sandbox's: resources another test
   * creates beside this one without an owner label (the bundle tests do) are listed by every
   * state root, and are not this test's business.
   */
  async list(): Promise<ListDoc> {
    const r = await this.run(["list", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as ListDoc;
    return {
      ...doc,
      bottles: doc.bottles.filter((b) => b.state_dir || b.slug.startsWith(`${this.prefix}-`)),
    };
  }

  /** Machine names in the fake smolvm's DB, sorted. */
  machines(): string[] {
    return machineRows(this.dbPath);
  }

  /** Everything this sandbox's state root owns in Docker. */
  owned(): Promise<{ containers: string[]; networks: string[] }> {
    return owned(this.owner);
  }

  /** The fake smolvm's guest containers of machines in this sandbox's state DBs. */
  guests(): Promise<string[]> {
    return guestsUnder(this.dir);
  }

  /**
   * Everything that carries this sandbox's prefix: containers, networks (by name and by the
   * slug label of its one bottle), fake-smolvm machine rows and their guest containers. Empty
   * = nothing left behind.
   */
  async leftovers(): Promise<string[]> {
    const named = `bot-bottle-${this.prefix}-`;
    const found = [
      ...(await containersNamed(named)).map((n) => `container ${n}`),
      ...(await networksNamed(named)).map((n) => `network ${n}`),
      ...machineRows(this.dbPath, named).map((n) => `machine ${n}`),
      ...(await this.guests()).map((n) => `guest container ${n}`),
    ];
    const slug = await this.recordedSlug();
    if (slug) {
      const left = await labelled(slug);
      found.push(...left.networks.map((n) => `labelled network ${n}`));
      found.push(...left.containers.map((n) => `labelled container ${n}`));
    }
    return [...new Set(found)];
  }

  /**
   * Safety net for `finally`: removes the test's own containers and networks, whatever this
   * sandbox's bottles left (owned by its state root, or named after its prefix), then the temp
   * dir.
   */
  async cleanup(): Promise<void> {
    // The fake smolvm's guests first: they sit on the bottles' networks.
    const guests = await this.guests().catch(() => []);
    if (guests.length > 0) await removeAll(guests, []).catch(() => {});
    if (!this.bare) {
      const named = `bot-bottle-${this.prefix}-`;
      const mine = await this.owned().catch(() => ({ containers: [], networks: [] }));
      const containers = [
        ...this.containers,
        ...mine.containers,
        ...await containersNamed(named).catch(() => []),
      ];
      const networks = [
        ...mine.networks,
        ...await networksNamed(named).catch(() => []),
        ...this.networks,
      ];
      await removeAll(containers, networks);
    }
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
