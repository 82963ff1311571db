/**
 * Where things are, for every integration test: the repository root, the CLI's entry point,
 * the fake smolvm's shim directory, the demo agent's Dockerfile, and the host's DENO_DIR.
 */
import { fileURLToPath } from "node:url";

/** The repository root, with a trailing slash. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The CLI's entry point (absolute). */
export const MAIN = `${ROOT}main.ts`;
/** The directory holding the fake `smolvm` shim (put first on PATH to use the fake). */
export const FAKE_BIN = `${ROOT}tests/fixtures/bin`;
/** The demo agent's Dockerfile (absolute): every test bottle is built from it. */
export const SHELL_DOCKERFILE = `${ROOT}examples/agents/shell.Dockerfile`;
/** A test agent whose own ENTRYPOINT writes its environment to /tmp/bbtest-entrypoint-ran. */
export const ENTRYPOINT_DOCKERFILE = `${ROOT}tests/fixtures/entrypoint_agent.Dockerfile`;

let denoDirCache: string | undefined;

/**
 * The host's DENO_DIR, passed through to every `deno` subprocess (the CLI, the fake smolvm)
 * so none of them re-downloads its dependencies into a temp HOME.
 */
export async function hostDenoDir(): Promise<string> {
  if (denoDirCache) return denoDirCache;
  const fromEnv = Deno.env.get("DENO_DIR");
  if (fromEnv) return denoDirCache = fromEnv;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  return denoDirCache = JSON.parse(new TextDecoder().decode(out.stdout)).denoDir as string;
}
