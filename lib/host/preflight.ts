/**
 * Preflight (SPEC §5): the shape of a check and what a backend's checks
 * need from the host. Each backend has its own checks (lib/backends/); every
 * failure names what was found, why it blocks, and the command that fixes
 * it. The host is reached only through `HostProbe` and the runner, so tests
 * can play every case.
 */
import type { BackendName } from "../plan/plan_types.ts";
import type { Runner } from "./runner.ts";

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
    | "docker-daemon"
    | "smolvm-platform"
    | "smolvm-root"
    | "docker-runtime"
    | "workspace";
  backends: BackendName[];
  status: CheckStatus;
  /** One line: what was found. */
  summary: string;
  /** How to fix it (fail / warn only). */
  fix?: string;
  /** The version found, for the version checks. */
  version?: string;
  /** The container runtimes Docker has registered (docker-daemon). */
  runtimes?: string[];
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
  /** This process's uid (null where there is none, e.g. Windows). */
  uid(): number | null;
  /** This process's gid (null where there is none). */
  gid(): number | null;
  /** This user's home directory in the passwd database, or null. */
  passwdHome(): Promise<string | null>;
}

/** What preflight checks need: subprocesses, host facts and the environment. */
export interface PreflightDeps {
  runner: Runner;
  probe: HostProbe;
  env: { get(name: string): string | undefined };
}

/** The fix for a Docker that cannot be reached, as commands that need it name it. */
export const DOCKER_UNREACHABLE_HINT = "start Docker (`sudo systemctl start docker`) or point " +
  "DOCKER_HOST at it, check with `bot-bottle doctor`, and run this again";

/** True when no check failed. */
export function preflightPassed(checks: readonly PreflightCheck[]): boolean {
  return checks.every((c) => c.status !== "fail");
}

/** The first non-empty line of `text`, trimmed. */
export function firstLine(text: string): string {
  return text.split("\n").find((l) => l.trim() !== "")?.trim() ?? "";
}
