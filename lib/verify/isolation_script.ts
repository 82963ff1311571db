/**
 * The isolation suite `bot-bottle verify` runs inside a live bottle (SPEC
 * §13), as a bash script given on the command line of an exec into the
 * guest, as the agent's user. Every probe goes to the bottle's own bundle or
 * to an address the host names in the arguments (the direct-connection
 * target, the gateway, the host's and other bottles' addresses); the probes
 * that could leave the guest (a direct connect, a datagram) are expected to
 * fail at once, and a probe that hangs is a failure, not a pass.
 *
 * Output: one line per check, `check<TAB>id<TAB>pass|fail|skip<TAB>ms<TAB>detail`.
 * Needs bash, coreutils (timeout, date, od, head, sha256sum) and awk.
 */
import { BUNDLE_PORTS } from "../plan/guest_env.ts";

/** The checks, in the order the script runs and reports them. */
export const VERIFY_CHECKS = [
  { id: "proxy", what: "the bundle's proxy answers" },
  { id: "unlisted-host", what: "a host not on the allowlist is refused by the proxy" },
  { id: "ip-literal", what: "an IP literal is refused by the proxy" },
  { id: "port", what: "a listed host on a port it does not have is refused" },
  { id: "direct-tcp", what: "a direct TCP connection (no proxy) is refused fast" },
  { id: "direct-udp", what: "a direct UDP datagram (no proxy) is refused or answered by the sink" },
  { id: "dns", what: "DNS answers nothing" },
  { id: "host-gateway", what: "the gateway and the host's own addresses are refused" },
  { id: "other-bottles", what: "other bottles' bundles are unreachable" },
  { id: "link-local", what: "link-local (cloud metadata) is refused, direct and by the proxy" },
  { id: "ipv6", what: "IPv6 is off" },
  { id: "capabilities", what: "the agent holds no capabilities" },
  { id: "host-sockets", what: "no Docker or container-runtime socket is reachable" },
  { id: "secrets", what: "injected secrets are absent from the guest" },
] as const;

/** A check id. */
export type VerifyCheckId = typeof VERIFY_CHECKS[number]["id"];

/** What the script is told (no secret: secrets are sent as SHA-256 hashes). */
export interface VerifyArgs {
  backend: "docker" | "smolmachines";
  bundleIp: string;
  gateway: string;
  /** The direct-connection target (host:port), as for the egress probe. */
  target: { host: string; port: number };
  /** A listed host and a port it does not have, or null when nothing is listed. */
  portProbe: { host: string; port: number } | null;
  /** Other bottles' bundle IPs (or a free neighbour address when there are none). */
  others: string[];
  /** The host's own IPv4 addresses. */
  hostAddresses: string[];
  /** `NAME:sha256hex` of each injected secret's real value. */
  secretHashes: string[];
  /** Guest names of the secrets the agent holds by value (said in the detail). */
  heldSecrets: string[];
}

/** The positional arguments after `bash -c SCRIPT verify`. Pure. */
export function verifyScriptArgs(a: VerifyArgs): string[] {
  return [
    a.backend,
    a.bundleIp,
    a.gateway,
    a.target.host,
    String(a.target.port),
    a.portProbe?.host ?? "",
    a.portProbe ? String(a.portProbe.port) : "",
    a.others.join(","),
    a.hostAddresses.join(","),
    a.secretHashes.join(","),
    a.heldSecrets.join(","),
  ];
}

/** The script; `$1`... as {@link verifyScriptArgs} gives them. */
export const VERIFY_SCRIPT = String.raw`set -u
backend=$1 bundle=$2 gateway=$3 target=$4 tport=$5 porthost=$6 portport=$7
others=$8 hostaddrs=$9 hashes=${"${10}"} held=${"${11}"}
pport=${BUNDLE_PORTS.proxy}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
report() { printf 'check\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(printf '%s' "$4" | tr '\t\n\r' '   ')"; }
since() { echo $(( $(now_ms) - $1 )); }

# proxy_connect HOST:PORT: one CONNECT to the bundle; sets status and code (the refusal's reason).
proxy_connect() {
  local line
  status="" code=""
  exec 3<>"/dev/tcp/$bundle/$pport" || return 1
  printf 'CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n' "$1" "$1" >&3
  IFS= read -r -t 5 status <&3 || true
  status=${"${status%$'\\r'}"}
  while IFS= read -r -t 5 line <&3; do
    line=${"${line%$'\\r'}"}
    [ -z "$line" ] && break
    case "${"${line,,}"}" in x-bot-bottle-refusal:*) code=${"${line#*: }"}; code=${"${code%%:*}"} ;; esac
  done
  exec 3<&- 3>&-
  return 0
}

# expect_refused ID HOST:PORT CODE WHAT
expect_refused() {
  local t0; t0=$(now_ms)
  if ! proxy_connect "$2" 2>/dev/null; then
    report "$1" fail "$(since "$t0")" "the bundle proxy at $bundle:$pport does not answer"; return
  fi
  local ms; ms=$(since "$t0")
  case "$status" in
    "HTTP/1."?" 403"*) ;;
    *) report "$1" fail "$ms" "$4: the proxy answered '${"${status:-nothing}"}' instead of refusing it"; return ;;
  esac
  if [ "$code" != "$3" ]; then
    report "$1" fail "$ms" "$4: refused, but for '${"${code:-no stated reason}"}' instead of $3"; return
  fi
  report "$1" pass "$ms" "$4: 403 from the proxy ($3)"
}

# direct HOST PORT: a TCP connect that must fail at once. Sets ok (yes/no), ms and why.
direct() {
  local t0 err rc; t0=$(now_ms)
  # shellcheck disable=SC2016 # $0 and $1 are the inner bash's
  err=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>&1); rc=$?
  ms=$(since "$t0")
  why=$(printf '%s\n' "$err" | tail -n 1 | sed 's/^.*: //')
  ok=no
  if [ "$rc" -eq 0 ]; then why="connected: $1:$2 is reachable"; return; fi
  if [ "$rc" -eq 124 ] || [ "$ms" -ge 2000 ]; then
    why="hung for $ms ms instead of being refused (a timeout is a failure)"; return
  fi
  case "$err" in
    *": connect: "*) ;;
    *) why="failed without a network refusal: $(printf '%s' "$err" | tr '\n' ' ')"; return ;;
  esac
  # smolvm answers a SYN off the allowlist with a reset; on docker a reset means a host replied.
  if [ "$why" = "Connection refused" ] && [ "$backend" = docker ]; then
    why="answered with a reset: something at $1:$2 is reachable"; return
  fi
  ok=yes
}

# direct_all ID WHAT PORT ADDR...: every address refused.
direct_all() {
  local id=$1 what=$2 port=$3 t0 seen=""; shift 3; t0=$(now_ms)
  for a in "$@"; do
    [ -n "$a" ] || continue
    direct "$a" "$port"
    if [ "$ok" != yes ]; then report "$id" fail "$(since "$t0")" "$what: $a:$port $why"; return; fi
    seen="$seen $a:$port ($why, $ms ms)"
  done
  if [ -z "$seen" ]; then report "$id" skip 0 "$what: no address to try"; return; fi
  report "$id" pass "$(since "$t0")" "$what refused:$seen"
}

# ---- proxy -------------------------------------------------------------------------------
t0=$(now_ms)
if proxy_connect "verify-unlisted.bot-bottle.invalid:443" 2>/dev/null && [ -n "$status" ]; then
  report proxy pass "$(since "$t0")" "the bundle proxy at $bundle:$pport answers ($status)"
else
  report proxy fail "$(since "$t0")" "the bundle proxy at $bundle:$pport does not answer"
fi
expect_refused unlisted-host "verify-unlisted.bot-bottle.invalid:443" not_allowed \
  "CONNECT verify-unlisted.bot-bottle.invalid:443"
expect_refused ip-literal "192.0.2.1:443" ip_literal "CONNECT 192.0.2.1:443"
if [ -n "$porthost" ]; then
  expect_refused port "$porthost:$portport" port "CONNECT $porthost:$portport (listed host, unlisted port)"
else
  report port skip 0 "the allowlist lists no host name to try a port on"
fi

# ---- direct ------------------------------------------------------------------------------
direct_all direct-tcp "direct TCP to the target" "$tport" "$target"

# next_hop IP: the gateway of the route the guest's kernel would take to IP ("on-link" when
# it is on a local network, "none" when no route). /proc/net/route is little-endian hex; mawk
# has no bitwise operators, so the prefix match is done with arithmetic.
next_hop() {
  awk -v ip="$1" '
    function hex(s,  i, n) { n = 0; s = toupper(s); for (i = 1; i <= length(s); i++) n = n * 16 + index("0123456789ABCDEF", substr(s, i, 1)) - 1; return n }
    function le(h) { return hex(substr(h, 7, 2)) * 16777216 + hex(substr(h, 5, 2)) * 65536 + hex(substr(h, 3, 2)) * 256 + hex(substr(h, 1, 2)) }
    function bits(m,  c) { c = 0; while (m > 0) { if (m % 2 == 1) c++; m = int(m / 2) } return c }
    BEGIN { split(ip, o, "."); t = o[1] * 16777216 + o[2] * 65536 + o[3] * 256 + o[4]; best = -1; hop = "none" }
    NR > 1 {
      d = le($2); g = le($3); len = bits(le($8)); blk = 2 ^ (32 - len)
      if (t - t % blk == d && len > best) {
        best = len
        hop = g == 0 ? "on-link" : sprintf("%d.%d.%d.%d", int(g / 16777216), int(g / 65536) % 256, int(g / 256) % 256, g % 256)
      }
    }
    END { print hop }' /proc/net/route 2>/dev/null || echo unknown
}

t0=$(now_ms)
q='\x62\x62\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01'
# shellcheck disable=SC2016 # $0 and $1 are the inner bash's
out=$(timeout 1 bash -c 'exec 3<>"/dev/udp/$0/53" || exit 20
printf "$1" >&3 || exit 21
head -c 12 <&3 | od -An -v -tu1' "$target" "$q" 2>&1); rc=$?
ms=$(since "$t0")
# shellcheck disable=SC2086 # od's numbers, one word each
set -- $out
if [ "$rc" -eq 20 ] || [ "$rc" -eq 21 ]; then
  case "$out" in
    *"unreachable"*|*"Invalid argument"*|*"not permitted"*)
      report direct-udp pass "$ms" "a DNS datagram to $target:53 was refused at once ($(printf '%s' "$out" | tail -n 1 | sed 's/^.*: //'))" ;;
    *) report direct-udp fail "$ms" "sending to $target:53 failed without a network refusal: $out" ;;
  esac
elif [ "$rc" -eq 124 ]; then
  # UDP has no refusal: a datagram sent into the void is silent. It was dropped in the guest
  # only if the route to the target goes through a gateway that does not exist.
  hop=$(next_hop "$target")
  case "$hop" in
    none|unknown|on-link)
      report direct-udp fail "$ms" "a DNS datagram to $target:53 was sent (route: $hop) and nothing came back: not refused" ;;
    *)
      direct "$hop" 22
      if [ "$ok" = yes ] && [ "$why" = "No route to host" ]; then
        report direct-udp pass "$(since "$t0")" "a DNS datagram to $target:53 went towards gateway $hop, which does not exist (no ARP answer): dropped before leaving the guest"
      else
        report direct-udp fail "$(since "$t0")" "a DNS datagram to $target:53 was sent via gateway $hop, which is there ($why): not refused"
      fi ;;
  esac
elif [ "$#" -ge 12 ]; then
  answers=$(( $7 * 256 + $8 ))
  if [ "$answers" -eq 0 ]; then
    report direct-udp pass "$ms" "a DNS datagram to $target:53 was answered with no records (by the bundle's sink: the backend redirects DNS)"
  else
    report direct-udp fail "$ms" "a DNS query sent straight to $target:53 got $answers answer(s): DNS leaves the bottle"
  fi
else
  report direct-udp fail "$ms" "a datagram to $target:53 got a reply from the network ($(printf '%s' "$out" | tr '\n' ' ')): it is reachable"
fi

t0=$(now_ms)
ns=$(awk '$1 == "nameserver" { printf "%s%s", sep, $2; sep = " " }' /etc/resolv.conf 2>/dev/null)
if command -v getent >/dev/null 2>&1; then
  names="example.com"
  [ -n "$porthost" ] && names="$names $porthost"
  found=""
  for n in $names; do
    if res=$(timeout 3 getent ahostsv4 "$n" 2>&1); then found="$found $n -> $(printf '%s' "$res" | head -n 1)"; fi
  done
  ms=$(since "$t0")
  if [ -n "$found" ]; then
    report dns fail "$ms" "names resolve in the guest:$found"
  elif [ "$ms" -ge 4000 ]; then
    report dns fail "$ms" "lookups of $names hung instead of failing (nameserver $ns)"
  else
    report dns pass "$ms" "lookups of $names answered nothing (nameserver $ns)"
  fi
else
  report dns skip "$(since "$t0")" "the guest has no getent to look names up with (nameserver $ns)"
fi

# ---- addresses -----------------------------------------------------------------------------
IFS=, read -r -a hosts <<<"$hostaddrs"
direct_all host-gateway "the gateway and the host's addresses" 22 "$gateway" "${"${hosts[@]}"}"
IFS=, read -r -a peers <<<"$others"
direct_all other-bottles "other bottles' bundles" "$pport" "${"${peers[@]}"}"

t0=$(now_ms)
direct 169.254.169.254 80
if [ "$ok" != yes ]; then
  report link-local fail "$(since "$t0")" "direct 169.254.169.254:80 $why"
else
  dwhy=$why
  if proxy_connect "169.254.169.254:80" 2>/dev/null && [ "$code" = local_address ]; then
    report link-local pass "$(since "$t0")" "169.254.169.254:80 refused direct ($dwhy) and by the proxy (local_address)"
  else
    report link-local fail "$(since "$t0")" "the proxy did not refuse CONNECT 169.254.169.254:80 as a local address (answered '${"${status:-nothing}"}', reason '${"${code:-none}"}')"
  fi
fi

t0=$(now_ms)
if [ ! -e /proc/net/if_inet6 ]; then
  report ipv6 pass "$(since "$t0")" "the guest kernel has no IPv6"
else
  global=$(awk '$6 != "lo" && $4 == "00" { printf "%s ", $6 }' /proc/net/if_inet6)
  linklocal=$(awk '$6 != "lo" && $4 == "20" { printf "%s ", $6 }' /proc/net/if_inet6)
  routes=$(awk '$10 != "lo" && $2 == "00" { printf "%s ", $10 }' /proc/net/ipv6_route 2>/dev/null)
  if [ -n "$global" ] || [ -n "$routes" ]; then
    report ipv6 fail "$(since "$t0")" "IPv6 is on: global address on ${"${global:-none}"}, default route via ${"${routes:-none}"}"
  else
    direct 2001:db8::1 443
    if [ "$ok" = yes ] || [ "$why" = "Connection refused" ]; then
      report ipv6 pass "$(since "$t0")" "no IPv6 address or route${"${linklocal:+ (link-local only on $linklocal)}"}; [2001:db8::1]:443 refused ($why)"
    else
      case "$why" in
        *"unreachable"*|*"not available"*|*"not supported"*|*"Invalid argument"*)
          report ipv6 pass "$(since "$t0")" "no IPv6 address or route${"${linklocal:+ (link-local only on $linklocal)}"}; [2001:db8::1]:443: $why" ;;
        *) report ipv6 fail "$(since "$t0")" "[2001:db8::1]:443 $why" ;;
      esac
    fi
  fi
fi

# ---- the guest itself -----------------------------------------------------------------------
t0=$(now_ms)
capeff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
nnp=$(awk '/^NoNewPrivs:/ { print $2 }' /proc/self/status)
if [ "$backend" = docker ]; then
  if [ "$capeff" = 0000000000000000 ] && [ "$nnp" = 1 ]; then
    report capabilities pass "$(since "$t0")" "CapEff 0, no_new_privs set (uid $(id -u 2>/dev/null || echo '?'))"
  elif [ "$capeff" = 0000000000000000 ] && [ -z "$nnp" ]; then
    report capabilities pass "$(since "$t0")" "CapEff 0; this kernel (gVisor's) does not report no_new_privs (uid $(id -u 2>/dev/null || echo '?'))"
  else
    report capabilities fail "$(since "$t0")" "CapEff $capeff, NoNewPrivs ${"${nnp:-?}"}: the agent can gain privileges in the container"
  fi
else
  report capabilities pass "$(since "$t0")" "CapEff $capeff inside the microVM, whose own kernel is the boundary (uid $(id -u 2>/dev/null || echo '?'))"
fi

t0=$(now_ms)
found=""
for s in /var/run/docker.sock /run/docker.sock /run/containerd/containerd.sock /run/podman/podman.sock /var/run/crio/crio.sock /run/user/*/docker.sock /run/user/*/podman/podman.sock /var/run/libvirt/libvirt-sock; do
  [ -e "$s" ] && found="$found $s"
done
[ -n "${"${DOCKER_HOST:-}"}" ] && found="$found DOCKER_HOST=$DOCKER_HOST"
if [ -n "$found" ]; then
  report host-sockets fail "$(since "$t0")" "reachable from the guest:$found"
else
  report host-sockets pass "$(since "$t0")" "no Docker, containerd, podman, CRI-O or libvirt socket, no DOCKER_HOST"
fi

t0=$(now_ms)
if [ -z "$hashes" ]; then
  report secrets pass "$(since "$t0")" "no injected secrets declared${"${held:+ (held by the agent by design, string form: $held)}"}"
else
  leaked=""
  IFS=, read -r -a pairs <<<"$hashes"
  n=0
  for f in /proc/self/environ /proc/[0-9]*/environ; do
    n=$((n + 1)); [ "$n" -gt 256 ] && break
    [ -r "$f" ] || continue
    while IFS= read -r -d '' kv; do
      h=$(printf '%s' "${"${kv#*=}"}" | sha256sum | cut -d' ' -f1)
      for p in "${"${pairs[@]}"}"; do
        [ "$h" = "${"${p#*:}"}" ] && case " $leaked " in *" ${"${p%%:*}"} "*) ;; *) leaked="$leaked ${"${p%%:*}"}" ;; esac
      done
    done <"$f" 2>/dev/null
  done
  if [ -n "$leaked" ]; then
    report secrets fail "$(since "$t0")" "the real value of$leaked is in a guest process's environment"
  else
    report secrets pass "$(since "$t0")" "the real values of ${"${#pairs[@]}"} injected secret(s) are in no guest process's environment"
  fi
fi
`;
