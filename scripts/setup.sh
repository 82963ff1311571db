#!/usr/bin/env bash
# Sets up a checkout for development and testing (idempotent; run as root or
# with sudo on Debian/Ubuntu): Deno from npm, Docker engine + debootstrap,
# ShellCheck and nix-bin from apt, a running dockerd, a local
# debian:bookworm-slim base image built with debootstrap (Docker Hub is not
# needed), and the pinned agent CLIs the credentials tests run (npm pack).
# The README's set-up command; .ci/run calls it too.
set -euo pipefail
cd "$(dirname "$0")/.."

DENO_VERSION=2.9.6
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$apt_updated" = 0 ]; then $SUDO apt-get update -qq >/dev/null; apt_updated=1; fi
  echo "setup: apt-get install ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_deno() {
  if command -v deno >/dev/null && deno --version | grep -q "^deno ${DENO_VERSION} "; then return 0; fi
  echo "setup: installing deno ${DENO_VERSION} from the npm registry"
  $SUDO npm install -g --silent "deno@${DENO_VERSION}" >/dev/null 2>&1
  deno --version | head -n 1
}

start_docker() {
  if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then return 0; fi
  echo "setup: starting dockerd"
  ($SUDO dockerd >/tmp/bot-bottle-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do
    docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "setup: dockerd did not come up within 60 s:" >&2
  tail -n 30 /tmp/bot-bottle-dockerd.log >&2
  return 1
}

# gVisor for bottles with runtime = "runsc": Debian's runsc, registered with Docker (a runtime
# is picked up on SIGHUP, so no running container is restarted). Where runsc cannot set up its
# own network stack (here: a VM whose PID 1 network namespace cannot be read), it is registered
# with --network=host: gVisor then uses the container's own network namespace, which Docker
# still confines to the bottle's --internal network.
register_runsc() {
  docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' && return 0
  command -v runsc >/dev/null || return 0
  if [ -s /etc/docker/daemon.json ]; then
    echo "setup: /etc/docker/daemon.json exists without runsc; add it to its runtimes yourself" >&2
    return 0
  fi
  echo "setup: registering runsc (gVisor) with Docker"
  write_runtimes '[]'
  if ! docker run --rm --runtime=runsc --network none debian:bookworm-slim true >/dev/null 2>&1; then
    echo "setup: runsc cannot run its own network stack here; registering it with --network=host"
    write_runtimes '["--network=host"]'
  fi
}

# Write /etc/docker/daemon.json with runsc and runtimeArgs $1; dockerd reloads runtimes on SIGHUP.
write_runtimes() {
  $SUDO mkdir -p /etc/docker
  printf '{\n  "runtimes": { "runsc": { "path": "%s", "runtimeArgs": %s } }\n}\n' \
    "$(command -v runsc)" "$1" | $SUDO tee /etc/docker/daemon.json >/dev/null
  $SUDO kill -HUP "$(pidof dockerd)"
  for _ in $(seq 20); do
    docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' && return 0
    sleep 0.5
  done
  echo "setup: dockerd did not pick up runsc" >&2
  return 1
}

main() {
  install_deno
  # docker.io + debootstrap: integration tests on a real engine; shellcheck and
  # nix-bin: installer and flake checks; util-linux: setpriv for the KVM probe test.
  apt_install docker.io debootstrap shellcheck nix-bin util-linux ca-certificates wget runsc \
    iptables python3
  start_docker
  docker version --format 'setup: docker engine {{.Server.Version}}'
  bash scripts/build_base_image.sh debian:bookworm-slim
  register_runsc
  deno install --frozen >/dev/null 2>&1 || deno install
  # The real agent CLIs the credentials tests run (npm registry; the tests fetch nothing and say
  # when these are missing).
  deno run -A scripts/fetch_agent_clients.ts ||
    echo "setup: the agent CLIs were not fetched; the tests that run them will be ignored" >&2
  echo "setup: done; run the tests with: deno task test"
}

main "$@"
