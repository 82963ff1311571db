/**
 * Every image bot-bottle builds (the agent's, the bundle's) goes through
 * here: one `docker build`, its output streamed and parsed as it comes.
 *
 * - Progress: the current step (`step 3/7 RUN apt-get ...`) and its latest
 *   output as a one-line status on a terminal, one line per step elsewhere;
 *   a final line with the time taken. With BuildKit (docker buildx present)
 *   the build runs with `--progress=plain`, whose steps read the same way;
 *   without it (the legacy builder, e.g. Debian's Docker 20.10) its
 *   `Step n/m :` lines are the steps.
 * - Failure: one copy of the log's tail, without colour codes or carriage
 *   returns, naming the step that failed.
 * - Leftovers: the legacy builder runs each RUN step in an intermediate
 *   container, which `--label` does not reach (it labels the image). So the
 *   Dockerfile is built with a `LABEL io.bot-bottle.build=<tag>
 *   io.bot-bottle.owner=<owner>` after every FROM: each intermediate
 *   container inherits it, `--rm --force-rm` removes them even when a step
 *   fails, and `cleanup` finds any that survive (a daemon restart) by that
 *   label while the build's lock (lib/state/build_lock.ts) is not held. The
 *   final image gets both labels set empty, so containers run from it do not
 *   look like build leftovers.
 *
 * The Dockerfile always travels on stdin (`-f -`), so the context directory
 * is never written to.
 */
import { UserError } from "../errors.ts";
import type { Progress } from "../ui/status_line.ts";
import { formatDuration } from "../ui/status_line.ts";
import type { Runner } from "./runner.ts";
import { buildAlive, takeBuildLock } from "../state/build_lock.ts";

/** Label keys of build intermediate containers. */
export const LABEL_BUILD = "io.bot-bottle.build";
const LABEL_OWNER = "io.bot-bottle.owner";
const LABEL_ROLE = "io.bot-bottle.role";

/** What to build. */
export interface BuildSpec {
  /** For messages: "agent image bot-bottle/agent-shell:1a2b3c". */
  what: string;
  tag: string;
  /** The Dockerfile's text. */
  dockerfile: string;
  /** The build context directory, or null for none (a Dockerfile with nothing to COPY). */
  context: string | null;
  /** `io.bot-bottle.role` of the image. */
  role: string;
  baseImage?: string;
  /** The state root's owner id (labels the intermediate containers). */
  owner?: string;
  /** Where build locks live (`<state root>/builds`); none: no lock. */
  lockDir?: string;
  /** Added to the failure message. */
  hint?: string;
}

/** Which builder the engine has. */
export type Builder = "buildkit" | "legacy";

/** `docker buildx version` answers: BuildKit is there. */
export async function detectBuilder(runner: Runner): Promise<Builder> {
  try {
    return (await runner.run(["docker", "buildx", "version"])).code === 0 ? "buildkit" : "legacy";
  } catch {
    return "legacy";
  }
}

/** The `docker build` argv (the Dockerfile comes on stdin). Pure. */
export function buildArgv(spec: BuildSpec, builder: Builder): string[] {
  return [
    "docker",
    "build",
    ...(builder === "buildkit" ? ["--progress=plain"] : ["--rm", "--force-rm"]),
    "--tag",
    spec.tag,
    "--label",
    `${LABEL_ROLE}=${spec.role}`,
    // The final image must not look like a build's intermediate (see the module comment).
    "--label",
    `${LABEL_BUILD}=`,
    "--label",
    `${LABEL_OWNER}=`,
    ...(spec.baseImage ? ["--build-arg", `BASE_IMAGE=${spec.baseImage}`] : []),
    ...(spec.context !== null ? ["--file", "-", spec.context] : ["-"]),
  ];
}

/**
 * `text` with `LABEL <labels>` after every FROM instruction (continuation lines and the
 * escape directive respected), so every intermediate container of every stage carries them.
 */
export function labelledDockerfile(text: string, labels: Record<string, string>): string {
  const label = `LABEL ${
    Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ")
  }`;
  const lines = text.split("\n");
  // Parser directives (`# escape=``) come first, before any other line.
  let escape = "\\";
  for (const line of lines) {
    const directive = /^#\s*([a-z]+)\s*=\s*(\S+)\s*$/i.exec(line);
    if (!directive) break;
    if (directive[1].toLowerCase() === "escape") escape = directive[2];
  }
  const out: string[] = [];
  let inFrom = false;
  let continued = false;
  for (const line of lines) {
    out.push(line);
    const startsInstruction = !continued && /^\s*FROM\s/i.test(line);
    if (startsInstruction) inFrom = true;
    const trimmed = line.trimEnd();
    const isComment = /^\s*#/.test(line);
    continued = !isComment && trimmed.endsWith(escape) ? true : isComment ? continued : false;
    if (inFrom && !continued) {
      out.push(label);
      inFrom = false;
    }
  }
  return out.join("\n");
}

/** What one line of build output says. */
export interface BuildLine {
  /** A new step: `3/7 RUN apt-get update`. */
  step?: string;
  /** Output of the current step. */
  output?: string;
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>]/g;

/** `text` without terminal escapes and other control characters (tabs kept). */
export function plainText(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(ANSI, "").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
}

/** Parse one line (escapes already removed) of legacy or BuildKit plain output. */
export function parseBuildLine(line: string): BuildLine {
  const legacy = /^Step (\d+\/\d+) : (.*)$/.exec(line);
  if (legacy) return { step: `${legacy[1]} ${legacy[2]}` };
  const kitStep = /^#\d+ \[(?:[^\]]*?\s)?(\d+\/\d+)\] (.*)$/.exec(line);
  if (kitStep) return { step: `${kitStep[1]} ${kitStep[2]}` };
  const kitOut = /^#\d+ \d+(?:\.\d+)? (.*)$/.exec(line);
  if (kitOut) return { output: kitOut[1] };
  if (/^#\d+ /.test(line) || noise(line)) return {};
  return line.trim() === "" ? {} : { output: line };
}

/**
 * The LABEL steps bot-bottle adds (after every FROM, and the legacy builder's final one for
 * --label): not steps of the user's build. Its io.bot-bottle.* labels are the giveaway.
 */
function ownLabelStep(step: string): boolean {
  return /\bLABEL io\.bot-bottle\./.test(step);
}

/** Legacy-builder bookkeeping that says nothing about the build itself. */
function noise(line: string): boolean {
  return /^ ---> |^Removing intermediate container |^Sending build context |^Successfully (built|tagged) /
    .test(line);
}

/** The legacy builder's deprecation notice (Docker 23+ without buildx), not build output. */
function deprecationNotice(line: string): boolean {
  return /^DEPRECATED: The legacy builder|^\s+Install the buildx component|^\s+https:\/\/docs\.docker\.com\/go\/buildx/
    .test(line);
}

const TAIL = 25;

/** Lines of a build log worth showing after a failure: the last {@link TAIL}. */
export class BuildLog {
  readonly #lines: string[] = [];
  step: string | null = null;

  add(raw: string): BuildLine {
    const line = plainText(raw).trimEnd();
    if (line.trim() === "" || deprecationNotice(line)) return {};
    const parsed = parseBuildLine(line);
    // bot-bottle's own LABEL step is not a step of the user's build: the status stays put.
    if (parsed.step && ownLabelStep(parsed.step)) return {};
    if (parsed.step) this.step = parsed.step;
    // The tail shows the build, not its bookkeeping or the LABEL step bot-bottle added.
    if (
      !/^ ---> |^Removing intermediate container |^Sending build context |LABEL io\.bot-bottle\.build=/
        .test(line)
    ) {
      this.#lines.push(line);
      if (this.#lines.length > TAIL) this.#lines.shift();
    }
    return parsed;
  }

  get tail(): string[] {
    return [...this.#lines];
  }
}

/** Split a byte stream into lines at `\n` and `\r` (progress bars redraw with `\r`). */
async function eachLine(
  stream: ReadableStream<Uint8Array> | null,
  onLine: (line: string) => void,
): Promise<void> {
  if (!stream) return;
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    const parts = pending.split(/\r\n|\n|\r/);
    pending = parts.pop() ?? "";
    for (const part of parts) onLine(part);
  }
  pending += decoder.decode();
  if (pending !== "") onLine(pending);
}

/** Options of {@link buildImage}. */
export interface BuildOptions {
  progress: Progress;
  signal?: AbortSignal;
  now?: () => number;
}

/**
 * Build `spec.tag` unless the image appears while waiting for another build of it. Throws a
 * UserError with the log's tail when the build fails.
 */
export async function buildImage(
  runner: Runner,
  spec: BuildSpec,
  opts: BuildOptions,
): Promise<void> {
  const now = opts.now ?? (() => performance.now());
  const { progress } = opts;
  const lock = spec.lockDir
    ? await takeBuildLock(spec.lockDir, spec.tag, {
      signal: opts.signal,
      onWait: () => progress.line(`waiting for another bot-bottle process building ${spec.what}`),
    })
    : null;
  try {
    if (lock && await imagePresent(runner, spec.tag)) return; // the other process built it
    const builder = await detectBuilder(runner);
    const labels: Record<string, string> = { [LABEL_BUILD]: spec.tag };
    if (spec.owner) labels[LABEL_OWNER] = spec.owner;
    const dockerfile = labelledDockerfile(spec.dockerfile, labels);
    const t0 = now();
    const log = new BuildLog();
    let lastStep: string | null = null;
    let lastOutput = "";
    const elapsed = () => formatDuration(now() - t0);
    // What stays put first (the step's number, the time), then what changes: the step's latest
    // output, or its instruction until it prints something. The terminal cuts the end.
    const draw = () => {
      const [number = "", ...instruction] = (log.step ?? "").split(" ");
      const step = log.step ? `step ${number}` : "starting";
      const live = lastOutput || instruction.join(" ");
      progress.status?.(`building ${spec.what}: ${step}, ${elapsed()}${live ? ` | ${live}` : ""}`);
    };
    progress.line(`building ${spec.what} (first use only)`);
    const ticker = progress.status ? setInterval(draw, 1000) : undefined;
    let code: number;
    try {
      const child = runner.spawn(buildArgv(spec, builder), {
        stdin: "piped",
        env: builder === "buildkit" ? { DOCKER_BUILDKIT: "1" } : undefined,
        signal: opts.signal,
      });
      const onLine = (raw: string) => {
        const parsed = log.add(raw);
        if (parsed.step && parsed.step !== lastStep) {
          lastStep = parsed.step;
          lastOutput = "";
          if (!progress.status) progress.line(`building ${spec.what}: step ${parsed.step}`);
        }
        if (parsed.output) lastOutput = parsed.output.trim();
        if (progress.status && (parsed.step || parsed.output)) draw();
      };
      const writer = child.stdin!.getWriter();
      const writing = writer.write(new TextEncoder().encode(dockerfile))
        .then(() => writer.close())
        .catch(() => {});
      [code] = await Promise.all([
        child.status,
        eachLine(child.stdout, onLine),
        eachLine(child.stderr, onLine),
        writing,
      ]);
    } finally {
      if (ticker !== undefined) clearInterval(ticker);
    }
    opts.signal?.throwIfAborted();
    if (code !== 0) {
      const at = log.step ? ` at step ${log.step}` : "";
      const tail = log.tail.map((l) => `  ${l}`).join("\n");
      throw new UserError(
        `building ${spec.what} failed${at} after ${elapsed()} (docker build exit ${code}); ` +
          `the end of its log:\n${tail}`,
        { hint: spec.hint },
      );
    }
    progress.line(`built ${spec.what} in ${elapsed()}`);
  } finally {
    lock?.release();
  }
}

/** Whether `ref` is in the local image store. */
export async function imagePresent(runner: Runner, ref: string): Promise<boolean> {
  return (await runner.run(["docker", "image", "inspect", "--format", "{{.Id}}", ref])).code === 0;
}

/** `docker ps -a` of build intermediates owned by `owner`: name, state, build label. */
export function buildLeftoversArgv(owner: string): string[] {
  return [
    "docker",
    "ps",
    "--all",
    "--no-trunc",
    "--filter",
    `label=${LABEL_BUILD}`,
    "--filter",
    `label=${LABEL_OWNER}=${owner}`,
    "--format",
    `{{.Names}}\t{{.State}}\t{{.Label "${LABEL_BUILD}"}}`,
  ];
}

/** An intermediate container a build left behind. */
export interface BuildLeftover {
  name: string;
  state: string;
  /** The tag that was being built. */
  build: string;
}

/**
 * Intermediate containers of builds that are no longer running (their lock is free). Null
 * when Docker could not be asked.
 */
export async function findBuildLeftovers(
  runner: Runner,
  owner: string,
  lockDir: string,
): Promise<BuildLeftover[] | null> {
  let r;
  try {
    r = await runner.run(buildLeftoversArgv(owner));
  } catch {
    return null;
  }
  if (r.code !== 0) return null;
  const rows = r.stdout.split("\n").map((l) => l.split("\t")).filter((c) => c[0] && c[2])
    .map(([name, state, build]) => ({ name, state, build }));
  const alive = new Map<string, boolean>();
  const left: BuildLeftover[] = [];
  for (const row of rows) {
    if (!alive.has(row.build)) alive.set(row.build, await buildAlive(lockDir, row.build));
    if (!alive.get(row.build)) left.push(row);
  }
  return left;
}
