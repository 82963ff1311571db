/**
 * Help texts. Only commands that work are listed.
 */
import { VERSION } from "../version.ts";

/** `bot-bottle --help`. */
export const MAIN_USAGE =
  `bot-bottle ${VERSION} - run AI coding agents in a bottle whose only way out is
its sidecar egress allowlist.

Usage: bot-bottle [--manifest PATH] <command> [options]

Commands:
  start <agent>             launch a bottle, or with --dry-run print its plan
  agents                    list the agents and bottles the manifests define
  doctor                    check this host for both backends (no side effects)
  version                   print the version

Global options:
  --manifest PATH   use PATH instead of the user manifest (also BOT_BOTTLE_MANIFEST)
  -h, --help        show help (also: bot-bottle <command> --help)
  --version         print the version

resume, list, stop, rm, cleanup and bundle build are not in this build yet; they
say so when asked.
`;

/** Per-command help. */
export const COMMAND_USAGE: Record<string, string> = {
  start: `Usage: bot-bottle start <agent> [--dry-run [--json]] [--backend smolmachines|docker]
                        [--label L] [--cwd] [--yes] [-- <agent args>]

Resolve the plan for a bottle running <agent> (slug, backend, bundle subnet, guest
environment with secret names only, egress allowlist, resources, Smolfile, preflight),
print it, ask "Launch? [y/N]" on a terminal, launch, attach the agent to this terminal,
tear everything down when it exits, and exit with the agent's exit code.

Options:
  --dry-run            resolve and print the plan, change nothing
  --json               print the plan as one JSON object on stdout
  --backend NAME       smolmachines (default) or docker; also BOT_BOTTLE_BACKEND
  --label L            name the bottle L instead of the agent (slug L-xxxxx)
  --cwd                plan to copy the working directory into the bottle
  --yes                do not ask before launching
  --manifest PATH      use PATH as the user manifest
`,
  agents: `Usage: bot-bottle agents [--json]

List the agents the manifests define, with their bottle chain, image and command.
`,
  doctor: `Usage: bot-bottle doctor [--json]

Run the preflight checks for both backends and report each with its fix. Exits 1
when a check fails. Changes nothing.
`,
  version: `Usage: bot-bottle version

Print bot-bottle's version.
`,
};
