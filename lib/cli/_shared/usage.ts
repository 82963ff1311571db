/**
 * Help texts.
 */
import { VERSION } from "../../version.ts";

/** `bot-bottle --help`. */
export const MAIN_USAGE =
  `bot-bottle ${VERSION} - run AI coding agents in a bottle whose only way out is
its sidecar egress allowlist.

Usage: bot-bottle [--manifest PATH] <command> [options]

Commands:
  start <agent>       launch a bottle (or with --dry-run print its plan)
  resume <slug>       relaunch a stopped bottle from its recorded state
  list, ls            every bottle on this machine: running, stopped, orphaned
  stop <slug>         tear a bottle down, keep its state for resume
  rm <slug>           tear a bottle down and delete its state
  cleanup             remove leftovers of bottles that did not end cleanly
  agents              list the agents and bottles the manifests define
  doctor              check this host for both backends (no side effects)
  bundle build        build the sidecar bundle image
  version             print the version

Global options:
  --manifest PATH   use PATH instead of the user manifest (also BOT_BOTTLE_MANIFEST)
  -h, --help        show help (also: bot-bottle <command> --help)
  --version         print the version

Backend: --backend > BOT_BOTTLE_BACKEND > smolmachines. Exit codes: 0 ok, 1 error,
2 usage, 130 interrupted; start and resume pass the agent's exit code through.
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
  --json               with --dry-run: print the plan as one JSON object on stdout
  --backend NAME       smolmachines (default) or docker; also BOT_BOTTLE_BACKEND
  --label L            name the bottle L instead of the agent (slug L-xxxxx)
  --cwd                with --dry-run: plan to copy the working directory in (a launch
                       with --cwd is refused: copying is not implemented yet)
  -y, --yes            do not ask before launching (required without a terminal)
  --manifest PATH      use PATH as the user manifest
`,
  resume: `Usage: bot-bottle resume <slug> [--dry-run [--json]] [--yes]

Relaunch a stopped bottle from its metadata: the same slug, backend, agent and label,
and the same /24 when it is still free (else the next free one, said in the plan).
A running bottle or an unknown slug is refused.
`,
  list: `Usage: bot-bottle list [--json]      (alias: ls)

Every bottle on this machine, joined from state dirs, Docker labels and
\`smolvm machine ls\`: slug, agent, backend, state (running, stopped, orphaned),
subnet, age. --json prints {"schema": 1, "bottles": [...], "notes": [...]} on stdout.
`,
  stop: `Usage: bot-bottle stop <slug>

Tear the bottle down (machine, containers, networks) and keep its state for
\`bot-bottle resume <slug>\`. Idempotent.
`,
  rm: `Usage: bot-bottle rm <slug>

Tear the bottle down and delete its state dir. Idempotent.
`,
  cleanup: `Usage: bot-bottle cleanup [--dry-run] [--yes]

Find everything bot-bottle left without a live bottle (containers, networks and
smolvm machines with its labels or name prefix, and state dirs of bottles that did
not end cleanly), show one plan, ask once, remove, and report what was removed and
what failed (exit 1 if anything failed). Stopped bottles stay; a file named "keep"
in a state dir protects it.
`,
  agents: `Usage: bot-bottle agents [--json]

List the agents the manifests define, with their bottle chain, image and command.
`,
  doctor: `Usage: bot-bottle doctor [--json]

Run the preflight checks for both backends and report each with its fix. Exits 1
when a check fails. Changes nothing.
`,
  bundle: `Usage: bot-bottle bundle build

Build the sidecar bundle image (squid egress proxy, null DNS, git gate) from the
files embedded in bot-bottle. Launches build it on first use too.
`,
  version: `Usage: bot-bottle version

Print bot-bottle's version.
`,
};
