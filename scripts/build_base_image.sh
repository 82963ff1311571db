#!/bin/sh
# Builds and tags a local debian:bookworm-slim from Debian's own mirror with
# debootstrap + docker import, for machines that cannot reach Docker Hub.
# Idempotent: an existing image with the tag is reused.
set -eu

TAG="${1:-debian:bookworm-slim}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

main() {
  if docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "base image $TAG already present"
    return 0
  fi
  command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }
  root=$(mktemp -d /tmp/bot-bottle-rootfs.XXXXXX)
  trap 'rm -rf "$root"' EXIT INT TERM
  echo "debootstrap bookworm (minbase) into $root"
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >/tmp/bot-bottle-debootstrap.log 2>&1 || {
    tail -n 20 /tmp/bot-bottle-debootstrap.log >&2; exit 1; }
  # Keep the image small and apt usable inside docker build.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$TAG" >/dev/null
  echo "tagged $TAG"
}

main "$@"
