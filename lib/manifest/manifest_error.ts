/**
 * The error every manifest problem is reported as.
 */
import { UserError } from "../errors.ts";

/** At most this many problems are listed in one message (it must not grow with the input). */
const MAX_LISTED = 20;

/**
 * A manifest file that cannot be used as written: missing, unreadable, not
 * TOML, or not what SPEC §3 allows. Each problem names the file and the key
 * path; every problem found is reported at once (`problems`), so one run
 * shows all there is to fix. The CLI prints it without a stack trace and
 * exits 1.
 */
export class ManifestError extends UserError {
  /** Every problem, each a full line (`<file>: <key path>: <what>`). */
  readonly problems: readonly string[];

  constructor(message: string, options: { hint?: string; problems?: readonly string[] } = {}) {
    super(message, { exitCode: 1, hint: options.hint });
    this.name = "ManifestError";
    this.problems = options.problems ?? [message];
  }

  /**
   * One error for several problems (the problem itself when there is one). When every
   * problem is in `file`, the message names the file once: `<file>: 2 problems:` and then
   * each problem's key path and what is wrong, one a line.
   */
  static all(problems: readonly string[], file?: string): ManifestError {
    const unique = [...new Set(problems)];
    if (unique.length === 1) return new ManifestError(unique[0]);
    const prefix = `${file}: `;
    const oneFile = file !== undefined && unique.every((p) => p.startsWith(prefix));
    const shown = unique.slice(0, MAX_LISTED);
    const lines = shown.map((p) => `  ${oneFile ? p.slice(prefix.length) : p}`);
    if (unique.length > shown.length) {
      lines.push(`  ... and ${unique.length - shown.length} more (fix these and run again)`);
    }
    const head = oneFile
      ? `${file}: ${unique.length} problems:`
      : `the manifests have ${unique.length} problems:`;
    return new ManifestError(`${head}\n${lines.join("\n")}`, { problems: unique });
  }
}
