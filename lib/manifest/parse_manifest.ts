/**
 * Strict, pure validation of one manifest file's text (SPEC §3).
 *
 * Every problem becomes a {@link ManifestError} whose message starts with the
 * file path and names the key path (`bottles.dev.git[0].host_key`); a TOML
 * syntax error also names the line and column.
 */
import { dirname, resolve } from "node:path";
import { parse, TomlDate, TomlError } from "smol-toml";
import { ManifestError } from "./manifest_error.ts";
import { didYouMean } from "./did_you_mean.ts";
import {
  type AgentDef,
  type BottleDef,
  type GitRemote,
  type ManifestScope,
  NAME_PATTERN,
  RESERVED_GUEST_VARS,
} from "./types.ts";

/** Largest manifest file accepted, in bytes (1 MiB). */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/** Deepest inline array/table nesting the TOML parser follows. */
const MAX_TOML_DEPTH = 100;

/** Environment variable names (env keys, secrets keys and values). */
export const VAR_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Keys allowed at each level, in the order hints list them. */
export const TOP_LEVEL_KEYS = ["bottles", "agents"] as const;
/** Keys of a `[bottles.<name>]` table. */
export const BOTTLE_KEYS = [
  "extends",
  "image",
  "dockerfile",
  "cpus",
  "memory",
  "workdir",
  "env",
  "secrets",
  "egress",
  "git",
  "supervise",
] as const;
/** Keys of a bottle's `egress` table. */
export const EGRESS_KEYS = ["allow"] as const;
/** Keys of one entry of a bottle's `git` array. */
export const GIT_KEYS = ["name", "upstream", "identity", "host_key"] as const;
/** Keys of an `[agents.<name>]` table. */
export const AGENT_KEYS = ["bottle", "command", "prompt"] as const;

/** SSH host key algorithms a pinned `host_key` may use. */
export const HOST_KEY_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
] as const;

const CPUS_MIN = 1n;
const CPUS_MAX = 64n;
const MEMORY_MIN = 256n;
const MEMORY_MAX = 1048576n;
const SHOW_MAX = 40;
const NAME_RULE = "names must match ^[a-z][a-z0-9-]*$: a lowercase letter, then lowercase " +
  'letters, digits and "-"';

/** What one file defines, validated. */
export interface ParsedManifest {
  bottles: Record<string, BottleDef>;
  agents: Record<string, AgentDef>;
}

type Table = Record<string, unknown>;
type KeyPart = string | number;

/**
 * Parse and validate one manifest file. Pure: `path` is used only in messages
 * and to resolve `dockerfile` paths against the file's directory.
 *
 * @throws ManifestError for anything that is not a valid manifest for `scope`.
 */
export function parseManifestText(
  text: string,
  path: string,
  scope: ManifestScope,
): ParsedManifest {
  if (text.length > MAX_MANIFEST_BYTES || utf8Length(text) > MAX_MANIFEST_BYTES) {
    throw new ManifestError(
      `${path}: file is larger than 1 MiB (${MAX_MANIFEST_BYTES} bytes); a manifest is a short ` +
        "hand-written file, refusing to parse it",
    );
  }
  const doc = parseToml(text.startsWith("\uFEFF") ? text.slice(1) : text, path);
  return new Validator(path, scope).manifest(doc);
}

function utf8Length(text: string): number {
  // Cheap upper bound first: at most 3 bytes per UTF-16 unit.
  if (text.length * 3 <= MAX_MANIFEST_BYTES) return text.length;
  return new TextEncoder().encode(text).length;
}

function parseToml(text: string, path: string): Table {
  try {
    return parse(text, { integersAsBigInt: true, maxDepth: MAX_TOML_DEPTH }) as Table;
  } catch (error) {
    if (error instanceof TomlError) {
      const first = String(error.message).split("\n", 1)[0];
      const reason = truncate(
        first.replace(/^Invalid TOML document:\s*/, "").replace(/\p{Cc}/gu, "?").trim(),
        200,
      ) || "invalid TOML";
      throw new ManifestError(
        `${path}:${error.line}:${error.column}: TOML syntax error: ${reason}`,
      );
    }
    if (error instanceof RangeError) {
      throw new ManifestError(
        `${path}: TOML syntax error: the document is nested too deeply to parse`,
      );
    }
    const reason = error instanceof Error ? String(error.message).split("\n", 1)[0] : "";
    throw new ManifestError(
      `${path}: TOML syntax error: the parser gave up${reason ? `: ${truncate(reason)}` : ""}`,
    );
  }
}

/** A key path as a user would write it: `bottles.dev.git[0].host_key`. */
export function formatKeyPath(parts: readonly KeyPart[]): string {
  let out = "";
  for (const part of parts) {
    if (typeof part === "number") {
      out += `[${part}]`;
      continue;
    }
    const shown = /^[A-Za-z0-9_-]+$/.test(part) ? truncate(part) : JSON.stringify(truncate(part));
    out += out === "" ? shown : `.${shown}`;
  }
  return out;
}

/** `s` cut to `max` characters, with `...` when something was cut. */
export function truncate(s: string, max = SHOW_MAX): string {
  return s.length > max ? `${s.slice(0, max)}...` : s;
}

/** A string shown in a message: quoted, escaped, cut to ~40 characters. */
export function quote(s: string): string {
  return s.length > SHOW_MAX
    ? `${JSON.stringify(s.slice(0, SHOW_MAX))}... (${s.length} characters)`
    : JSON.stringify(s);
}

/** The TOML type and (short) value of `v`, e.g. `string "2"`, `integer 128`, `table`. */
export function describeValue(v: unknown): string {
  if (typeof v === "string") return `string ${quote(v)}`;
  if (typeof v === "bigint") return `integer ${truncate(v.toString())}`;
  if (typeof v === "number") {
    return Number.isInteger(v) ? `integer ${v}` : `float ${truncate(String(v))}`;
  }
  if (typeof v === "boolean") return `boolean ${v}`;
  if (v instanceof TomlDate) return `datetime ${truncate(dateString(v))}`;
  if (Array.isArray(v)) return v.length === 0 ? "empty array" : `array of ${v.length}`;
  if (v !== null && typeof v === "object") return "table";
  return typeof v;
}

function dateString(v: TomlDate): string {
  try {
    return v.toISOString();
  } catch {
    return "(invalid)";
  }
}

function isTable(v: unknown): v is Table {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);
}

function isIPv4(s: string): boolean {
  const parts = s.split(".");
  return parts.length === 4 &&
    parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function isHostname(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  const labels = s.split(".");
  if (!labels.every((l) => LABEL.test(l))) return false;
  return !/^[0-9]+$/.test(labels[labels.length - 1]);
}

/**
 * Why `entry` is not a valid `egress.allow` entry, or `null` when it is one:
 * an exact lowercase host name, `*.suffix` (suffix of at least two labels) or
 * an IPv4 literal.
 */
export function egressEntryProblem(entry: string): string | null {
  if (entry === "") return 'is empty; write a host name such as "api.example.com"';
  if (entry === "*") {
    return 'would allow every host; list host names or "*.suffix" wildcards instead';
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(entry)) {
    return 'has a scheme; write only the host name ("api.example.com", not ' +
      '"https://api.example.com")';
  }
  if (/[\s\p{Cc}]/u.test(entry)) return "contains whitespace or control characters";
  if (entry.includes("/")) return "has a path; write only the host name";
  if (entry.includes(":")) {
    return "has a port or is an IPv6 address; write only a host name or an IPv4 address " +
      "(CONNECT is allowed to port 443 only)";
  }
  if (entry !== entry.toLowerCase()) {
    return `has uppercase letters; write it in lowercase (${quote(entry.toLowerCase())})`;
  }
  if (entry.startsWith("*.")) {
    const suffix = entry.slice(2);
    if (suffix.includes("*")) return 'may have only one wildcard, as a leading "*."';
    if (!isHostname(suffix)) return `has a suffix ${quote(suffix)} that is not a valid host name`;
    if (!suffix.includes(".")) {
      return 'is too broad: a wildcard suffix needs at least two labels ("*.example.com", ' +
        'not "*.com")';
    }
    return null;
  }
  if (entry.includes("*")) return 'may use a wildcard only as a leading "*." ("*.example.com")';
  if (/^[0-9.]+$/.test(entry)) {
    return isIPv4(entry) ? null : "is not a valid IPv4 address";
  }
  if (!isHostname(entry)) {
    return 'is not a valid host name (lowercase letters, digits, "-" and ".", labels of 1 to ' +
      "63 characters, no trailing dot)";
  }
  return null;
}

const SSH_URL =
  /^ssh:\/\/([A-Za-z0-9_][A-Za-z0-9._-]*)@([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?(\/[^\s\p{Cc}]+)$/u;
const SCP_URL =
  /^([A-Za-z0-9_][A-Za-z0-9._-]*)@([A-Za-z0-9][A-Za-z0-9.-]*):([^\s\p{Cc}-][^\s\p{Cc}]*)$/u;

/** Whether `s` is `ssh://user@host[:port]/path` or `user@host:path`. */
export function isGitUpstream(s: string): boolean {
  const ssh = SSH_URL.exec(s);
  if (ssh) {
    if (ssh[3] === undefined) return true;
    const port = Number(ssh[3]);
    return port >= 1 && port <= 65535;
  }
  return SCP_URL.test(s);
}

/** Why `s` is not a pinned SSH host key (`<type> <base64>`), or `null` when it is one. */
export function hostKeyProblem(s: string): string | null {
  const example = 'expected "<type> <base64 key>", e.g. "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5...", ' +
    "as printed by ssh-keyscan without the leading host name";
  const m = /^(\S+) ([A-Za-z0-9+/]+={0,2})$/.exec(s);
  if (!m) return example;
  const type = m[1];
  if (!(HOST_KEY_TYPES as readonly string[]).includes(type)) {
    return `key type ${quote(type)} is not supported (expected one of ${
      HOST_KEY_TYPES.join(", ")
    })`;
  }
  let bytes: Uint8Array;
  try {
    if (m[2].length % 4 !== 0) throw new Error("length");
    bytes = Uint8Array.from(atob(m[2]), (c) => c.charCodeAt(0));
  } catch {
    return `the key data is not valid base64; ${example}`;
  }
  if (bytes.length < 4) return `the key data is too short to be a ${type} key`;
  const len = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  if (len > 64 || len > bytes.length - 4) return `the key data is not a ${type} key`;
  const embedded = String.fromCharCode(...bytes.subarray(4, 4 + len));
  if (embedded !== type) {
    const shown = /^[a-z0-9@.-]{1,40}$/.test(embedded) ? ` (it encodes ${quote(embedded)})` : "";
    return `the key data is not a ${type} key${shown}`;
  }
  return null;
}

class Validator {
  constructor(readonly path: string, readonly scope: ManifestScope) {}

  fail(parts: readonly KeyPart[], message: string): never {
    throw new ManifestError(`${this.path}: ${formatKeyPath(parts)}: ${message}`);
  }

  typeError(parts: readonly KeyPart[], expected: string, found: unknown): never {
    this.fail(parts, `expected ${expected}, found ${describeValue(found)}`);
  }

  checkKeys(table: Table, allowed: readonly string[], parts: readonly KeyPart[]): void {
    for (const key of Object.keys(table)) {
      if (allowed.includes(key)) continue;
      const near = didYouMean(key, allowed);
      const hint = near !== undefined
        ? ` (did you mean "${near}"?)`
        : ` (expected one of: ${allowed.join(", ")})`;
      throw new ManifestError(
        `${this.path}: unknown key ${formatKeyPath([...parts, key])}${hint}`,
      );
    }
  }

  checkName(name: string, kind: string, parts: readonly KeyPart[]): void {
    if (!NAME_PATTERN.test(name)) {
      this.fail(parts, `${kind} name ${quote(name)} is not valid: ${NAME_RULE}`);
    }
  }

  manifest(doc: Table): ParsedManifest {
    this.checkKeys(doc, TOP_LEVEL_KEYS, []);
    if (this.scope === "project" && Object.hasOwn(doc, "bottles")) this.projectBottles(doc.bottles);
    const bottles: Record<string, BottleDef> = {};
    const agents: Record<string, AgentDef> = {};
    if (Object.hasOwn(doc, "bottles")) {
      const table = doc.bottles;
      if (!isTable(table)) {
        this.typeError(["bottles"], "a table of bottles ([bottles.<name>])", table);
      }
      for (const name of Object.keys(table)) {
        this.checkName(name, "bottle", ["bottles", name]);
        bottles[name] = this.bottle(name, table[name]);
      }
    }
    if (Object.hasOwn(doc, "agents")) {
      const table = doc.agents;
      if (!isTable(table)) this.typeError(["agents"], "a table of agents ([agents.<name>])", table);
      for (const name of Object.keys(table)) {
        this.checkName(name, "agent", ["agents", name]);
        agents[name] = this.agent(name, table[name]);
      }
    }
    return { bottles, agents };
  }

  projectBottles(value: unknown): never {
    const first = isTable(value) ? Object.keys(value)[0] : undefined;
    const what = first === undefined
      ? "a [bottles] table"
      : `bottle ${quote(first)} ([${formatKeyPath(["bottles", first])}])`;
    throw new ManifestError(
      `${this.path}: defines ${what}, but a project manifest may only define [agents.*]. ` +
        "A project's bot-bottle.toml comes with the repository, and a cloned repository must " +
        "never be able to widen egress or read secrets, so bottles are only read from your user " +
        "manifest. Move the bottle into $XDG_CONFIG_HOME/bot-bottle/bot-bottle.toml (default " +
        "~/.config/bot-bottle/bot-bottle.toml) and keep only [agents.*] here.",
    );
  }

  string(parts: readonly KeyPart[], v: unknown, expected: string): string {
    if (typeof v !== "string") this.typeError(parts, expected, v);
    if (v.includes("\0")) this.fail(parts, "contains a NUL character");
    return v;
  }

  bottle(name: string, value: unknown): BottleDef {
    const at: KeyPart[] = ["bottles", name];
    if (!isTable(value)) this.typeError(at, "a table ([bottles.<name>])", value);
    this.checkKeys(value, BOTTLE_KEYS, at);
    const def: BottleDef = { name, source: this.path };
    const has = (key: string) => Object.hasOwn(value, key);
    if (has("extends")) {
      const parent = this.string([...at, "extends"], value.extends, "the name of a bottle");
      if (!NAME_PATTERN.test(parent)) {
        this.fail([...at, "extends"], `bottle name ${quote(parent)} is not valid: ${NAME_RULE}`);
      }
      def.extends = parent;
    }
    if (has("image") && has("dockerfile")) {
      this.fail(
        at,
        "image and dockerfile are mutually exclusive; set only one (image: a prebuilt OCI " +
          "image, dockerfile: an image built on first use)",
      );
    }
    if (has("image")) {
      const expected = 'an image reference such as "bot-bottle/agent-shell:latest"';
      const image = this.string([...at, "image"], value.image, expected);
      if (image === "" || image.startsWith("-") || /[\s\p{Cc}]/u.test(image)) {
        this.typeError([...at, "image"], expected, image);
      }
      def.image = image;
    }
    if (has("dockerfile")) {
      const expected = "the path of a Dockerfile, relative to this manifest's directory";
      const file = this.string([...at, "dockerfile"], value.dockerfile, expected);
      if (file === "" || /\p{Cc}/u.test(file)) {
        this.typeError([...at, "dockerfile"], expected, file);
      }
      def.dockerfile = resolve(dirname(this.path), file);
    }
    if (has("cpus")) def.cpus = this.integer([...at, "cpus"], value.cpus, CPUS_MIN, CPUS_MAX, "");
    if (has("memory")) {
      def.memory = this.integer([...at, "memory"], value.memory, MEMORY_MIN, MEMORY_MAX, " (MiB)");
    }
    if (has("workdir")) {
      const expected = 'an absolute path in the guest, such as "/work"';
      const dir = this.string([...at, "workdir"], value.workdir, expected);
      if (!dir.startsWith("/") || /\p{Cc}/u.test(dir)) {
        this.typeError([...at, "workdir"], expected, dir);
      }
      def.workdir = dir;
    }
    if (has("env")) def.env = this.env([...at, "env"], value.env);
    if (has("secrets")) def.secrets = this.secrets([...at, "secrets"], value.secrets);
    if (def.env && def.secrets) {
      for (const key of Object.keys(def.env)) {
        if (Object.hasOwn(def.secrets, key)) {
          this.fail(
            at,
            `${key} is set in both env and secrets; a guest variable must come from one place ` +
              "(env for a literal value, secrets for a value read from the host environment)",
          );
        }
      }
    }
    if (has("egress")) def.egressAllow = this.egress([...at, "egress"], value.egress);
    if (has("git")) def.git = this.git([...at, "git"], value.git);
    if (has("supervise")) {
      if (typeof value.supervise !== "boolean") {
        this.typeError([...at, "supervise"], "a boolean (true or false)", value.supervise);
      }
      def.supervise = value.supervise;
    }
    return def;
  }

  integer(parts: KeyPart[], v: unknown, min: bigint, max: bigint, unit: string): number {
    const expected = `an integer from ${min} to ${max}${unit}`;
    if (typeof v !== "bigint" || v < min || v > max) this.typeError(parts, expected, v);
    return Number(v);
  }

  guestVar(parts: KeyPart[], key: string, section: string): void {
    if (!VAR_NAME_PATTERN.test(key)) {
      this.fail(
        parts,
        `${
          quote(key)
        } is not a valid environment variable name (expected ^[A-Za-z_][A-Za-z0-9_]*$)`,
      );
    }
    if (RESERVED_GUEST_VARS.includes(key)) {
      this.fail(
        parts,
        `${key} is set by bot-bottle itself (it points the guest at the bundle), so a bottle may ` +
          `not set it in ${section} (reserved: ${RESERVED_GUEST_VARS.join(", ")})`,
      );
    }
  }

  env(at: KeyPart[], v: unknown): Record<string, string> {
    if (!isTable(v)) this.typeError(at, 'a table of NAME = "value"', v);
    const entries: [string, string][] = [];
    for (const key of Object.keys(v)) {
      this.guestVar([...at, key], key, "env");
      entries.push([key, this.string([...at, key], v[key], "a string value")]);
    }
    return Object.fromEntries(entries);
  }

  secrets(at: KeyPart[], v: unknown): Record<string, string> {
    if (!isTable(v)) this.typeError(at, 'a table of GUEST_VAR = "HOST_VAR"', v);
    const entries: [string, string][] = [];
    for (const key of Object.keys(v)) {
      this.guestVar([...at, key], key, "secrets");
      const host = v[key];
      if (typeof host !== "string") {
        this.typeError([...at, key], "the name of a host environment variable", host);
      }
      if (!VAR_NAME_PATTERN.test(host)) {
        // Never echo the value: a user may have pasted the secret itself here.
        this.fail(
          [...at, key],
          "expected the name of a host environment variable (^[A-Za-z_][A-Za-z0-9_]*$), found a " +
            "string that is not one (not shown: it may be a secret value)",
        );
      }
      entries.push([key, host]);
    }
    return Object.fromEntries(entries);
  }

  egress(at: KeyPart[], v: unknown): string[] {
    if (!isTable(v)) this.typeError(at, 'a table with an allow list (egress.allow = ["host"])', v);
    this.checkKeys(v, EGRESS_KEYS, at);
    if (!Object.hasOwn(v, "allow")) return [];
    const allow = v.allow;
    if (!Array.isArray(allow)) this.typeError([...at, "allow"], "an array of host names", allow);
    return allow.map((entry, i) => {
      const s = this.string([...at, "allow", i], entry, "a host name string");
      const problem = egressEntryProblem(s);
      if (problem !== null) this.fail([...at, "allow", i], `${quote(s)} ${problem}`);
      return s;
    });
  }

  git(at: KeyPart[], v: unknown): GitRemote[] {
    const expected = "an array of tables ([[bottles.<name>.git]] or git = [{ name = ..., ... }])";
    if (!Array.isArray(v)) this.typeError(at, expected, v);
    const seen = new Map<string, number>();
    return v.map((entry, i) => {
      const here: KeyPart[] = [...at, i];
      if (!isTable(entry)) {
        this.typeError(here, "a table { name, upstream, identity, host_key }", entry);
      }
      this.checkKeys(entry, GIT_KEYS, here);
      for (const key of GIT_KEYS) {
        if (!Object.hasOwn(entry, key)) this.fail(here, `missing required key ${key}`);
      }
      const name = this.string([...here, "name"], entry.name, "a remote name");
      this.checkName(name, "remote", [...here, "name"]);
      const previous = seen.get(name);
      if (previous !== undefined) {
        this.fail(
          [...here, "name"],
          `remote name ${quote(name)} is already used by ${formatKeyPath([...at, previous])}`,
        );
      }
      seen.set(name, i);
      const upstreamExpected = "ssh://user@host[:port]/path or user@host:path";
      const upstream = this.string([...here, "upstream"], entry.upstream, upstreamExpected);
      if (!isGitUpstream(upstream)) {
        this.typeError([...here, "upstream"], upstreamExpected, upstream);
      }
      const identityExpected = "the path of an SSH private key on the host";
      const identity = this.string([...here, "identity"], entry.identity, identityExpected);
      if (identity === "" || /\p{Cc}/u.test(identity)) {
        this.typeError([...here, "identity"], identityExpected, identity);
      }
      const hostKey = this.string([...here, "host_key"], entry.host_key, "a pinned SSH host key");
      const problem = hostKeyProblem(hostKey);
      if (problem !== null) this.fail([...here, "host_key"], `${quote(hostKey)}: ${problem}`);
      return { name, upstream, identity, hostKey };
    });
  }

  agent(name: string, value: unknown): AgentDef {
    const at: KeyPart[] = ["agents", name];
    if (!isTable(value)) this.typeError(at, "a table ([agents.<name>])", value);
    this.checkKeys(value, AGENT_KEYS, at);
    if (!Object.hasOwn(value, "bottle")) {
      this.fail(at, "missing required key bottle (the name of the bottle the agent runs in)");
    }
    if (!Object.hasOwn(value, "command")) {
      this.fail(at, 'missing required key command (the argv to run, e.g. ["claude"])');
    }
    const bottle = this.string([...at, "bottle"], value.bottle, "the name of a bottle");
    if (!NAME_PATTERN.test(bottle)) {
      this.fail([...at, "bottle"], `bottle name ${quote(bottle)} is not valid: ${NAME_RULE}`);
    }
    const command = value.command;
    const commandExpected = 'a non-empty array of strings, e.g. ["claude"]';
    if (!Array.isArray(command) || command.length === 0) {
      this.typeError([...at, "command"], commandExpected, command);
    }
    const argv = command.map((arg, i) => {
      const s = this.string([...at, "command", i], arg, "a non-empty string");
      if (s === "") this.typeError([...at, "command", i], "a non-empty string", s);
      return s;
    });
    const def: AgentDef = { name, source: this.path, scope: this.scope, bottle, command: argv };
    if (Object.hasOwn(value, "prompt")) {
      def.prompt = this.string([...at, "prompt"], value.prompt, "a string");
    }
    return def;
  }
}
