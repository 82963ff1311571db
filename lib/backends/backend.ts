/**
 * What a backend is: everything that differs between running the guest in a
 * Docker container and in a smolvm microVM. The launch pipeline
 * (lib/launch/launch_pipeline.ts) calls these steps in order and owns the
 * teardown; `stop`, `rm`, `cleanup`, `list` and (later) `exec` use the rest.
 * The registry (registry.ts) is the one place a backend is picked by name.
 */
import type { TakenRange } from "../plan/bundle_subnet.ts";
import type { BackendName, Plan, PlannedResource } from "../plan/plan_types.ts";
import type { HostProbe, PreflightCheck, PreflightDeps } from "../host/preflight.ts";
import type { Runner } from "../host/runner.ts";
import type { TeardownFailure, TeardownStack } from "../launch/teardown_stack.ts";

/** A bottle network's subnet in the plan: the /24 the bundle serves, or the docker bridge. */
export type SubnetRole = "subnet" | "bridge";

/** Environment lookup. */
export interface Env {
  get(name: string): string | undefined;
}

/** The backend's share of the plan. */
export interface GuestPlanInput {
  slug: string;
  env: Record<string, string>;
  bundleIp: string;
  cpus: number;
  memoryMib: number;
  workdir?: string;
  /** The bottle's `runtime` (docker backend). */
  runtime?: "runc" | "runsc";
}

/** The backend's share of the plan, rendered. */
export interface GuestPlan {
  /** What a launch creates, in creation order. */
  create: PlannedResource[];
  /** The rendered Smolfile (smolmachines only). */
  smolfile: string | null;
  /** The container runtime the agent runs under (docker only). */
  runtime: "runc" | "runsc" | null;
}

/** One launch in progress, as the backend steps see it. */
export interface Launch {
  /** The plan in force (a create-time subnet overlap may replace it). */
  plan: Plan;
  /** Bound to the launch's interrupts: an interrupt kills the running call and throws. */
  readonly runner: Runner;
  /** Every resource a step creates is added here the moment it exists. */
  readonly teardown: TeardownStack;
  /** The unbound runner teardown steps use (they must run after an interrupt). */
  readonly teardownRunner: Runner;
  readonly env: Env;
  readonly signal: AbortSignal;
  /** The images, once the pipeline has made sure they exist. */
  images: { agent: string; bundle: string };
  readonly os: string;
  /** Host facts (uid, passwd home) for backends that need them. */
  readonly probe: HostProbe;
  /** Where the smolmachines backend caches `docker save` archives. */
  readonly imageCacheDir: string;
  progress(line: string): void;
  /**
   * Re-resolve the plan with more ranges taken (a create-time overlap); `keep` names the
   * subnets already created, which must not move.
   */
  replan(extra: TakenRange[], keep: SubnetRole[]): Plan;
}

/** Where the egress probe aims its direct connection. */
export interface ProbeTarget {
  host: string;
  port: number;
}

/** How a command runs in the guest. */
export interface ExecMode {
  /** Forward stdin. */
  stdin: boolean;
  /** Allocate a terminal (implies stdin). */
  tty: boolean;
  /** The backend's own limit for the command, e.g. "30s". */
  timeout?: string;
  /**
   * Run as root instead of the agent's user (docker only: smolvm 1.9.3's exec has no user
   * option, so it runs as the image's user whatever this says).
   */
  asRoot?: boolean;
}

/** A bottle, for commands that act on one after its launch (exec, stop, rm). */
export interface BottleRef {
  slug: string;
  /** Guest names of the bottle's secrets (their values come from the caller's environment). */
  secretNames: string[];
}

/** The objects of one bottle that teardown should remove. */
export interface BottleObjects {
  slug: string;
  owner: string;
  containers: string[];
  networks: string[];
  machine: string | null;
}

/** A guest the backend runs (smolvm machines; docker guests are containers, listed with them). */
export interface GuestEntry {
  name: string;
  state: string;
}

/** One backend. */
export interface Backend {
  readonly name: BackendName;
  /** Whether it needs a second network (the docker backend's egress bridge) with its own /24. */
  readonly needsBridge: boolean;
  /** Every preflight check a bottle on this backend needs, Docker's included. */
  preflight(deps: PreflightDeps): Promise<PreflightCheck[]>;
  /** The backend's part of the plan. Pure. */
  planGuest(input: GuestPlanInput): GuestPlan;
  /**
   * Where the guest's trust files go (the bundle's CA, `ca_certs`), and whether the guest's
   * system store can be extended too (that needs a root exec in the guest).
   */
  readonly guestTrust: { caDir: string; systemStore: boolean };
  /** Work before anything is created (smolmachines: the image archive). */
  prepare(launch: Launch): Promise<void>;
  /** The bottle's network(s) and its bundle, healthy. */
  networkAndBundle(launch: Launch): Promise<void>;
  /** The guest, created but not running the agent. */
  createGuest(launch: Launch): Promise<void>;
  /** Read back what the runtime stored, fail closed; a line for the progress log, or null. */
  verify(launch: Launch): Promise<string | null>;
  /** Boot the guest. */
  start(launch: Launch): Promise<void>;
  /** The egress probe from inside the guest: its verdict, or a UserError saying what leaked. */
  probe(launch: Launch, target: ProbeTarget): Promise<string>;
  /** argv that runs `command` in the guest as the agent's user, with the agent's environment. */
  execArgv(bottle: BottleRef, command: readonly string[], mode: ExecMode): string[];
  /** The guest, by name, for messages (`bot-bottle-<slug>-agent`, the machine). */
  guestName(slug: string): string;
  /** How to remove the guest by hand when teardown could not (null: `cleanup` is enough). */
  leftoverHint(slug: string): string | null;
  /** Remove a bottle's objects on this backend (stop, rm, cleanup); what could not be removed. */
  teardown(runner: Runner, objects: BottleObjects): Promise<TeardownFailure[]>;
  /**
   * Whether `execArgv`'s program can be given an open pipe as its stdin (the docker CLI reads a
   * non-blocking one through Go's poller): the workspace copy then never passes through this
   * process. smolvm's exec reads stdin as a plain blocking file: it is fed through a pipe.
   */
  readonly execStdinFromFd: boolean;
  /** The program whose guests `listGuests` reports (null: none beyond Docker's). */
  readonly guestTool: string | null;
  /** This backend's own guests for the inventory (null: it has none beyond containers). */
  listGuests(runner: Runner): Promise<{ guests: GuestEntry[] } | { note: string } | null>;
}
