/**
 * The bundle's scripts are real files (lib/bundle/image/) and shellcheck
 * clean; what the binary embeds is exactly those files.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { BUNDLE_SHELL_SCRIPTS, IMAGE_FILES } from "../../lib/bundle/bundle_files.ts";

const IMAGE_DIR = fileURLToPath(new URL("../../lib/bundle/image/", import.meta.url));

async function filesUnder(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const rel = `${prefix}${entry.name}`;
    if (entry.isDirectory) out.push(...await filesUnder(`${dir}/${entry.name}`, `${rel}/`));
    else out.push(rel);
  }
  return out.sort();
}

Deno.test("the embedded build context is exactly lib/bundle/image/, byte for byte", async () => {
  const onDisk = await filesUnder(IMAGE_DIR);
  assert.deepEqual(Object.keys(IMAGE_FILES).sort(), onDisk);
  for (const path of onDisk) {
    assert.equal(IMAGE_FILES[path], await Deno.readTextFile(`${IMAGE_DIR}${path}`), path);
  }
});

Deno.test("every bundle script is shellcheck clean", async () => {
  const scripts = BUNDLE_SHELL_SCRIPTS.map((path) => `${IMAGE_DIR}${path}`);
  assert.ok(scripts.length >= 4, scripts.join(", "));
  for (const path of scripts) {
    assert.ok((await Deno.stat(path)).mode! & 0o100, `${path} is executable in the repository`);
  }
  const out = await new Deno.Command("shellcheck", {
    args: ["--severity=style", "--external-sources", ...scripts],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
});
