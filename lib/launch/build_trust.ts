/**
 * The bottle's `ca_certs` in the image builds bot-bottle runs for Dockerfile bottles (SPEC §12):
 * behind an egress that intercepts TLS with its own CA, an `npm install` or `pip install` in a
 * build fails unless the build trusts that CA. bot-bottle does not touch the user's files: it
 * builds a small image holding the certificates (`bot-bottle/build-ca:<hash>`, from the bundle
 * image, whose Debian store it adds them to), then builds the Dockerfile with, after every
 * `FROM`, a `COPY --from` of those files and an `ENV` pointing the usual variables at them
 * (the Dockerfile is given on stdin; the context directory is the user's own). Pure, except
 * {@link ensureBuildCaImage}.
 */
import { createHash } from "node:crypto";
import { UserError } from "../errors.ts";
import { lastLine, type Runner } from "../host/runner.ts";

/** Where the build's certificate files are in each stage. */
export const BUILD_CA_DIR = "/etc/bot-bottle/build-ca";

/** The variables a build step's TLS clients read (the same as the guest's, plus pip's own). */
export function buildTrustEnv(): Record<string, string> {
  const bundle = `${BUILD_CA_DIR}/bundle.pem`;
  return {
    SSL_CERT_FILE: bundle,
    REQUESTS_CA_BUNDLE: bundle,
    CURL_CA_BUNDLE: bundle,
    GIT_SSL_CAINFO: bundle,
    PIP_CERT: bundle,
    CODEX_CA_CERTIFICATE: bundle,
    NODE_EXTRA_CA_CERTS: `${BUILD_CA_DIR}/extra.pem`,
  };
}

/** `bot-bottle/build-ca:<12 hex>` over the certificates and the image it is built from. */
export function buildCaImageTag(pem: string, fromImage: string): string {
  const hash = createHash("sha256").update(fromImage).update("\0").update(pem).digest("hex");
  return `bot-bottle/build-ca:${hash.slice(0, 12)}`;
}

/** The helper image's Dockerfile (no context): the certificates, and the store plus them. */
export function buildCaDockerfile(pem: string, fromImage: string): string {
  const b64 = btoa(pem);
  return [
    `FROM ${fromImage}`,
    `RUN mkdir -p /bb-ca && printf '%s' '${b64}' | base64 -d >/bb-ca/extra.pem \\`,
    " && grep -q 'BEGIN CERTIFICATE' /bb-ca/extra.pem \\",
    " && { cat /etc/ssl/certs/ca-certificates.crt; echo; cat /bb-ca/extra.pem; } >/bb-ca/bundle.pem \\",
    " && chmod 0644 /bb-ca/extra.pem /bb-ca/bundle.pem",
    "",
  ].join("\n");
}

const DIRECTIVE = /^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$/;
const HEREDOC = /<<-?\s*(["']?)([A-Za-z_][A-Za-z0-9_]*)\1/g;

/**
 * `dockerfile` with, after each `FROM` instruction (continuation lines included), the lines that
 * make the stage trust the build's certificates. Parser directives, comments, continuation lines
 * and heredocs are respected; nothing else changes.
 */
export function withBuildTrust(dockerfile: string, caImage: string): string {
  const lines = dockerfile.split("\n");
  const env = Object.entries(buildTrustEnv()).map(([k, v]) => `${k}=${v}`).join(" ");
  const inserted = [
    "# bot-bottle: this stage trusts the bottle's ca_certs (added by bot-bottle, not in your file)",
    `COPY --from=${caImage} /bb-ca/ ${BUILD_CA_DIR}/`,
    `ENV ${env}`,
  ];
  let escape = "\\";
  let directives = true;
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (directives) {
      const m = DIRECTIVE.exec(line);
      if (m) {
        if (m[1].toLowerCase() === "escape" && (m[2] === "`" || m[2] === "\\")) escape = m[2];
        out.push(line);
        i++;
        continue;
      }
      directives = false;
    }
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) {
      out.push(line);
      i++;
      continue;
    }
    // One instruction: this line and its continuation lines (comments and blank lines inside a
    // continuation are part of it, as for Docker).
    const start = i;
    const logical = [line];
    while (endsWithEscape(lines[i], escape) && i + 1 < lines.length) {
      i++;
      logical.push(lines[i]);
    }
    i++;
    out.push(...lines.slice(start, i));
    const text = logical.join("\n");
    // Heredocs (`RUN <<EOF`): their bodies are copied as they are.
    for (const m of text.matchAll(HEREDOC)) {
      const end = m[2];
      while (i < lines.length) {
        const body = lines[i];
        out.push(body);
        i++;
        if (body.replace(/^\t+/, "") === end) break;
      }
    }
    if (/^\s*from\s/i.test(line)) out.push(...inserted);
  }
  return out.join("\n");
}

function endsWithEscape(line: string, escape: string): boolean {
  const trimmed = line.replace(/\s+$/, "");
  if (trimmed.trim().startsWith("#")) return false;
  return trimmed.endsWith(escape);
}

/** Make sure the helper image for `pem` exists (built from `fromImage`); returns its tag. */
export async function ensureBuildCaImage(
  runner: Runner,
  pem: string,
  fromImage: string,
): Promise<string> {
  const tag = buildCaImageTag(pem, fromImage);
  if ((await runner.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag])).code === 0) {
    return tag;
  }
  const r = await runner.run(
    [
      "docker",
      "build",
      "--tag",
      tag,
      "--label",
      "io.bot-bottle.role=build-ca-image",
      "-",
    ],
    { input: buildCaDockerfile(pem, fromImage) },
  );
  if (r.code !== 0) {
    throw new UserError(
      `building the image that carries the bottle's ca_certs into image builds failed: ${
        lastLine(r)
      }`,
    );
  }
  return tag;
}
