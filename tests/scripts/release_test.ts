/** SHA256SUMS writing for releases: format, order, and agreement with sha256sum -c. */
import assert from "node:assert/strict";
import { sha256File, sha256SumsText, writeSha256Sums } from "../../scripts/release.ts";

Deno.test("release: sha256File matches a known SHA-256", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bbtest-sums-" });
  try {
    await Deno.writeTextFile(`${dir}/abc`, "abc");
    assert.equal(
      await sha256File(`${dir}/abc`),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("release: SHA256SUMS is sorted '<hex>  <name>' lines that sha256sum -c accepts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bbtest-sums-" });
  try {
    const files = ["bot-bottle-x86_64-apple-darwin", "bot-bottle-aarch64-unknown-linux-gnu"];
    for (const f of files) await Deno.writeTextFile(`${dir}/${f}`, `binary ${f}\n`);
    const text = await writeSha256Sums(files.map((f) => `${dir}/${f}`), `${dir}/SHA256SUMS`);
    assert.equal(await Deno.readTextFile(`${dir}/SHA256SUMS`), text);
    const lines = text.trimEnd().split("\n");
    assert.equal(lines.length, 2);
    for (const line of lines) assert.match(line, /^[0-9a-f]{64} {2}bot-bottle-[a-z0-9_-]+$/);
    assert.ok(lines[0].endsWith("aarch64-unknown-linux-gnu"), "sorted by name");
    assert.ok(text.endsWith("\n"));
    const check = await new Deno.Command("sha256sum", {
      args: ["-c", "SHA256SUMS"],
      cwd: dir,
      stdin: "null",
    }).output();
    assert.equal(check.code, 0, new TextDecoder().decode(check.stdout));
    // A changed file fails the same check: the sums really bind the content.
    await Deno.writeTextFile(`${dir}/${files[0]}`, "tampered\n");
    const bad = await new Deno.Command("sha256sum", {
      args: ["-c", "SHA256SUMS"],
      cwd: dir,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    assert.notEqual(bad.code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("release: two files with the same basename are refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bbtest-sums-" });
  try {
    await Deno.mkdir(`${dir}/a`);
    await Deno.mkdir(`${dir}/b`);
    await Deno.writeTextFile(`${dir}/a/x`, "1");
    await Deno.writeTextFile(`${dir}/b/x`, "2");
    await assert.rejects(sha256SumsText([`${dir}/a/x`, `${dir}/b/x`]), /two files named x/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
