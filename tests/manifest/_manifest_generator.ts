/**
 * Seeded generator of manifest texts for fuzzing: valid manifests and many
 * kinds of broken ones (random bytes, truncation, corruption, wrong types,
 * deep nesting, huge strings). Deterministic for a given seed, so a failing
 * case is reproduced by its seed and index.
 */

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;

const KEY_ED25519 =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAswVXqfxOkOM1h9osfsETZbgKXK7xQ5XoOozfIXPGGG";

const NAMES = [
  "base",
  "dev",
  "ci",
  "research",
  "web",
  "a",
  "b",
  "c",
  "x-1",
  "Dev",
  "bad name",
  "9x",
];
const KEYS = [
  "bottles",
  "agents",
  "extends",
  "image",
  "dockerfile",
  "cpus",
  "memory",
  "workdir",
  "env",
  "secrets",
  "egress",
  "allow",
  "git",
  "name",
  "upstream",
  "identity",
  "host_key",
  "supervise",
  "bottle",
  "command",
  "prompt",
  "imgae",
  "cpu",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
];
const HOSTS = [
  "api.anthropic.com",
  "*.githubusercontent.com",
  "github.com",
  "10.0.0.1",
  "*",
  "*.com",
  "https://x.example.com",
  "x.example.com:443",
  "UPPER.example.com",
  "",
  "a..b",
  "::1",
];
const VARS = [
  "GIT_AUTHOR_NAME",
  "TOKEN",
  "HTTPS_PROXY",
  "no_proxy",
  "1BAD",
  "A B",
  "_X",
  "__proto__",
];
const UPSTREAMS = [
  "ssh://git@git.example.org/me/app.git",
  "ssh://git@git.example.org:2222/me/app.git",
  "git@git.example.org:me/app.git",
  "https://git.example.org/me/app.git",
  "git@h:-oProxyCommand=x",
];

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)];
}

function int(rng: Rng, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}

function tomlString(s: string): string {
  return JSON.stringify(s); // a JSON string is a valid TOML basic string for BMP text
}

/** A random TOML value of any type, sometimes nested. */
function randomValue(rng: Rng, depth = 0): string {
  switch (int(rng, 0, depth > 2 ? 6 : 8)) {
    case 0:
      return tomlString(pick(rng, [...NAMES, ...HOSTS, ...UPSTREAMS, KEY_ED25519, "/work"]));
    case 1:
      return String(int(rng, -10, 2_000_000));
    case 2:
      return pick(rng, ["2.5", "-0.0", "inf", "nan", "1e308", "0x10", "0o17", "0b1"]);
    case 3:
      return pick(rng, ["true", "false"]);
    case 4:
      return pick(rng, ["1979-05-27", "1979-05-27T07:32:00Z", "07:32:00", "1979-05-27T00:32:00"]);
    case 5:
      return '""';
    case 6:
      return String(int(rng, 0, 100));
    case 7: {
      const n = int(rng, 0, 3);
      return `[${Array.from({ length: n }, () => randomValue(rng, depth + 1)).join(", ")}]`;
    }
    default: {
      const n = int(rng, 0, 3);
      const entries = Array.from(
        { length: n },
        (_, i) => `${pick(rng, KEYS)}${i} = ${randomValue(rng, depth + 1)}`,
      );
      return `{ ${entries.join(", ")} }`;
    }
  }
}

function gitRemote(rng: Rng, i: number): string {
  return `{ name = "r${i}", upstream = ${tomlString(pick(rng, UPSTREAMS))}, ` +
    `identity = "~/.ssh/id", host_key = ${tomlString(KEY_ED25519)} }`;
}

/** A mostly valid manifest: some bottles (with extends, maybe cyclic) and agents. */
export function validishManifest(rng: Rng): string {
  const lines: string[] = [];
  const bottleCount = int(rng, 0, 5);
  const names = Array.from({ length: bottleCount }, (_, i) => `b${i}`);
  for (const [i, name] of names.entries()) {
    lines.push(`[bottles.${name}]`);
    if (i > 0 && rng() < 0.6) lines.push(`extends = "${pick(rng, names)}"`);
    if (rng() < 0.7) lines.push(`image = "bot-bottle/agent-shell:latest"`);
    else if (rng() < 0.5) lines.push(`dockerfile = "images/Dockerfile"`);
    else if (rng() < 0.3) {
      lines.push(`dockerfile = "builtin:${pick(rng, ["shell", "codex", "x"])}"`);
    }
    if (rng() < 0.5) lines.push(`cpus = ${int(rng, 1, 64)}`);
    if (rng() < 0.5) lines.push(`memory = ${int(rng, 256, 65536)}`);
    if (rng() < 0.3) lines.push(`workdir = "/work"`);
    if (rng() < 0.5) lines.push(`env = { GIT_AUTHOR_NAME = "me", E${i} = "v" }`);
    else if (rng() < 0.2) lines.push(`env = { ${tomlString(pick(rng, VARS))} = "v" }`);
    if (rng() < 0.4) lines.push(`secrets = { TOKEN${i} = "HOST_TOKEN" }`);
    else if (rng() < 0.2) {
      lines.push(`secrets = { ${tomlString(pick(rng, VARS))} = ${tomlString(pick(rng, VARS))} }`);
    }
    if (rng() < 0.6) {
      lines.push(
        `egress.allow = ["api.anthropic.com", "*.githubusercontent.com", "h${i}.example"]`,
      );
    }
    if (rng() < 0.3) lines.push(`git = [${gitRemote(rng, 0)}, ${gitRemote(rng, 1)}]`);
    if (rng() < 0.3) lines.push(`supervise = ${rng() < 0.5}`);
    lines.push("");
  }
  const agentCount = int(rng, 0, 3);
  for (let i = 0; i < agentCount; i++) {
    lines.push(`[agents.agent-${i}]`);
    lines.push(`bottle = "${names.length > 0 ? pick(rng, names) : "none"}"`);
    lines.push(`command = ["claude", "--x"]`);
    if (rng() < 0.5) lines.push(`prompt = """\nYou are agent ${i}.\n"""`);
    lines.push("");
  }
  return lines.join("\n");
}

/** Replace one `= value` in `text` with a random value of any type. */
function wrongType(rng: Rng, text: string): string {
  const lines = text.split("\n");
  const valueLines = lines.map((l, i) => [l, i] as const).filter(([l]) => l.includes(" = "));
  if (valueLines.length === 0) return text;
  const [line, i] = pick(rng, valueLines);
  lines[i] = `${line.slice(0, line.indexOf(" = "))} = ${randomValue(rng)}`;
  return lines.join("\n");
}

function corrupt(rng: Rng, text: string): string {
  const chars = [...text];
  const edits = int(rng, 1, 8);
  const alphabet = "[]{}=\"'.,#\n\\ \t\0aZ9_-*\u00e9\u{1F600}\uFEFF\r";
  for (let e = 0; e < edits; e++) {
    const at = int(rng, 0, chars.length);
    const op = int(rng, 0, 2);
    const ch = pick(rng, [...alphabet]);
    if (op === 0) chars.splice(at, 0, ch);
    else if (op === 1) chars.splice(at, 1);
    else chars[at] = ch;
  }
  return chars.join("");
}

function lineMutation(rng: Rng, text: string): string {
  const lines = text.split("\n");
  const edits = int(rng, 1, 4);
  for (let e = 0; e < edits && lines.length > 0; e++) {
    const i = int(rng, 0, lines.length - 1);
    const j = int(rng, 0, lines.length - 1);
    switch (int(rng, 0, 2)) {
      case 0:
        lines.splice(i, 1);
        break;
      case 1:
        lines.splice(j, 0, lines[i]);
        break;
      default:
        [lines[i], lines[j]] = [lines[j], lines[i]];
    }
  }
  return lines.join("\n");
}

function keyTypo(rng: Rng, text: string): string {
  const key = pick(rng, KEYS.slice(0, 21));
  const at = text.indexOf(key);
  if (at === -1) return text;
  const typo = pick(rng, [
    key.slice(1),
    key + "s",
    key.toUpperCase(),
    key.length > 2 ? key[1] + key[0] + key.slice(2) : key + key,
    pick(rng, KEYS),
  ]);
  return text.slice(0, at) + typo + text.slice(at + key.length);
}

function randomBytes(rng: Rng): string {
  const n = int(rng, 0, 400);
  let out = "";
  for (let i = 0; i < n; i++) {
    const r = rng();
    if (r < 0.6) out += String.fromCharCode(int(rng, 0, 127));
    else if (r < 0.8) out += String.fromCharCode(int(rng, 0, 0xffff)); // lone surrogates too
    else out += pick(rng, ["[", "]", "=", '"', "\n", "bottles", "agents", "."]);
  }
  return out;
}

function deepNesting(rng: Rng): string {
  const depth = pick(rng, [50, 99, 100, 101, 1000, 5000, int(rng, 1, 6000)]);
  switch (int(rng, 0, 5)) {
    case 0:
      return `x = ${"[".repeat(depth)}${"]".repeat(depth)}\n`;
    case 1:
      return `x = ${"{ a = ".repeat(depth)}1${" }".repeat(depth)}\n`;
    case 2:
      return `[bottles.dev]\nimage = "i"\nenv = ${"{ A = ".repeat(depth)}"v"${
        " }".repeat(depth)
      }\n`;
    case 3:
      return `${Array.from({ length: depth }, () => "a").join(".")} = 1\n`;
    case 4:
      return `[bottles.dev.${Array.from({ length: depth }, () => "e").join(".")}]\nx = 1\n`;
    default:
      return `[agents.a]\nbottle = "b"\ncommand = ${"[".repeat(depth)}"x"${"]".repeat(depth)}\n`;
  }
}

function hugeString(rng: Rng): string {
  const size = pick(rng, [70_000, 500_000, 1024 * 1024 - 64, 1024 * 1024 + 1, 2_000_000]);
  const ch = pick(rng, ["x", "\u00e9", "\u{1F600}", "a.b"]);
  const body = ch.repeat(Math.ceil(size / ch.length)).slice(0, size);
  switch (int(rng, 0, 3)) {
    case 0:
      return `[bottles.dev]\nimage = "${body}"\n`;
    case 1:
      return `[bottles.${body.replace(/[^a-z]/g, "x")}]\nimage = "i"\n`;
    case 2:
      return `[bottles.dev]\nimage = "i"\negress.allow = ["${body}"]\n`;
    default:
      return `[agents.a]\nbottle = "b"\ncommand = ["x"]\nprompt = """${body}"""\n`;
  }
}

function tokenSoup(rng: Rng): string {
  const lines: string[] = [];
  const n = int(rng, 1, 20);
  for (let i = 0; i < n; i++) {
    const r = rng();
    if (r < 0.25) {
      lines.push(`[${pick(rng, ["bottles", "agents"])}.${pick(rng, NAMES)}]`);
    } else if (r < 0.35) {
      lines.push(`[[bottles.${pick(rng, NAMES)}.git]]`);
    } else if (r < 0.9) {
      lines.push(`${pick(rng, KEYS)} = ${randomValue(rng)}`);
    } else {
      lines.push(`${pick(rng, KEYS)}.${pick(rng, KEYS)} = ${randomValue(rng)}`);
    }
  }
  return lines.join("\n");
}

/**
 * `count` manifest texts from `seed`: valid ones, truncated and corrupted
 * valid ones, wrong types, typos, random bytes, deep nesting (up to ~6,000
 * levels) and huge strings (around and beyond the 1 MiB limit).
 */
export function* generateManifests(seed: number, count: number): Iterable<string> {
  const rng = mulberry32(seed);
  for (let i = 0; i < count; i++) {
    const r = rng();
    if (r < 0.22) yield validishManifest(rng);
    else if (r < 0.32) {
      const text = validishManifest(rng);
      yield text.slice(0, int(rng, 0, text.length));
    } else if (r < 0.47) yield corrupt(rng, validishManifest(rng));
    else if (r < 0.62) yield wrongType(rng, validishManifest(rng));
    else if (r < 0.69) yield lineMutation(rng, validishManifest(rng));
    else if (r < 0.75) yield keyTypo(rng, validishManifest(rng));
    else if (r < 0.85) yield tokenSoup(rng);
    else if (r < 0.93) yield randomBytes(rng);
    else if (r < 0.985) yield deepNesting(rng);
    else yield hugeString(rng);
  }
}
