/**
 * Removing a bottle's objects: a container, network or machine (the launch's
 * teardown stack calls these in reverse creation order, neighbours of one
 * kind at once), and
 * the sweep of everything labelled with a bottle's slug and owner (stop, rm,
 * cleanup, and the last step of every launch's teardown). Idempotent: an
 * object that is already gone counts as removed.
 */
import { LABEL_OWNER, LABEL_SLUG } from "../plan/resource_names.ts";
import {
  containerRmArgv,
  networkLsByLabelsArgv,
  networkRmArgv,
  psByLabelsArgv,
} from "../host/docker_argv.ts";
import { lastLine, type Runner } from "../host/runner.ts";
import { deleteArgv, stopArgv } from "../backends/smolvm/smolvm_argv.ts";
import type { TeardownFailure } from "../launch/teardown_stack.ts";

export type { TeardownFailure };

const GONE = /no such (container|network)|not found/i;
const IN_PROGRESS = /removal of container .* is already in progress/i;
const IN_PROGRESS_RETRIES = 40;
const IN_PROGRESS_WAIT_MS = 250;

/** Remove a container (and its anonymous volumes); null when it is gone, else why not. */
export async function removeContainer(runner: Runner, name: string): Promise<string | null> {
  let r = await runner.run(containerRmArgv(name));
  // Another process (`stop` racing the launch's own teardown) is removing it: wait, bounded,
  // until it is gone, so the networks after it are free and neither side reports a failure.
  for (let i = 0; i < IN_PROGRESS_RETRIES && r.code !== 0 && IN_PROGRESS.test(r.stderr); i++) {
    await new Promise((resolve) => setTimeout(resolve, IN_PROGRESS_WAIT_MS));
    r = await runner.run(containerRmArgv(name));
  }
  return r.code === 0 || GONE.test(r.stderr) ? null : lastLine(r);
}

/** Remove a network; null when it is gone, else why not. */
export async function removeNetwork(runner: Runner, name: string): Promise<string | null> {
  const r = await runner.run(networkRmArgv(name));
  return r.code === 0 || GONE.test(r.stderr) ? null : lastLine(r);
}

const MACHINE_GONE = /not found|not running/i;

/** Stop and delete a smolvm machine; null when it is gone, else why not. */
export async function removeMachine(runner: Runner, name: string): Promise<string | null> {
  const reasons: string[] = [];
  const stop = await runner.run(stopArgv(name));
  if (stop.code !== 0 && !MACHINE_GONE.test(`${stop.stderr}${stop.stdout}`)) {
    reasons.push(`stop: ${lastLine(stop)}`);
  }
  const del = await runner.run(deleteArgv(name));
  if (del.code !== 0 && !MACHINE_GONE.test(`${del.stderr}${del.stdout}`)) {
    reasons.push(`delete: ${lastLine(del)}`);
  }
  return reasons.length === 0 ? null : reasons.join("; ");
}

/** A bottle's labelled containers and networks, as Docker lists them now. */
export interface Labelled {
  containers: string[];
  networks: string[];
}

/** Everything labelled with `slug` (and, when given, owned by `owner`); both asked at once. */
export async function listLabelled(
  runner: Runner,
  slug: string,
  owner?: string,
): Promise<Labelled> {
  const labels = { [LABEL_SLUG]: slug, ...(owner ? { [LABEL_OWNER]: owner } : {}) };
  const [containers, networks] = await Promise.all([
    listNames(runner, psByLabelsArgv(labels)),
    listNames(runner, networkLsByLabelsArgv(labels)),
  ]);
  return { containers, networks };
}

/**
 * Remove `known` containers and networks (given in creation order) plus
 * everything else labelled with `slug` (and, when given, owned by `owner`):
 * the containers first (all at once, started newest first), then the networks.
 */
export async function teardownDocker(
  runner: Runner,
  slug: string,
  known: { containers: readonly string[]; networks: readonly string[] },
  owner?: string,
): Promise<TeardownFailure[]> {
  // Both asked at once: the sweep after every launch is on the teardown's critical path.
  const labelled = await listLabelled(runner, slug, owner);
  return await removeAll(runner, {
    containers: unique([...[...known.containers].reverse(), ...labelled.containers]),
    networks: unique([...[...known.networks].reverse(), ...labelled.networks]),
  });
}

/** Remove the containers at once (their removals started in order), then the networks at once. */
export async function removeAll(runner: Runner, what: Labelled): Promise<TeardownFailure[]> {
  const failures: TeardownFailure[] = [];
  const gone = await Promise.all(what.containers.map((name) => removeContainer(runner, name)));
  const netsGone = await Promise.all(what.networks.map((name) => removeNetwork(runner, name)));
  for (const [names, reasons] of [[what.containers, gone], [what.networks, netsGone]] as const) {
    names.forEach((name, i) => {
      if (reasons[i] !== null) failures.push({ name, reason: reasons[i]! });
    });
  }
  return failures;
}

/** Stop and delete a smolvm machine, as a failure list. */
export async function teardownMachine(runner: Runner, name: string): Promise<TeardownFailure[]> {
  const reason = await removeMachine(runner, name);
  return reason === null ? [] : [{ name, reason }];
}

async function listNames(runner: Runner, argv: string[]): Promise<string[]> {
  const r = await runner.run(argv);
  if (r.code !== 0) return [];
  return r.stdout.split("\n").map((l) => l.split("\t")[0].trim()).filter(Boolean);
}

function unique(names: string[]): string[] {
  return [...new Set(names)];
}
