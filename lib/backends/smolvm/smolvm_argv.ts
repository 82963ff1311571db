/**
 * Pure argv builders for the smolvm CLI (reference/smolvm.md §1, §8, §9).
 *
 * Dialect: smolvm 1.9.3, which is also the dialect of every supported version
 * (>= 1.2.5, `MIN_SMOLVM_VERSION`). Per the reference, the only syntax change
 * in this surface between v0.8.0 and v1.9.3 is v1.0.2 (`create`/`delete` take
 * `-n/--name NAME` instead of a positional name), and every flag used here
 * exists from 1.2.5 on — see {@link ARGV_FLAG_SINCE}. So no builder needs a
 * version parameter; `tests/runtime/smolvm_argv_test.ts` checks that every
 * entry of `ARGV_FLAG_SINCE` is at or below the support floor, so raising a
 * flag's introduction above the floor fails a test instead of drifting.
 *
 * Secrets never appear here: `--secret-env GUEST=HOSTVAR` carries only the
 * NAME of a host variable; smolvm resolves the value from the environment of
 * `machine start` / `machine exec` (reference §9).
 */

import type { SmolvmVersion } from "./smolvm_version.ts";

/** The program name used as argv[0]. */
export const SMOLVM_PROGRAM = "smolvm";

/**
 * The first smolvm version that accepts each piece of syntax used below
 * (reference §1.2–§1.7, §7, §9). `null` = the reference does not say when it
 * appeared, only that v1.9.3 has it and v0.8.0 does not.
 */
export const ARGV_FLAG_SINCE: Readonly<Record<string, SmolvmVersion | null>> = {
  /** `machine create --name/-n` (positional removed). */
  "create --name": { major: 1, minor: 0, patch: 2 },
  /** `machine delete --name/-n` (positional removed). */
  "delete --name": { major: 1, minor: 0, patch: 2 },
  /** `machine create --dns IPv4`. */
  "create --dns": { major: 1, minor: 2, patch: 5 },
  /** `machine create --secret-env` ("since at least v1.0.0", §9). */
  "create --secret-env": { major: 1, minor: 0, patch: 0 },
  /** `-s/--smolfile`, `start/stop/status -n/--name`, `exec --name`, `-i`, `-t`, `-e`, `ls/status --json`, `delete -f`. */
  "common": { major: 0, minor: 8, patch: 0 },
  /**
   * `-I <docker save archive>`: v1.9.3 parses local tar archives
   * (`parse_image`); v0.8.0 took registry refs only. The reference does not
   * give the version in between that added it.
   */
  "create -I archive": null,
};

const MACHINE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * smolvm's machine-name rule (`validate_vm_name`, reference §1.2): 1–128
 * chars of `[A-Za-z0-9_-]`, starting alphanumeric, no trailing or double `-`.
 */
export function isValidMachineName(name: string): boolean {
  return MACHINE_NAME.test(name) && !name.endsWith("-") && !name.includes("--");
}

function requireName(name: string): string {
  if (!isValidMachineName(name)) {
    throw new Error(`invalid smolvm machine name ${JSON.stringify(name)}`);
  }
  return name;
}

function requireEnvName(name: string, what: string): string {
  if (!ENV_NAME.test(name)) throw new Error(`invalid ${what} ${JSON.stringify(name)}`);
  return name;
}

/** One `--secret-env GUEST=HOSTVAR` reference (names only, never a value). */
export interface SecretEnvRef {
  /** Variable name inside the guest. */
  guest: string;
  /** Host variable smolvm reads at start/exec time. */
  hostVar: string;
}

/** Inputs of {@link createArgv}. */
export interface CreateArgvSpec {
  /** Machine name (`bot-bottle-<slug>`). */
  name: string;
  /** Rendered Smolfile path. */
  smolfilePath: string;
  /** `docker save` archive of the agent image. */
  imageArchive: string;
  /** Guest resolver = the bundle IP (keeps DNS on the one allowed IP). */
  dns: string;
  /** Secret references. */
  secretEnv: readonly SecretEnvRef[];
}

/**
 * `smolvm machine create --name N -s SMOLFILE -I ARCHIVE --dns IP [--secret-env G=H]...`.
 * No workload command: entrypoint/cmd come from the image and Smolfile.
 */
export function createArgv(spec: CreateArgvSpec): string[] {
  if (!IPV4.test(spec.dns)) throw new Error(`invalid --dns IPv4 ${JSON.stringify(spec.dns)}`);
  if (spec.smolfilePath === "" || spec.imageArchive === "") {
    throw new Error("createArgv: empty Smolfile or image archive path");
  }
  const argv = [
    SMOLVM_PROGRAM,
    "machine",
    "create",
    "--name",
    requireName(spec.name),
    "-s",
    spec.smolfilePath,
    "-I",
    spec.imageArchive,
    "--dns",
    spec.dns,
  ];
  for (const ref of spec.secretEnv) {
    const guest = requireEnvName(ref.guest, "secret guest variable");
    const host = requireEnvName(ref.hostVar, "secret host variable");
    argv.push("--secret-env", `${guest}=${host}`);
  }
  return argv;
}

/** `smolvm machine start --name N`. */
export function startArgv(name: string): string[] {
  return [SMOLVM_PROGRAM, "machine", "start", "--name", requireName(name)];
}

/** Inputs of {@link execArgv}. */
export interface ExecArgvSpec {
  /** Machine name. */
  name: string;
  /** Command and arguments run in the guest. */
  command: readonly string[];
  /** `-i -t`: attach this terminal. */
  interactive: boolean;
  /** `-i` alone: forward stdin (e.g. to write a file in the guest). */
  stdin?: boolean;
  /**
   * Extra NON-secret variables, passed as `-e K=V` (they are visible in argv:
   * never put a secret here; secrets travel as `--secret-env` refs on create).
   */
  env?: Readonly<Record<string, string>>;
  /** smolvm's own limit for the guest command, e.g. `30s` (exit 124 when it runs out). */
  timeout?: string;
  /** `--stream`: without a terminal, print output as it comes (smolvm buffers it otherwise). */
  stream?: boolean;
}

/**
 * `smolvm machine exec --name N [-e K=V]... [-i -t] -- CMD...`.
 * `exec`'s `--name` is long-only (no `-n`) in every version (reference §1.4).
 */
export function execArgv(spec: ExecArgvSpec): string[] {
  if (spec.command.length === 0) throw new Error("execArgv: empty command");
  const argv = [SMOLVM_PROGRAM, "machine", "exec", "--name", requireName(spec.name)];
  for (const [key, value] of Object.entries(spec.env ?? {})) {
    argv.push("-e", `${requireEnvName(key, "exec env name")}=${value}`);
  }
  if (spec.timeout !== undefined) {
    // humantime: a unit is required (smolvm refuses a bare number with exit 2).
    if (!/^[1-9]\d*[smh]$/.test(spec.timeout)) {
      throw new Error(`execArgv: bad timeout ${spec.timeout}`);
    }
    argv.push("--timeout", spec.timeout);
  }
  if (spec.interactive) argv.push("-i", "-t");
  else if (spec.stdin) argv.push("-i");
  if (spec.stream && !spec.interactive) argv.push("--stream");
  argv.push("--", ...spec.command);
  return argv;
}

/** `smolvm machine stop --name N`. */
export function stopArgv(name: string): string[] {
  return [SMOLVM_PROGRAM, "machine", "stop", "--name", requireName(name)];
}

/** `smolvm machine delete --name N -f` (`-f`: never prompt; a running machine is stopped first). */
export function deleteArgv(name: string): string[] {
  return [SMOLVM_PROGRAM, "machine", "delete", "--name", requireName(name), "-f"];
}

/** `smolvm machine ls --json` (an array; never contains the allowlist or env). */
export function lsJsonArgv(): string[] {
  return [SMOLVM_PROGRAM, "machine", "ls", "--json"];
}

/** `smolvm --version` (parse with `parseSmolvmVersion`). */
export function versionArgv(): string[] {
  return [SMOLVM_PROGRAM, "--version"];
}
