/**
 * Strict, pure validation of one manifest file's text (SPEC §3).
 *
 * Every problem found (all of them, not only the first) becomes one line of a
 * {@link ManifestError}; each line starts with the file path and names the key
 * path (`bottles.dev.git[0].host_key`); a TOML syntax error names the line and
 * column.
 */
import { dirname, resolve } from "node:path";
import { parse, TomlDate, TomlError } from "smol-toml";
import { ManifestError } from "./manifest_error.ts";
import { didYouMean } from "./did_you_mean.ts";
import { unclosedAt } from "./toml_position.ts";
import { BUILTIN_DOCKERFILES, BUILTIN_PREFIX, builtinName } from "../agents/builtin_dockerfiles.ts";
import { parseEgressEntry } from "../policy/egress_entry.ts";
import { GIT_UPSTREAM_FORMS, parseGitUpstream } from "../policy/git_upstream.ts";
import { parseHostKey } from "../policy/host_key.ts";
import { hostPathProblem, isName, NAME_RULE, VAR_NAME_PATTERN } from "../policy/names.ts";
import { quote, truncate } from "../policy/quote.ts";
import {
  type AgentDef,
  type BottleDef,
  type BundleDef,
  type EgressRule,
  type GitRemote,
  type InjectedSecret,
  type ManifestScope,
  RESERVED_GUEST_VARS,
  TRUST_GUEST_VARS,
} from "./types.ts";

/** Largest manifest file accepted, in bytes (1 MiB). */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/** Deepest inline array/table nesting the TOML parser follows. */
const MAX_TOML_DEPTH = 100;

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
  "ca_certs",
  "egress",
  "git",
  "supervise",
  "bundle",
  "runtime",
] as const;
/** Keys of a bottle's `egress` table. */
export const EGRESS_KEYS = ["allow", "on_block", "ask_timeout", "inspect", "rules"] as const;
/** Keys of one entry of `egress.rules`. */
export const RULE_KEYS = ["host", "methods", "paths"] as const;
/** Keys of an injected secret's table (`[bottles.<name>.secrets.<NAME>]`). */
export const INJECTED_SECRET_KEYS = ["from", "inject"] as const;
/** `egress.inspect` values. */
export const INSPECT_MODES = ["credentials", "all"] as const;
/** Largest `ca_certs` file read, in bytes (1 MiB). */
export const MAX_CA_CERTS_BYTES = 1024 * 1024;
/** Keys of a bottle's `bundle` table (the sidecar's own limits). */
export const BUNDLE_KEYS = ["memory", "cpus", "pids", "max_push_mib"] as const;
/** Container runtimes the docker backend can run the agent under. */
export const RUNTIMES = ["runc", "runsc"] as const;
/** Keys of one entry of a bottle's `git` array. */
export const GIT_KEYS = ["name", "upstream", "identity", "host_key"] as const;
/** Keys of an `[agents.<name>]` table. */
export const AGENT_KEYS = ["bottle", "command", "prompt"] as const;

const CPUS_MIN = 1n;
const CPUS_MAX = 64n;
const MEMORY_MIN = 256n;
const MEMORY_MAX = 1048576n;

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
  const validator = new Validator(path, scope);
  const parsed = validator.manifest(doc);
  if (validator.problems.length > 0) throw ManifestError.all(validator.problems, path);
  return parsed;
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
      // The parser stops where it gives up; an array or inline table left open is the mistake.
      const unclosed = unclosedAt(text, error.line, error.column);
      if (unclosed) {
        throw new ManifestError(
          `${path}:${unclosed.line}:${unclosed.column}: TOML syntax error: this ${unclosed.kind} ` +
            `is never closed (add the missing "${unclosed.kind === "array" ? "]" : "}"}"; the ` +
            `parser stopped at ${error.line}:${error.column}: ${reason})`,
        );
      }
      throw new ManifestError(
        `${path}:${error.line}:${error.column}: TOML syntax error: ${reason}` +
          secretsTableHint(text, error.line),
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

/**
 * The usual cause of a "redefine" error on `[bottles.X.secrets.NAME]`: the bottle also has an
 * inline `secrets = { ... }`, which TOML closes to further keys.
 */
function secretsTableHint(text: string, line: number): string {
  const header = /^\s*\[\s*bottles\.([a-z][a-z0-9-]*)\.secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\]/
    .exec(text.split("\n")[line - 1] ?? "");
  if (!header) return "";
  return ` (an inline \`secrets = { ... }\` in [bottles.${header[1]}] cannot be extended by ` +
    `[bottles.${header[1]}.secrets.${header[2]}]: write the held ones as dotted keys, ` +
    '`secrets.NAME = "HOST_VAR"`, or move them into this form)';
}

export { quote, truncate };

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

/** One problem found while validating: recorded by {@link Validator.attempt}, never escapes. */
class Problem extends Error {}

/**
 * Validates one file and collects every problem it finds: each key, array
 * entry and table is checked on its own, so one mistake never hides the next.
 */
class Validator {
  readonly problems: string[] = [];

  constructor(readonly path: string, readonly scope: ManifestScope) {}

  fail(parts: readonly KeyPart[], message: string): never {
    throw new Problem(`${this.path}: ${formatKeyPath(parts)}: ${message}`);
  }

  typeError(parts: readonly KeyPart[], expected: string, found: unknown): never {
    this.fail(parts, `expected ${expected}, found ${describeValue(found)}`);
  }

  /** Run `check`; a problem it finds is recorded and `undefined` returned. */
  attempt<T>(check: () => T): T | undefined {
    try {
      return check();
    } catch (error) {
      if (!(error instanceof Problem)) throw error;
      this.problems.push(error.message);
      return undefined;
    }
  }

  /** Record every key of `table` that is not `allowed`. */
  checkKeys(table: Table, allowed: readonly string[], parts: readonly KeyPart[]): void {
    for (const key of Object.keys(table)) {
      if (allowed.includes(key)) continue;
      const near = didYouMean(key, allowed);
      const hint = near !== undefined
        ? ` (did you mean "${near}"?)`
        : ` (expected one of: ${allowed.join(", ")})`;
      this.problems.push(`${this.path}: unknown key ${formatKeyPath([...parts, key])}${hint}`);
    }
  }

  checkName(name: string, kind: string, parts: readonly KeyPart[]): void {
    if (!isName(name)) {
      this.fail(parts, `${kind} name ${quote(name)} is not valid: ${NAME_RULE}`);
    }
  }

  manifest(doc: Table): ParsedManifest {
    this.checkKeys(doc, TOP_LEVEL_KEYS, []);
    const bottles: Record<string, BottleDef> = {};
    const agents: Record<string, AgentDef> = {};
    if (this.scope === "project" && Object.hasOwn(doc, "bottles")) {
      // The trust boundary first and alone: nothing a project says about bottles is read.
      this.problems.push(this.projectBottles(doc.bottles));
    } else if (Object.hasOwn(doc, "bottles")) {
      const table = doc.bottles;
      if (!isTable(table)) {
        this.attempt(() =>
          this.typeError(["bottles"], "a table of bottles ([bottles.<name>])", table)
        );
      } else {
        for (const name of Object.keys(table)) {
          this.attempt(() => this.checkName(name, "bottle", ["bottles", name]));
          const bottle = this.attempt(() => this.bottle(name, table[name]));
          if (bottle) bottles[name] = bottle;
        }
      }
    }
    if (Object.hasOwn(doc, "agents")) {
      const table = doc.agents;
      if (!isTable(table)) {
        this.attempt(() =>
          this.typeError(["agents"], "a table of agents ([agents.<name>])", table)
        );
      } else {
        for (const name of Object.keys(table)) {
          this.attempt(() => this.checkName(name, "agent", ["agents", name]));
          const agent = this.attempt(() => this.agent(name, table[name]));
          if (agent) agents[name] = agent;
        }
      }
    }
    return { bottles, agents };
  }

  projectBottles(value: unknown): string {
    const first = isTable(value) ? Object.keys(value)[0] : undefined;
    const what = first === undefined
      ? "a [bottles] table"
      : `bottle ${quote(first)} ([${formatKeyPath(["bottles", first])}])`;
    return `${this.path}: defines ${what}, but a project manifest may only define [agents.*]. ` +
      "A project's bot-bottle.toml comes with the repository, and a cloned repository must " +
      "never be able to widen egress or read secrets, so bottles are only read from your user " +
      "manifest. Move the bottle into $XDG_CONFIG_HOME/bot-bottle/bot-bottle.toml (default " +
      "~/.config/bot-bottle/bot-bottle.toml) and keep only [agents.*] here.";
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
    this.attempt(() => {
      if (!has("extends")) return;
      const parent = this.string([...at, "extends"], value.extends, "the name of a bottle");
      if (!isName(parent)) {
        this.fail([...at, "extends"], `bottle name ${quote(parent)} is not valid: ${NAME_RULE}`);
      }
      def.extends = parent;
    });
    if (has("image") && has("dockerfile")) {
      this.attempt(() =>
        this.fail(
          at,
          "image and dockerfile are mutually exclusive; set only one (image: a prebuilt OCI " +
            "image, dockerfile: an image built on first use)",
        )
      );
    } else {
      this.attempt(() => {
        if (!has("image")) return;
        const expected = 'an image reference such as "bot-bottle/agent-shell:latest"';
        const image = this.string([...at, "image"], value.image, expected);
        if (image === "" || image.startsWith("-") || /[\s\p{Cc}]/u.test(image)) {
          this.typeError([...at, "image"], expected, image);
        }
        def.image = image;
      });
      this.attempt(() => {
        if (has("dockerfile")) def.dockerfile = this.dockerfile([...at, "dockerfile"], value);
      });
    }
    this.attempt(() => {
      if (has("cpus")) def.cpus = this.integer([...at, "cpus"], value.cpus, CPUS_MIN, CPUS_MAX, "");
    });
    this.attempt(() => {
      if (!has("memory")) return;
      def.memory = this.integer([...at, "memory"], value.memory, MEMORY_MIN, MEMORY_MAX, " (MiB)");
    });
    this.attempt(() => {
      if (!has("workdir")) return;
      const expected = 'an absolute path in the guest, such as "/work"';
      const dir = this.string([...at, "workdir"], value.workdir, expected);
      if (!dir.startsWith("/") || /\p{Cc}/u.test(dir)) {
        this.typeError([...at, "workdir"], expected, dir);
      }
      def.workdir = dir;
    });
    this.attempt(() => {
      if (has("env")) def.env = this.env([...at, "env"], value.env);
    });
    this.attempt(() => {
      if (!has("secrets")) return;
      const { plain, injected } = this.secrets([...at, "secrets"], value.secrets);
      if (Object.keys(plain).length > 0) def.secrets = plain;
      if (Object.keys(injected).length > 0) def.injected = injected;
    });
    if (def.env && (def.secrets || def.injected)) {
      for (const key of Object.keys(def.env)) {
        if (!Object.hasOwn(def.secrets ?? {}, key) && !Object.hasOwn(def.injected ?? {}, key)) {
          continue;
        }
        this.attempt(() =>
          this.fail(
            at,
            `${key} is set in both env and secrets; a guest variable must come from one place ` +
              "(env for a literal value, secrets for a value read from the host environment)",
          )
        );
      }
    }
    this.attempt(() => {
      if (!has("egress")) return;
      const egress = this.egress([...at, "egress"], value.egress);
      if (egress.allow !== undefined) def.egressAllow = egress.allow;
      if (egress.onBlock !== undefined) def.egressOnBlock = egress.onBlock;
      if (egress.askTimeout !== undefined) def.egressAskTimeout = egress.askTimeout;
      if (egress.inspect !== undefined) def.egressInspect = egress.inspect;
      if (egress.rules !== undefined) def.egressRules = egress.rules;
    });
    this.attempt(() => {
      if (has("ca_certs")) def.caCerts = this.caCerts([...at, "ca_certs"], value.ca_certs);
    });
    this.attempt(() => {
      if (has("bundle")) def.bundle = this.bundle([...at, "bundle"], value.bundle);
    });
    this.attempt(() => {
      if (!has("runtime")) return;
      const runtime = this.string([...at, "runtime"], value.runtime, '"runc" or "runsc"');
      if (!(RUNTIMES as readonly string[]).includes(runtime)) {
        this.typeError([...at, "runtime"], '"runc" (the default) or "runsc" (gVisor)', runtime);
      }
      def.runtime = runtime as typeof RUNTIMES[number];
    });
    this.attempt(() => {
      if (has("git")) def.git = this.git([...at, "git"], value.git);
    });
    this.attempt(() => {
      if (!has("supervise")) return;
      if (typeof value.supervise !== "boolean") {
        this.typeError([...at, "supervise"], "a boolean (true or false)", value.supervise);
      }
      def.supervise = value.supervise;
    });
    return def;
  }

  /**
   * A bottle's `dockerfile`: `builtin:<name>` (one of the Dockerfiles shipped in bot-bottle) or
   * the path of a Dockerfile, relative to this manifest's directory or absolute. Anything that
   * looks like something else (a URL or other `scheme:`, `~`, a directory) is refused rather
   * than guessed at.
   */
  dockerfile(parts: KeyPart[], value: Table): string {
    const builtins = Object.keys(BUILTIN_DOCKERFILES);
    const expected = "the path of a Dockerfile (relative to this manifest's directory, or " +
      `absolute) or ${BUILTIN_PREFIX}<name> (${builtins.join(", ")})`;
    const file = this.string(parts, value.dockerfile, expected);
    if (file === "" || /\p{Cc}/u.test(file)) this.typeError(parts, expected, file);
    const name = builtinName(file);
    if (name !== null) {
      if (!Object.hasOwn(BUILTIN_DOCKERFILES, name)) {
        const near = didYouMean(name, builtins);
        this.fail(
          parts,
          `${quote(file)} is not a built-in Dockerfile` +
            (near ? ` (did you mean "${BUILTIN_PREFIX}${near}"?)` : "") +
            `; the built-in ones are ${builtins.map((b) => BUILTIN_PREFIX + b).join(", ")}`,
        );
      }
      return file;
    }
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(file);
    if (scheme) {
      this.fail(
        parts,
        `${quote(file)} starts with "${scheme[1]}:", which bot-bottle does not fetch or guess ` +
          `at; expected ${expected} (a file whose name has a colon: write "./${truncate(file)}")`,
      );
    }
    if (file.startsWith("~")) {
      this.fail(
        parts,
        `${quote(file)}: "~" is not expanded here; write the path relative to this manifest's ` +
          "directory, or absolute",
      );
    }
    if (file.endsWith("/") || file === "." || file === ".." || /\/\.\.?$/.test(file)) {
      this.fail(parts, `${quote(file)} names a directory; expected the Dockerfile itself`);
    }
    return resolve(dirname(this.path), file);
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
    if (TRUST_GUEST_VARS.includes(key)) {
      this.fail(
        parts,
        `${key} is set by bot-bottle itself when the guest trusts extra CAs (the bundle's CA for ` +
          `TLS interception, ca_certs), so a bottle may not set it in ${section}; list your CA ` +
          `files in ca_certs instead (reserved: ${TRUST_GUEST_VARS.join(", ")})`,
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
      this.attempt(() => {
        this.guestVar([...at, key], key, "env");
        entries.push([key, this.string([...at, key], v[key], "a string value")]);
      });
    }
    return Object.fromEntries(entries);
  }

  /**
   * `secrets`: each entry is either the string form `NAME = "HOSTVAR"` (the agent holds the
   * value) or a table `{ from = "HOSTVAR", inject = ["host", ...] }` (the agent holds a
   * placeholder; the bundle swaps the value in for those hosts only).
   */
  secrets(
    at: KeyPart[],
    v: unknown,
  ): { plain: Record<string, string>; injected: Record<string, InjectedSecret> } {
    if (!isTable(v)) {
      this.typeError(
        at,
        'a table of GUEST_VAR = "HOST_VAR" or [secrets.GUEST_VAR] tables with from and inject',
        v,
      );
    }
    const plain: [string, string][] = [];
    const injected: [string, InjectedSecret][] = [];
    for (const key of Object.keys(v)) {
      this.attempt(() => {
        this.guestVar([...at, key], key, "secrets");
        const entry = v[key];
        if (isTable(entry)) {
          const secret = this.injectedSecret([...at, key], entry);
          if (secret) injected.push([key, secret]);
          return;
        }
        if (typeof entry !== "string") {
          this.typeError(
            [...at, key],
            "the name of a host environment variable, or a table { from, inject }",
            entry,
          );
        }
        plain.push([key, this.hostVar([...at, key], entry)]);
      });
    }
    return { plain: Object.fromEntries(plain), injected: Object.fromEntries(injected) };
  }

  /** A host variable's name; never echoes what was written (it may be a pasted secret). */
  hostVar(parts: KeyPart[], host: string): string {
    if (!VAR_NAME_PATTERN.test(host)) {
      this.fail(
        parts,
        "expected the name of a host environment variable (^[A-Za-z_][A-Za-z0-9_]*$), found a " +
          "string that is not one (not shown: it may be a secret value)",
      );
    }
    return host;
  }

  injectedSecret(at: KeyPart[], entry: Table): InjectedSecret | undefined {
    this.checkKeys(entry, INJECTED_SECRET_KEYS, at);
    const missing = INJECTED_SECRET_KEYS.filter((key) => !Object.hasOwn(entry, key));
    if (missing.length > 0) {
      this.fail(
        at,
        `missing required key${missing.length > 1 ? "s" : ""} ${missing.join(", ")} (an injected ` +
          'secret is { from = "HOST_VAR", inject = ["api.example.com"] }; for a value the agent ' +
          'may hold, write NAME = "HOST_VAR")',
      );
    }
    const from = this.attempt(() => {
      if (typeof entry.from !== "string") {
        this.typeError([...at, "from"], "the name of a host environment variable", entry.from);
      }
      return this.hostVar([...at, "from"], entry.from);
    });
    const inject = this.attempt(() => this.hostPatterns([...at, "inject"], entry.inject, "inject"));
    if (from === undefined || inject === undefined) return undefined;
    return { from, inject };
  }

  /**
   * A non-empty array of host patterns (`egress.allow` entries without a port) for `inject`:
   * exact names, `*.suffix` or IPv4 literals, each once.
   */
  hostPatterns(at: KeyPart[], v: unknown, what: string): string[] {
    const expected = 'a non-empty array of host names, such as ["api.example.com"]';
    if (!Array.isArray(v) || v.length === 0) {
      if (Array.isArray(v)) {
        this.fail(
          at,
          `is empty: an injected secret needs at least one host to be ${what}ed into (for a value ` +
            'the agent may hold, write NAME = "HOST_VAR" instead)',
        );
      }
      this.typeError(at, expected, v);
    }
    const out: string[] = [];
    v.forEach((item, i) =>
      this.attempt(() => {
        const host = this.hostPattern([...at, i], item);
        if (!out.includes(host)) out.push(host);
      })
    );
    return out;
  }

  /** One host pattern: an `egress.allow` entry without a port. */
  hostPattern(parts: KeyPart[], v: unknown): string {
    const s = this.string(parts, v, "a host name string");
    const parsed = parseEgressEntry(s);
    if ("problem" in parsed) this.fail(parts, `${quote(s)} ${parsed.problem}`);
    if (parsed.entry.port !== null) {
      this.fail(
        parts,
        `${quote(s)} names a port; write the host only (it applies on every port egress.allow ` +
          "opens for that host)",
      );
    }
    return s;
  }

  /**
   * `ca_certs`: PEM files the bundle (upstream TLS), the guest and bot-bottle's image builds
   * trust; paths relative to this manifest's directory or absolute (read and checked at load).
   */
  caCerts(at: KeyPart[], v: unknown): string[] {
    const expected = 'an array of PEM file paths, such as ["corp-ca.pem"]';
    if (!Array.isArray(v)) this.typeError(at, expected, v);
    const out: string[] = [];
    v.forEach((item, i) =>
      this.attempt(() => {
        const parts = [...at, i];
        const file = this.string(parts, item, "the path of a PEM file");
        if (file === "" || /\p{Cc}/u.test(file)) {
          this.typeError(parts, "the path of a PEM file", file);
        }
        if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(file)) {
          this.fail(
            parts,
            `${quote(file)} looks like a URL; bot-bottle fetches nothing: give the path of a PEM ` +
              "file on this machine",
          );
        }
        if (file.startsWith("~")) {
          this.fail(
            parts,
            `${quote(file)}: "~" is not expanded here; write the path relative to this ` +
              "manifest's directory, or absolute",
          );
        }
        const path = resolve(dirname(this.path), file);
        if (!out.includes(path)) {
          out.push(path);
        }
      })
    );
    return out;
  }

  egress(at: KeyPart[], v: unknown): {
    allow?: string[];
    onBlock?: "refuse" | "ask";
    askTimeout?: number;
    inspect?: "credentials" | "all";
    rules?: EgressRule[];
  } {
    if (!isTable(v)) this.typeError(at, 'a table with an allow list (egress.allow = ["host"])', v);
    this.checkKeys(v, EGRESS_KEYS, at);
    const out: {
      allow?: string[];
      onBlock?: "refuse" | "ask";
      askTimeout?: number;
      inspect?: "credentials" | "all";
      rules?: EgressRule[];
    } = {};
    this.attempt(() => {
      if (!Object.hasOwn(v, "inspect")) return;
      const mode = this.string([...at, "inspect"], v.inspect, '"credentials" or "all"');
      if (!(INSPECT_MODES as readonly string[]).includes(mode)) {
        this.typeError(
          [...at, "inspect"],
          '"credentials" (the default: TLS is terminated only for hosts with injected secrets ' +
            'or egress.rules) or "all" (every allowed HTTPS host)',
          mode,
        );
      }
      out.inspect = mode as typeof INSPECT_MODES[number];
    });
    this.attempt(() => {
      if (Object.hasOwn(v, "rules")) out.rules = this.rules([...at, "rules"], v.rules);
    });
    this.attempt(() => {
      if (!Object.hasOwn(v, "ask_timeout")) return;
      out.askTimeout = this.integer([...at, "ask_timeout"], v.ask_timeout, 1n, 3600n, " (seconds)");
    });
    this.attempt(() => {
      if (!Object.hasOwn(v, "on_block")) return;
      const mode = this.string([...at, "on_block"], v.on_block, '"refuse" or "ask"');
      if (mode !== "refuse" && mode !== "ask") {
        this.typeError(
          [...at, "on_block"],
          '"refuse" (the default) or "ask" (hold a refused request until approve/deny)',
          mode,
        );
      }
      out.onBlock = mode;
    });
    if (!Object.hasOwn(v, "allow")) return out;
    const allow = v.allow;
    if (!Array.isArray(allow)) this.typeError([...at, "allow"], "an array of host names", allow);
    const entries: string[] = [];
    allow.forEach((entry, i) =>
      this.attempt(() => {
        const s = this.string([...at, "allow", i], entry, "a host name string");
        const parsed = parseEgressEntry(s);
        if ("problem" in parsed) this.fail([...at, "allow", i], `${quote(s)} ${parsed.problem}`);
        entries.push(s);
      })
    );
    out.allow = entries;
    return out;
  }

  /** `egress.rules = [{ host, methods, paths }]`. */
  rules(at: KeyPart[], v: unknown): EgressRule[] {
    const expected =
      'an array of tables, such as [{ host = "api.example.com", methods = ["GET"] }]';
    if (!Array.isArray(v)) this.typeError(at, expected, v);
    const rules: EgressRule[] = [];
    v.forEach((entry, i) => {
      const rule = this.attempt(() => this.rule([...at, i], entry));
      if (rule) rules.push(rule);
    });
    return rules;
  }

  rule(here: KeyPart[], entry: unknown): EgressRule | undefined {
    if (!isTable(entry)) this.typeError(here, "a table { host, methods, paths }", entry);
    this.checkKeys(entry, RULE_KEYS, here);
    if (!Object.hasOwn(entry, "host")) this.fail(here, "missing required key host");
    if (!Object.hasOwn(entry, "methods") && !Object.hasOwn(entry, "paths")) {
      this.fail(
        here,
        "a rule needs methods, paths or both (a rule with neither would allow everything)",
      );
    }
    const before = this.problems.length;
    const host = this.attempt(() => this.hostPattern([...here, "host"], entry.host));
    const methods = !Object.hasOwn(entry, "methods")
      ? undefined
      : this.attempt(() => this.methods([...here, "methods"], entry.methods));
    const paths = !Object.hasOwn(entry, "paths")
      ? undefined
      : this.attempt(() => this.paths([...here, "paths"], entry.paths));
    if (this.problems.length > before) return undefined;
    const rule: EgressRule = { host: host!, where: formatKeyPath(here), source: this.path };
    if (methods) rule.methods = methods;
    if (paths) rule.paths = paths;
    return rule;
  }

  methods(at: KeyPart[], v: unknown): string[] {
    const expected = 'a non-empty array of HTTP methods, such as ["GET", "HEAD"]';
    if (!Array.isArray(v) || v.length === 0) this.typeError(at, expected, v);
    const out: string[] = [];
    v.forEach((item, i) =>
      this.attempt(() => {
        const m = this.string([...at, i], item, 'an HTTP method such as "GET"');
        if (/^[a-z]+$/.test(m)) {
          this.fail(
            [...at, i],
            `${quote(m)}: write methods in uppercase (${quote(m.toUpperCase())})`,
          );
        }
        if (!/^[A-Z]{1,20}$/.test(m)) {
          this.typeError([...at, i], 'an HTTP method such as "GET" (uppercase letters)', m);
        }
        if (m === "CONNECT") {
          this.fail(
            [...at, i],
            '"CONNECT" opens the tunnel, which egress.allow decides; a rule names the methods ' +
              "of the requests inside it",
          );
        }
        if (!out.includes(m)) out.push(m);
      })
    );
    return out;
  }

  paths(at: KeyPart[], v: unknown): string[] {
    const expected = 'a non-empty array of path globs, such as ["/v1/*", "/repos/me/**"]';
    if (!Array.isArray(v) || v.length === 0) this.typeError(at, expected, v);
    const out: string[] = [];
    v.forEach((item, i) =>
      this.attempt(() => {
        const glob = this.string([...at, i], item, 'a path glob such as "/v1/*"');
        if (!glob.startsWith("/")) {
          this.fail([...at, i], `${quote(glob)} must start with "/" (it matches the request path)`);
        }
        if (/[\s\p{Cc}?#]/u.test(glob)) {
          this.fail(
            [...at, i],
            `${quote(glob)} has whitespace, a control character, "?" or "#"; a glob matches ` +
              'the path only (no query or fragment), with "*" within a segment and "**" across',
          );
        }
        if (/\*\*\*/.test(glob) || /[^/]\*\*|\*\*[^/]/.test(glob)) {
          this.fail(
            [...at, i],
            `${quote(glob)}: "**" must be a whole segment ("/a/**" or "/a/**/b"); "*" matches ` +
              "within one segment",
          );
        }
        if (/(^|\/)\.\.?(\/|$)/.test(glob)) {
          this.fail(
            [...at, i],
            `${quote(glob)} has a "." or ".." segment, which no request path may`,
          );
        }
        if (!out.includes(glob)) out.push(glob);
      })
    );
    return out;
  }

  bundle(at: KeyPart[], v: unknown): BundleDef {
    if (!isTable(v)) this.typeError(at, "a table { memory, cpus, pids, max_push_mib }", v);
    this.checkKeys(v, BUNDLE_KEYS, at);
    const out: BundleDef = {};
    const has = (key: string) => Object.hasOwn(v, key);
    this.attempt(() => {
      if (has("memory")) {
        out.memory = this.integer([...at, "memory"], v.memory, 128n, 65536n, " (MiB)");
      }
    });
    this.attempt(() => {
      if (has("cpus")) out.cpus = this.integer([...at, "cpus"], v.cpus, 1n, 64n, "");
    });
    this.attempt(() => {
      if (has("pids")) out.pids = this.integer([...at, "pids"], v.pids, 64n, 65536n, "");
    });
    this.attempt(() => {
      if (!has("max_push_mib")) return;
      out.maxPushMib = this.integer([...at, "max_push_mib"], v.max_push_mib, 1n, 4096n, " (MiB)");
    });
    return out;
  }

  git(at: KeyPart[], v: unknown): GitRemote[] {
    const expected = "an array of tables ([[bottles.<name>.git]] or git = [{ name = ..., ... }])";
    if (!Array.isArray(v)) this.typeError(at, expected, v);
    const seen = new Map<string, number>();
    const remotes: GitRemote[] = [];
    v.forEach((entry, i) => {
      const remote = this.attempt(() => this.gitRemote([...at, i], entry, at, seen));
      if (remote) remotes.push(remote);
    });
    return remotes;
  }

  /** One entry of `git`; every field is checked, and the entry is dropped if one is wrong. */
  gitRemote(
    here: KeyPart[],
    entry: unknown,
    at: KeyPart[],
    seen: Map<string, number>,
  ): GitRemote | undefined {
    if (!isTable(entry)) {
      this.typeError(here, "a table { name, upstream, identity, host_key }", entry);
    }
    this.checkKeys(entry, GIT_KEYS, here);
    const missing = GIT_KEYS.filter((key) => !Object.hasOwn(entry, key));
    if (missing.length > 0) {
      this.fail(here, `missing required key${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
    }
    const before = this.problems.length;
    const name = this.attempt(() => {
      const name = this.string([...here, "name"], entry.name, "a remote name");
      this.checkName(name, "remote", [...here, "name"]);
      const previous = seen.get(name);
      if (previous !== undefined) {
        this.fail(
          [...here, "name"],
          `remote name ${quote(name)} is already used by ${formatKeyPath([...at, previous])}`,
        );
      }
      seen.set(name, here[here.length - 1] as number);
      return name;
    });
    const upstream = this.attempt(() => {
      const upstream = this.string([...here, "upstream"], entry.upstream, GIT_UPSTREAM_FORMS);
      const parsed = parseGitUpstream(upstream);
      if ("problem" in parsed && parsed.problem === "form") {
        this.typeError([...here, "upstream"], GIT_UPSTREAM_FORMS, upstream);
      }
      if ("problem" in parsed) {
        this.fail([...here, "upstream"], `${quote(upstream)}: ${parsed.problem}`);
      }
      return upstream;
    });
    const identity = this.attempt(() => {
      const identityExpected = "the path of an SSH private key on the host (absolute or ~/...)";
      const identity = this.string([...here, "identity"], entry.identity, identityExpected);
      const pathProblem = hostPathProblem(identity);
      if (pathProblem !== null) {
        this.fail(
          [...here, "identity"],
          `${quote(identity)} ${pathProblem}; expected ${identityExpected}`,
        );
      }
      return identity;
    });
    const hostKey = this.attempt(() => {
      const hostKey = this.string([...here, "host_key"], entry.host_key, "a pinned SSH host key");
      const key = parseHostKey(hostKey);
      if ("problem" in key) this.fail([...here, "host_key"], `${quote(hostKey)}: ${key.problem}`);
      return hostKey;
    });
    if (this.problems.length > before) return undefined;
    return { name: name!, upstream: upstream!, identity: identity!, hostKey: hostKey! };
  }

  agent(name: string, value: unknown): AgentDef | undefined {
    const at: KeyPart[] = ["agents", name];
    if (!isTable(value)) this.typeError(at, "a table ([agents.<name>])", value);
    this.checkKeys(value, AGENT_KEYS, at);
    const before = this.problems.length;
    if (!Object.hasOwn(value, "bottle")) {
      this.attempt(() =>
        this.fail(at, "missing required key bottle (the name of the bottle the agent runs in)")
      );
    }
    if (!Object.hasOwn(value, "command")) {
      this.attempt(() =>
        this.fail(at, 'missing required key command (the argv to run, e.g. ["claude"])')
      );
    }
    const bottle = !Object.hasOwn(value, "bottle") ? undefined : this.attempt(() => {
      const bottle = this.string([...at, "bottle"], value.bottle, "the name of a bottle");
      if (!isName(bottle)) {
        this.fail([...at, "bottle"], `bottle name ${quote(bottle)} is not valid: ${NAME_RULE}`);
      }
      return bottle;
    });
    const argv = !Object.hasOwn(value, "command") ? undefined : this.attempt(() => {
      const command = value.command;
      const commandExpected = 'a non-empty array of strings, e.g. ["claude"]';
      if (!Array.isArray(command) || command.length === 0) {
        this.typeError([...at, "command"], commandExpected, command);
      }
      const args: string[] = [];
      command.forEach((arg, i) =>
        this.attempt(() => {
          const s = this.string([...at, "command", i], arg, "a non-empty string");
          if (s === "") this.typeError([...at, "command", i], "a non-empty string", s);
          args.push(s);
        })
      );
      return args;
    });
    const prompt = !Object.hasOwn(value, "prompt")
      ? undefined
      : this.attempt(() => this.string([...at, "prompt"], value.prompt, "a string"));
    if (this.problems.length > before) return undefined;
    const def: AgentDef = {
      name,
      source: this.path,
      scope: this.scope,
      bottle: bottle!,
      command: argv!,
    };
    if (prompt !== undefined) def.prompt = prompt;
    return def;
  }
}
