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

Deno.test("DenoRunner: a child given an open descriptor reads it as stdin itself", async () => {
  const { closeSync, openSync } = await import("node:fs");
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/in`, "from the file\n");
    Deno.env.set("LD_BOT_BOTTLE_TEST", "1");
    const fd = openSync(`${dir}/in`, "r");
    const child = new DenoRunner().spawn(
      ["/bin/sh", "-c", 'env | grep -c "^LD_"; echo "$EXTRA"; cat; echo err >&2; exit 4'],
      { stdin: { fd }, env: { EXTRA: "yes" } },
    );
    closeSync(fd);
    const [out, err, code] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.status,
    ]);
    assert.equal(out, "0\nyes\nfrom the file\n", "same environment rule as every child");
    assert.equal(err, "err\n");
    assert.equal(code, 4);
    const fd2 = openSync(`${dir}/in`, "r");
    const killed = new DenoRunner().spawn(["/bin/sh", "-c", "kill -TERM $$"], {
      stdin: { fd: fd2 },
    });
    closeSync(fd2);
    assert.equal(await killed.status, 143);
  } finally {
    Deno.env.delete("LD_BOT_BOTTLE_TEST");
    await Deno.remove(dir, { recursive: true });
  }
});
