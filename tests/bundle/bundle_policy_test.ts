/**
 * The bundle's policy module (lib/bundle/image/lib/bb/policy.py), run with the host's python3:
 * live approvals and denials on top of the manifest's allowlist, reloaded from the control
 * file, with one change record per entry `approve`/`deny` added.
 */
import assert from "node:assert/strict";
import { runBundlePython } from "../_harness/bundle_python.ts";

const SCRIPT = `
import json, os, sys, time
from bb.policy import Policy
d = sys.argv[1]
pol, ctl = f"{d}/policy.json", f"{d}/approvals.json"
def write(path, doc):
    with open(path + ".tmp", "w") as f: json.dump(doc, f)
    os.replace(path + ".tmp", path)
exact = lambda h, p=None: {"kind": "exact", "host": h, "port": p}
write(pol, {"allow": [exact("listed.test")], "on_block": "ask"})
p = Policy(pol, ctl)
out = {"first": p.reload(), "first_changes": p.changes}
out["listed"] = p.check("listed.test", 443, True, False)
out["unlisted"] = p.check("new.test", 443, True, False)
write(ctl, {"approved": [exact("new.test"), exact("new.test", 8443)], "denied": [exact("listed.test")]})
out["second"] = p.reload()
out["changes"] = p.changes
out["new"] = p.check("new.test", 443, True, False)
out["new_8443"] = p.check("new.test", 8443, True, False)
out["new_22"] = p.check("new.test", 22, True, False)
out["listed_after_deny"] = p.check("listed.test", 443, True, False)
out["is_denied"] = p.is_denied("listed.test", 443, True, False)
out["unchanged"] = p.reload()
with open(ctl, "w") as f: f.write("{torn")
os.utime(ctl, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
out["torn"] = p.reload()
out["torn_again"] = p.reload()
out["kept"] = p.check("new.test", 443, True, False)
print(json.dumps(out))
`;

Deno.test("bundle policy: approvals and denials reload live, each change recorded once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = await runBundlePython(SCRIPT, { args: [dir] });
    assert.match(out.first, /^policy loaded: 1 allowed, 0 approved, 0 denied$/);
    assert.deepEqual(out.first_changes, []);
    assert.equal(out.listed, null);
    assert.equal(out.unlisted, "not_allowed");
    assert.match(out.second, /^policy reloaded: 1 allowed, 2 approved, 1 denied$/);
    assert.deepEqual(out.changes, [["approve", "new.test"], ["approve", "new.test:8443"], [
      "revoke",
      "listed.test",
    ]]);
    assert.equal(out.new, null);
    assert.equal(out.new_8443, null);
    assert.equal(out.new_22, "port");
    // A live denial overrides the manifest's own entry.
    assert.equal(out.listed_after_deny, "not_allowed");
    assert.equal(out.is_denied, true);
    assert.equal(out.unchanged, null);
    // A half-written file is not taken in: the last good policy stays.
    assert.match(out.torn, /^policy not reloaded \(kept the last one\)/);
    assert.equal(out.torn_again, null, "a broken file is reported once, not at every poll");
    assert.equal(out.kept, null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
