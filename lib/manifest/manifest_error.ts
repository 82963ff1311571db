/**
 * The error every manifest problem is reported as.
 */
import { UserError } from "../errors.ts";

/**
 * A manifest file that cannot be used as written: missing, unreadable, not
 * TOML, or not what SPEC §3 allows. The message names the file and the key
 * path; the CLI prints it without a stack trace and exits 1.
 */
export class ManifestError extends UserError {
  constructor(message: string, options: { hint?: string } = {}) {
    super(message, { exitCode: 1, hint: options.hint });
    this.name = "ManifestError";
  }
}
