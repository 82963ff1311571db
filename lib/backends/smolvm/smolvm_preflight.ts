/**
 * The smolmachines backend's preflight (SPEC §5): smolvm on PATH at a
 * supported version, and on Linux a KVM device this user may open.
 */
import type { BackendName } from "../../plan/plan_types.ts";
import {
  firstLine,
  type HostProbe,
  type PreflightCheck,
  type PreflightDeps,
} from "../../host/preflight.ts";
import type { Runner } from "../../host/runner.ts";
import {
  formatVersion,
  KNOWN_BAD_VERSIONS,
  MIN_SMOLVM_VERSION,
  parseSmolvmVersion,
  SMOLVM_INSTALL_COMMAND,
  unsupportedReason,
} from "./smolvm_version.ts";
import { versionArgv } from "./smolvm_argv.ts";

const ALTERNATIVE = "To use the Docker backend instead, pass --backend=docker " +
  "or set BOT_BOTTLE_BACKEND=docker.";

/** smolvm and KVM checks (the docker checks come from the docker backend). */
export async function smolmachinesChecks(
  { runner, probe, env }: PreflightDeps,
): Promise<PreflightCheck[]> {
  const backends: BackendName[] = ["smolmachines"];
  const checks: PreflightCheck[] = [];
  if (probe.os === "darwin") {
    // smolvm's host-side relay dials the guest's destination as-is; the bundle's address is a
    // Docker bridge IP, which Docker Desktop does not route from the macOS host.
    checks.push({
      id: "smolvm-platform",
      backends,
      status: "fail",
      summary: "on macOS a smolvm guest cannot reach its bundle: smolvm's relay dials the " +
        "bundle's Docker bridge address from the host, and Docker Desktop does not route it",
      fix: "Use the docker backend on macOS: pass --backend docker or set " +
        "BOT_BOTTLE_BACKEND=docker.",
    });
  }
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
  if (probe.os === "linux") {
    checks.push(...await kvmChecks(probe));
    checks.push(rootCheck(probe, env));
  }
  return checks;
}

/**
 * smolvm run as root drops each VMM to a per-VM uid (>= 2,000,000) unless
 * SMOLVM_VM_UID_DROP=off; that uid must read the staged image archive, which
 * bot-bottle therefore stages world-readable (0644, in 0755 dirs).
 */
function rootCheck(probe: HostProbe, env: PreflightDeps["env"]): PreflightCheck {
  const backends: BackendName[] = ["smolmachines"];
  const uid = probe.uid();
  if (uid !== 0) {
    return {
      id: "smolvm-root",
      backends,
      status: "ok",
      summary: `smolvm runs as uid ${uid ?? "unknown"}: its VMs keep that uid`,
    };
  }
  if (env.get("SMOLVM_VM_UID_DROP") === "off") {
    return {
      id: "smolvm-root",
      backends,
      status: "ok",
      summary: "smolvm runs as root with SMOLVM_VM_UID_DROP=off: its VMs run as root",
    };
  }
  return {
    id: "smolvm-root",
    backends,
    status: "ok",
    summary: "smolvm runs as root, so each VM drops to its own uid; bot-bottle stages the " +
      "image archive world-readable (0644, in 0755 dirs) so that uid can read it",
  };
}

async function smolvmVersionCheck(runner: Runner): Promise<PreflightCheck> {
  const backends: BackendName[] = ["smolmachines"];
  const min = formatVersion(MIN_SMOLVM_VERSION);
  let output: string;
  try {
    const result = await runner.run(versionArgv());
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
      summary: KNOWN_BAD_VERSIONS.some((b) => b.version === formatVersion(version))
        ? `${reason}; bot-bottle refuses this release`
        : `${reason}; bot-bottle needs smolvm ${min} or newer`,
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
  const backends: BackendName[] = ["smolmachines"];
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
