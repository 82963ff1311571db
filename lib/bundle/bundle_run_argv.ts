/**
 * The `docker run` argv that starts a bottle's sidecar bundle (SPEC §4.1, §6.2, §8). Pure.
 */
import { bundleName } from "../plan/resource_names.ts";
import { BUNDLE_CONFIG_MOUNT, type IdentityMount } from "./config/render_bundle_config.ts";

/** Options of {@link bundleRunArgv}. */
export interface BundleRunOptions {
  slug: string;
  image: string;
  /** Network the bundle is started on (it reaches the allowlisted hosts through it). */
  egressNetwork: string;
  /** The bundle's fixed IP on that network (the guest's proxy and DNS address). */
  ip: string;
  /** Host directory holding the rendered config, mounted read-only at /etc/bot-bottle. */
  configDir: string;
  identityMounts: readonly IdentityMount[];
  /** Host directory the bundle writes its audit log to (the only host path it may write). */
  auditDir: string;
  /** Host directory of live approvals and denials (`bot-bottle approve/deny`), read-only. */
  controlDir: string;
  /** The bundle's own limits (sized for proxy and gate; a bottle's `bundle` table raises them). */
  limits: BundleLimits;
  /** The audit log's rotation: bytes per file, old files kept. */
  audit?: { max_bytes: number; keep: number };
  /** Container labels, e.g. io.bot-bottle.slug / .role=bundle / .backend. */
  labels: Readonly<Record<string, string>>;
}

/** cgroup limits of the bundle. */
export interface BundleLimits {
  memory_mib: number;
  cpus: number;
  pids: number;
}

/** Where the audit log dir is mounted in the bundle (read-write). */
export const BUNDLE_AUDIT_MOUNT = "/var/log/bot-bottle";
/** Where the control dir is mounted in the bundle (read-only). */
export const BUNDLE_CONTROL_MOUNT = "/var/lib/bot-bottle/control";

/** Command the bundle's Docker health check runs (also usable with `docker exec`). */
export const BUNDLE_HEALTH_CMD = "/usr/local/bin/bot-bottle-health";

/**
 * Capabilities the bundle keeps (everything else is dropped): the daemon and runuser switch
 * users (SETUID/SETGID), the daemon binds :53 before it drops to bbegress (NET_BIND_SERVICE),
 * init prepares files for other users (CHOWN/FOWNER), reads identity files owned by the host
 * user (DAC_OVERRIDE) and signals daemons running as other users (KILL).
 */
export const BUNDLE_CAPABILITIES: readonly string[] = [
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "KILL",
  "NET_BIND_SERVICE",
  "SETGID",
  "SETUID",
];

function volumePath(path: string, what: string): string {
  if (!path.startsWith("/") || /[:,\n\r\t\0]/.test(path)) {
    throw new Error(`bundleRunArgv: ${what} ${JSON.stringify(path)} must be absolute, without ':'`);
  }
  return path;
}

/** A bind `--mount` value (read-only unless `writable`); paths with `,` or `:` are refused. */
function bindMount(source: string, target: string, what: string, writable = false): string {
  return `type=bind,source=${volumePath(source, what)},target=${volumePath(target, what)}` +
    (writable ? "" : ",readonly");
}

/** `docker run -d ...` for the bundle. Labels are emitted sorted by key. */
export function bundleRunArgv(opts: BundleRunOptions): string[] {
  const argv = [
    "docker",
    "run",
    "-d",
    "--name",
    bundleName(opts.slug),
    "--hostname",
    "bundle",
    "--network",
    opts.egressNetwork,
    "--ip",
    opts.ip,
  ];
  for (const key of Object.keys(opts.labels).sort()) {
    argv.push("--label", `${key}=${opts.labels[key]}`);
  }
  // --mount, not -v: a missing source is an error instead of a root-owned
  // directory that docker creates in its place (e.g. in ~/.ssh).
  argv.push("--mount", bindMount(opts.configDir, BUNDLE_CONFIG_MOUNT, "configDir"));
  for (const mount of opts.identityMounts) {
    argv.push("--mount", bindMount(mount.host_path, mount.container_path, "identity"));
  }
  argv.push("--mount", bindMount(opts.controlDir, BUNDLE_CONTROL_MOUNT, "controlDir"));
  argv.push("--mount", bindMount(opts.auditDir, BUNDLE_AUDIT_MOUNT, "auditDir", true));
  // Runtime state (sockets, the proxy's CA) in memory, counted in the memory limit.
  argv.push("--tmpfs", "/run/bot-bottle:rw,nosuid,nodev,noexec,size=16m,mode=0755");
  // Confined like the agent: limits, no forwarding, no IPv6.
  argv.push(
    "--memory",
    `${opts.limits.memory_mib}m`,
    "--memory-swap",
    `${opts.limits.memory_mib}m`,
    "--cpus",
    String(opts.limits.cpus),
    "--pids-limit",
    String(opts.limits.pids),
    "--sysctl",
    "net.ipv4.ip_forward=0",
    "--sysctl",
    "net.ipv6.conf.all.disable_ipv6=1",
    "--sysctl",
    "net.ipv6.conf.default.disable_ipv6=1",
  );
  if (opts.audit) {
    argv.push(
      "--env",
      `BB_AUDIT_MAX_BYTES=${opts.audit.max_bytes}`,
      "--env",
      `BB_AUDIT_KEEP=${opts.audit.keep}`,
    );
  }
  argv.push("--cap-drop", "ALL");
  for (const cap of BUNDLE_CAPABILITIES) argv.push("--cap-add", cap);
  argv.push(
    "--security-opt",
    "no-new-privileges",
    "--health-cmd",
    BUNDLE_HEALTH_CMD,
    // Docker's own monitoring, for `docker ps`: rare and patient (the launch asks the same
    // script directly while it waits), so many bundles on one host cost little between them.
    "--health-interval",
    "30s",
    "--health-timeout",
    "10s",
    "--health-retries",
    "3",
    "--health-start-period",
    "300s",
    "--stop-timeout",
    "10",
    opts.image,
  );
  return argv;
}
