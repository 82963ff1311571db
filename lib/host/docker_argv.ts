/**
 * Pure argv builders for every docker call bot-bottle makes (besides the
 * bundle's own, in lib/bundle/). No shell, no secret values: secrets are
 * passed as `-e NAME` and their values travel in the child's environment.
 */

/** `docker network create` for a bottle network. */
export function networkCreateArgv(opts: {
  name: string;
  labels: Record<string, string>;
  subnet?: string;
  gateway?: string;
  internal?: boolean;
}): string[] {
  const argv = ["docker", "network", "create", "--driver", "bridge"];
  if (opts.subnet) argv.push("--subnet", opts.subnet);
  if (opts.gateway) argv.push("--gateway", opts.gateway);
  if (opts.internal) {
    // --internal alone still gives the host an address on the bridge (the
    // gateway), so the agent could reach every host service listening on it.
    // With inhibit_ipv4 the bridge holds no address: the host is not there.
    argv.push("--internal", "--opt", "com.docker.network.bridge.inhibit_ipv4=true");
  }
  argv.push(...labelFlags(opts.labels), opts.name);
  return argv;
}

/** `docker network connect [--ip IP] NETWORK CONTAINER`. */
export function networkConnectArgv(network: string, container: string, ip?: string): string[] {
  return ["docker", "network", "connect", ...(ip ? ["--ip", ip] : []), network, container];
}

/** `docker network rm NAME...`. */
export function networkRmArgv(...names: string[]): string[] {
  return ["docker", "network", "rm", ...names];
}

/** `docker rm -f -v NAME...` (idempotent when paired with "No such container" tolerance). */
export function containerRmArgv(...names: string[]): string[] {
  return ["docker", "rm", "--force", "--volumes", ...names];
}

/** The docker backend's agent container (SPEC §7): hardened, on the internal network only. */
export interface AgentRunOptions {
  name: string;
  image: string;
  internalNetwork: string;
  /** DNS and proxy address: the bundle's IP on the internal network. */
  bundleIp: string;
  labels: Record<string, string>;
  /** Literal env, passed as `-e K=V` (visible in `docker inspect`, like the plan shows). */
  env: Record<string, string>;
  cpus: number;
  memoryMib: number;
  workdir?: string;
}

/**
 * `docker run -d` of the agent container, kept alive by `sleep infinity`
 * under docker's init so the egress probe can run before the agent starts
 * (`docker exec`).
 */
export function agentRunArgv(o: AgentRunOptions): string[] {
  const argv = [
    "docker",
    "run",
    "--detach",
    "--name",
    o.name,
    "--hostname",
    o.name.slice(0, 63),
    "--network",
    o.internalNetwork,
    "--dns",
    o.bundleIp,
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "--pids-limit",
    "4096",
    "--cpus",
    String(o.cpus),
    "--memory",
    `${o.memoryMib}m`,
    "--init",
    // An on-link address nobody answers (the absent gateway, a free /24 slot)
    // fails in ~0.1 s instead of a 3 s ARP timeout: refused quickly.
    "--sysctl",
    "net.ipv4.neigh.eth0.mcast_solicit=1",
    "--sysctl",
    "net.ipv4.neigh.eth0.retrans_time_ms=100",
    ...labelFlags(o.labels),
  ];
  for (const [k, v] of Object.entries(o.env)) argv.push("--env", `${k}=${v}`);
  if (o.workdir) argv.push("--workdir", o.workdir);
  argv.push("--entrypoint", "sleep", o.image, "infinity");
  return argv;
}

/**
 * `docker exec` of the agent command, attached to the terminal. Secrets are
 * given here, not to `docker run`: `docker run -e NAME` resolves the value in
 * the CLI and stores it in the container's config, where `docker inspect`
 * shows it; an exec's environment is not kept anywhere inspectable.
 */
export function agentExecArgv(opts: {
  name: string;
  command: string[];
  tty: boolean;
  /** Guest names of secrets: `-e NAME`, the value comes from the docker CLI's environment. */
  secretNames?: string[];
}): string[] {
  return [
    "docker",
    "exec",
    "--interactive",
    ...(opts.tty ? ["--tty"] : []),
    ...(opts.secretNames ?? []).flatMap((name) => ["--env", name]),
    opts.name,
    ...opts.command,
  ];
}

/** Repeated `--filter label=K=V` (docker ANDs them). */
function labelFilters(labels: Record<string, string>): string[] {
  return Object.entries(labels).flatMap(([k, v]) => ["--filter", `label=${k}=${v}`]);
}

/** `docker ps -a` of everything carrying all `labels`, one name per line. */
export function psByLabelsArgv(labels: Record<string, string>): string[] {
  return ["docker", "ps", "--all", "--no-trunc", ...labelFilters(labels), "--format", "{{.Names}}"];
}

/** `docker network ls` of networks carrying all `labels`, one name per line. */
export function networkLsByLabelsArgv(labels: Record<string, string>): string[] {
  return ["docker", "network", "ls", ...labelFilters(labels), "--format", "{{.Name}}"];
}

/** `docker inspect --format '{{json .State.Health}}' NAME`. */
export function healthInspectArgv(name: string): string[] {
  return ["docker", "inspect", "--format", "{{json .State.Health}}", name];
}

/** `docker logs --tail N NAME`. */
export function logsArgv(name: string, tail = 50): string[] {
  return ["docker", "logs", "--tail", String(tail), name];
}

/** `docker image inspect --format '{{.Id}}' IMAGE`. */
export function imageIdArgv(image: string): string[] {
  return ["docker", "image", "inspect", "--format", "{{.Id}}", image];
}

function labelFlags(labels: Record<string, string>): string[] {
  return Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
}
