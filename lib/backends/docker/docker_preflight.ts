/**
 * The Docker checks (SPEC §5): `docker` on PATH and the daemon reachable.
 * Both backends need them (every bottle's bundle runs in Docker).
 */
import type { BackendName } from "../../plan/plan_types.ts";
import { firstLine, type HostProbe, type PreflightCheck } from "../../host/preflight.ts";
import type { Runner } from "../../host/runner.ts";

/** What preflight asks Docker: the server version and its registered runtimes (one call). */
export const DOCKER_INFO_ARGV = [
  "docker",
  "info",
  "--format",
  "{{.ServerVersion}}\t{{json .Runtimes}}",
] as const;

/** The Docker CLI and daemon checks. */
export async function dockerChecks(
  { runner, probe }: { runner: Runner; probe: HostProbe },
): Promise<PreflightCheck[]> {
  const backends: BackendName[] = ["docker"];
  const docker = await probe.which("docker");
  if (!docker) {
    return [{
      id: "docker-installed",
      backends,
      status: "fail",
      summary: "`docker` is not on PATH; every bottle runs its sidecar bundle in Docker",
      fix: "Install Docker Engine (Debian/Ubuntu: `sudo apt-get install docker.io`; NixOS: " +
        "`virtualisation.docker.enable = true;`) and make sure `docker` is on PATH.",
    }];
  }
  const checks: PreflightCheck[] = [{
    id: "docker-installed",
    backends,
    status: "ok",
    summary: `docker found at ${docker}`,
  }];
  let result;
  try {
    result = await runner.run([...DOCKER_INFO_ARGV]);
  } catch (error) {
    result = { code: -1, stdout: "", stderr: (error as Error).message };
  }
  const [version = "", runtimesJson = "{}"] = result.stdout.trim().split("\t");
  if (result.code === 0 && version) {
    let runtimes: string[] = [];
    try {
      runtimes = Object.keys(JSON.parse(runtimesJson) ?? {}).filter((r) => !r.includes(".")).sort();
    } catch { /* an engine that lists no runtimes */ }
    checks.push({
      id: "docker-daemon",
      backends,
      status: "ok",
      summary: `Docker daemon ${version} is reachable (runtimes: ${runtimes.join(", ") || "?"})`,
      version,
      runtimes,
    });
  } else {
    const why = firstLine(result.stderr.trim()) || `\`docker info\` exited ${result.code}`;
    checks.push({
      id: "docker-daemon",
      backends,
      status: "fail",
      summary: `the Docker daemon is not reachable: ${why}`,
      fix: "Start it (`sudo systemctl start docker`) and make sure this user may use it " +
        '(`sudo usermod -aG docker "$USER"`, then log in again), or point DOCKER_HOST at a running ' +
        "daemon.",
    });
  }
  return checks;
}
