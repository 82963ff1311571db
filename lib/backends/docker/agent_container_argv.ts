/**
 * The docker backend's agent container (SPEC §7) and the exec into it. Pure.
 * No secret values: secrets are passed as `--env NAME` on `docker exec`, and
 * their values travel in the docker CLI's environment.
 */
import { labelFlags } from "../../host/docker_argv.ts";

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
  /** `runsc`: the agent runs under gVisor. */
  runtime?: "runc" | "runsc";
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
    ...(o.runtime === "runsc" ? ["--runtime", "runsc"] : []),
    // An on-link address nobody answers (the absent gateway, a free /24 slot)
    // fails in ~0.1 s instead of a 3 s ARP timeout: refused quickly.
    "--sysctl",
    "net.ipv4.neigh.eth0.mcast_solicit=1",
    "--sysctl",
    "net.ipv4.neigh.eth0.retrans_time_ms=100",
    // No IPv6 at all (not even link-local): nothing in a bottle speaks it.
    "--sysctl",
    "net.ipv6.conf.all.disable_ipv6=1",
    "--sysctl",
    "net.ipv6.conf.default.disable_ipv6=1",
    ...labelFlags(o.labels),
  ];
  for (const [k, v] of Object.entries(o.env)) argv.push("--env", `${k}=${v}`);
  if (o.workdir) argv.push("--workdir", o.workdir);
  argv.push("--entrypoint", "sleep", o.image, "infinity");
  return argv;
}

/**
 * `docker exec` of a command in the agent container, as the image's user with
 * the container's environment. Secrets are given here, not to `docker run`:
 * `docker run -e NAME` resolves the value in the CLI and stores it in the
 * container's config, where `docker inspect` shows it; an exec's environment
 * is not kept anywhere inspectable.
 */
export function agentExecArgv(opts: {
  name: string;
  command: readonly string[];
  /** Forward stdin (`--interactive`). */
  stdin: boolean;
  /** Allocate a terminal (`--tty`; implies stdin). */
  tty: boolean;
  /** Guest names of secrets: `--env NAME`, the value comes from the docker CLI's environment. */
  secretNames?: readonly string[];
  /** Run as root (`--user 0`), e.g. to extend the guest's system CA store. */
  asRoot?: boolean;
}): string[] {
  return [
    "docker",
    "exec",
    ...(opts.stdin || opts.tty ? ["--interactive"] : []),
    ...(opts.tty ? ["--tty"] : []),
    ...(opts.asRoot ? ["--user", "0"] : []),
    ...(opts.secretNames ?? []).flatMap((name) => ["--env", name]),
    opts.name,
    ...opts.command,
  ];
}

/**
 * A one-shot container in the agent's network namespace that removes the default route and
 * makes ARP give up after one probe in 100 ms: what the agent's `--sysctl`s do under runc,
 * for a runtime (gVisor) that does not apply them.
 */
export function confineNetnsArgv(opts: {
  agent: string;
  image: string;
  labels: Record<string, string>;
}): string[] {
  return [
    "docker",
    "run",
    "--rm",
    // The bundle image's healthcheck is the bundle's; here it would only exec every 2 s.
    "--no-healthcheck",
    "--network",
    `container:${opts.agent}`,
    "--cap-drop",
    "ALL",
    "--cap-add",
    "NET_ADMIN",
    "--security-opt",
    "no-new-privileges",
    ...labelFlags(opts.labels),
    "--entrypoint",
    "sh",
    opts.image,
    "-c",
    "ip route del default 2>/dev/null; ip route show default | grep -q . && exit 1; " +
    "ip ntable change name arp_cache dev eth0 mcast_probes 1 retrans 100",
  ];
}
