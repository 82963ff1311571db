/** Files the integration tests write (rendered configs) and scan (for a planted secret). */
import { Buffer } from "node:buffer";

/** Writes rendered config files under dir (dirs 0755, files 0644: they hold no secret). */
export async function writeConfig(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const target = `${dir}/${path}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true, mode: 0o755 });
    await Deno.writeTextFile(target, content, { mode: 0o644 });
  }
}

/** Every regular file under `dir` (recursively), except those whose name matches `skip`. */
export async function filesUnder(dir: string, opts: { skip?: RegExp } = {}): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string) => {
    for await (const entry of Deno.readDir(d)) {
      const path = `${d}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && !opts.skip?.test(entry.name)) found.push(path);
    }
  };
  await walk(dir);
  return found;
}

/** True when `needle` occurs in the bytes of `path`. */
export async function fileContains(path: string, needle: string): Promise<boolean> {
  const bytes = await Deno.readFile(path);
  return Buffer.from(bytes).includes(needle);
}
