import assert from "node:assert/strict";
import { Interrupted } from "../../lib/launch/interrupts.ts";

Deno.test("an interruption told after teardown: what it ended and what was removed, past tense", () => {
  const i = new Interrupted("SIGINT");
  assert.equal(i.message, "interrupted by SIGINT");
  assert.equal(i.exitCode, 130);
  const created = [
    { kind: "network" as const, name: "bot-bottle-x-internal" },
    { kind: "network" as const, name: "bot-bottle-x" },
    { kind: "container" as const, name: "bot-bottle-x-bundle" },
  ];
  assert.equal(
    i.after(created, [], true).message,
    "interrupted by SIGINT: stopped the agent; removed container bot-bottle-x-bundle, " +
      "network bot-bottle-x, network bot-bottle-x-internal",
  );
  assert.equal(
    i.after([], [], false).message,
    "interrupted by SIGINT: stopped the launch before the agent ran; nothing had been created yet",
  );
  const partly = new Interrupted("SIGTERM").after(created, [{
    name: "bot-bottle-x",
    reason: "busy",
  }], false);
  assert.equal(
    partly.message,
    "interrupted by SIGTERM: stopped the launch before the agent ran; removed container " +
      "bot-bottle-x-bundle, network bot-bottle-x-internal; could not remove bot-bottle-x " +
      "(`bot-bottle cleanup` retries)",
  );
  assert.equal(partly.exitCode, 130);
});
