/**
 * The real `HostProbe`: PATH lookup and the KVM device, through Deno's APIs.
 *
 * Deno 2.9 refuses every access under /dev, /proc and /sys unless the
 * program holds --allow-all (denoland/deno#34393). The compiled bot-bottle
 * does not, so inside the binary the KVM device reports `unverifiable` with
 * that reason instead of crashing or asking for more permission.
 */
import type { HostProbe, KvmState } from "./preflight.ts";

/** Find `command` in the directories of `path` (a PATH string); null when absent. */
export async function whichIn(command: string, path: string): Promise<string | null> {
  if (command.includes("/")) return null;
  for (const dir of path.split(":")) {
    if (!dir) continue;
    const candidate = `${dir.replace(/\/+$/, "")}/${command}`;
    try {
      const info = await Deno.stat(candidate);
      if (info.isFile && info.mode !== null && (info.mode & 0o111) !== 0) return candidate;
    } catch {
      // not here (or not readable): keep looking
    }
  }
  return null;
}

/** Open a device for read+write, close it, and classify what happened. */
export async function probeDevice(path: string): Promise<KvmState> {
  try {
    const file = await Deno.open(path, { read: true, write: true });
    file.close();
    return { state: "ok" };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { state: "missing" };
    if (error instanceof Deno.errors.PermissionDenied) return { state: "no-access" };
    if (error instanceof Deno.errors.NotCapable) {
      return {
        state: "unverifiable",
        reason: "this build of bot-bottle runs without --allow-all, and Deno allows no access " +
          "under /dev without it",
      };
    }
    return { state: "unverifiable", reason: (error as Error).message };
  }
}

/** The home field of the passwd line for `uid` in `passwd` (the file's text), or null. */
export function passwdHomeOf(passwd: string, uid: number): string | null {
  for (const line of passwd.split("\n")) {
    const fields = line.split(":");
    if (fields.length >= 7 && fields[2] === String(uid)) return fields[5] || null;
  }
  return null;
}

/** The probe for this host. */
export function realHostProbe(env: { get(name: string): string | undefined }): HostProbe {
  const uid = () => Deno.uid();
  return {
    os: Deno.build.os,
    kvmPath: "/dev/kvm",
    which: (command) => whichIn(command, env.get("PATH") ?? ""),
    kvm: probeDevice,
    uid,
    gid: () => Deno.gid(),
    passwdHome: async () => {
      const id = uid();
      if (id === null) return null;
      try {
        return passwdHomeOf(await Deno.readTextFile("/etc/passwd"), id);
      } catch {
        return null;
      }
    },
  };
}
