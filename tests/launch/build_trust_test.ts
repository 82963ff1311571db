/**
 * ca_certs in the image builds bot-bottle runs (SPEC §12): the Dockerfile given to `docker build`
 * is the user's own with, after every FROM, the lines that make that stage trust the
 * certificates; nothing else changes. And the helper image's Dockerfile, which carries them.
 */
import assert from "node:assert/strict";
import {
  BUILD_CA_DIR,
  buildCaDockerfile,
  buildCaImageTag,
  buildTrustEnv,
  withBuildTrust,
} from "../../lib/launch/build_trust.ts";

const CA = "bot-bottle/build-ca:0123456789ab";
const INSERTED = [
  "# bot-bottle: this stage trusts the bottle's ca_certs (added by bot-bottle, not in your file)",
  `COPY --from=${CA} /bb-ca/ ${BUILD_CA_DIR}/`,
  `ENV ${Object.entries(buildTrustEnv()).map(([k, v]) => `${k}=${v}`).join(" ")}`,
];

/** `text` less the inserted lines, and the line numbers (0-based) the insertions followed. */
function split(text: string): { rest: string; after: number[] } {
  const lines = text.split("\n");
  const rest: string[] = [];
  const after: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] === INSERTED[0]) {
      assert.deepEqual(lines.slice(i, i + 3), INSERTED);
      after.push(rest.length - 1);
      i += 2;
      continue;
    }
    rest.push(lines[i]);
  }
  return { rest: rest.join("\n"), after };
}

Deno.test("withBuildTrust: after every FROM, and nothing else changes", () => {
  const dockerfile = [
    "# syntax=docker/dockerfile:1",
    "ARG BASE=debian:bookworm-slim",
    "FROM ${BASE} AS build",
    "RUN npm ci",
    "",
    "# the runtime",
    "from build",
    "COPY --from=build /app /app",
    "",
  ].join("\n");
  const out = withBuildTrust(dockerfile, CA);
  const { rest, after } = split(out);
  assert.equal(rest, dockerfile);
  assert.deepEqual(after, [2, 6]);
  // The parser directive stays the first line.
  assert.equal(out.split("\n")[0], "# syntax=docker/dockerfile:1");
});

Deno.test("withBuildTrust: a FROM continued over lines, with the escape directive", () => {
  const backslash = "FROM \\\n  --platform=linux/amd64 \\\n  debian\nRUN true\n";
  const { rest, after } = split(withBuildTrust(backslash, CA));
  assert.equal(rest, backslash);
  assert.deepEqual(after, [2]);
  const backtick = "# escape=`\nFROM `\n  debian\nRUN dir C:\\\n";
  const tick = split(withBuildTrust(backtick, CA));
  assert.equal(tick.rest, backtick);
  assert.deepEqual(tick.after, [2]);
});

Deno.test("withBuildTrust: a FROM in a heredoc or a comment is not an instruction", () => {
  const dockerfile = [
    "FROM debian",
    "RUN <<EOF",
    "FROM inside the heredoc",
    "EOF",
    "# FROM in a comment",
    "RUN echo \\",
    "# FROM inside a continuation",
    "  done",
    "",
  ].join("\n");
  const { rest, after } = split(withBuildTrust(dockerfile, CA));
  assert.equal(rest, dockerfile);
  assert.deepEqual(after, [0]);
});

Deno.test("build trust: the variables, the helper image and its tag", () => {
  assert.deepEqual(Object.keys(buildTrustEnv()).sort(), [
    "CODEX_CA_CERTIFICATE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "NODE_EXTRA_CA_CERTS",
    "PIP_CERT",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
  ]);
  assert.equal(buildTrustEnv().NODE_EXTRA_CA_CERTS, `${BUILD_CA_DIR}/extra.pem`);
  assert.equal(buildTrustEnv().PIP_CERT, `${BUILD_CA_DIR}/bundle.pem`);
  const pem = "-----BEGIN CERTIFICATE-----\nMIIB'$(x)\n-----END CERTIFICATE-----\n";
  const helper = buildCaDockerfile(pem, "bot-bottle/bundle:abc");
  // The certificates travel base64-encoded: nothing in them can end the shell's quoting.
  assert.ok(helper.includes(btoa(pem)));
  assert.ok(!helper.includes("$(x)"));
  assert.match(helper, /^FROM bot-bottle\/bundle:abc\n/);
  assert.match(
    helper,
    /ca-certificates\.crt; echo; cat \/bb-ca\/extra\.pem; } >\/bb-ca\/bundle\.pem/,
  );
  // The tag covers both the certificates and the image they are built from.
  const tag = buildCaImageTag(pem, "bot-bottle/bundle:abc");
  assert.match(tag, /^bot-bottle\/build-ca:[0-9a-f]{12}$/);
  assert.notEqual(buildCaImageTag(pem + pem, "bot-bottle/bundle:abc"), tag);
  assert.notEqual(buildCaImageTag(pem, "bot-bottle/bundle:def"), tag);
});
