/**
 * The sidecar bundle's build context (SPEC §8), embedded in the binary as string constants so
 * `deno compile` needs no --include. Built from Debian packages only: squid (egress proxy),
 * dnsmasq (DNS sink), git + openssh-client (git gate) and gitleaks from trixie (apt-pinned so
 * nothing else comes from trixie). The per-bottle config is rendered by render_bundle_config.ts
 * and mounted read-only at /etc/bot-bottle.
 *
 * Edit the constants below directly; every change gives the image a new tag (bundle_image.ts).
 */

const DOCKERFILE =
  `# bot-bottle sidecar bundle: egress proxy (squid, :8888), DNS sink (dnsmasq, :53),
# git gate (git daemon + gitleaks, :9418). Debian packages only; built by \`bot-bottle bundle build\`
# from files embedded in the binary. The per-bottle config is mounted read-only at /etc/bot-bottle.
ARG BASE_IMAGE=debian:bookworm-slim
FROM \${BASE_IMAGE}
ARG DEBIAN_FRONTEND=noninteractive
# gitleaks is not in bookworm: take it (and only it) from trixie; everything else stays on bookworm.
COPY apt/trixie.sources /etc/apt/sources.list.d/bot-bottle-trixie.sources
COPY apt/gitleaks.pref /etc/apt/preferences.d/bot-bottle-gitleaks
RUN apt-get update \\
 && apt-get install -y --no-install-recommends \\
      squid dnsmasq-base git openssh-client gitleaks ca-certificates \\
 && rm -rf /var/lib/apt/lists/* \\
 && gitleaks detect --help >/dev/null \\
 && squid -v | grep -q 'Version 5\\.' \\
 && useradd --system --home-dir /srv/git --shell /usr/sbin/nologin gitgate \\
 && install -d -o gitgate -g gitgate -m 0755 /srv/git
COPY errors/ /usr/share/squid/errors/templates/
COPY lib/ /usr/local/lib/bot-bottle/
COPY bin/ /usr/local/bin/
RUN chmod 0755 /usr/local/bin/bot-bottle-init /usr/local/bin/bot-bottle-health \\
      /usr/local/lib/bot-bottle/git-pre-receive /usr/local/lib/bot-bottle/git-access-hook \\
 && chmod 0644 /usr/local/lib/bot-bottle/egress-log.awk /usr/local/lib/bot-bottle/dnsmasq.conf \\
      /usr/share/squid/errors/templates/ERR_BB_*
EXPOSE 8888/tcp 9418/tcp 53/udp 53/tcp
HEALTHCHECK --interval=2s --timeout=2s --retries=3 CMD ["/usr/local/bin/bot-bottle-health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/bot-bottle-init"]
`;

const APT_GITLEAKS_PREF =
  `# Only gitleaks may come from trixie; every other package stays on bookworm.
Package: *
Pin: release n=trixie
Pin-Priority: -1

Package: gitleaks
Pin: release n=trixie
Pin-Priority: 500
`;

const APT_TRIXIE_SOURCES = `Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

const BIN_BOT_BOTTLE_HEALTH = `#!/bin/bash
# Health check of the bot-bottle bundle (docker run --health-cmd): healthy when init has
# finished starting the daemons, the egress proxy accepts connections on :8888 and, when the
# bottle has git remotes, the git gate accepts connections on :9418.
set -u
fail() { echo "unhealthy: $*"; exit 1; }
[ -e /run/bot-bottle/ready ] || fail "bundle init has not finished starting its daemons"
probe() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
probe 8888 || fail "egress proxy is not listening on :8888"
if [ -s /etc/bot-bottle/git/remotes ]; then
  probe 9418 || fail "git gate is not listening on :9418"
fi
echo healthy
`;

const BIN_BOT_BOTTLE_INIT = `#!/bin/bash
# PID 1 of the bot-bottle bundle. Starts the daemons (egress proxy, its decision log, DNS sink,
# and the git gate when /etc/bot-bottle/git/remotes lists remotes), forwards SIGTERM/SIGINT to
# them (SIGKILL after 8 s), and exits non-zero as soon as any daemon dies: the bundle fails
# closed rather than running with a missing piece.
set -uo pipefail
CONF=/etc/bot-bottle
RUN=/run/bot-bottle
LIB=/usr/local/lib/bot-bottle
log() { echo "bundle: $*" >&2; }
die() { log "FATAL: $*"; exit 1; }

declare -A names=()
start() {
  local name=$1
  shift
  "$@" &
  names[$!]=$name
  log "started $name (pid $!)"
}
as_gitgate() { runuser -u gitgate -- env HOME=/srv/git SSH_AUTH_SOCK="$RUN/agent/sock" "$@"; }

[ -r "$CONF/squid.conf" ] || die "$CONF/squid.conf is missing: the per-bottle config dir is not mounted"
install -d -m 0755 "$RUN" && rm -f "$RUN/ready" "$RUN/egress-log" || die "cannot prepare $RUN"

# Egress proxy; its access log goes through a pipe to the decision formatter on stdout.
if ! out=$(squid -k parse -f "$CONF/squid.conf" 2>&1); then
  printf '%s\\n' "$out" | grep -Ei 'error|fatal|bungled' >&2
  die "squid rejected $CONF/squid.conf"
fi
mkfifo -m 0620 "$RUN/egress-log" && chgrp proxy "$RUN/egress-log" || die "cannot create the egress log pipe"
# (mawk reads its stdin line by line only with -W interactive; the pipe is opened in the child.)
start egress-log bash -c 'exec mawk -W interactive -f "$1" <"$2"' egress-log "$LIB/egress-log.awk" "$RUN/egress-log"
start egress-proxy squid -N -d 1 -f "$CONF/squid.conf"

# DNS sink: every name fails, nothing is forwarded.
start dns-sink dnsmasq --keep-in-foreground --conf-file="$LIB/dnsmasq.conf"

# Git gate.
if [ -s "$CONF/git/remotes" ]; then
  install -d -m 0755 "$RUN/ssh" && install -m 0644 "$CONF/git/known_hosts" "$RUN/ssh/known_hosts" ||
    die "cannot install $CONF/git/known_hosts"
  install -d -o gitgate -g gitgate -m 0700 "$RUN/agent" && rm -f "$RUN/agent/sock" ||
    die "cannot create the ssh-agent dir"
  # The identities stay in this ssh-agent's memory; the git gate can use them, not read them.
  start ssh-agent runuser -u gitgate -- ssh-agent -D -a "$RUN/agent/sock"
  for _ in $(seq 50); do [ -S "$RUN/agent/sock" ] && break; sleep 0.1; done
  [ -S "$RUN/agent/sock" ] || die "ssh-agent did not come up"
  while IFS=$'\\t' read -r name upstream identity; do
    [[ "$name" =~ ^[a-z][a-z0-9-]*$ ]] || die "bad git remote name in $CONF/git/remotes: $name"
    [ -r "$identity" ] || die "SSH identity for git remote $name is not mounted at $identity"
    ssh-keygen -y -P '' -f "$identity" >"$RUN/ssh/$name.pub" 2>/dev/null ||
      die "cannot read the SSH identity of git remote $name (passphrase-protected keys are not supported)"
    SSH_AUTH_SOCK="$RUN/agent/sock" ssh-add -q "$identity" </dev/null ||
      die "ssh-add refused the identity of git remote $name (is it mode 0600?)"
    repo=/srv/git/$name.git
    ssh_cmd="ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityFile=$RUN/ssh/$name.pub"
    ssh_cmd+=" -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$RUN/ssh/known_hosts"
    ssh_cmd+=" -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=15"
    rm -rf "$repo" && as_gitgate git init --quiet --bare "$repo" &&
      as_gitgate git --git-dir="$repo" remote add --mirror=fetch origin "$upstream" &&
      as_gitgate git --git-dir="$repo" config core.sshCommand "$ssh_cmd" &&
      as_gitgate git --git-dir="$repo" config bot-bottle.upstream "$upstream" &&
      as_gitgate git --git-dir="$repo" config receive.denyDeletes true &&
      install -o gitgate -g gitgate -m 0755 "$LIB/git-pre-receive" "$repo/hooks/pre-receive" ||
      die "cannot set up the mirror of git remote $name"
    log "fetching $name from $upstream"
    as_gitgate git --git-dir="$repo" fetch --quiet origin ||
      die "cannot fetch git remote $name from $upstream (host key, identity or network?)"
    # Serve the upstream's default branch as HEAD, so a clone checks it out.
    head=$(as_gitgate git --git-dir="$repo" ls-remote --symref origin HEAD | sed -n 's/^ref: \\(refs\\/heads\\/[^[:space:]]*\\)[[:space:]]*HEAD$/\\1/p')
    if [ -n "$head" ]; then as_gitgate git --git-dir="$repo" symbolic-ref HEAD "$head"; fi
  done <"$CONF/git/remotes"
  start git-gate runuser -u gitgate -- env HOME=/srv/git SSH_AUTH_SOCK="$RUN/agent/sock" \\
    git daemon --reuseaddr --port=9418 --base-path=/srv/git --export-all \\
    --enable=receive-pack --informative-errors --access-hook="$LIB/git-access-hook" --verbose /srv/git
fi

stopping=""
stop_all() {
  local sig=$1 pid
  for pid in "\${!names[@]}"; do kill "-$sig" "$pid" 2>/dev/null; done
}
on_signal() {
  stopping=$1
  log "received SIG$1, stopping daemons"
  stop_all TERM
}
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT
touch "$RUN/ready"
log "ready"

status=0
while [ -z "$stopping" ]; do
  wait -n
  rc=$?
  [ -n "$stopping" ] && break
  for pid in "\${!names[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "FATAL: \${names[$pid]} exited (status $rc); stopping the bundle (fail closed)"
      unset "names[$pid]"
      status=1
    fi
  done
  if [ "$status" != 0 ]; then
    rm -f "$RUN/ready"
    stop_all TERM
    break
  fi
done

# Give the daemons 8 s to exit, then kill what is left.
for _ in $(seq 40); do
  alive=0
  for pid in "\${!names[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 0.2
done
stop_all KILL
exit "$status"
`;

const ERRORS_ERR_BB_IP_LITERAL =
  `<!DOCTYPE html><html><head><title>403 refused by bot-bottle egress</title></head><body><pre>
bot-bottle egress: refused %M %H:%p: IP-literal destination "%H" is not on this bottle's egress allowlist.
IP literals are allowed only when listed literally in egress.allow; prefer a hostname.
</pre></body></html>
`;

const ERRORS_ERR_BB_LOCAL =
  `<!DOCTYPE html><html><head><title>403 refused by bot-bottle egress</title></head><body><pre>
bot-bottle egress: refused %M %H:%p: "%H" resolves to a loopback or link-local address (the bundle itself, or cloud metadata); only an exactly listed IP literal may go there.
</pre></body></html>
`;

const ERRORS_ERR_BB_MANAGER =
  `<!DOCTYPE html><html><head><title>403 refused by bot-bottle egress</title></head><body><pre>
bot-bottle egress: refused %M %H:%p: the proxy's cache manager is not reachable (host "%H").
</pre></body></html>
`;

const ERRORS_ERR_BB_NOT_ALLOWED =
  `<!DOCTYPE html><html><head><title>403 refused by bot-bottle egress</title></head><body><pre>
bot-bottle egress: refused %M %H:%p: host "%H" is not on this bottle's egress allowlist.
To allow it, add "%H" to egress.allow of the bottle in your user manifest, then start a new bottle.
</pre></body></html>
`;

const ERRORS_ERR_BB_PORT =
  `<!DOCTYPE html><html><head><title>403 refused by bot-bottle egress</title></head><body><pre>
bot-bottle egress: refused %M %H:%p: CONNECT is allowed to port 443 only (host "%H").
</pre></body></html>
`;

const ERRORS_ERR_BB_PROTO =
  `<!DOCTYPE html><html><head><title>403 refused by bot-bottle egress</title></head><body><pre>
bot-bottle egress: refused %M %H:%p: only http:// requests and CONNECT to port 443 are proxied (host "%H").
</pre></body></html>
`;

const LIB_DNSMASQ_CONF =
  `# DNS sink for the bottle: answers every query with NXDOMAIN and forwards nothing,
# so the guest has no working resolver and cannot tunnel data through DNS.
# The agent reaches allowlisted hosts only through the proxy, which resolves them itself.
port=53
no-resolv
no-poll
no-hosts
address=/#/
bind-dynamic
except-interface=lo
user=dnsmasq
group=nogroup
pid-file=
log-queries
log-facility=-
`;

const LIB_EGRESS_LOG_AWK = `# Turns squid access-log records (logformat bb_decision in squid.conf:
# "%Ss %err_code %>rm %>rd %>rP %>Hs") into one line per egress decision on stdout:
#   egress allow CONNECT api.anthropic.com:443
#   egress deny GET evil.test:80 (not on allowlist)
# Records without a request (a bare TCP connect, e.g. the health check) are not decisions.
{
  status = $1; err = $2; method = $3; host = $4; port = $5; code = $6
  if (method == "-" || method == "" || host == "-") next
  dest = host ":" port
  if (status ~ /^TCP_DENIED/) {
    if (err == "ERR_BB_NOT_ALLOWED") why = "not on allowlist"
    else if (err == "ERR_BB_IP_LITERAL") why = "IP literal not on allowlist"
    else if (err == "ERR_BB_PORT") why = "CONNECT allowed to port 443 only"
    else if (err == "ERR_BB_PROTO") why = "only http:// and CONNECT are proxied"
    else if (err == "ERR_BB_MANAGER") why = "cache manager refused"
    else if (err == "ERR_BB_LOCAL") why = "resolves to loopback or link-local"
    else why = "refused: " err
    printf "egress deny %s %s (%s)\\n", method, dest, why
  } else if (status ~ /^NONE/) {
    printf "egress deny %s %s (malformed request: %s)\\n", method, dest, err
  } else {
    printf "egress allow %s %s (HTTP %s)\\n", method, dest, code
  }
  fflush()
}
`;

const LIB_GIT_ACCESS_HOOK = `#!/bin/bash
# git daemon --access-hook: runs before every upload-pack / receive-pack. Refreshes the mirror
# from its upstream first so the agent never sees (or pushes against) stale refs; if the
# upstream cannot be reached the request is refused (fail closed). Args: service path host ...
set -u
service="\${1:-}"
repo="\${2:-}"
case "$service" in
  upload-pack|receive-pack) ;;
  *) echo "git-gate: service $service is not offered"; exit 1 ;;
esac
if ! out=$(git --git-dir="$repo" fetch --quiet --prune origin 2>&1); then
  echo "git-gate: cannot refresh mirror \${repo##*/} from its upstream: $(printf '%s' "$out" | tr '\\n' ' ')" >&2
  echo "git-gate: upstream of \${repo##*/} unreachable, refusing (see bundle logs)"
  exit 1
fi
exit 0
`;

const LIB_GIT_PRE_RECEIVE = `#!/bin/bash
# git gate pre-receive hook: every pushed ref is scanned with gitleaks; the push is refused
# with gitleaks' findings when anything is found, and forwarded upstream over SSH (the
# identity lives in the bundle's ssh-agent) only when every ref is clean. The local ref is
# updated only after the upstream accepted it.
set -u
unset GITLEAKS_CONFIG
zero=0000000000000000000000000000000000000000
say() { echo "git-gate: $*" >&2; }
upstream=$(git config --get bot-bottle.upstream) || { say "mirror has no upstream configured"; exit 1; }
refspecs=()
while read -r old new ref; do
  if [ "$new" = "$zero" ]; then
    say "refusing to delete $ref: deleting upstream refs through the git gate is not allowed"
    exit 1
  fi
  case "$ref" in
    refs/heads/*|refs/tags/*) ;;
    *) say "refusing $ref: only branches and tags can be pushed"; exit 1 ;;
  esac
  # Only commits: a ref at a blob, a tree or an annotated tag would carry content the commit
  # scan below never sees.
  type=$(git cat-file -t "$new" 2>/dev/null) || { say "cannot read $new for $ref"; exit 1; }
  if [ "$type" != commit ]; then
    say "refusing $ref: it points at a $type; only commits (branches, lightweight tags) pass the gate"
    exit 1
  fi
  if [ "$old" = "$zero" ]; then
    range="$new --not --all"
  else
    range="$old..$new"
  fi
  # shellcheck disable=SC2086 # range is a list of rev arguments
  count=$(git rev-list --count $range) || { say "cannot list the commits of $ref"; exit 1; }
  if [ "$count" != 0 ]; then
    # gitleaks:allow comments would let the pusher silence the scan: the gate does not honour them.
    # shellcheck disable=SC2086
    if git log -p --format= $range | grep -E '^\\+' | grep -qi 'gitleaks:allow'; then
      say "push of $ref refused: a commit adds a 'gitleaks:allow' comment, which this gate does not honour"
      exit 1
    fi
    say "scanning $count commit(s) of $ref with gitleaks"
    if ! report=$(gitleaks detect --no-banner --redact --verbose --source . --log-opts="$range" 2>&1); then
      printf '%s\\n' "$report" | sed -e 's/\\x1b\\[[0-9;]*m//g' -e 's/^/gitleaks: /' >&2
      say "push of $ref REFUSED: gitleaks found secrets (findings above, values redacted)."
      say "Remove the secret from the commits (rewrite them) and push again."
      exit 1
    fi
  fi
  refspecs+=("$new:$ref")
done
[ "\${#refspecs[@]}" -gt 0 ] || exit 0
say "clean; forwarding \${refspecs[*]} upstream"
if ! out=$(git push --porcelain "$upstream" "\${refspecs[@]}" 2>&1); then
  printf '%s\\n' "$out" | sed 's/^/upstream: /' >&2
  say "upstream refused the push (output above); nothing was updated here"
  exit 1
fi
exit 0
`;

/** Build context of the bundle image: relative path -> file content. */
export const BUNDLE_FILES: Readonly<Record<string, string>> = Object.freeze({
  "Dockerfile": DOCKERFILE,
  "apt/gitleaks.pref": APT_GITLEAKS_PREF,
  "apt/trixie.sources": APT_TRIXIE_SOURCES,
  "bin/bot-bottle-health": BIN_BOT_BOTTLE_HEALTH,
  "bin/bot-bottle-init": BIN_BOT_BOTTLE_INIT,
  "errors/ERR_BB_IP_LITERAL": ERRORS_ERR_BB_IP_LITERAL,
  "errors/ERR_BB_LOCAL": ERRORS_ERR_BB_LOCAL,
  "errors/ERR_BB_MANAGER": ERRORS_ERR_BB_MANAGER,
  "errors/ERR_BB_NOT_ALLOWED": ERRORS_ERR_BB_NOT_ALLOWED,
  "errors/ERR_BB_PORT": ERRORS_ERR_BB_PORT,
  "errors/ERR_BB_PROTO": ERRORS_ERR_BB_PROTO,
  "lib/dnsmasq.conf": LIB_DNSMASQ_CONF,
  "lib/egress-log.awk": LIB_EGRESS_LOG_AWK,
  "lib/git-access-hook": LIB_GIT_ACCESS_HOOK,
  "lib/git-pre-receive": LIB_GIT_PRE_RECEIVE,
});

/** Files of BUNDLE_FILES that must be executable in the build context. */
export const BUNDLE_EXECUTABLES: readonly string[] = Object.freeze([
  "bin/bot-bottle-health",
  "bin/bot-bottle-init",
  "lib/git-access-hook",
  "lib/git-pre-receive",
]);
