/**
 * Handing the values of a bottle's injected secrets to its bundle (SPEC §12): read from this
 * process's environment at launch, checked, and written as one JSON line to the stdin of
 * `docker exec -i <bundle> bb-secrets`, which passes them over a Unix socket to the bundle
 * daemon's memory. Never an argument, the container's config or environment, a label, a file or
 * a log line; the same on both backends (the bundle is a container on both).
 */
import type { Env } from "../backends/backend.ts";
import { UserError } from "../errors.ts";
import { lastLine, type Runner } from "../host/runner.ts";
import type { Plan } from "../plan/plan_types.ts";

/** The program in the bundle that takes the values on stdin. */
export const BUNDLE_SECRETS_CMD = "/usr/local/bin/bb-secrets";

/** Shortest value the bundle takes: shorter ones would make redaction rewrite ordinary text. */
export const MIN_INJECTED_LENGTH = 8;

/** `docker exec -i <bundle> bb-secrets`. Pure. */
export function secretDeliveryArgv(bundle: string): string[] {
  return ["docker", "exec", "--interactive", bundle, BUNDLE_SECRETS_CMD];
}

/**
 * The JSON line of injected values for `plan`, from `env`; a UserError naming the secret (never
 * showing its value) when one is unset, too short or unfit for a header.
 */
export function injectedPayload(plan: Plan, env: Env): string | null {
  const injected = plan.secrets.filter((s) => s.holder === "bundle");
  if (injected.length === 0) return null;
  const values: Record<string, string> = {};
  for (const s of injected) {
    const value = env.get(s.host_var);
    if (value === undefined) {
      throw new UserError(`secret ${s.guest} needs host variable ${s.host_var}, which is not set`, {
        hint: `export ${s.host_var} and start again`,
      });
    }
    if (value.length < MIN_INJECTED_LENGTH) {
      throw new UserError(
        `the value of ${s.host_var} (injected secret ${s.guest}) has ${value.length} ` +
          `characters; an injected secret needs at least ${MIN_INJECTED_LENGTH}, or the bundle's ` +
          "redaction of responses would rewrite ordinary text",
        { hint: `check ${s.host_var}; a real API key or token is much longer` },
      );
    }
    if (/[\r\n\0]/.test(value)) {
      throw new UserError(
        `the value of ${s.host_var} (injected secret ${s.guest}) has a line break or NUL, which ` +
          "no HTTP header may carry (not shown)",
        { hint: `strip the trailing newline from ${s.host_var}` },
      );
    }
    values[s.guest] = value;
  }
  return `${JSON.stringify(values)}\n`;
}

/** Deliver the injected values to the running bundle `bundle`; a line for the progress log. */
export async function deliverSecrets(
  runner: Runner,
  bundle: string,
  plan: Plan,
  env: Env,
): Promise<string | null> {
  const payload = injectedPayload(plan, env);
  if (payload === null) return null;
  const r = await runner.run(secretDeliveryArgv(bundle), { input: payload });
  if (r.code !== 0) {
    throw new UserError(
      `the bundle ${bundle} did not take the injected secrets: ${lastLine(r) || `exit ${r.code}`}`,
      { hint: "nothing was left running; the bundle's log (shown above) may say more" },
    );
  }
  const names = plan.secrets.filter((s) => s.holder === "bundle").map((s) => s.guest);
  return `bundle holds the injected secret${names.length > 1 ? "s" : ""} ${names.join(", ")} ` +
    "(the guest gets placeholders)";
}
