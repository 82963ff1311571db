import assert from "node:assert/strict";
import { parseHostKey } from "../../lib/policy/host_key.ts";

const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAswVXqfxOkOM1h9osfsETZbgKXK7xQ5XoOozfIXPGGG";
const ECDSA =
  "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAoCzBVep/E6Q4zWH2ix+wRNluApcrv" +
  "FDleg6jN8hc8YYar0PUaP2SJrg==";

Deno.test("host keys: real-format keys pass, malformed ones are explained", () => {
  assert.deepEqual(parseHostKey(ED25519), {
    key: { type: "ssh-ed25519", base64: ED25519.split(" ")[1] },
  });
  assert.ok("key" in parseHostKey(ECDSA));
  const problem = (s: string) => {
    const parsed = parseHostKey(s);
    assert.ok("problem" in parsed, s);
    return parsed.problem;
  };
  assert.match(problem("ssh-ed25519"), /^expected "<type> <base64 key>"/);
  assert.match(problem("ssh-ed25519 AAAA..."), /^expected/);
  assert.match(problem("ssh-ed25519 AAAAC"), /not valid base64/);
  assert.match(problem(`example.org ${ED25519}`), /^expected/);
  assert.match(problem(`${ED25519} comment`), /^expected/);
  assert.match(problem(`${ED25519}\nevil.test ssh-ed25519 AAAA`), /^expected/);
  assert.match(problem(ECDSA.replace("nistp256 ", "nistp384 ")), /not a ecdsa/);
  assert.match(problem("ssh-rsa AAAA"), /too short/);
  assert.match(problem("ssh-dss AAAA"), /not supported/);
  assert.match(problem("sk-ssh-ed25519@openssh.com AAAA"), /not supported/);
});
