/**
 * Errors the CLI reports to the user without a stack trace.
 *
 * `UserError` is a refusal or a runtime failure (exit 1 unless told
 * otherwise); `UsageError` is a bad command line (exit 2). Anything else that
 * reaches `main` is a bug and is reported as one.
 */
export class UserError extends Error {
  /** Process exit code for this error. */
  readonly exitCode: number;
  /** Optional one-line hint printed after the message. */
  readonly hint?: string;

  constructor(message: string, options: { exitCode?: number; hint?: string } = {}) {
    super(message);
    this.name = "UserError";
    this.exitCode = options.exitCode ?? 1;
    this.hint = options.hint;
  }
}

/** A command line the CLI cannot make sense of: exit 2 with a one-line hint. */
export class UsageError extends UserError {
  constructor(message: string, hint: string) {
    super(message, { exitCode: 2, hint });
    this.name = "UsageError";
  }
}
