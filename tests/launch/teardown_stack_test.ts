import assert from "node:assert/strict";
import { TeardownStack } from "../../lib/launch/teardown_stack.ts";

/** A remover that records when it starts and ends, and finishes when `release` is called. */
function gated(log: string[], name: string, result: string | null = null) {
  let release!: () => void;
  const done = new Promise<void>((resolve) => (release = resolve));
  return {
    release: () => release(),
    remove: async () => {
      log.push(`start ${name}`);
      await done;
      log.push(`end ${name}`);
      return result;
    },
  };
}

Deno.test("teardown stack: neighbours of one kind go at once, kinds in reverse order", async () => {
  const log: string[] = [];
  const stack = new TeardownStack();
  stack.defer("sweep", () => {
    log.push("sweep");
    return Promise.resolve(null);
  });
  const internal = gated(log, "internal");
  const egress = gated(log, "egress");
  const bundle = gated(log, "bundle");
  const agent = gated(log, "agent", "device busy");
  stack.add({ kind: "network", name: "internal" }, internal.remove);
  stack.add({ kind: "network", name: "egress" }, egress.remove);
  stack.add({ kind: "container", name: "bundle" }, bundle.remove);
  stack.add({ kind: "container", name: "agent" }, agent.remove);
  const disposed = stack.dispose();
  await new Promise((r) => setTimeout(r, 10));
  // Both containers started (newest first); no network before both are gone.
  assert.deepEqual(log, ["start agent", "start bundle"]);
  bundle.release();
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(log, ["start agent", "start bundle", "end bundle"]);
  agent.release();
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(log.slice(3), ["end agent", "start egress", "start internal"]);
  internal.release();
  egress.release();
  const failures = await disposed;
  assert.deepEqual(log.slice(-3), ["end internal", "end egress", "sweep"]);
  assert.deepEqual(failures, [{ name: "agent", reason: "device busy" }]);
  // Idempotent: a second dispose removes nothing again.
  assert.deepEqual(await stack.dispose(), failures);
  assert.deepEqual(log.filter((l) => l === "sweep").length, 1);
});

Deno.test("teardown stack: a deferred step or a machine runs alone, a throw is a failure", async () => {
  const log: string[] = [];
  const stack = new TeardownStack();
  stack.add({ kind: "container", name: "bundle" }, () => {
    log.push("bundle");
    return Promise.resolve(null);
  });
  stack.defer("stage lock", () => {
    log.push("lock");
    return Promise.resolve(null);
  });
  stack.add({ kind: "container", name: "helper" }, () => {
    log.push("helper");
    return Promise.reject(new Error("docker died"));
  });
  stack.add({ kind: "machine", name: "vm" }, () => {
    log.push("vm");
    return Promise.resolve(null);
  });
  const failures = await stack.dispose();
  assert.deepEqual(log, ["vm", "helper", "lock", "bundle"]);
  assert.deepEqual(failures, [{ name: "helper", reason: "docker died" }]);
});
