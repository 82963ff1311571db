{
  description = "bot-bottle: run AI coding agents in a bottle whose only way out is a per-bottle egress allowlist";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      version = (builtins.fromJSON (builtins.readFile ./deno.json)).version;

      # Fails evaluation, with the refresh command, when deno.lock no longer matches the pinned
      # dependency hash in nix/deno-deps.json.
      depsPin = import ./nix/deno_deps_pin.nix {
        lockFile = ./deno.lock;
        pinFile = ./nix/deno-deps.json;
      };

      # The repository minus build outputs (tests read flake.nix and nix/, so those stay).
      src = lib.cleanSourceWith {
        src = lib.cleanSource ./.;
        filter =
          path: _type:
          !(builtins.elem (baseNameOf path) [
            "dist"
            "result"
            ".github"
          ]);
      };

      botBottleFor = pkgs: pkgs.callPackage ./nix/package.nix { inherit src version depsPin; };
    in
    {
      packages = forAllSystems (
        pkgs:
        let
          bot-bottle = botBottleFor pkgs;
        in
        {
          default = bot-bottle;
          inherit bot-bottle;
          deno-deps = bot-bottle.denoDeps;
        }
      );

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = "${self.packages.${pkgs.stdenv.hostPlatform.system}.default}/bin/bot-bottle";
          meta.description = "bot-bottle CLI";
        };
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.deno
            pkgs.docker-client
            pkgs.shellcheck
          ];
        };
      });

      # Unit tests, offline, against the same pinned dependency cache. Integration tests need a
      # Docker engine and are left to CI.
      checks = forAllSystems (
        pkgs:
        let
          bot-bottle = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        in
        {
          package = bot-bottle;
          unit-tests = pkgs.stdenvNoCC.mkDerivation {
            name = "bot-bottle-unit-tests-${version}";
            inherit src;
            nativeBuildInputs = [
              pkgs.deno
              pkgs.shellcheck
              pkgs.curl
              pkgs.wget
            ];
            dontConfigure = true;
            buildPhase = ''
              runHook preBuild
              ${bot-bottle.setupDenoDir}
              deno test -A --no-prompt --cached-only --frozen --ignore=tests/integration tests/
              runHook postBuild
            '';
            installPhase = "touch $out";
          };
        }
      );

      overlays.default = final: _prev: { bot-bottle = botBottleFor final; };

      nixosModules.default = import ./nix/module.nix self;
    };
}
