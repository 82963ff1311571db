/**
 * Reading a bottle's `ca_certs` files at manifest load (SPEC §3, §12): each must be a readable
 * regular file of at most 1 MiB holding one or more PEM `CERTIFICATE` blocks that parse as
 * X.509, and nothing but certificates (a private key in a trust file is refused, never shown).
 * What is kept is the certificate blocks alone, normalized, for the bundle, the guest and image
 * builds to trust.
 */
import { X509Certificate } from "node:crypto";
import { MAX_CA_CERTS_BYTES } from "./parse_manifest.ts";

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/** The certificates of a PEM text, normalized (one block after another), or why not. */
export function parseCaPem(text: string): { pem: string; count: number } | { problem: string } {
  const blocks: string[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const [, label, body, end] = m;
    if (label !== end) {
      return { problem: `has a PEM block that begins as ${label} and ends as ${end}` };
    }
    if (/PRIVATE KEY/.test(label)) {
      return {
        problem: `holds a ${label} block; ca_certs takes certificates only, never a key ` +
          "(not shown; remove the key from this file, and consider it exposed)",
      };
    }
    if (label !== "CERTIFICATE") {
      return { problem: `has a ${label} block; ca_certs takes CERTIFICATE blocks only` };
    }
    const pem = `-----BEGIN CERTIFICATE-----\n${body.replace(/\r/g, "").trim()}\n` +
      "-----END CERTIFICATE-----\n";
    try {
      new X509Certificate(pem);
    } catch (error) {
      return {
        problem: `certificate ${blocks.length + 1} does not parse as X.509 (${
          (error as Error).message.split("\n", 1)[0]
        })`,
      };
    }
    blocks.push(pem);
  }
  if (blocks.length === 0) {
    return {
      problem: 'is not a PEM certificate file (no "-----BEGIN CERTIFICATE-----" block found; ' +
        "a DER file can be converted with `openssl x509 -inform der -in FILE -out FILE.pem`)",
    };
  }
  return { pem: blocks.join(""), count: blocks.length };
}

/** Read and check one `ca_certs` file: its normalized PEM, or a problem (after `path: `). */
export async function readCaCerts(path: string): Promise<{ pem: string } | { problem: string }> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return { problem: "is not a regular file" };
    if (info.size > MAX_CA_CERTS_BYTES) {
      return { problem: `is larger than 1 MiB (${info.size} bytes); a CA file is a few KiB` };
    }
    bytes = await Deno.readFile(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "does not exist"
      : error instanceof Deno.errors.PermissionDenied
      ? "cannot be read (permission denied)"
      : `cannot be read (${(error as Error).message.split("\n", 1)[0]})`;
    return { problem: reason };
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return {
      problem: "is not text (a DER certificate? convert it with " +
        "`openssl x509 -inform der -in FILE -out FILE.pem`)",
    };
  }
  const parsed = parseCaPem(text);
  return "problem" in parsed ? parsed : { pem: parsed.pem };
}
