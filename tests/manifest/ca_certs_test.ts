/**
 * `ca_certs` files are read and checked when the manifest loads (SPEC §3, §12): a readable PEM
 * file of certificates is kept (normalized, certificates only); anything else is an error at
 * load naming the key path, the file and what is wrong with it, never its content.
 */
import assert from "node:assert/strict";
import { loadManifest } from "../../lib/manifest/load_manifest.ts";
import { ManifestError } from "../../lib/manifest/manifest_error.ts";
import { parseCaPem, readCaCerts } from "../../lib/manifest/ca_certs.ts";
import { resolveBottle } from "../../lib/manifest/resolve_bottle.ts";

const CA = new URL("../fixtures/certs/test_ca.pem", import.meta.url).pathname;
const CA_TEXT = Deno.readTextFileSync(CA);
/** The certificate block alone, as bot-bottle keeps it. */
const CA_BLOCK = CA_TEXT.slice(CA_TEXT.indexOf("-----BEGIN"));
/** A key-shaped block (not a real key: the check refuses on the label, before any parse). */
const KEY_BLOCK = "-----BEGIN PRIVATE KEY-----\nTUlJRXZRSUJBREFOQmdrcWhraUc5dzBC\n" +
  "-----END PRIVATE KEY-----\n";

/** Loads a user manifest written in `dir` that trusts `caCerts`; the error's message or null. */
async function load(dir: string, caCerts: string[]): Promise<string | null> {
  const path = `${dir}/bot-bottle.toml`;
  await Deno.writeTextFile(
    path,
    `[bottles.dev]\nimage = "x"\nca_certs = ${JSON.stringify(caCerts)}\n` +
      '[agents.a]\nbottle = "dev"\ncommand = ["x"]\n',
  );
  try {
    const manifest = await loadManifest({
      userPath: path,
      userExplicit: true,
      userOrigin: "--manifest",
      projectPath: `${dir}/nonexistent/bot-bottle.toml`,
    });
    const bottle = resolveBottle(manifest, "dev");
    assert.equal(bottle.caCerts.length, caCerts.length);
    return null;
  } catch (error) {
    assert.ok(error instanceof ManifestError, `expected a ManifestError, got ${String(error)}`);
    return error.message;
  }
}

/** `text` as a literal in a RegExp. */
function esc(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bbtest-ca-certs-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ca_certs: a PEM certificate file loads, relative to the manifest; comments dropped", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/corp-ca.pem`, CA_TEXT);
    assert.equal(await load(dir, ["corp-ca.pem"]), null);
    const got = await readCaCerts(`${dir}/corp-ca.pem`);
    assert.deepEqual(got, { pem: CA_BLOCK });
    // Two certificates (CRLF line ends too): both kept, one after the other.
    const two = parseCaPem(`${CA_BLOCK}${CA_BLOCK.replaceAll("\n", "\r\n")}`);
    assert.ok("pem" in two && two.count === 2, JSON.stringify(two));
    assert.equal("pem" in two && two.pem, CA_BLOCK + CA_BLOCK);
  });
});

Deno.test("ca_certs: every bad file is an error at load naming the key path and the file", async () => {
  await withDir(async (dir) => {
    const at = (i: number, file: string) =>
      `${dir}/bot-bottle.toml: bottles.dev.ca_certs[${i}]: ${dir}/${file}`;
    assert.equal(await load(dir, ["missing.pem"]), `${at(0, "missing.pem")} does not exist`);

    await Deno.mkdir(`${dir}/a-dir.pem`);
    assert.equal(await load(dir, ["a-dir.pem"]), `${at(0, "a-dir.pem")} is not a regular file`);

    await Deno.writeTextFile(`${dir}/notes.pem`, "just some notes\n");
    assert.equal(
      await load(dir, ["notes.pem"]),
      `${at(0, "notes.pem")} is not a PEM certificate file (no "-----BEGIN CERTIFICATE-----" ` +
        "block found; a DER file can be converted with " +
        "`openssl x509 -inform der -in FILE -out FILE.pem`)",
    );

    // A DER certificate: the base64 of the PEM body, decoded.
    const body = CA_BLOCK.split("\n").filter((l) => l && !l.startsWith("-----")).join("");
    await Deno.writeFile(
      `${dir}/ca.der`,
      Uint8Array.from(atob(body), (c) => c.charCodeAt(0)),
    );
    assert.equal(
      await load(dir, ["ca.der"]),
      `${at(0, "ca.der")} is not text (a DER certificate? convert it with ` +
        "`openssl x509 -inform der -in FILE -out FILE.pem`)",
    );

    // A key beside the certificate: refused, and the key is not in the message.
    await Deno.writeTextFile(`${dir}/bundle.pem`, CA_BLOCK + KEY_BLOCK);
    const withKey = await load(dir, ["bundle.pem"]);
    assert.equal(
      withKey,
      `${at(0, "bundle.pem")} holds a PRIVATE KEY block; ca_certs takes certificates only, ` +
        "never a key (not shown; remove the key from this file, and consider it exposed)",
    );
    assert.ok(!withKey!.includes("TUlJRXZRSUJB"), "the key's text is in the message");

    // A certificate block that is not X.509.
    await Deno.writeTextFile(
      `${dir}/broken.pem`,
      "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    );
    assert.match(
      (await load(dir, ["broken.pem"]))!,
      new RegExp(`^${esc(at(0, "broken.pem"))} certificate 1 does not parse as X\\.509 \\(.+\\)$`),
    );

    await Deno.writeTextFile(`${dir}/huge.pem`, CA_TEXT + "#".repeat(1024 * 1024));
    assert.match(
      (await load(dir, ["huge.pem"]))!,
      new RegExp(`^${esc(at(0, "huge.pem"))} is larger than 1 MiB \\(\\d+ bytes\\); a CA file is`),
    );

    // Several at once: each named by its index.
    await Deno.writeTextFile(`${dir}/good.pem`, CA_TEXT);
    assert.equal(
      await load(dir, ["good.pem", "missing.pem", "notes.pem"]),
      `the manifests have 2 problems:\n  ${at(1, "missing.pem")} does not exist\n  ` +
        `${at(2, "notes.pem")} is not a PEM certificate file (no "-----BEGIN CERTIFICATE-----" ` +
        "block found; a DER file can be converted with " +
        "`openssl x509 -inform der -in FILE -out FILE.pem`)",
    );
  });
});

Deno.test(
  `ca_certs: a file that cannot be read is named, not crashed on${
    Deno.uid() === 0 ? " (skipped: root reads a file of any mode)" : ""
  }`,
  {
    // Root reads any file whatever its mode, so there is nothing to refuse.
    ignore: Deno.uid() === 0,
  },
  async () => {
    await withDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/locked.pem`, CA_TEXT, { mode: 0o000 });
      await Deno.chmod(`${dir}/locked.pem`, 0o000);
      assert.equal(
        await load(dir, ["locked.pem"]),
        `${dir}/bot-bottle.toml: bottles.dev.ca_certs[0]: ${dir}/locked.pem cannot be read ` +
          "(permission denied)",
      );
    });
  },
);
if (Deno.uid() === 0) {
  console.warn(
    "ca_certs_test: running as root, which reads files of any mode: the permission-denied " +
      "case is ignored",
  );
}
