/**
 * The bundle's decision module (lib/bundle/image/lib/bb/gate.py), run with the host's python3:
 * what bot-bottle's TLS interceptor checks in each request's head (the authority it names, the
 * placeholders swapped in, another secret's value refused) before anything leaves.
 */
import assert from "node:assert/strict";
import { runBundlePython } from "../_harness/bundle_python.ts";

const SCRIPT = String.raw`
import base64, json, sys, tempfile
from bb.audit import AuditLog
from bb.credentials import Secrets
from bb.gate import Ask, Checked, Gate, Refusal, authority_problem, parse_authority
from bb.policy import Policy
d = sys.argv[1]
exact = lambda h: {"kind": "exact", "host": h}
with open(f"{d}/policy.json", "w") as f:
    json.dump({"slug": "s", "allow": [exact("api.test"), exact("other.test")],
               "secrets": [{"name": "KEY", "placeholder": "bbph-0123456789", "inject": [exact("api.test")]}]}, f)
policy = Policy(f"{d}/policy.json", f"{d}/none.json")
policy.reload()
secrets = Secrets(policy.settings["secrets"])
gate = Gate(policy, AuditLog(d), {}, secrets)
out = {}
def parse(v):
    try:
        return list(parse_authority(v))
    except ValueError:
        return "invalid"
out["authorities"] = [parse(v) for v in
                      ["api.test", "api.test:8443", "[::1]:443", "10.0.0.1", "a b", "x:99999",
                       "-bad.test", "api.test:", "user@api.test"]]
out["problems"] = [authority_problem(h, a, "api.test", 443) for h, a in [
    (["api.test"], ""), (["API.test.:443"], ""), (["api.test", "api.test"], ""),
    (["other.test"], ""), (["api.test:8443"], ""), ([], "other.test"), (["api.test"], "a b")]]
def head(host, target, headers):
    r = gate.check_head(Ask("GET", "c:1"), host, 443, True, target, headers)
    if isinstance(r, Refusal):
        return {"refused": r.code, "status": r.status}
    return {"target": r.target, "headers": r.headers, "swapped": r.swapped, "read_body": r.read_body}
out["pending"] = head("api.test", "/", [])
secrets.load({"KEY": "sk-value/12 34"})
basic = "Basic " + base64.b64encode(b"x:bbph-0123456789").decode()
out["api"] = head("api.test", "/p?k=bbph-0123456789",
                  [("x-api-key", "bbph-0123456789"), ("Authorization", basic), ("Accept-Encoding", "gzip")])
out["basic"] = base64.b64decode(out["api"]["headers"][1][1].split(" ")[1]).decode()
out["leak_header"] = head("other.test", "/", [("x-leak", "sk-value/12 34")])
out["leak_url"] = head("other.test", "/?q=sk-value%2F12%2034", [])
out["other"] = head("other.test", "/", [("x-api-key", "bbph-0123456789")])
out["body"] = gate.check_body(Ask("POST", None), "other.test", 443,
                              base64.b64encode(b"sk-value/12 34"), secrets.loaded).code
with open(f"{d}/audit.jsonl") as f:
    out["audit"] = f.read()
from bb.audit import flush_said
flush_said()
print(json.dumps(out))
`;

Deno.test("bundle gate: authorities, swaps and refusals of a request head", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The last line (the gate's own lines, `egress deny ...`, come first).
    const out = await runBundlePython(SCRIPT, { args: [dir] });
    assert.deepEqual(out.authorities, [
      ["api.test", null],
      ["api.test", 8443],
      ["::1", 443],
      ["10.0.0.1", null],
      "invalid",
      "invalid",
      "invalid",
      "invalid",
      "invalid",
    ]);
    assert.equal(out.problems[0], null);
    assert.equal(out.problems[1], null, "case, a trailing dot and the default port are the host");
    assert.match(out.problems[2], /more than one Host header/);
    assert.match(out.problems[3], /Host header names 'other\.test'/);
    assert.match(out.problems[4], /names 'api\.test:8443'/);
    assert.match(out.problems[5], /request target names 'other\.test'/);
    assert.match(out.problems[6], /is not a host name/);
    // Before the values arrive nothing goes (503), rather than a placeholder going bare.
    assert.deepEqual(out.pending, { refused: "secrets_pending", status: 503 });
    // The host's placeholders are swapped in (URL encoded in the target, Basic auth decoded
    // first); the response is asked for uncompressed, so it is redacted as it streams.
    assert.equal(out.api.target, "/p?k=sk-value%2F12%2034");
    assert.deepEqual(out.api.headers[0], ["x-api-key", "sk-value/12 34"]);
    assert.equal(out.basic, "x:sk-value/12 34");
    assert.deepEqual(out.api.headers.at(-1), ["accept-encoding", "identity"]);
    assert.equal(out.api.headers.filter(([k]: [string]) => /accept-encoding/i.test(k)).length, 1);
    assert.deepEqual(out.api.swapped, ["KEY"]);
    assert.equal(out.api.read_body, false, "every secret may go to api.test: no body to read");
    assert.deepEqual(out.leak_header, { refused: "secret_exfiltration", status: 403 });
    assert.deepEqual(out.leak_url, { refused: "secret_exfiltration", status: 403 });
    assert.equal(out.other.read_body, true, "a body to other.test is read for the value");
    assert.deepEqual(out.other.swapped, []);
    assert.equal(out.body, "secret_exfiltration");
    assert.ok(!out.audit.includes("sk-value"), "the value is in the audit records");
    assert.match(out.audit, /"reason":"secret_exfiltration"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
