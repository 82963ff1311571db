import assert from "node:assert/strict";
import { VERIFY_CHECKS } from "../../lib/verify/isolation_script.ts";
import { parseVerifyOutput, renderVerifyReport } from "../../lib/verify/verify_report.ts";

Deno.test("parseVerifyOutput: every listed check, a missing one fails and says why", () => {
  const out = [
    "noise before",
    "check\tproxy\tpass\t9\tthe bundle proxy answers",
    "check\tport\tskip\t0\tnothing listed",
    "check\tproxy\tfail\t1\ta second line for the same id is ignored",
    "check\tunknown-id\tpass\t1\textra checks are kept out",
    "check\tdirect-tcp\tbogus\t1\tnot a status",
  ].join("\n");
  const report = parseVerifyOutput("s-1", "docker", out, "the suite stopped with exit 2");
  assert.equal(report.schema, 1);
  assert.deepEqual(report.checks.map((c) => c.id), VERIFY_CHECKS.map((c) => c.id));
  assert.deepEqual(report.checks[0], {
    id: "proxy",
    status: "pass",
    detail: "the bundle proxy answers",
    ms: 9,
  });
  assert.equal(report.checks.find((c) => c.id === "port")!.status, "skip");
  const tcp = report.checks.find((c) => c.id === "direct-tcp")!;
  assert.equal(tcp.status, "fail");
  assert.match(tcp.detail, /did not report: the suite stopped with exit 2/);
  assert.equal(report.passed, false);
  const text = renderVerifyReport(report);
  assert.match(text, /^PASS {2}proxy /m);
  assert.match(text, /^1 passed, 12 failed, 1 skipped \(bottle s-1, docker\)$/m);
});

Deno.test("parseVerifyOutput: all reported and none failed is a pass", () => {
  const out = VERIFY_CHECKS.map((c) => `check\t${c.id}\tpass\t1\tok`).join("\n");
  const report = parseVerifyOutput("s-1", "smolmachines", out, "");
  assert.equal(report.passed, true);
  const detail = parseVerifyOutput("s", "docker", "check\tproxy\tpass\t1\ta\x1b[31mb", "");
  assert.ok(!renderVerifyReport(detail).includes("\x1b"));
});
