/**
 * Pure argv builders for the docker calls both backends make (the bundle's
 * own are in lib/bundle/, the docker backend's agent container in
 * lib/backends/docker/). No shell, no secret values.
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

/**
 * `docker exec NAME <health command> [--wait S]`: the bundle's readiness asked directly, at
 * the launch's own pace (Docker's periodic health check runs rarely, so 64 running bundles do
 * not each cost an exec a second). With `waitSeconds` the script itself asks again every 0.1 s
 * for up to that long, so one exec answers the moment the bundle is up.
 */
export function healthExecArgv(name: string, command: string, waitSeconds?: number): string[] {
  return ["docker", "exec", name, command, ...(waitSeconds ? ["--wait", String(waitSeconds)] : [])];
}

/** `docker logs --tail N NAME`. */
export function logsArgv(name: string, tail = 50): string[] {
  return ["docker", "logs", "--tail", String(tail), name];
}

/** `docker image inspect --format '{{.Id}}' IMAGE`. */
export function imageIdArgv(image: string): string[] {
  return ["docker", "image", "inspect", "--format", "{{.Id}}", image];
}

/** `--label K=V` for each label. */
export function labelFlags(labels: Record<string, string>): string[] {
  return Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
}
