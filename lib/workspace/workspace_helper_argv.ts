/**
 * `docker run` of the workspace helper (`bb-workspace` in the bundle image):
 * no network, no capabilities, no new privileges, the host user's uid (so it
 * reads what the user can read and writes files the user owns), its inputs
 * bind-mounted read-only. Pure.
 */
import { labelFlags } from "../host/docker_argv.ts";

/** One bind mount. */
export interface HelperMount {
  source: string;
  target: string;
  readonly: boolean;
}

/** `--mount` value, each field CSV-quoted (Docker parses it as CSV), so `,` in a path is safe. */
export function mountValue(m: HelperMount): string {
  if (/[\n\r\0]/.test(m.source)) throw new Error(`mountValue: control character in ${m.source}`);
  const field = (text: string) => (/[",]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);
  return [
    "type=bind",
    field(`source=${m.source}`),
    field(`target=${m.target}`),
    ...(m.readonly ? ["readonly"] : []),
  ].join(",");
}

/** The helper run: `bb-workspace <args>`, stdin attached when `stdin`. */
export function workspaceHelperArgv(opts: {
  image: string;
  uid: number;
  gid: number;
  mounts: HelperMount[];
  args: string[];
  labels: Record<string, string>;
  stdin?: boolean;
  /** A tmpfs at /tmp of this many MiB (its work dir), counted in a raised memory limit. */
  tmpfsMib?: number;
}): string[] {
  const memory = opts.tmpfsMib ? `${1024 + opts.tmpfsMib}m` : "1g";
  return [
    "docker",
    "run",
    "--rm",
    // The bundle image's healthcheck is the bundle's; here it would only exec every 2 s.
    "--no-healthcheck",
    ...(opts.stdin ? ["--interactive"] : []),
    "--network",
    "none",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "--user",
    `${opts.uid}:${opts.gid}`,
    "--memory",
    memory,
    ...(opts.tmpfsMib ? ["--tmpfs", `/tmp:rw,nosuid,nodev,size=${opts.tmpfsMib}m`] : []),
    "--pids-limit",
    "256",
    ...labelFlags(opts.labels),
    ...opts.mounts.flatMap((m) => ["--mount", mountValue(m)]),
    "--entrypoint",
    "bb-workspace",
    opts.image,
    ...opts.args,
  ];
}
