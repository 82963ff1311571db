/**
 * The plan as people read it (SPEC §4.6): printed to stderr before the y/N
 * prompt and by `start --dry-run`. Secret values never appear; the plan holds
 * none.
 */
import type { PreflightCheck } from "../host/preflight.ts";
import type { Style } from "../ui/style.ts";
import type { Plan } from "./plan_types.ts";
import { PROMPT_FILE } from "./guest_env.ts";
import { formatSize } from "../workspace/workspace_size.ts";

/** Render the plan as text (ends with a newline). */
export function renderPlan(plan: Plan, style: Style): string {
  const out: string[] = [];
  const row = (key: string, value: string) => out.push(`  ${style.bold(key.padEnd(10))} ${value}`);
  out.push(style.bold(`bot-bottle plan for agent "${plan.agent}"`));
  row("slug", plan.slug);
  row(
    "backend",
    plan.runtime === null
      ? plan.backend
      : `${plan.backend} (runtime ${plan.runtime === "runsc" ? "runsc: gVisor" : "runc"})`,
  );
  row("bottles", plan.bottles.join(" -> "));
  if (!plan.images) {
    row("image", visible(plan.image ?? `built from ${plan.dockerfile}`));
  } else {
    const { agent, bundle } = plan.images;
    const from = agent.built_from ? `, from ${agent.built_from}` : "";
    row("image", visible(`${agent.ref}${from} (${imageState(agent.present, agent.built_from)})`));
    row(
      "bundle",
      visible(`${bundle.ref} (${imageState(bundle.present, "the files in bot-bottle")})`),
    );
  }
  row("command", plan.command.map(shellQuote).join(" "));
  if (typeof plan.prompt === "string") {
    row("prompt", `${plan.prompt.length} characters, written to $HOME/${PROMPT_FILE} in the guest`);
  }
  if (plan.agent_source.scope === "project") {
    row("from", style.yellow(`project manifest ${plan.agent_source.file}`));
  }
  if (plan.workspace) {
    const w = plan.workspace;
    row(
      "workspace",
      w.mode === "restore"
        ? `restored from ${visible(w.source)} to ${w.guest_path}`
        : `${visible(w.source)} (${
          w.kind === "git" ? `git${w.branch ? `, ${visible(w.branch)}` : ""}` : "not git"
        }) -> ${w.guest_path}: ${w.files} entries, ${formatSize(w.bytes)}`,
    );
    for (const note of w.notes) out.push(`  ${" ".repeat(10)} ${style.dim(visible(note))}`);
  }
  const cpus = plan.resources.cpus;
  row("resources", `${cpus} ${cpus === 1 ? "CPU" : "CPUs"}, ${plan.resources.memory_mib} MiB`);
  row("subnet", `${plan.subnet} (gateway ${plan.gateway}, bundle ${plan.bundle_ip})`);
  for (const move of plan.subnet_moves) {
    out.push(
      `  ${" ".repeat(10)} ${
        style.dim(`moved past ${move.subnet}: overlaps ${move.taken_by} (${move.source})`)
      }`,
    );
  }
  row(
    "egress",
    plan.egress_allow.length === 0
      ? "nothing (every destination refused)"
      : `${plan.egress_allow.length} allowed: ${plan.egress_allow.join(", ")}`,
  );
  if (plan.egress_on_block === "ask") {
    out.push(
      `  ${" ".repeat(10)} ${
        style.dim("an unlisted host is held for `bot-bottle approve|deny` (shown here)")
      }`,
    );
  }
  if (plan.approvals.approved.length > 0) {
    row(
      "approved",
      `${plan.approvals.approved.join(", ")} (live approvals kept from the last run)`,
    );
  }
  if (plan.approvals.denied.length > 0) {
    row("denied", `${plan.approvals.denied.join(", ")} (live denials kept from the last run)`);
  }
  const injected = new Set(plan.secrets.filter((s) => s.holder === "bundle").map((s) => s.guest));
  const env = Object.entries(plan.guest_env).filter(([name]) => !injected.has(name));
  row("env", env.length === 0 ? "(none)" : count(env.length, "variable", "literal values"));
  for (const [name, value] of env) out.push(`    ${name}=${visible(value)}`);
  row(
    "secrets",
    plan.secrets.length === 0
      ? "(none)"
      : count(plan.secrets.length, "secret", "read from the host at launch, values never shown"),
  );
  for (const s of plan.secrets) {
    const state = s.present ? style.green("set") : style.red("NOT SET");
    if (s.holder === "agent") {
      out.push(
        `    ${s.guest} <- $${s.host_var} (${state}; ${
          style.yellow("the agent holds this value")
        })`,
      );
    } else {
      out.push(
        `    ${s.guest} <- $${s.host_var} (${state}; injected by the bundle into requests to ` +
          `${s.inject.join(", ")}; the agent holds only the placeholder ${s.placeholder})`,
      );
    }
  }
  if (plan.tls.intercept.length > 0 || plan.tls.inspect === "all") {
    const hosts = plan.tls.inspect === "all"
      ? "every allowed HTTPS host"
      : plan.tls.intercept.join(", ");
    row(
      "tls",
      `terminated by the bundle (its own CA, made at start) for ${hosts}; others tunnelled`,
    );
  }
  for (const r of plan.tls.rules) {
    out.push(
      `  ${" ".repeat(10)} rule ${r.host}: ${r.methods?.join(", ") ?? "any method"} on ${
        r.paths?.join(", ") ?? "any path"
      }`,
    );
  }
  if (plan.tls.ca_certs.length > 0) row("ca_certs", plan.tls.ca_certs.map(visible).join(", "));
  row(
    "git",
    plan.git.length === 0 ? "(none)" : count(plan.git.length, "remote", "through the git gate"),
  );
  for (const g of plan.git) out.push(`    ${g.name} -> ${g.upstream}`);
  row("creates", plan.create.length === 0 ? "(nothing)" : count(plan.create.length, "object", ""));
  for (const r of plan.create) out.push(`    ${r.kind} ${r.name}`);
  row("state", visible(plan.state_dir));
  if (plan.smolfile !== null) {
    out.push(`  ${style.bold("smolfile")}`);
    for (const line of plan.smolfile.trimEnd().split("\n")) {
      out.push(`    ${style.dim(visible(line))}`);
    }
  }
  out.push(style.bold("preflight"));
  out.push(...renderChecks(plan.preflight, style));
  for (const note of plan.notes) out.push(`  ${style.yellow("note")} ${visible(note)}`);
  return `${out.join("\n")}\n`;
}

/** `3 variables (literal values)`. */
function count(n: number, noun: string, detail: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}${detail ? ` (${detail})` : ""}`;
}

/**
 * Why a plan is not ready: each failed check and each secret whose host variable is unset,
 * one line each with its fix. Empty when it is ready.
 */
export function notReadyReasons(plan: Plan): string[] {
  const reasons = plan.preflight.filter((c) => c.status === "fail").map((c) =>
    `${c.id}: ${c.summary}${c.fix ? `\n    fix: ${c.fix}` : ""}`
  );
  for (const s of plan.secrets) {
    if (!s.present) {
      reasons.push(
        `secret ${s.guest} reads host variable ${s.host_var}, which is not set\n    fix: ` +
          `export ${s.host_var}=...`,
      );
    }
  }
  return reasons;
}

/** What happens to an image before the launch. */
function imageState(present: boolean | null, builtFrom: string | null): string {
  if (present === null) return "not checked: Docker is not reachable";
  if (present) return "present";
  return builtFrom ? "will be built first: first use" : "will be pulled first";
}

/** One line per check, with the fix under failures and warnings. */
export function renderChecks(checks: readonly PreflightCheck[], style: Style): string[] {
  const lines: string[] = [];
  for (const check of checks) {
    const mark = check.status === "ok"
      ? style.green("ok  ")
      : check.status === "warn"
      ? style.yellow("warn")
      : style.red("FAIL");
    lines.push(`  ${mark} ${check.id}: ${check.summary}`);
    if (check.fix && check.status !== "ok") lines.push(`       fix: ${check.fix}`);
  }
  return lines;
}

/**
 * Control and format characters (ESC, CR, bidi overrides, ...) that a terminal
 * would act on instead of showing: a project manifest could otherwise make the
 * printed command look unlike the one that runs.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

/** `arg` quoted for a POSIX shell; `$'...'` with escapes when it holds invisible characters. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_./:=@%+-]+$/.test(arg)) return arg;
  if (!INVISIBLE.test(arg)) return `'${arg.replaceAll("'", `'\\''`)}'`;
  let out = "";
  for (const ch of arg) {
    if (ch === "\\" || ch === "'") out += `\\${ch}`;
    else if (INVISIBLE.test(ch)) out += escapeChar(ch);
    else out += ch;
  }
  return `$'${out}'`;
}

/** `text` with every invisible character shown as an escape (`\e`, `\r`, `\u202e`). */
export function visible(text: string): string {
  let out = "";
  for (const ch of text) out += INVISIBLE.test(ch) ? escapeChar(ch) : ch;
  return out;
}

function escapeChar(ch: string): string {
  const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e" };
  if (named[ch] !== undefined) return named[ch];
  const code = ch.codePointAt(0)!;
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : code <= 0xffff
    ? `\\u${code.toString(16).padStart(4, "0")}`
    : `\\U${code.toString(16).padStart(8, "0")}`;
}
