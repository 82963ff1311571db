#!/bin/sh
# bot-bottle installer.
#
#   curl -fsSL --proto '=https' --tlsv1.2 https://github.com/bot-bottle/bot-bottle/releases/latest/download/install.sh | sh
#   curl -fsSL ... | sh -s -- --version v0.1.0 --prefix "$HOME/bin"
#
# Every step lives in a function and the only top-level command is the `main "$@"` on the
# last line, so a download cut short runs nothing. The release binary is verified against the
# release's SHA256SUMS before anything is written: a missing SHA256SUMS, a missing entry, a
# mismatch or a missing sha256 tool refuses the install and leaves the install directory as it
# was. Nothing here edits shell profiles, asks questions or needs root.

set -eu

# The GitHub repository whose releases are installed (owner/name).
BB_REPO="bot-bottle/bot-bottle"
# File written next to the binary listing exactly what this installer put there.
BB_MANIFEST=".bot-bottle.install-manifest"
BB_MANIFEST_HEADER="# bot-bottle install manifest v1: written by install.sh; 'install.sh --uninstall' removes only the files listed here"
BB_BINARY="bot-bottle"

# Set by parse_args / main.
opt_version="latest"
opt_prefix=""
opt_base_url=""
opt_uninstall=0
tmp_dir=""

say() {
  printf 'bot-bottle install: %s\n' "$*"
}

warn() {
  printf 'bot-bottle install: warning: %s\n' "$*" >&2
}

die() {
  printf 'bot-bottle install: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat <<EOF
Install bot-bottle from a GitHub release, verified against the release's SHA256SUMS.

Usage: install.sh [options]

Options:
  --version vX.Y.Z   Install this release tag (default: the latest release).
  --prefix DIR       Install the binary as DIR/bot-bottle (default: \$HOME/.local/bin).
  --base-url URL     Releases root to download from (default: https://github.com/$BB_REPO/releases;
                     also BOT_BOTTLE_BASE_URL). Assets are fetched from URL/latest/download/<asset>
                     or URL/download/<tag>/<asset>. Must be https://, except http:// on
                     127.0.0.1, localhost or [::1] (local mirrors and tests).
  --uninstall        Remove only the files this installer recorded in DIR/$BB_MANIFEST.
  -h, --help         Show this help.

The install refuses (and changes nothing) when SHA256SUMS is missing, has no entry for the
binary, does not match, or when neither sha256sum nor 'shasum -a 256' is available.
It never edits shell profiles; it prints a PATH hint instead. It checks for docker, smolvm and
/dev/kvm and prints how to fix what is missing, without failing.
EOF
}

parse_args() {
  while [ "$#" -gt 0 ]; do
    case "$1" in
      -h | --help)
        usage
        exit 0
        ;;
      --version)
        [ "$#" -ge 2 ] || die "--version needs a value, e.g. --version v0.1.0"
        opt_version="$2"
        shift 2
        ;;
      --version=*)
        opt_version="${1#--version=}"
        shift
        ;;
      --prefix)
        [ "$#" -ge 2 ] || die "--prefix needs a directory, e.g. --prefix \"\$HOME/bin\""
        opt_prefix="$2"
        shift 2
        ;;
      --prefix=*)
        opt_prefix="${1#--prefix=}"
        shift
        ;;
      --base-url)
        [ "$#" -ge 2 ] || die "--base-url needs a URL"
        opt_base_url="$2"
        shift 2
        ;;
      --base-url=*)
        opt_base_url="${1#--base-url=}"
        shift
        ;;
      --uninstall)
        opt_uninstall=1
        shift
        ;;
      *)
        die "unknown option '$1' (see: install.sh --help)"
        ;;
    esac
  done
}

# Normalise and check --version: "latest", "vX.Y.Z" or "X.Y.Z" (an optional -suffix allowed).
resolve_version() {
  case "$opt_version" in
    latest) return 0 ;;
    v*) ;;
    *) opt_version="v$opt_version" ;;
  esac
  if ! printf '%s\n' "$opt_version" | grep -Eq '^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$'; then
    die "version '$opt_version' is not a release tag like v0.1.0"
  fi
}

resolve_prefix() {
  if [ -z "$opt_prefix" ]; then
    [ -n "${HOME:-}" ] || die "HOME is not set; pass --prefix DIR"
    opt_prefix="$HOME/.local/bin"
  fi
  case "$opt_prefix" in
    /*) ;;
    *) opt_prefix="$(pwd)/$opt_prefix" ;;
  esac
  # Drop trailing slashes (but keep "/").
  while [ "${#opt_prefix}" -gt 1 ] && [ "${opt_prefix%/}" != "$opt_prefix" ]; do
    opt_prefix="${opt_prefix%/}"
  done
}

# Prints "https" or "http" (loopback only); refuses anything else.
base_url_scheme() {
  case "$1" in
    https://*) echo https ;;
    http://127.0.0.1 | http://127.0.0.1[:/]* | http://localhost | http://localhost[:/]* | http://\[::1\] | http://\[::1\][:/]*)
      echo http
      ;;
    *)
      die "base URL '$1' is not https:// (plain http:// is allowed only on 127.0.0.1, localhost or [::1])"
      ;;
  esac
}

resolve_base_url() {
  if [ -z "$opt_base_url" ]; then
    opt_base_url="${BOT_BOTTLE_BASE_URL:-https://github.com/$BB_REPO/releases}"
  fi
  opt_base_url="${opt_base_url%/}"
  url_scheme="$(base_url_scheme "$opt_base_url")"
  if [ "$opt_version" = "latest" ]; then
    asset_base="$opt_base_url/latest/download"
  else
    asset_base="$opt_base_url/download/$opt_version"
  fi
}

# Maps `uname -s` / `uname -m` to one of the four release targets.
detect_target() {
  os="$(uname -s)"
  arch="$(uname -m)"
  case "$os" in
    Linux)
      case "$arch" in
        x86_64 | amd64) target="x86_64-unknown-linux-gnu" ;;
        aarch64 | arm64) target="aarch64-unknown-linux-gnu" ;;
        *) refuse_platform "$os" "$arch" ;;
      esac
      ;;
    Darwin)
      case "$arch" in
        x86_64) target="x86_64-apple-darwin" ;;
        arm64 | aarch64) target="aarch64-apple-darwin" ;;
        *) refuse_platform "$os" "$arch" ;;
      esac
      ;;
    *) refuse_platform "$os" "$arch" ;;
  esac
}

refuse_platform() {
  die "no bot-bottle release for this platform ($1 $2). Releases exist for Linux x86_64/aarch64 and macOS x86_64/arm64; elsewhere build from source with 'deno task compile'."
}

# download URL FILE: fetch over https (or loopback http) with curl, else wget.
download() {
  if command -v curl >/dev/null 2>&1; then
    if [ "$url_scheme" = "https" ]; then
      curl -fsSL --proto '=https' --proto-redir '=https' --tlsv1.2 -o "$2" "$1"
    else
      curl -fsSL --proto '=http' --proto-redir '=http' -o "$2" "$1"
    fi
  elif command -v wget >/dev/null 2>&1; then
    if [ "$url_scheme" = "https" ]; then
      wget -q --https-only --secure-protocol=TLSv1_2 -O "$2" "$1"
    else
      wget -q -O "$2" "$1"
    fi
  else
    die "neither curl nor wget is installed; install one (e.g. sudo apt-get install curl) and retry"
  fi
}

# sha256_of FILE: prints the lowercase hex SHA-256 of FILE.
sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | awk '{print $1}'
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | awk '{print $1}'
  else
    die "cannot verify the download: neither sha256sum nor 'shasum -a 256' is available (install coreutils or perl's shasum); nothing was installed"
  fi
}

# Fails before any download when no sha256 tool exists, so nothing unverifiable is fetched.
require_sha256_tool() {
  if ! command -v sha256sum >/dev/null 2>&1 && ! command -v shasum >/dev/null 2>&1; then
    die "cannot verify downloads: neither sha256sum nor 'shasum -a 256' is available (install coreutils or perl's shasum); nothing was installed"
  fi
}

make_tmp_dir() {
  tmp_dir="$(mktemp -d 2>/dev/null || mktemp -d -t bot-bottle-install)"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

cleanup() {
  if [ -n "$tmp_dir" ] && [ -d "$tmp_dir" ]; then
    rm -rf "$tmp_dir"
  fi
}

# Downloads the binary and SHA256SUMS into tmp_dir and verifies the binary; refuses otherwise.
fetch_and_verify() {
  asset="$BB_BINARY-$target"
  say "downloading $asset ($opt_version) from $asset_base"
  if ! download "$asset_base/SHA256SUMS" "$tmp_dir/SHA256SUMS"; then
    die "could not download SHA256SUMS from $asset_base/SHA256SUMS; refusing to install an unverified binary (nothing was installed)"
  fi
  expected="$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1 }' "$tmp_dir/SHA256SUMS")"
  count="$(printf '%s' "$expected" | grep -c . || true)"
  if [ "$count" -eq 0 ]; then
    die "SHA256SUMS has no entry for $asset; refusing to install an unverified binary (nothing was installed)"
  fi
  if [ "$count" -gt 1 ]; then
    die "SHA256SUMS has $count entries for $asset; refusing an ambiguous checksum (nothing was installed)"
  fi
  if ! printf '%s\n' "$expected" | grep -Eq '^[0-9a-fA-F]{64}$'; then
    die "SHA256SUMS entry for $asset is not a SHA-256 hex digest; refusing (nothing was installed)"
  fi
  expected="$(printf '%s' "$expected" | tr 'A-F' 'a-f')"
  if ! download "$asset_base/$asset" "$tmp_dir/$asset"; then
    die "could not download $asset_base/$asset (nothing was installed)"
  fi
  actual="$(sha256_of "$tmp_dir/$asset")"
  if [ "$actual" != "$expected" ]; then
    die "checksum mismatch for $asset: SHA256SUMS says $expected, the download is $actual; refusing to install (nothing was installed)"
  fi
  say "verified $asset: sha256 $actual"
}

manifest_path() {
  echo "$opt_prefix/$BB_MANIFEST"
}

# Puts the verified binary at PREFIX/bot-bottle atomically and records it in the manifest.
install_binary() {
  dest="$opt_prefix/$BB_BINARY"
  manifest="$(manifest_path)"
  if [ -e "$dest" ] && [ ! -f "$manifest" ]; then
    die "$dest exists and was not installed by this installer (no $manifest); remove it yourself or choose another --prefix"
  fi
  mkdir -p "$opt_prefix" || die "cannot create $opt_prefix"
  staged="$opt_prefix/.$BB_BINARY.tmp.$$"
  staged_manifest="$opt_prefix/.$BB_MANIFEST.tmp.$$"
  if ! cp "$tmp_dir/$asset" "$staged"; then
    rm -f "$staged"
    die "cannot write to $opt_prefix; choose another --prefix"
  fi
  chmod 0755 "$staged"
  {
    echo "$BB_MANIFEST_HEADER"
    echo "version $opt_version"
    echo "target $target"
    echo "file $actual $BB_BINARY"
  } >"$staged_manifest"
  mv -f "$staged" "$dest"
  mv -f "$staged_manifest" "$manifest"
  say "installed $dest ($opt_version, $target)"
}

uninstall() {
  manifest="$(manifest_path)"
  if [ ! -f "$manifest" ]; then
    if [ -e "$opt_prefix/$BB_BINARY" ]; then
      die "$opt_prefix/$BB_BINARY was not installed by this installer (no $manifest); not removing it"
    fi
    say "nothing to uninstall in $opt_prefix (no $manifest)"
    return 0
  fi
  require_sha256_tool
  if [ "$(head -n 1 "$manifest")" != "$BB_MANIFEST_HEADER" ]; then
    die "$manifest is not a bot-bottle install manifest; not removing anything"
  fi
  kept=0
  # Each "file <sha256> <name>" line names one file directly inside the prefix.
  while read -r kind hash name; do
    [ "$kind" = "file" ] || continue
    case "$name" in
      "" | */* | . | ..)
        warn "skipping manifest entry '$name': not a plain file name"
        kept=1
        continue
        ;;
    esac
    path="$opt_prefix/$name"
    if [ ! -e "$path" ]; then
      say "already gone: $path"
    elif [ "$(sha256_of "$path")" != "$hash" ]; then
      warn "$path changed since it was installed (sha256 differs); leaving it in place"
      kept=1
    else
      rm -f "$path"
      say "removed $path"
    fi
  done <"$manifest"
  if [ "$kept" -eq 0 ]; then
    rm -f "$manifest"
    say "removed $manifest"
  else
    warn "kept $manifest because some files were left in place"
  fi
}

path_hint() {
  case ":${PATH:-}:" in
    *":$opt_prefix:"*) ;;
    *)
      say "$opt_prefix is not on your PATH. Add it, e.g. in ~/.profile or your shell's rc file:"
      # shellcheck disable=SC2016 # $PATH is meant literally in the hint.
      printf '    export PATH="%s:$PATH"\n' "$opt_prefix"
      ;;
  esac
}

# Non-fatal host checks: what bottles need, and how to fix what is missing.
check_host() {
  if command -v docker >/dev/null 2>&1; then
    say "ok: docker found at $(command -v docker)"
  else
    warn "docker not found: the sidecar bundle (and the docker backend) need it. Install Docker Engine (Debian/Ubuntu: sudo apt-get install docker.io), then: sudo usermod -aG docker \"\$USER\" and log in again"
  fi
  if command -v smolvm >/dev/null 2>&1; then
    say "ok: smolvm found at $(command -v smolvm)"
  else
    warn "smolvm not found: the default smolmachines backend needs it. Install it (https://github.com/smol-machines/smolvm, e.g. its install.sh --version 1.9.3), or use the docker backend"
  fi
  if [ "$(uname -s)" = "Linux" ]; then
    if [ ! -e /dev/kvm ]; then
      warn "/dev/kvm does not exist: smolvm needs KVM. Enable virtualisation in the firmware and load the module: sudo modprobe kvm_intel (or kvm_amd)"
    elif [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
      warn "/dev/kvm is not readable and writable by $(id -un 2>/dev/null || echo you): sudo usermod -aG kvm \"\$USER\" and log in again"
    else
      say "ok: /dev/kvm is readable and writable"
    fi
  fi
}

main() {
  parse_args "$@"
  resolve_prefix
  if [ "$opt_uninstall" -eq 1 ]; then
    uninstall
    return 0
  fi
  resolve_version
  resolve_base_url
  detect_target
  require_sha256_tool
  make_tmp_dir
  fetch_and_verify
  install_binary
  path_hint
  check_host
}

main "$@"
