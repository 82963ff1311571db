import assert from "node:assert/strict";
import { teardownDocker } from "../../lib/bottles/teardown.ts";
import { fail, ok, on, RecordingRunner } from "../fixtures/recording_runner.ts";

const IN_PROGRESS = "Error response from daemon: removal of container bot-bottle-x-aaaaa-agent " +
  "is already in progress\n";

Deno.test("teardownDocker: a removal already in progress elsewhere is waited for, not a failure", async () => {
  let rmCalls = 0;
  const runner = new RecordingRunner([
    on(["docker", "ps"], ok("")),
    on(["docker", "network", "ls"], ok("")),
    on(["docker", "rm"], () => {
      rmCalls++;
      // The concurrent `stop` finishes between our first and third attempt.
      if (rmCalls === 1) return fail(1, IN_PROGRESS);
      if (rmCalls === 2) return fail(1, IN_PROGRESS);
      return fail(1, "Error: No such container: bot-bottle-x-aaaaa-agent\n");
    }),
    on(["docker", "network", "rm"], ok("")),
  ]);
  const failures = await teardownDocker(runner, "x-aaaaa", {
    containers: ["bot-bottle-x-aaaaa-agent"],
    networks: ["bot-bottle-x-aaaaa-internal"],
  });
  assert.deepEqual(failures, []);
  assert.equal(rmCalls, 3);
  // The network goes only after the container is gone.
  const order = runner.argvs.map((a) => a.slice(1, 3).join(" "));
  assert.ok(order.lastIndexOf("rm --force") < order.indexOf("network rm"), order.join(", "));
});

Deno.test("teardownDocker: other errors are still failures, reported once", async () => {
  const runner = new RecordingRunner([
    on(["docker", "ps"], ok("")),
    on(["docker", "network", "ls"], ok("")),
    on(["docker", "rm"], fail(1, "Error response from daemon: permission denied\n")),
    on(["docker", "network", "rm"], fail(1, "Error: No such network: bot-bottle-x-aaaaa\n")),
  ]);
  const failures = await teardownDocker(runner, "x-aaaaa", {
    containers: ["bot-bottle-x-aaaaa-agent"],
    networks: ["bot-bottle-x-aaaaa"],
  });
  assert.deepEqual(failures, [{
    name: "bot-bottle-x-aaaaa-agent",
    reason: "Error response from daemon: permission denied",
  }]);
  assert.equal(runner.argvs.filter((a) => a[1] === "rm").length, 1);
});
