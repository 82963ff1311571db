# bot-bottle built offline from deno.lock:
#   1. denoDeps: a fixed-output derivation that runs `deno install --frozen` and keeps only the
#      extracted npm packages (registry packuments carry fetch times, so they are dropped; Deno
#      does not need them once deno.lock pins every package);
#   2. the package: `deno compile --cached-only --frozen -P=bot-bottle` against that cache, with
#      nixpkgs' own denort runtime (DENORT_BIN), so nothing is downloaded. The binary is never
#      stripped or patchelf'd: that would break the payload deno compile appends to denort.
{
  lib,
  stdenv,
  stdenvNoCC,
  deno,
  src,
  version,
  # { lockSha256, outputHash } from nix/deno_deps_pin.nix (already checked against deno.lock).
  depsPin,
}:
let
  denort =
    deno.denort or (throw (
      "bot-bottle: nixpkgs' deno ${deno.version} has no `denort` output, so `deno compile` "
      + "cannot run offline. It was added by NixOS/nixpkgs#534873 (nixos-unstable, 2026-06); "
      + "update the nixpkgs input (nix flake update nixpkgs)."
    ));

  denoDeps = stdenvNoCC.mkDerivation {
    # The lock's hash is in the name: a new deno.lock means a new store path, which Nix must
    # build (and check against outputHash) instead of reusing an old dependency set.
    name = "bot-bottle-deno-deps-${builtins.substring 0 16 depsPin.lockSha256}";
    inherit src;
    nativeBuildInputs = [ deno ];
    dontConfigure = true;
    dontFixup = true;
    buildPhase = ''
      runHook preBuild
      export HOME="$TMPDIR" DENO_DIR="$TMPDIR/deno" DENO_NO_UPDATE_CHECK=1
      mkdir -p "$DENO_DIR/npm"
      deno install --frozen --entrypoint main.ts
      runHook postBuild
    '';
    installPhase = ''
      runHook preInstall
      mkdir -p "$out"
      cp -r "$DENO_DIR/npm" "$out/npm"
      find "$out" \( -name registry.json -o -name '.deno_sync_lock' \) -delete
      runHook postInstall
    '';
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    outputHash = depsPin.outputHash;
    impureEnvVars = lib.fetchers.proxyImpureEnvVars;
  };

  # Shared by the package and the checks: a writable DENO_DIR seeded from denoDeps.
  setupDenoDir = ''
    export HOME="$TMPDIR" DENO_DIR="$TMPDIR/deno" DENO_NO_UPDATE_CHECK=1
    mkdir -p "$DENO_DIR"
    cp -r ${denoDeps}/npm "$DENO_DIR/npm"
    chmod -R u+w "$DENO_DIR"
  '';
in
stdenv.mkDerivation {
  pname = "bot-bottle";
  inherit version src;
  nativeBuildInputs = [ deno ];
  dontConfigure = true;

  buildPhase = ''
    runHook preBuild
    ${setupDenoDir}
    export DENORT_BIN="${denort}/bin/denort"
    if [ ! -x "$DENORT_BIN" ]; then
      echo "bot-bottle: $DENORT_BIN is missing; this nixpkgs' deno ${deno.version} does not ship denort. Update the nixpkgs input." >&2
      exit 1
    fi
    deno compile --cached-only --frozen -P=bot-bottle --output bot-bottle main.ts
    runHook postBuild
  '';

  installPhase = ''
    runHook preInstall
    install -Dm755 bot-bottle "$out/bin/bot-bottle"
    runHook postInstall
  '';

  doInstallCheck = true;
  installCheckPhase = ''
    runHook preInstallCheck
    "$out/bin/bot-bottle" --version
    runHook postInstallCheck
  '';

  dontStrip = true;
  dontPatchELF = true;

  passthru = { inherit denoDeps setupDenoDir; };

  meta = {
    description = "Run AI coding agents in a bottle whose only way out is a per-bottle egress allowlist";
    mainProgram = "bot-bottle";
    platforms = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
  };
}
