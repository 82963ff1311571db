/**
 * The IPv4 subnets of every Docker network on this engine, read through the
 * runner (two calls: list the names, inspect them all at once).
 */
import type { TakenRange } from "../plan/bundle_subnet.ts";
import { lastLine, type Runner } from "./runner.ts";

/** Subnets found, plus a note when Docker could not be asked. */
export interface DockerSubnets {
  ranges: TakenRange[];
  note?: string;
}

/** argv that lists network IDs. */
export const NETWORK_LS_ARGV = ["docker", "network", "ls", "--quiet", "--no-trunc"] as const;

/** argv that prints `<name> <subnet>...` per network. */
export function networkInspectArgv(ids: readonly string[]): string[] {
  return [
    "docker",
    "network",
    "inspect",
    "--format",
    "{{.Name}}{{range .IPAM.Config}} {{.Subnet}}{{end}}",
    ...ids,
  ];
}

/** Parse the inspect output into taken ranges. */
export function parseNetworkInspect(output: string): TakenRange[] {
  const ranges: TakenRange[] = [];
  for (const line of output.split("\n")) {
    const [name, ...subnets] = line.trim().split(/\s+/);
    if (!name) continue;
    for (const cidr of subnets) {
      if (cidr.includes(".")) ranges.push({ cidr, source: `docker network "${name}"` });
    }
  }
  return ranges;
}

/** Ask Docker for every network's subnets; never throws. */
export async function readDockerSubnets(runner: Runner): Promise<DockerSubnets> {
  const unreadable = (why: string): DockerSubnets => ({
    ranges: [],
    note: `existing Docker networks not checked (${why})`,
  });
  try {
    const ls = await runner.run([...NETWORK_LS_ARGV]);
    if (ls.code !== 0) return unreadable(lastLine(ls));
    const ids = ls.stdout.split("\n").map((l) => l.trim()).filter(Boolean);
    if (ids.length === 0) return { ranges: [] };
    const inspect = await runner.run(networkInspectArgv(ids));
    // A network removed between the two calls fails the inspect, which still prints the rest.
    const vanished = inspect.stderr.trim().split("\n").every((l) => /no such network/i.test(l));
    if (inspect.code !== 0 && !vanished) {
      return unreadable(lastLine(inspect));
    }
    return { ranges: parseNetworkInspect(inspect.stdout) };
  } catch (error) {
    return unreadable((error as Error).message);
  }
}
