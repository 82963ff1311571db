/**
 * Preflight (SPEC §5): can this host run a bottle on a backend? Every failure
 * names what was found, why it blocks, and the command that fixes it. The
 * host is reached only through `HostProbe` and the runner, so tests can play
 * every case.
 */
import type { Backend } from "../plan/plan_types.ts";
import type { Runner } from "./runner.ts";
import {
  formatVersion,
  MIN_SMOLVM_VERSION,
  parseSmolvmVersion,
  SMOLVM_INSTALL_COMMAND,
  unsupportedReason,
} from "../backends/smolvm/smolvm_version.ts";

/** Outcome of one check. `warn` = could not be verified; it never blocks on its own. */
export type CheckStatus = "ok" | "fail" | "warn";

/** One preflight check and its result. */
export interface PreflightCheck {
  id:
    | "smolvm-installed"
    | "smolvm-version"
    | "kvm-device"
    | "kvm-access"
    | "docker-installed"
    | "docker-daemon";
  backends: Backend[];
  status: CheckStatus;
  /** One line: what was found. */
  summary: string;
  /** How to fix it (fail / warn only). */
  fix?: string;
  /** The version found, for the version checks. */
  version?: string;
}

/** What a KVM device probe found. */
export type KvmState =
  | { state: "ok" }
  | { state: "missing" }
  | { state: "no-access" }
  | { state: "unverifiable"; reason: string };

/** The host facts preflight needs besides subprocesses. */
export interface HostProbe {
  /** `Deno.build.os`. */
  os: string;
  /** Absolute path of `command` on PATH, or null. */
  which(command: string): Promise<string | null>;
  /** Open `path` for read+write and report what happened. */
  kvm(path: string): Promise<KvmState>;
  /** The KVM device path (`/dev/kvm`; tests point it elsewhere). */
  kvmPath: string;
}

/** Run the checks a backend needs (both backends run the bundle in Docker). */
export async function preflight(
  backend: Backend,
  deps: { runner: Runner; probe: HostProbe },
): Promise<PreflightCheck[]> {
  const checks: PreflightCheck[] = [];
  if (backend === "smolmachines") checks.push(...await smolmachinesChecks(deps));
  checks.push(...await dockerChecks(deps));
  return checks;
}

/** Every check for both backends, each once (for `doctor`). */
export async function preflightAll(
  deps: { runner: Runner; probe: HostProbe },
): Promise<PreflightCheck[]> {
  const checks = await preflight("smolmachines", deps);
  return checks.map((c) =>
    c.id.startsWith("docker") ? { ...c, backends: ["smolmachines", "docker"] as Backend[] } : c
  );
}

/** True when no check failed. */
export function preflightPassed(checks: readonly PreflightCheck[]): boolean {
  return checks.every((c) => c.status !== "fail");
}

const ALTERNATIVE = "To use the Docker backend instead, pass --backend=docker " +
  "or set BOT_BOTTLE_BACKEND=docker.";

async function smolmachinesChecks(
  { runner, probe }: { runner: Runner; probe: HostProbe },
): Promise<PreflightCheck[]> {
  const backends: Backend[] = ["smolmachines"];
  const checks: PreflightCheck[] = [];
  const smolvm = await probe.which("smolvm");
  if (!smolvm) {
    checks.push({
      id: "smolvm-installed",
      backends,
      status: "fail",
      summary: "the smolmachines backend needs `smolvm` on PATH, and it is not there",
      fix: `Install it with: ${SMOLVM_INSTALL_COMMAND}  ${ALTERNATIVE}`,
    });
  } else {
    checks.push({
      id: "smolvm-installed",
      backends,
      status: "ok",
      summary: `smolvm found at ${smolvm}`,
    });
    checks.push(await smolvmVersionCheck(runner));
  }
  if (probe.os === "linux") checks.push(...await kvmChecks(probe));
  return checks;
}

async function smolvmVersionCheck(runner: Runner): Promise<PreflightCheck> {
  const backends: Backend[] = ["smolmachines"];
  const min = formatVersion(MIN_SMOLVM_VERSION);
  let output: string;
  try {
    const result = await runner.run(["smolvm", "--version"]);
    output = `${result.stdout}${result.stderr}`.trim();
    if (result.code !== 0) {
      return {
        id: "smolvm-version",
        backends,
        status: "fail",
        summary: `\`smolvm --version\` exited ${result.code}: ${
          firstLine(output) || "(no output)"
        }`,
        fix: `Reinstall smolvm ${min} or newer: ${SMOLVM_INSTALL_COMMAND}  ${ALTERNATIVE}`,
      };
    }
  } catch (error) {
    return {
      id: "smolvm-version",
      backends,
      status: "fail",
      summary: `could not run \`smolvm --version\`: ${(error as Error).message}`,
      fix: `Reinstall smolvm ${min} or newer: ${SMOLVM_INSTALL_COMMAND}  ${ALTERNATIVE}`,
    };
  }
  const version = parseSmolvmVersion(output);
  if (!version) {
    return {
      id: "smolvm-version",
      backends,
      status: "fail",
      summary: `cannot tell the smolvm version from \`smolvm --version\`: ${
        JSON.stringify(firstLine(output).slice(0, 80))
      }; refusing to drive an unknown smolvm`,
      fix: `Install smolvm ${min} or newer: ${SMOLVM_INSTALL_COMMAND}  ${ALTERNATIVE}`,
    };
  }
  const reason = unsupportedReason(version);
  if (reason) {
    return {
      id: "smolvm-version",
      backends,
      status: "fail",
      summary: `${reason}; bot-bottle needs smolvm ${min} or newer`,
      fix: `Upgrade smolvm: ${SMOLVM_INSTALL_COMMAND}  ${ALTERNATIVE}`,
    };
  }
  return {
    id: "smolvm-version",
    backends,
    status: "ok",
    summary: `smolvm ${formatVersion(version)} (>= ${min})`,
    version: formatVersion(version),
  };
}

async function kvmChecks(probe: HostProbe): Promise<PreflightCheck[]> {
  const backends: Backend[] = ["smolmachines"];
  const path = probe.kvmPath;
  const found = await probe.kvm(path);
  switch (found.state) {
    case "ok":
      return [
        { id: "kvm-device", backends, status: "ok", summary: `${path} exists` },
        { id: "kvm-access", backends, status: "ok", summary: `${path} is readable and writable` },
      ];
    case "missing":
      return [{
        id: "kvm-device",
        backends,
        status: "fail",
        summary: `the smolmachines backend needs ${path} on Linux, and it is missing`,
        fix: "Enable KVM: load the kvm-intel or kvm-amd kernel module " +
          "(`sudo modprobe kvm-intel` or `sudo modprobe kvm-amd`) and make sure virtualization " +
          `is enabled in the BIOS/firmware. ${ALTERNATIVE}`,
      }];
    case "no-access":
      return [
        { id: "kvm-device", backends, status: "ok", summary: `${path} exists` },
        {
          id: "kvm-access",
          backends,
          status: "fail",
          summary: `${path} exists but is not readable and writable by this user`,
          fix: 'Add yourself to the kvm group: `sudo usermod -aG kvm "$USER"`, then log out and ' +
            `in again. ${ALTERNATIVE}`,
        },
      ];
    case "unverifiable":
      return [{
        id: "kvm-device",
        backends,
        status: "warn",
        summary: `${path} could not be inspected: ${found.reason}`,
        fix:
          `Check it yourself: \`ls -l ${path}\` must show the device, readable and writable by ` +
          'you (else `sudo usermod -aG kvm "$USER"` and log in again).',
      }];
  }
}

async function dockerChecks(
  { runner, probe }: { runner: Runner; probe: HostProbe },
): Promise<PreflightCheck[]> {
  const backends: Backend[] = ["docker"];
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
    result = await runner.run(["docker", "version", "--format", "{{.Server.Version}}"]);
  } catch (error) {
    result = { code: -1, stdout: "", stderr: (error as Error).message };
  }
  const version = result.stdout.trim();
  if (result.code === 0 && version) {
    checks.push({
      id: "docker-daemon",
      backends,
      status: "ok",
      summary: `Docker daemon ${version} is reachable`,
      version,
    });
  } else {
    const why = firstLine(result.stderr.trim()) || `\`docker version\` exited ${result.code}`;
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

function firstLine(text: string): string {
  return text.split("\n").find((l) => l.trim() !== "")?.trim() ?? "";
}
