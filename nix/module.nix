# NixOS module: installs bot-bottle and sets up what bottles need on the host.
#
#   imports = [ bot-bottle.nixosModules.default ];
#   programs.bot-bottle = { enable = true; users = [ "alice" ]; };
#
# `self` is this flake, so the default package is the flake's own build.
self:
{ config, lib, pkgs, ... }:
let
  cfg = config.programs.bot-bottle;
in
{
  options.programs.bot-bottle = {
    enable = lib.mkEnableOption "bot-bottle, which runs AI coding agents in microVM or container bottles";

    package = lib.mkOption {
      type = lib.types.package;
      default = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      defaultText = lib.literalExpression "bot-bottle.packages.\${system}.default";
      description = "The bot-bottle package to install.";
    };

    smolvmPackage = lib.mkOption {
      type = lib.types.nullOr lib.types.package;
      default = null;
      example = lib.literalExpression "smolvm.packages.\${system}.default";
      description = ''
        smolvm, for the default smolmachines backend (it is not in nixpkgs; smolvm's own flake
        provides it). null installs nothing and leaves only the docker backend usable.
      '';
    };

    enableDocker = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Enable the Docker daemon (virtualisation.docker.enable). Every bottle's sidecar bundle
        is a Docker container, so bot-bottle needs it with either backend.
      '';
    };

    users = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      example = [ "alice" ];
      description = ''
        Existing users to add to the `kvm` group (for smolvm's /dev/kvm) and, when enableDocker
        is set, the `docker` group. Membership of `docker` is equivalent to root on this host.
        Users must log in again for new groups to apply.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = pkgs.stdenv.hostPlatform.isLinux;
        message = "programs.bot-bottle: the NixOS module supports Linux hosts only.";
      }
    ];

    environment.systemPackages = [ cfg.package ] ++ lib.optional (cfg.smolvmPackage != null) cfg.smolvmPackage;

    virtualisation.docker.enable = lib.mkIf cfg.enableDocker true;

    users.users = lib.genAttrs cfg.users (_name: {
      extraGroups = [ "kvm" ] ++ lib.optional cfg.enableDocker "docker";
    });
  };
}
