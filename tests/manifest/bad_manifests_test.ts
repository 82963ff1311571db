/**
 * Bad manifests: each one is refused with an exact message that names the
 * file and the key path. Some also go through the real CLI as a subprocess.
 */
import assert from "node:assert/strict";
import { ManifestError } from "../../lib/manifest/manifest_error.ts";
import { parseManifestText } from "../../lib/manifest/parse_manifest.ts";
import { loadManifest } from "../../lib/manifest/load_manifest.ts";
import type { ManifestScope } from "../../lib/manifest/types.ts";
import { parseEgressEntry } from "../../lib/policy/egress_entry.ts";

function parseEgressProblem(entry: string): string {
  const parsed = parseEgressEntry(entry);
  if (!("problem" in parsed)) throw new Error(`${entry} is a valid egress entry`);
  return parsed.problem;
}

const P = "/m/bot-bottle.toml";
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAswVXqfxOkOM1h9osfsETZbgKXK7xQ5XoOozfIXPGGG";
const NAME_RULE =
  'names must match ^[a-z][a-z0-9-]*$: a lowercase letter, then lowercase letters, digits and "-", at most 63 characters';
const RESERVED =
  "(reserved: HTTPS_PROXY, HTTP_PROXY, https_proxy, http_proxy, NO_PROXY, no_proxy, " +
  "GIT_GATE_URL, MCP_SUPERVISE_URL, BOT_BOTTLE_WORKSPACE)";

/** A bottle with one git remote; `edit` changes the remote's inline table. */
function gitBottle(edit: (remote: string) => string): string {
  const remote = `name = "app", upstream = "git@h.example:me/app.git", identity = "~/.ssh/id", ` +
    `host_key = "${KEY}"`;
  return `[bottles.dev]\nimage = "img"\ngit = [{ ${edit(remote)} }]\n`;
}

function expectManifestError(fn: () => unknown, message: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ManifestError, `expected a ManifestError, got ${String(caught)}`);
  assert.equal(caught.message, message);
  assert.equal(caught.exitCode, 1);
}

interface ParseCase {
  name: string;
  toml: string;
  scope?: ManifestScope;
  message: string;
}

const PARSE_CASES: ParseCase[] = [
  {
    name: "TOML syntax error: missing value",
    toml: "a = \n",
    message: `${P}:1:5: TOML syntax error: incomplete key-value declaration: no value specified`,
  },
  {
    name: "TOML syntax error: table defined twice",
    toml: '[bottles.dev]\nimage = "a"\n[bottles.dev]\n',
    message: `${P}:3:2: TOML syntax error: trying to redefine an already defined table or value`,
  },
  {
    name: "every problem of a file at once",
    toml: '[bottles.dev]\nimgae = "a"\ncpus = "2"\negress.allow = ["ok.test", "*", "also bad"]\n' +
      '[agents.a]\nbottle = "dev"\ncomand = ["x"]\n',
    message: `${P}: 6 problems:\n` +
      '  unknown key bottles.dev.imgae (did you mean "image"?)\n' +
      '  bottles.dev.cpus: expected an integer from 1 to 64, found string "2"\n' +
      `  bottles.dev.egress.allow[1]: "*" ${parseEgressProblem("*")}\n` +
      `  bottles.dev.egress.allow[2]: "also bad" ${parseEgressProblem("also bad")}\n` +
      '  unknown key agents.a.comand (did you mean "command"?)\n' +
      '  agents.a: missing required key command (the argv to run, e.g. ["claude"])',
  },
  {
    name: "unknown top-level key with a near miss",
    toml: '[bottle.dev]\nimage = "a"\n',
    message: `${P}: unknown key bottle (did you mean "bottles"?)`,
  },
  {
    name: "unknown top-level key without a near miss",
    toml: "foo = 1\n",
    message: `${P}: unknown key foo (expected one of: bottles, agents)`,
  },
  {
    name: "unknown bottle key (transposition)",
    toml: '[bottles.dev]\nimgae = "a"\n',
    message: `${P}: unknown key bottles.dev.imgae (did you mean "image"?)`,
  },
  {
    name: "removed bottle key",
    toml: '[bottles.dev]\nnetwork = "host"\n',
    message:
      `${P}: unknown key bottles.dev.network (expected one of: extends, image, dockerfile, ` +
      "cpus, memory, workdir, env, secrets, ca_certs, egress, git, supervise, bundle, runtime)",
  },
  {
    name: "a runtime that is not runc or runsc",
    toml: '[bottles.dev]\nimage = "a"\nruntime = "kata"\n',
    message: `${P}: bottles.dev.runtime: expected "runc" (the default) or "runsc" (gVisor), ` +
      'found string "kata"',
  },
  {
    name: "on_block neither refuse nor ask",
    toml: '[bottles.dev]\nimage = "a"\negress.on_block = "allow"\n',
    message: `${P}: bottles.dev.egress.on_block: expected "refuse" (the default) or "ask" (hold ` +
      'a refused request until approve/deny), found string "allow"',
  },
  {
    name: "bundle memory below what the proxy and gate need",
    toml: '[bottles.dev]\nimage = "a"\nbundle = { memory = 64 }\n',
    message: `${P}: bottles.dev.bundle.memory: expected an integer from 128 to 65536 (MiB), ` +
      "found integer 64",
  },
  {
    name: "unknown agent key",
    toml: '[agents.a]\nbottle = "dev"\ncommand = ["x"]\npromt = "hi"\n',
    message: `${P}: unknown key agents.a.promt (did you mean "prompt"?)`,
  },
  {
    name: "uppercase bottle name",
    toml: '[bottles.Dev]\nimage = "a"\n',
    message: `${P}: bottles.Dev: bottle name "Dev" is not valid: ${NAME_RULE}`,
  },
  {
    name: "agent name with a space",
    toml: '[agents."my agent"]\nbottle = "dev"\ncommand = ["x"]\n',
    message: `${P}: agents."my agent": agent name "my agent" is not valid: ${NAME_RULE}`,
  },
  {
    name: "cpus as a string",
    toml: '[bottles.dev]\nimage = "a"\ncpus = "2"\n',
    message: `${P}: bottles.dev.cpus: expected an integer from 1 to 64, found string "2"`,
  },
  {
    name: "cpus as a float",
    toml: '[bottles.dev]\nimage = "a"\ncpus = 2.5\n',
    message: `${P}: bottles.dev.cpus: expected an integer from 1 to 64, found float 2.5`,
  },
  {
    name: "cpus out of range",
    toml: '[bottles.dev]\nimage = "a"\ncpus = 128\n',
    message: `${P}: bottles.dev.cpus: expected an integer from 1 to 64, found integer 128`,
  },
  {
    name: "memory below the minimum",
    toml: '[bottles.dev]\nimage = "a"\nmemory = 100\n',
    message:
      `${P}: bottles.dev.memory: expected an integer from 256 to 1048576 (MiB), found integer 100`,
  },
  {
    name: "long found value is truncated",
    toml: `[bottles.dev]\nimage = "a"\ncpus = "${"x".repeat(100)}"\n`,
    message: `${P}: bottles.dev.cpus: expected an integer from 1 to 64, found string ` +
      `"${"x".repeat(40)}"... (100 characters)`,
  },
  {
    name: "image and dockerfile together",
    toml: '[bottles.dev]\nimage = "a"\ndockerfile = "Dockerfile"\n',
    message: `${P}: bottles.dev: image and dockerfile are mutually exclusive; set only one ` +
      "(image: a prebuilt OCI image, dockerfile: an image built on first use)",
  },
  {
    name: "an unknown built-in Dockerfile, with the near one",
    toml: '[bottles.dev]\ndockerfile = "builtin:claud"\n',
    message: `${P}: bottles.dev.dockerfile: "builtin:claud" is not a built-in Dockerfile (did ` +
      'you mean "builtin:claude"?); the built-in ones are builtin:shell, builtin:claude, ' +
      "builtin:codex",
  },
  {
    name: "a dockerfile that is a URL",
    toml: '[bottles.dev]\ndockerfile = "https://example.com/Dockerfile"\n',
    message: `${P}: bottles.dev.dockerfile: "https://example.com/Dockerfile" starts with ` +
      '"https:", which bot-bottle does not fetch or guess at; expected the path of a Dockerfile ' +
      "(relative to this manifest's directory, or absolute) or builtin:<name> (shell, claude, " +
      'codex) (a file whose name has a colon: write "./https://example.com/Dockerfile")',
  },
  {
    name: "a dockerfile under ~",
    toml: '[bottles.dev]\ndockerfile = "~/Dockerfile"\n',
    message: `${P}: bottles.dev.dockerfile: "~/Dockerfile": "~" is not expanded here; write ` +
      "the path relative to this manifest's directory, or absolute",
  },
  {
    name: "a dockerfile that is a directory",
    toml: '[bottles.dev]\ndockerfile = "agents/"\n',
    message: `${P}: bottles.dev.dockerfile: "agents/" names a directory; expected the ` +
      "Dockerfile itself",
  },
  {
    name: "image that looks like an option",
    toml: '[bottles.dev]\nimage = "--privileged"\n',
    message: `${P}: bottles.dev.image: expected an image reference such as ` +
      '"bot-bottle/agent-shell:latest", found string "--privileged"',
  },
  {
    name: "image as a datetime",
    toml: "[bottles.dev]\nimage = 1979-05-27\n",
    message: `${P}: bottles.dev.image: expected an image reference such as ` +
      '"bot-bottle/agent-shell:latest", found datetime 1979-05-27',
  },
  {
    name: "relative workdir",
    toml: '[bottles.dev]\nimage = "a"\nworkdir = "work"\n',
    message: `${P}: bottles.dev.workdir: expected an absolute path in the guest, such as ` +
      '"/work", found string "work"',
  },
  {
    name: "env sets a reserved proxy variable",
    toml: '[bottles.dev]\nimage = "a"\nenv = { HTTPS_PROXY = "http://evil" }\n',
    message: `${P}: bottles.dev.env.HTTPS_PROXY: HTTPS_PROXY is set by bot-bottle itself (it ` +
      `points the guest at the bundle), so a bottle may not set it in env ${RESERVED}`,
  },
  {
    name: "secrets sets a reserved variable",
    toml: '[bottles.dev]\nimage = "a"\nsecrets = { no_proxy = "X" }\n',
    message: `${P}: bottles.dev.secrets.no_proxy: no_proxy is set by bot-bottle itself (it ` +
      `points the guest at the bundle), so a bottle may not set it in secrets ${RESERVED}`,
  },
  {
    name: "env key is not a variable name",
    toml: '[bottles.dev]\nimage = "a"\nenv = { "1X" = "a" }\n',
    message: `${P}: bottles.dev.env.1X: "1X" is not a valid environment variable name ` +
      "(expected ^[A-Za-z_][A-Za-z0-9_]*$)",
  },
  {
    name: "env value is not a string",
    toml: '[bottles.dev]\nimage = "a"\nenv = { A = 1 }\n',
    message: `${P}: bottles.dev.env.A: expected a string value, found integer 1`,
  },
  {
    name: "same variable in env and secrets",
    toml: '[bottles.dev]\nimage = "a"\nenv = { TOKEN = "a" }\nsecrets = { TOKEN = "HOST_TOKEN" }\n',
    message: `${P}: bottles.dev: TOKEN is set in both env and secrets; a guest variable must ` +
      "come from one place (env for a literal value, secrets for a value read from the host " +
      "environment)",
  },
  {
    name: "secret value pasted instead of a host variable name (value never echoed)",
    toml: '[bottles.dev]\nimage = "a"\nsecrets = { TOKEN = "sk-ant-api03-abcdef" }\n',
    message: `${P}: bottles.dev.secrets.TOKEN: expected the name of a host environment variable ` +
      "(^[A-Za-z_][A-Za-z0-9_]*$), found a string that is not one (not shown: it may be a " +
      "secret value)",
  },
  {
    name: 'egress "*" alone',
    toml: '[bottles.dev]\nimage = "a"\negress.allow = ["*"]\n',
    message: `${P}: bottles.dev.egress.allow[0]: "*" would allow every host; list host names ` +
      'or "*.suffix" wildcards instead',
  },
  {
    name: "egress entry with a scheme",
    toml: '[bottles.dev]\nimage = "a"\negress.allow = ["https://api.example.com"]\n',
    message: `${P}: bottles.dev.egress.allow[0]: "https://api.example.com" has a scheme; write ` +
      'only the host name ("api.example.com", not "https://api.example.com")',
  },
  {
    name: "egress entry with a port out of range",
    toml: '[bottles.dev]\nimage = "a"\negress.allow = ["api.example.com:99999"]\n',
    message: `${P}: bottles.dev.egress.allow[0]: "api.example.com:99999" has port "99999", not ` +
      "a number from 1 to 65535",
  },
  {
    name: "egress entry that is an IPv6 literal",
    toml: '[bottles.dev]\nimage = "a"\negress.allow = ["[2001:db8::1]:443"]\n',
    message: `${P}: bottles.dev.egress.allow[0]: "[2001:db8::1]:443" is an IPv6 address; IPv6 ` +
      "is off in bottles, so list a host name or an IPv4 address",
  },
  {
    name: "egress entry in uppercase",
    toml: '[bottles.dev]\nimage = "a"\negress.allow = ["API.example.com"]\n',
    message: `${P}: bottles.dev.egress.allow[0]: "API.example.com" has uppercase letters; write ` +
      'it in lowercase ("api.example.com")',
  },
  {
    name: "empty egress entry",
    toml: '[bottles.dev]\nimage = "a"\negress.allow = ["ok.example.com", ""]\n',
    message: `${P}: bottles.dev.egress.allow[1]: "" is empty; write a host name such as ` +
      '"api.example.com"',
  },
  {
    name: "egress wildcard over a top-level domain",
    toml: '[bottles.dev]\nimage = "a"\negress.allow = ["*.com"]\n',
    message: `${P}: bottles.dev.egress.allow[0]: "*.com" is too broad: a wildcard suffix needs ` +
      'at least two labels ("*.example.com", not "*.com")',
  },
  {
    name: "egress wildcard in the middle",
    toml: '[bottles.dev]\nimage = "a"\negress.allow = ["api.*.example.com"]\n',
    message: `${P}: bottles.dev.egress.allow[0]: "api.*.example.com" may use a wildcard only as ` +
      'a leading "*." ("*.example.com")',
  },
  {
    name: "egress IPv4 out of range",
    toml: '[bottles.dev]\nimage = "a"\negress.allow = ["10.0.0.256"]\n',
    message: `${P}: bottles.dev.egress.allow[0]: "10.0.0.256" is not a valid IPv4 address`,
  },
  {
    name: "egress with a key other than allow",
    toml: '[bottles.dev]\nimage = "a"\negress = { allow = [], deny = ["x"] }\n',
    message:
      `${P}: unknown key bottles.dev.egress.deny (expected one of: allow, on_block, ask_timeout, inspect, rules)`,
  },
  {
    name: "egress.ask_timeout out of range",
    toml: '[bottles.dev]\nimage = "a"\negress = { on_block = "ask", ask_timeout = 0 }\n',
    message:
      `${P}: bottles.dev.egress.ask_timeout: expected an integer from 1 to 3600 (seconds), ` +
      "found integer 0",
  },
  {
    name: "egress as an array",
    toml: '[bottles.dev]\nimage = "a"\negress = ["a.example.com"]\n',
    message: `${P}: bottles.dev.egress: expected a table with an allow list ` +
      '(egress.allow = ["host"]), found array of 1',
  },
  {
    name: "git remote missing keys",
    toml: '[bottles.dev]\nimage = "a"\ngit = [{ name = "app" }]\n',
    message: `${P}: bottles.dev.git[0]: missing required keys upstream, identity, host_key`,
  },
  {
    name: "git upstream over https",
    toml: gitBottle((r) => r.replace("git@h.example:me/app.git", "https://h.example/me/app.git")),
    message: `${P}: bottles.dev.git[0].upstream: expected ssh://user@host[:port]/path or ` +
      'user@host:path, found string "https://h.example/me/app.git"',
  },
  {
    name: "git upstream path that is an ssh option",
    toml: gitBottle((r) => r.replace("git@h.example:me/app.git", "git@h.example:-oProxyCommand=x")),
    message: `${P}: bottles.dev.git[0].upstream: expected ssh://user@host[:port]/path or ` +
      'user@host:path, found string "git@h.example:-oProxyCommand=x"',
  },
  {
    name: "git upstream with port 0",
    toml: gitBottle((r) => r.replace("git@h.example:me/app.git", "ssh://git@h.example:0/app.git")),
    message: `${P}: bottles.dev.git[0].upstream: "ssh://git@h.example:0/app.git": port 0 is ` +
      "not in 1-65535",
  },
  {
    name: "git upstream at IPv6 loopback (the bundle itself)",
    toml: gitBottle((r) => r.replace("git@h.example:me/app.git", "ssh://git@[::1]/x")),
    message: `${P}: bottles.dev.git[0].upstream: "ssh://git@[::1]/x": the host [::1] is a ` +
      "loopback address; from the git gate that is the bundle itself, not an upstream",
  },
  {
    name: "git upstream at the cloud metadata address",
    toml: gitBottle((r) => r.replace("git@h.example:me/app.git", "git@169.254.169.254:x")),
    message: `${P}: bottles.dev.git[0].upstream: "git@169.254.169.254:x": the host ` +
      "169.254.169.254 is a link-local address; from the git gate that is the bundle itself, " +
      "not an upstream",
  },
  {
    name: "git identity with a comma (cannot be bind-mounted)",
    toml: gitBottle((r) => r.replace('identity = "', 'identity = "/k,x')),
    message: `${P}: bottles.dev.git[0].identity: "/k,x~/.ssh/id" contains ',', ':' or a ` +
      "control character; expected the path of an SSH private key on the host (absolute or ~/...)",
  },
  {
    name: "a name longer than 63 characters",
    toml: `[bottles.${"b".repeat(64)}]\nimage = "a"\n`,
    message: `${P}: bottles.${"b".repeat(40)}...: bottle name "${"b".repeat(40)}"... (64 ` +
      `characters) is not valid: ${NAME_RULE}`,
  },
  {
    name: "git host key without its type",
    toml: gitBottle((r) => r.replace(KEY, "AAAAC3NzaC1lZDI1NTE5")),
    message: `${P}: bottles.dev.git[0].host_key: "AAAAC3NzaC1lZDI1NTE5": expected ` +
      '"<type> <base64 key>", e.g. "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5...", as printed by ' +
      "ssh-keyscan without the leading host name",
  },
  {
    name: "git host key whose data is another type",
    toml: gitBottle((r) => r.replace("ssh-ed25519 ", "ssh-rsa ")),
    message: `${P}: bottles.dev.git[0].host_key: "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIAswVXqf"... ` +
      '(76 characters): the key data is not a ssh-rsa key (it encodes "ssh-ed25519")',
  },
  {
    name: "git host key of an unsupported type",
    toml: gitBottle((r) => r.replace("ssh-ed25519 ", "ssh-dss ")),
    message: `${P}: bottles.dev.git[0].host_key: "ssh-dss AAAAC3NzaC1lZDI1NTE5AAAAIAswVXqf"... ` +
      '(76 characters): key type "ssh-dss" is not supported (expected one of ssh-ed25519, ' +
      "ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, ssh-rsa)",
  },
  {
    name: "unknown key in a git remote",
    toml: gitBottle((r) => `${r}, hostkey = "x"`),
    message: `${P}: unknown key bottles.dev.git[0].hostkey (did you mean "host_key"?)`,
  },
  {
    name: "two git remotes with the same name",
    toml: '[bottles.dev]\nimage = "a"\n' +
      `[[bottles.dev.git]]\nname = "app"\nupstream = "git@h.example:a.git"\n` +
      `identity = "~/.ssh/id"\nhost_key = "${KEY}"\n` +
      `[[bottles.dev.git]]\nname = "app"\nupstream = "git@h.example:b.git"\n` +
      `identity = "~/.ssh/id"\nhost_key = "${KEY}"\n`,
    message: `${P}: bottles.dev.git[1].name: remote name "app" is already used by ` +
      "bottles.dev.git[0]",
  },
  {
    name: "supervise as a string",
    toml: '[bottles.dev]\nimage = "a"\nsupervise = "yes"\n',
    message: `${P}: bottles.dev.supervise: expected a boolean (true or false), found string "yes"`,
  },
  {
    name: "extends an invalid name",
    toml: '[bottles.dev]\nextends = "Base"\n',
    message: `${P}: bottles.dev.extends: bottle name "Base" is not valid: ${NAME_RULE}`,
  },
  {
    name: "agent without a bottle",
    toml: '[agents.a]\ncommand = ["x"]\n',
    message: `${P}: agents.a: missing required key bottle (the name of the bottle the agent ` +
      "runs in)",
  },
  {
    name: "agent with an empty command",
    toml: '[agents.a]\nbottle = "dev"\ncommand = []\n',
    message: `${P}: agents.a.command: expected a non-empty array of strings, e.g. ["claude"], ` +
      "found empty array",
  },
  {
    name: "agent command as one string",
    toml: '[agents.a]\nbottle = "dev"\ncommand = "claude --x"\n',
    message: `${P}: agents.a.command: expected a non-empty array of strings, e.g. ["claude"], ` +
      'found string "claude --x"',
  },
  {
    name: "agent command with an empty argument",
    toml: '[agents.a]\nbottle = "dev"\ncommand = ["claude", ""]\n',
    message: `${P}: agents.a.command[1]: expected a non-empty string, found string ""`,
  },
  {
    name: "bottles as a number",
    toml: "bottles = 3\n",
    message: `${P}: bottles: expected a table of bottles ([bottles.<name>]), found integer 3`,
  },
  {
    name: "project manifest defines a bottle",
    toml: '[bottles.dev]\nimage = "a"\negress.allow = ["evil.example.com"]\n',
    scope: "project",
    message: `${P}: defines bottle "dev" ([bottles.dev]), but a project manifest may only ` +
      "define [agents.*]. A project's bot-bottle.toml comes with the repository, and a cloned " +
      "repository must never be able to widen egress or read secrets, so bottles are only read " +
      "from your user manifest. Move the bottle into $XDG_CONFIG_HOME/bot-bottle/bot-bottle.toml " +
      "(default ~/.config/bot-bottle/bot-bottle.toml) and keep only [agents.*] here.",
  },
  {
    name: "5,000-deep nested arrays",
    toml: `x = ${"[".repeat(5000)}${"]".repeat(5000)}\n`,
    message: `${P}:1:105: TOML syntax error: document contains excessively nested structures. ` +
      "aborting.",
  },
  {
    name: "larger than 1 MiB",
    toml: `# ${"x".repeat(1024 * 1024)}\n`,
    message: `${P}: file is larger than 1 MiB (1048576 bytes); a manifest is a short ` +
      "hand-written file, refusing to parse it",
  },
  // Injected secrets, ca_certs, egress.inspect and egress.rules (SPEC §3, §12).
  {
    name: "an injected secret without inject",
    toml: '[bottles.dev]\nimage = "a"\n[bottles.dev.secrets.KEY]\nfrom = "HOST_KEY"\n',
    message: `${P}: bottles.dev.secrets.KEY: missing required key inject (an injected secret ` +
      'is { from = "HOST_VAR", inject = ["api.example.com"] }; for a value the agent may hold, ' +
      'write NAME = "HOST_VAR")',
  },
  {
    name: "an injected secret with no host",
    toml: '[bottles.dev]\nimage = "a"\nsecrets.KEY = { from = "HOST_KEY", inject = [] }\n',
    message: `${P}: bottles.dev.secrets.KEY.inject: is empty: an injected secret needs at least ` +
      'one host to be injected into (for a value the agent may hold, write NAME = "HOST_VAR" ' +
      "instead)",
  },
  {
    name: "an inject host with a port",
    toml:
      '[bottles.dev]\nimage = "a"\nsecrets.KEY = { from = "HOST_KEY", inject = ["api.test:8443"] }\n',
    message: `${P}: bottles.dev.secrets.KEY.inject[0]: "api.test:8443" names a port; write the ` +
      "host only (it applies on every port egress.allow opens for that host)",
  },
  {
    name: "an inject host that is no host",
    toml: '[bottles.dev]\nimage = "a"\nsecrets.KEY = { from = "HOST_KEY", inject = ["*"] }\n',
    message: `${P}: bottles.dev.secrets.KEY.inject[0]: "*" ${parseEgressProblem("*")}`,
  },
  {
    name: "from holding what looks like a value is refused without showing it",
    toml:
      '[bottles.dev]\nimage = "a"\nsecrets.KEY = { from = "sk-live-1234", inject = ["api.test"] }\n',
    message: `${P}: bottles.dev.secrets.KEY.from: expected the name of a host environment ` +
      "variable (^[A-Za-z_][A-Za-z0-9_]*$), found a string that is not one (not shown: it may " +
      "be a secret value)",
  },
  {
    name: "an injected secret with an unknown key",
    toml: '[bottles.dev]\nimage = "a"\n' +
      'secrets.KEY = { from = "HOST_KEY", inject = ["api.test"], hosts = ["x"] }\n',
    message: `${P}: unknown key bottles.dev.secrets.KEY.hosts (expected one of: from, inject)`,
  },
  {
    name: "an inline secrets table and an injected secret's table in one bottle",
    toml: '[bottles.dev]\nimage = "a"\nsecrets = { GH = "HOST_GH" }\n' +
      '[bottles.dev.secrets.KEY]\nfrom = "HOST_KEY"\ninject = ["api.test"]\n',
    message: `${P}:4:2: TOML syntax error: trying to redefine an already defined table or value ` +
      "(an inline `secrets = { ... }` in [bottles.dev] cannot be extended by " +
      "[bottles.dev.secrets.KEY]: write the held ones as dotted keys, " +
      '`secrets.NAME = "HOST_VAR"`, or move them into this form)',
  },
  {
    name: "a ca_certs entry that is a URL",
    toml: '[bottles.dev]\nimage = "a"\nca_certs = ["https://corp.example/ca.pem"]\n',
    message: `${P}: bottles.dev.ca_certs[0]: "https://corp.example/ca.pem" looks like a URL; ` +
      "bot-bottle fetches nothing: give the path of a PEM file on this machine",
  },
  {
    name: "a trust variable set in env",
    toml: '[bottles.dev]\nimage = "a"\nenv = { SSL_CERT_FILE = "/x.pem" }\n',
    message: `${P}: bottles.dev.env.SSL_CERT_FILE: SSL_CERT_FILE is set by bot-bottle itself ` +
      "when the guest trusts extra CAs (the bundle's CA for TLS interception, ca_certs), so a " +
      "bottle may not set it in env; list your CA files in ca_certs instead (reserved: " +
      "SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE, GIT_SSL_CAINFO, CURL_CA_BUNDLE, " +
      "CODEX_CA_CERTIFICATE)",
  },
  {
    name: "egress.inspect neither credentials nor all",
    toml: '[bottles.dev]\nimage = "a"\negress.inspect = "some"\n',
    message: `${P}: bottles.dev.egress.inspect: expected "credentials" (the default: TLS is ` +
      'terminated only for hosts with injected secrets or egress.rules) or "all" (every ' +
      'allowed HTTPS host), found string "some"',
  },
  {
    name: "a rule with neither methods nor paths",
    toml: '[bottles.dev]\nimage = "a"\negress.rules = [{ host = "api.test" }]\n',
    message: `${P}: bottles.dev.egress.rules[0]: a rule needs methods, paths or both (a rule ` +
      "with neither would allow everything)",
  },
  {
    name: "a lowercase rule method",
    toml: '[bottles.dev]\nimage = "a"\negress.rules = [{ host = "api.test", methods = ["get"] }]\n',
    message: `${P}: bottles.dev.egress.rules[0].methods[0]: "get": write methods in uppercase ` +
      '("GET")',
  },
  {
    name: "a rule for CONNECT",
    toml:
      '[bottles.dev]\nimage = "a"\negress.rules = [{ host = "api.test", methods = ["CONNECT"] }]\n',
    message: `${P}: bottles.dev.egress.rules[0].methods[0]: "CONNECT" opens the tunnel, which ` +
      "egress.allow decides; a rule names the methods of the requests inside it",
  },
  {
    name: "a rule path that does not start with /",
    toml: '[bottles.dev]\nimage = "a"\negress.rules = [{ host = "api.test", paths = ["v1/*"] }]\n',
    message: `${P}: bottles.dev.egress.rules[0].paths[0]: "v1/*" must start with "/" (it ` +
      "matches the request path)",
  },
  {
    name: "a rule path with ** inside a segment",
    toml: '[bottles.dev]\nimage = "a"\negress.rules = [{ host = "api.test", paths = ["/v1**"] }]\n',
    message: `${P}: bottles.dev.egress.rules[0].paths[0]: "/v1**": "**" must be a whole segment ` +
      '("/a/**" or "/a/**/b"); "*" matches within one segment',
  },
  {
    name: "a rule path with a .. segment can never match",
    toml:
      '[bottles.dev]\nimage = "a"\negress.rules = [{ host = "api.test", paths = ["/a/../b"] }]\n',
    message: `${P}: bottles.dev.egress.rules[0].paths[0]: "/a/../b" has a "." or ".." segment, ` +
      "which no request path may",
  },
  {
    name: "a rule path with a query",
    toml:
      '[bottles.dev]\nimage = "a"\negress.rules = [{ host = "api.test", paths = ["/a?x=1"] }]\n',
    message: `${P}: bottles.dev.egress.rules[0].paths[0]: "/a?x=1" has whitespace, a control ` +
      'character, "?" or "#"; a glob matches the path only (no query or fragment), with "*" ' +
      'within a segment and "**" across',
  },
];

for (const c of PARSE_CASES) {
  Deno.test(`bad manifest (parse): ${c.name}`, () => {
    expectManifestError(() => parseManifestText(c.toml, P, c.scope ?? "user"), c.message);
  });
}

// ---------------------------------------------------------------------------
// Problems that need more than one table or file: loadManifest.

const U = "/home/u/.config/bot-bottle/bot-bottle.toml";
const J = "/src/repo/bot-bottle.toml";

interface LoadCase {
  name: string;
  user?: string;
  project?: string;
  explicit?: boolean;
  message: string;
}

function chainToml(n: number): string {
  let out = '[bottles.b0]\nimage = "a"\n';
  for (let i = 1; i < n; i++) out += `[bottles.b${i}]\nextends = "b${i - 1}"\n`;
  return out;
}

const LOAD_CASES: LoadCase[] = [
  {
    name: "extends cycle",
    user: '[bottles.a]\nextends = "b"\nimage = "x"\n[bottles.b]\nextends = "a"\n',
    message: `${U}: bottles.b.extends: extends cycle a -> b -> a`,
  },
  {
    name: "extends cycle reached from outside it",
    user: '[bottles.c]\nextends = "a"\n[bottles.a]\nextends = "b"\nimage = "x"\n' +
      '[bottles.b]\nextends = "a"\n',
    message: `${U}: bottles.b.extends: extends cycle a -> b -> a`,
  },
  {
    name: "bottle extends itself",
    user: '[bottles.a]\nextends = "a"\nimage = "x"\n',
    message: `${U}: bottles.a.extends: bottle "a" extends itself`,
  },
  {
    name: "extends a missing bottle",
    user: '[bottles.base]\nimage = "x"\n[bottles.dev]\nextends = "bsae"\n',
    message: `${U}: bottles.dev.extends: bottle "bsae" is not defined (did you mean "base"?)`,
  },
  {
    name: "extends chain deeper than 32",
    user: chainToml(34),
    // b32 is the first bottle whose chain has 33 bottles.
    message:
      `${U}: bottles.b32: extends chain is longer than 32 bottles (b32 -> b31 -> b30 -> ...)`,
  },
  {
    name: "agent names an undefined bottle",
    user: '[bottles.dev]\nimage = "x"\n[agents.a]\nbottle = "dve"\ncommand = ["x"]\n',
    message: `${U}: agents.a.bottle: bottle "dve" is not defined (bottles are defined in ${U}) ` +
      '(did you mean "dev"?)',
  },
  {
    name: "project agent with no user manifest",
    project: '[agents.a]\nbottle = "dev"\ncommand = ["x"]\n',
    message: `${J}: agents.a.bottle: bottle "dev" is not defined (no user manifest exists at ${U})`,
  },
  {
    name: "agent defined in both files",
    user: '[bottles.dev]\nimage = "x"\n[agents.a]\nbottle = "dev"\ncommand = ["x"]\n',
    project: '[agents.a]\nbottle = "dev"\ncommand = ["y"]\n',
    message: `agent "a" is defined in both ${U} and ${J}; rename one of them`,
  },
  {
    name: "project file defines a bottle (trust boundary)",
    user: '[bottles.dev]\nimage = "x"\n',
    project: '[bottles.dev]\nimage = "x"\negress.allow = ["attacker.example.com"]\n',
    message: `${J}: defines bottle "dev" ([bottles.dev]), but a project manifest may only ` +
      "define [agents.*]. A project's bot-bottle.toml comes with the repository, and a cloned " +
      "repository must never be able to widen egress or read secrets, so bottles are only read " +
      "from your user manifest. Move the bottle into $XDG_CONFIG_HOME/bot-bottle/bot-bottle.toml " +
      "(default ~/.config/bot-bottle/bot-bottle.toml) and keep only [agents.*] here.",
  },
  {
    name: "bottle used by an agent has no image",
    user: '[bottles.dev]\ncpus = 2\n[agents.a]\nbottle = "dev"\ncommand = ["x"]\n',
    message: `${U}: bottles.dev: bottle "dev" has neither image nor dockerfile (set one of them ` +
      "in it or in a bottle it extends)",
  },
  {
    name: "env in a child, secret in a parent",
    user: '[bottles.base]\nimage = "x"\nsecrets = { TOKEN = "HOST_TOKEN" }\n' +
      '[bottles.dev]\nextends = "base"\nenv = { TOKEN = "literal" }\n' +
      '[agents.a]\nbottle = "dev"\ncommand = ["x"]\n',
    message: `${U}: bottles.dev: TOKEN is set in env (by bottle "dev") and in secrets (by bottle ` +
      '"base") along the extends chain base -> dev; a guest variable must come from one place',
  },
  {
    name: "problems across bottles and agents, all at once, a cycle once",
    user: '[bottles.a]\nextends = "b"\nimage = "x"\n[bottles.b]\nextends = "a"\n' +
      '[bottles.c]\nextends = "nope"\n' +
      '[agents.x]\nbottle = "zz"\ncommand = ["x"]\n[agents.y]\nbottle = "yy"\ncommand = ["y"]\n',
    message: "the manifests have 4 problems:\n" +
      `  ${U}: bottles.b.extends: extends cycle a -> b -> a\n` +
      `  ${U}: bottles.c.extends: bottle "nope" is not defined\n` +
      `  ${U}: agents.x.bottle: bottle "zz" is not defined (bottles are defined in ${U})\n` +
      `  ${U}: agents.y.bottle: bottle "yy" is not defined (bottles are defined in ${U})`,
  },
  {
    name: "an inject host egress.allow does not cover",
    user: '[bottles.dev]\nimage = "x"\negress.allow = ["api.test"]\n' +
      'secrets.KEY = { from = "HOST_KEY", inject = ["api.test", "other.test"] }\n' +
      '[agents.a]\nbottle = "dev"\ncommand = ["x"]\n',
    message: `${U}: bottles.dev.secrets.KEY.inject[1]: "other.test" is not in egress.allow of ` +
      'bottle "dev"; a secret is injected only into requests the bottle may send: add ' +
      '"other.test" to egress.allow of bottle "dev" (or a bottle it extends), or remove it here',
  },
  {
    name: "a secret in both forms along the extends chain",
    user: '[bottles.base]\nimage = "x"\negress.allow = ["api.test"]\n' +
      'secrets = { KEY = "HOST_KEY" }\n[bottles.dev]\nextends = "base"\n' +
      'secrets.KEY = { from = "HOST_KEY", inject = ["api.test"] }\n' +
      '[agents.a]\nbottle = "dev"\ncommand = ["x"]\n',
    message: `${U}: bottles.dev.secrets.KEY: KEY is injected here and declared in the other ` +
      'form by bottle "base" it extends; a secret is either held by the agent (NAME = ' +
      '"HOST_VAR") or injected by the bundle ({ from, inject }), so declare it one way along ' +
      "the chain",
  },
  {
    name: "a rule on a host that is not allowed",
    user: '[bottles.dev]\nimage = "x"\negress.allow = ["api.test"]\n' +
      'egress.rules = [{ host = "other.test", methods = ["GET"] }]\n' +
      '[agents.a]\nbottle = "dev"\ncommand = ["x"]\n',
    message: `${U}: bottles.dev.egress.rules[0]: host "other.test" is not in egress.allow of ` +
      'bottle "dev", so the rule could never apply: add "other.test" to egress.allow of bottle ' +
      '"dev" (or a bottle it extends), or remove it here',
  },
  {
    name: "explicit manifest that does not exist",
    explicit: true,
    message: `${U}: manifest file not found (given by --manifest); check the path`,
  },
];

for (const c of LOAD_CASES) {
  Deno.test(`bad manifest (load): ${c.name}`, async () => {
    const files: Record<string, string | undefined> = { [U]: c.user, [J]: c.project };
    let caught: unknown;
    try {
      await loadManifest(
        {
          userPath: U,
          projectPath: J,
          userExplicit: c.explicit ?? false,
          userOrigin: c.explicit ? "--manifest" : "HOME",
        },
        (path) => Promise.resolve(files[path] ?? null),
      );
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof ManifestError, `expected a ManifestError, got ${String(caught)}`);
    assert.equal(caught.message, c.message);
  });
}

// ---------------------------------------------------------------------------
// Fixture files: loaded in-process and through the real CLI.

const FIXTURES = new URL("../fixtures/manifests/bad/", import.meta.url);
const MAIN_TS = new URL("../../main.ts", import.meta.url);

function fixture(name: string): string {
  return new URL(name, FIXTURES).pathname;
}

const FIXTURE_CASES: { file: string; message: (path: string) => string }[] = [
  {
    file: "unknown_key.toml",
    message: (p) => `${p}: unknown key bottles.dev.imgae (did you mean "image"?)`,
  },
  {
    file: "syntax_error.toml",
    message: (p) => `${p}:3:8: TOML syntax error: invalid value`,
  },
  {
    file: "cpus_string.toml",
    message: (p) => `${p}: bottles.dev.cpus: expected an integer from 1 to 64, found string "2"`,
  },
  {
    file: "egress_star.toml",
    message: (p) =>
      `${p}: bottles.dev.egress.allow[1]: "*" would allow every host; list host names or ` +
      '"*.suffix" wildcards instead',
  },
  {
    file: "extends_cycle.toml",
    message: (p) => `${p}: bottles.b.extends: extends cycle a -> b -> a`,
  },
  {
    file: "agent_unknown_bottle.toml",
    message: (p) =>
      `${p}: agents.coder.bottle: bottle "dve" is not defined (bottles are defined in ${p}) ` +
      '(did you mean "dev"?)',
  },
  {
    file: "reserved_env.toml",
    message: (p) =>
      `${p}: bottles.dev.env.HTTPS_PROXY: HTTPS_PROXY is set by bot-bottle itself (it points ` +
      `the guest at the bundle), so a bottle may not set it in env ${RESERVED}`,
  },
  {
    file: "inject_not_allowed.toml",
    message: (p) =>
      `${p}: bottles.dev.secrets.API_KEY.inject[0]: "api.example.org" is not in egress.allow ` +
      'of bottle "dev"; a secret is injected only into requests the bottle may send: add ' +
      '"api.example.org" to egress.allow of bottle "dev" (or a bottle it extends), or remove it ' +
      "here",
  },
  {
    file: "ca_certs_not_pem.toml",
    message: (p) =>
      `${p}: bottles.dev.ca_certs[0]: ${fixture("not_a_cert.pem")} is not a PEM certificate ` +
      'file (no "-----BEGIN CERTIFICATE-----" block found; a DER file can be converted with ' +
      "`openssl x509 -inform der -in FILE -out FILE.pem`)",
  },
];

for (const c of FIXTURE_CASES) {
  Deno.test(`bad manifest (fixture): ${c.file}`, async () => {
    const path = fixture(c.file);
    let caught: unknown;
    try {
      await loadManifest({
        userPath: path,
        userExplicit: true,
        userOrigin: "--manifest",
        projectPath: "/nonexistent-bbtest-dir/bot-bottle.toml",
      });
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof ManifestError, `expected a ManifestError, got ${String(caught)}`);
    assert.equal(caught.message, c.message(path));
  });
}

let mainExists = false;
try {
  mainExists = Deno.statSync(MAIN_TS).isFile;
} catch {
  mainExists = false;
}
if (!mainExists) {
  console.warn(`bad_manifests_test: ${MAIN_TS.pathname} does not exist yet; CLI cases ignored`);
}

/** Deno's cache directory, so the child finds smol-toml with HOME pointed elsewhere. */
let denoDir: string | undefined;
async function findDenoDir(): Promise<string> {
  if (denoDir === undefined) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json"],
      stdout: "piped",
      stderr: "null",
    }).output();
    denoDir = JSON.parse(new TextDecoder().decode(out.stdout)).denoDir as string;
  }
  return denoDir;
}

for (const c of FIXTURE_CASES) {
  Deno.test({
    name: `bad manifest (CLI): bot-bottle agents --manifest ${c.file}`,
    ignore: !mainExists,
    fn: async () => {
      const path = fixture(c.file);
      const home = await Deno.makeTempDir({ prefix: "bbtest-manifest-" });
      try {
        const output = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", MAIN_TS.pathname, "agents", "--manifest", path],
          cwd: home, // empty: no project manifest
          clearEnv: true,
          env: {
            HOME: home,
            DENO_DIR: await findDenoDir(),
            PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
            NO_COLOR: "1",
          },
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stderr = new TextDecoder().decode(output.stderr);
        assert.equal(output.code, 1, `exit code; stderr:\n${stderr}`);
        assert.ok(
          stderr.split("\n").includes(`bot-bottle: error: ${c.message(path)}`),
          `stderr lacks the message:\n${stderr}`,
        );
        assert.ok(!/^\s{4}at /m.test(stderr), `stack trace on stderr:\n${stderr}`);
        assert.equal(new TextDecoder().decode(output.stdout), "");
      } finally {
        await Deno.remove(home, { recursive: true });
      }
    },
  });
}
