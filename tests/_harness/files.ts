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

/** A ustar archive holding `entries` (regular files, mode 0644, mtime 0). */
export function tarBytes(entries: { name: string; data: Uint8Array | string }[]): Uint8Array {
  const enc = new TextEncoder();
  const blocks: Uint8Array[] = [];
  for (const entry of entries) {
    const data = typeof entry.data === "string" ? enc.encode(entry.data) : entry.data;
    const header = new Uint8Array(512);
    const put = (offset: number, text: string) => header.set(enc.encode(text), offset);
    const octal = (n: number, width: number) => n.toString(8).padStart(width - 1, "0") + "\0";
    put(0, entry.name);
    put(100, octal(0o644, 8));
    put(108, octal(0, 8));
    put(116, octal(0, 8));
    put(124, octal(data.length, 12));
    put(136, octal(0, 12));
    put(148, "        ");
    header[156] = "0".charCodeAt(0);
    put(257, "ustar\0");
    put(263, "00");
    const sum = header.reduce((a, b) => a + b, 0);
    put(148, sum.toString(8).padStart(6, "0") + "\0 ");
    blocks.push(header, data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}
