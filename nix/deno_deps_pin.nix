# Reads nix/deno-deps.json and ties it to deno.lock. Pure builtins only, so it evaluates (and is
# tested) without nixpkgs:
#   nix-instantiate --eval --strict -E 'import ./nix/deno_deps_pin.nix { lockFile = ./deno.lock; pinFile = ./nix/deno-deps.json; }'
#
# The dependency derivation is fixed-output: Nix trusts `outputHash` and reuses any store path
# with that hash. If deno.lock changed while outputHash did not, a stale dependency set could be
# reused silently. So evaluation fails unless the recorded lockSha256 is deno.lock's sha256,
# which forces whoever changes deno.lock to refresh both values.
{ lockFile, pinFile }:
let
  pin = builtins.fromJSON (builtins.readFile pinFile);
  actual = builtins.hashFile "sha256" lockFile;
  refresh = "Refresh it with: deno run -A scripts/nix_deps_hash.ts (updates lockSha256 and "
    + "outputHash in nix/deno-deps.json), or set lockSha256 to the value above, set outputHash "
    + "to \"\" and copy the hash that `nix build .#deno-deps` reports.";
in
if !(pin ? lockSha256 && pin ? outputHash) then
  throw "bot-bottle: ${toString pinFile} must hold { \"lockSha256\": ..., \"outputHash\": ... }. ${refresh}"
else if pin.lockSha256 != actual then
  throw ("bot-bottle: deno.lock changed: its sha256 is ${actual} but nix/deno-deps.json records "
    + "lockSha256 ${pin.lockSha256}, so the pinned dependency hash (outputHash) may describe "
    + "other dependencies. ${refresh}")
else
  pin
