/**
 * The egress probe (SPEC §6.6), run inside the bottle's network before the
 * agent starts: the bundle proxy must answer (and refuse an unlisted host with
 * 403), and a direct connection to a target outside the allowlist must be
 * refused quickly — a timeout is not a pass.
 */
import { UserError } from "../errors.ts";
import { BUNDLE_PORTS } from "../plan/guest_env.ts";
import { isIpv4 } from "../policy/ip_address.ts";
import type { ProbeTarget } from "../backends/backend.ts";

/** Where the direct connection is aimed unless BOT_BOTTLE_PROBE_TARGET says otherwise. */
export const DEFAULT_PROBE_TARGET = "1.1.1.1:443";

/**
 * Parse `ipv4:port` (BOT_BOTTLE_PROBE_TARGET). Only an IPv4 literal is
 * accepted: the guest's resolver is the bundle's DNS sink, so a host name
 * would never resolve and its lookup failure would say nothing about whether
 * a direct connection is refused.
 */
export function parseProbeTarget(value: string | undefined): ProbeTarget {
  const text = value && value.trim() !== "" ? value.trim() : DEFAULT_PROBE_TARGET;
  const match = /^([0-9.]+):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[2]) : 0;
  if (!match || !isIpv4(match[1]) || port < 1 || port > 65535) {
    throw new UserError(`BOT_BOTTLE_PROBE_TARGET is "${text}", not <IPv4 address>:<port>`, {
      hint: "set it to an IPv4 address outside the allowlist, e.g. 1.1.1.1:443, or unset it " +
        "(a host name cannot be used: the bottle has no working resolver)",
    });
  }
  return { host: match[1], port };
}

/**
 * A POSIX-ish bash script: `$1` bundle IP, `$2` host, `$3` port. Exit 0 and
 * one `probe ok:` line on success; otherwise a line saying what failed.
 */
export const PROBE_SCRIPT = `set -u
ip=$1 host=$2 port=$3
if ! exec 3<>"/dev/tcp/$ip/${BUNDLE_PORTS.proxy}"; then
  echo "probe: the bundle proxy at $ip:${BUNDLE_PORTS.proxy} does not answer"; exit 10
fi
printf 'GET http://bot-bottle-probe.invalid/ HTTP/1.0\\r\\nHost: bot-bottle-probe.invalid\\r\\n\\r\\n' >&3
status=""
IFS= read -r -t 5 status <&3 || true
exec 3<&-
case "$status" in
  "HTTP/1."?" 403"*) ;;
  *) echo "probe: the bundle proxy did not refuse an unlisted host (answered: \${status:-nothing})"; exit 11 ;;
esac
t0=$(date +%s%N)
# The connect itself is timed inside the child (bash's EPOCHREALTIME), so a busy host's slow
# fork and exec is not taken for a slow refusal; the outer clock is the fallback.
if err=$(timeout 5 bash -c 's=\${EPOCHREALTIME:-}
: 3<>"/dev/tcp/$0/$1" && exit 0
e=\${EPOCHREALTIME:-}
[ -n "$s" ] && [ -n "$e" ] && echo "bb-elapsed-us $(( \${e/./} - \${s/./} ))"
exit 1' "$host" "$port" 2>&1); then
  echo "probe: LEAK: a direct connection to $host:$port succeeded"; exit 12
else
  rc=$?
fi
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
inner=$(printf '%s\\n' "$err" | awk '$1 == "bb-elapsed-us" { v = $2 } END { print v }')
[ -n "$inner" ] && ms=$(( inner / 1000 ))
err=$(printf '%s\\n' "$err" | grep -v '^bb-elapsed-us ' || true)
if [ "$rc" -eq 124 ] || [ "$ms" -ge 3000 ]; then
  echo "probe: a direct connection to $host:$port was not refused but hung for $ms ms (a timeout is not a pass)"; exit 13
fi
# Only a failed connect(2) is a refusal; anything else (a missing timeout or bash, a name
# lookup failure) proves nothing about the network, so it is not a pass.
ok=yes
case "$err" in
  *": connect: "*) [ "$rc" -eq 1 ] || ok=no ;;
  *) ok=no ;;
esac
if [ "$ok" = no ]; then
  echo "probe: the direct connection to $host:$port failed without being refused by the network (exit $rc: $(printf '%s' "$err" | tr '\\n' ' ')); cannot tell that egress is blocked"; exit 14
fi
why=$(printf '%s\n' "$err" | tail -n 1 | sed 's/^.*: //')
echo "probe ok: the proxy refused an unlisted host with 403; direct $host:$port refused in $ms ms (\${why:-refused})"
`;

/** argv that runs the probe in a throwaway container sharing `agent`'s network namespace. */
export function probeArgv(opts: {
  agent: string;
  name: string;
  image: string;
  bundleIp: string;
  target: ProbeTarget;
  labels: Record<string, string>;
}): string[] {
  return [
    "docker",
    "run",
    "--rm",
    // The bundle image's healthcheck is the bundle's; here it would only exec every 2 s.
    "--no-healthcheck",
    "--name",
    opts.name,
    "--network",
    `container:${opts.agent}`,
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    ...Object.entries(opts.labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
    "--entrypoint",
    "bash",
    opts.image,
    "-c",
    PROBE_SCRIPT,
    "probe",
    opts.bundleIp,
    opts.target.host,
    String(opts.target.port),
  ];
}
