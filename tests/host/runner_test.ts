import assert from "node:assert/strict";
import { childEnv, DenoRunner } from "../../lib/host/runner.ts";

Deno.test("childEnv drops LD_* and DYLD_* from base and extra", () => {
  assert.deepEqual(
    childEnv(
      { PATH: "/bin", LD_PRELOAD: "/evil.so", DYLD_INSERT_LIBRARIES: "x", HOME: "/h" },
      { LD_LIBRARY_PATH: "/x", TOKEN_VAR: "v" },
    ),
    { PATH: "/bin", HOME: "/h", TOKEN_VAR: "v" },
  );
});

Deno.test("DenoRunner passes argv verbatim (no shell), captures output and exit code", async () => {
  const runner = new DenoRunner();
  const result = await runner.run([
    "/bin/sh",
    "-c",
    'printf "%s|" "$@"; echo err >&2; exit 3',
    "sh",
    "a b",
    "$HOME",
    ";x",
  ]);
  assert.equal(result.code, 3);
  assert.equal(result.stdout, "a b|$HOME|;x|");
  assert.equal(result.stderr, "err\n");
});

Deno.test("DenoRunner gives the child a clean env plus extras, and stdin input", async () => {
  Deno.env.set("LD_BOT_BOTTLE_TEST", "1");
  try {
    const result = await new DenoRunner().run(
      ["/bin/sh", "-c", 'env | grep -c "^LD_" ; echo "$EXTRA"; cat'],
      { env: { EXTRA: "yes" }, input: "piped-in" },
    );
    assert.equal(result.stdout, "0\nyes\npiped-in");
  } finally {
    Deno.env.delete("LD_BOT_BOTTLE_TEST");
  }
});

Deno.test("DenoRunner reports a signal death as 128+n", async () => {
  const result = await new DenoRunner().run(["/bin/sh", "-c", "kill -TERM $$"]);
  assert.equal(result.code, 143);
});
