/**
 * Which backend a command uses: `--backend` > `BOT_BOTTLE_BACKEND` >
 * smolmachines. Never a silent fallback.
 */
import { UsageError, UserError } from "../../errors.ts";
import { type BackendName, BACKENDS } from "../../plan/plan_types.ts";

/** The backend for `flag` / the `BOT_BOTTLE_BACKEND` value `envValue`. */
export function resolveBackend(
  flag: string | undefined,
  envValue: string | undefined,
  command = "start",
): BackendName {
  if (flag !== undefined) {
    if ((BACKENDS as readonly string[]).includes(flag)) return flag as BackendName;
    throw new UsageError(
      `unknown backend "${flag}" for --backend (expected ${BACKENDS.join(" or ")})`,
      `Run \`bot-bottle ${command} --help\` for usage.`,
    );
  }
  if (envValue !== undefined && envValue !== "") {
    if ((BACKENDS as readonly string[]).includes(envValue)) return envValue as BackendName;
    throw new UserError(
      `BOT_BOTTLE_BACKEND is "${envValue}", which is not a backend (expected ${
        BACKENDS.join(" or ")
      })`,
      { hint: "unset it or set it to smolmachines or docker" },
    );
  }
  return "smolmachines";
}
