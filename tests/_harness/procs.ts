/** Host processes, from /proc (Linux only): what a CLI left running, and every argv. */

/** PIDs of every process on the host. */
export function pids(): number[] {
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (/^\d+$/.test(entry.name)) out.push(Number(entry.name));
  }
  return out;
}

/** Children of `pid`. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const candidate of pids()) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${candidate}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(candidate);
    } catch { /* gone */ }
  }
  return out;
}

/** Every descendant of `pid`, parents first. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const queue = childPids(pid);
  while (queue.length > 0) {
    const next = queue.shift()!;
    out.push(next);
    queue.push(...childPids(next));
  }
  return out;
}

/** argv of a process, or null when it is gone. */
export function cmdline(pid: number): string[] | null {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter(Boolean);
  } catch {
    return null;
  }
}

/** The environment of a process (`NAME=value` entries), or null when it is gone or not ours. */
export function environ(pid: number): string[] | null {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/environ`).split("\0").filter(Boolean);
  } catch {
    return null;
  }
}

/** True while `pid` exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** The raw command line (NUL-separated) of every process on the host this user may read. */
export function hostArgvs(): string[] {
  const argvs: string[] = [];
  for (const pid of pids()) {
    try {
      argvs.push(Deno.readTextFileSync(`/proc/${pid}/cmdline`));
    } catch { /* exited or not ours */ }
  }
  return argvs;
}
