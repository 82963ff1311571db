/**
 * The workspace helper's protocol on stderr (bb/workspace.py): bot-bottle reads its lines
 * ("streaming", "done RC"), so a failure's message, which may name the user's files, is one
 * line with its control characters escaped.
 */
import assert from "node:assert/strict";
import { runBundlePython } from "../_harness/bundle_python.ts";

Deno.test("bb-workspace: a failure naming a file is one line; it cannot say done", async () => {
  const out = await runBundlePython(`
import io, json, sys
import bb.workspace as w
def fail(*_):
    raise w.Failure("cannot read x\\nbb-workspace: done 0\\x1b[31m \\udcff")
w.snapshot = fail
sys.stderr = io.StringIO()
rc = w.main(["snapshot", "git"])
print(json.dumps({"rc": rc, "stderr": sys.stderr.getvalue()}))
`);
  assert.equal(out.rc, 3);
  assert.equal(out.stderr, "bb-workspace: cannot read x\\nbb-workspace: done 0\\x1b[31m \\udcff\n");
});
