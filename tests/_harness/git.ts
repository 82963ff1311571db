/**
 * git and bash on the host for tests that build repositories (the workspace tests): a fixed
 * identity, no system or user config, and a failure that shows git's own message.
 */
import assert from "node:assert/strict";

/** The environment every test git runs with. */
export function gitEnv(home: string): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: home,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_AUTHOR_NAME: "u",
    GIT_AUTHOR_EMAIL: "u@x",
    GIT_COMMITTER_NAME: "u",
    GIT_COMMITTER_EMAIL: "u@x",
  };
}

/** `git <args>` in `cwd`; its stdout. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", {
    args,
    cwd,
    env: gitEnv(cwd),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  assert.equal(out.code, 0, `git ${args.join(" ")}: ${d.decode(out.stderr)}`);
  return d.decode(out.stdout);
}

/** A bash script in `cwd` with the same environment; fails the test when it fails. */
export async function sh(cwd: string, script: string): Promise<void> {
  const out = await new Deno.Command("bash", {
    args: ["-c", script],
    cwd,
    env: gitEnv(cwd),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}
