/**
 * The bundle's Python modules (lib/bundle/image/lib/bb/), run with the host's python3: the
 * pure ones (gate, policy, http1) need nothing the image adds.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

/** The bundle image's Python library dir (what PYTHONPATH holds in the image). */
export const BUNDLE_LIB = fileURLToPath(new URL("../../lib/bundle/image/lib/", import.meta.url));

/**
 * Run `script` (python3 -c) with `args` and `stdin`; it must exit 0. Returns the JSON its last
 * line of stdout holds (the modules' own lines, if any, come first).
 */
export async function runBundlePython(
  script: string,
  opts: { args?: string[]; stdin?: string } = {},
  // deno-lint-ignore no-explicit-any
): Promise<any> {
  const child = new Deno.Command("python3", {
    args: ["-c", script, ...(opts.args ?? [])],
    env: { PYTHONPATH: BUNDLE_LIB, PYTHONDONTWRITEBYTECODE: "1" },
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(opts.stdin));
    await writer.close();
  }
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}
