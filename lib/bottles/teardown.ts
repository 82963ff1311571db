/**
 * Tear a bottle down: every container and network named after or labelled
 * with its slug, agent first, networks last. Idempotent: "no such ..." is
 * success. Best effort per item; what could not be removed is returned.
 */
import { LABEL_OWNER, LABEL_SLUG } from "../plan/resource_names.ts";
import {
  containerRmArgv,
  networkLsByLabelsArgv,
  networkRmArgv,
  psByLabelsArgv,
} from "../host/docker_argv.ts";
import type { Runner } from "../host/runner.ts";
import { deleteArgv, stopArgv } from "../backends/smolvm/smolvm_argv.ts";

/** Names that could not be removed, with docker's reason. */
export interface TeardownFailure {
  name: string;
  reason: string;
}

const GONE = /no such (container|network)|not found/i;
const IN_PROGRESS = /removal of container .* is already in progress/i;
const IN_PROGRESS_RETRIES = 40;
const IN_PROGRESS_WAIT_MS = 250;

/**
 * Remove `containers` and `networks` (given in creation order) plus anything
 * else labelled with `slug` (and, when given, owned by `owner`).
 */
export async function teardownDocker(
  runner: Runner,
  slug: string,
  known: { containers: string[]; networks: string[] },
  owner?: string,
): Promise<TeardownFailure[]> {
  const failures: TeardownFailure[] = [];
  const labels = { [LABEL_SLUG]: slug, ...(owner ? { [LABEL_OWNER]: owner } : {}) };
  const labelled = await listNames(runner, psByLabelsArgv(labels));
  const containers = unique([...[...known.containers].reverse(), ...labelled]);
  for (const name of containers) {
    let r = await runner.run(containerRmArgv(name));
    // Another process (`stop` racing the launch's own teardown) is removing it: wait, bounded,
    // until it is gone, so the networks after it are free and neither side reports a failure.
    for (let i = 0; i < IN_PROGRESS_RETRIES && r.code !== 0 && IN_PROGRESS.test(r.stderr); i++) {
      await new Promise((resolve) => setTimeout(resolve, IN_PROGRESS_WAIT_MS));
      r = await runner.run(containerRmArgv(name));
    }
    if (r.code !== 0 && !GONE.test(r.stderr)) failures.push({ name, reason: firstLine(r.stderr) });
  }
  const labelledNets = await listNames(runner, networkLsByLabelsArgv(labels));
  for (const name of unique([...[...known.networks].reverse(), ...labelledNets])) {
    const r = await runner.run(networkRmArgv(name));
    if (r.code !== 0 && !GONE.test(r.stderr)) failures.push({ name, reason: firstLine(r.stderr) });
  }
  return failures;
}

async function listNames(runner: Runner, argv: string[]): Promise<string[]> {
  const r = await runner.run(argv);
  if (r.code !== 0) return [];
  return r.stdout.split("\n").map((l) => l.split("\t")[0].trim()).filter(Boolean);
}

function unique(names: string[]): string[] {
  return [...new Set(names)];
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0] ?? "";
}

const MACHINE_GONE = /not found|not running/i;

/** Stop and delete a smolvm machine; "not found" counts as done. */
export async function teardownMachine(runner: Runner, name: string): Promise<TeardownFailure[]> {
  const failures: TeardownFailure[] = [];
  const stop = await runner.run(stopArgv(name));
  if (stop.code !== 0 && !MACHINE_GONE.test(`${stop.stderr}${stop.stdout}`)) {
    failures.push({ name, reason: `stop: ${firstLine(stop.stderr)}` });
  }
  const del = await runner.run(deleteArgv(name));
  if (del.code !== 0 && !MACHINE_GONE.test(`${del.stderr}${del.stdout}`)) {
    failures.push({ name, reason: `delete: ${firstLine(del.stderr)}` });
  }
  return failures;
}
