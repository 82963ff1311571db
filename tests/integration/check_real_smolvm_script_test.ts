/**
 * scripts/check_real_smolvm.sh, the report a user on a KVM host runs against the real smolvm:
 * here against the fake (BOT_BOTTLE_REAL_SMOLVM=fake), every step reported as PASS; and with no
 * smolvm at all, it says why nothing was checked (exit 2).
 */
import assert from "node:assert/strict";
import { ROOT } from "../_harness/paths.ts";

async function script(env: Record<string, string>): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command("bash", {
    args: [`${ROOT}scripts/check_real_smolvm.sh`],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, out: d.decode(out.stdout) + d.decode(out.stderr) };
}

Deno.test("check_real_smolvm.sh: one PASS line per step against the fake; says why when it cannot run", async () => {
  const fake = await script({ BOT_BOTTLE_REAL_SMOLVM: "fake" });
  assert.equal(fake.code, 0, fake.out);
  for (
    const step of [
      "preflight",
      "create + read-back",
      "start",
      "probe",
      "exec",
      "verify",
      "teardown",
    ]
  ) {
    assert.match(fake.out, new RegExp(`^  PASS  ${step.replace("+", "\\+")}`, "m"), fake.out);
  }
  assert.match(fake.out, /^7 passed, 0 failed$/m);
  const none = await script({ PATH: "/usr/bin:/bin:" + Deno.execPath().replace(/\/[^/]*$/, "") });
  assert.equal(none.code, 2, none.out);
  assert.match(
    none.out,
    /real smolvm test skipped: (no smolvm on PATH|BOT_BOTTLE_REAL_SMOLVM is not 1)/,
  );
  assert.match(none.out, /nothing was checked/);
});
