/**
 * SIGINT at each step of a smolmachines launch (SPEC §6.7): the CLI exits 130,
 * tears down what it created (machine and its guest container, bundle, network) and
 * leaves no fake smolvm process behind. The step is detected from Docker, the fake's DB or its
 * call log before the signal is sent; every wait is bounded.
 */
import assert from "node:assert/strict";
import { containersNamed, docker } from "../_harness/docker.ts";
import { callsOf, fakeSmolvmProcesses, machineRows, readCalls } from "../_harness/fake_smolvm.ts";
import { ensureImages, saveAgentArchive } from "../_harness/images.ts";
import { smolvmSandbox } from "../_harness/manifests.ts";
import type { Cli } from "../_harness/cli.ts";
import type { Sandbox } from "../_harness/sandbox.ts";
import { pool, waitFor } from "../_harness/wait.ts";

interface Step {
  name: string;
  env: Record<string, string>;
  /** The agent's `bash -c` script. */
  agent: string;
  /** Resolves once the launch is in this step. */
  reached(sb: Sandbox, cli: Cli): Promise<unknown>;
  /** `machine <sub>` calls expected before teardown (teardown adds stop + delete). */
  before: string[];
}

const STEPS: Step[] = [
  {
    name: "bundle health wait",
    env: {},
    agent: "exit 0",
    // The launch asks the bundle's health script directly; a paused bundle cannot answer, so
    // the launch stays in its health wait however fast the bundle's init is.
    reached: async (sb) => {
      const bundle = await waitFor("the bundle container", async () => {
        const names = await containersNamed(`bot-bottle-${sb.prefix}-`);
        return names.find((n) => n.endsWith("-bundle"));
      });
      // Found as soon as it is created; it can be paused once it runs.
      await waitFor(
        "the bundle paused",
        async () => (await docker(["pause", bundle], { allowFailure: true })).code === 0,
      );
      const subs = (await readCalls(sb)).filter((c) => c.argv[1] === "machine");
      assert.deepEqual(subs, [], "paused during the health wait, before any machine call");
    },
    before: [],
  },
  {
    name: "machine create",
    env: { FAKE_SMOLVM_HANG: "create" },
    agent: "exit 0",
    // The hung create has committed its row: the machine exists, half-made.
    reached: (sb) =>
      waitFor("the machine row", () => {
        try {
          return machineRows(sb.dbPath, "bot-bottle-").length > 0;
        } catch {
          return false; // the fake holds the DB mid-write: look again
        }
      }),
    before: ["ls", "create"],
  },
  {
    name: "machine start",
    env: { FAKE_SMOLVM_HANG: "start" },
    agent: "exit 0",
    reached: async (sb) => {
      await waitFor("machine start", async () => callsOf(await readCalls(sb), "start").length > 0);
      await waitFor("the fake hanging", async () => (await fakeSmolvmProcesses(sb)).length > 0);
    },
    before: ["ls", "create", "start"],
  },
  {
    name: "probe exec",
    env: { FAKE_SMOLVM_HANG: "exec" },
    agent: "exit 0",
    reached: async (sb) => {
      await waitFor("machine exec", async () => callsOf(await readCalls(sb), "exec").length > 0);
      await waitFor("the fake hanging", async () => (await fakeSmolvmProcesses(sb)).length > 0);
    },
    before: ["ls", "create", "start", "exec"],
  },
  {
    name: "agent running",
    env: {},
    // In the fake's guest container; its output streams to the CLI's stdout.
    agent: "echo agent-started; exec sleep 30",
    reached: (_sb, cli) => cli.waitFor("stdout", /^agent-started$/m),
    before: ["ls", "create", "start", "exec", "exec"],
  },
];

Deno.test({
  name: "smolmachines: SIGINT at every launch step exits 130 and leaves nothing behind",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await ensureImages();
    const cache = await Deno.makeTempDir({ prefix: "bbtest-smolvm-images-" });
    try {
      const archive = await saveAgentArchive(cache);
      const results = await pool(STEPS, STEPS.length, async (step) => {
        const sb = await smolvmSandbox(step.env);
        await sb.seedArchive(archive);
        const cli = sb.start("demo", { args: [step.agent, "agent"] });
        try {
          await Promise.race([
            step.reached(sb, cli),
            cli.done.then((r) => {
              throw new Error(`[${step.name}] the launch ended first:\n${r.stderr}`);
            }),
          ]);
          const t0 = performance.now();
          cli.child.kill("SIGINT");
          const timer = setTimeout(() => cli.child.kill("SIGKILL"), 60_000);
          const r = await cli.done.finally(() => clearTimeout(timer));
          return {
            step,
            r,
            afterSignalMs: performance.now() - t0,
            calls: await readCalls(sb),
            left: await sb.leftovers(), // the fake's guest container included
            fakes: await fakeSmolvmProcesses(sb),
          };
        } finally {
          // On a failed wait, still let the CLI tear down (SIGINT), bounded; then make sure.
          const stopped = await Promise.race([
            cli.done.then(() => true, () => true),
            new Promise<false>((r) => setTimeout(() => r(false), 0)),
          ]);
          if (!stopped) {
            try {
              cli.child.kill("SIGINT");
            } catch { /* already exited */ }
            const timer = setTimeout(() => {
              try {
                cli.child.kill("SIGKILL");
              } catch { /* already exited */ }
            }, 60_000);
            await cli.done.catch(() => {}).finally(() => clearTimeout(timer));
          }
          await sb.cleanup();
        }
      });
      for (const x of results) {
        const tag = `[${x.step.name}]\n${x.r.stderr}`;
        assert.equal(x.r.code, 130, tag);
        assert.match(
          x.r.stderr,
          /interrupted by SIGINT: stopped the (agent|launch before the agent ran); /,
          tag,
        );
        assert.ok(x.afterSignalMs < 30_000, `${tag}\ntook ${x.afterSignalMs} ms after SIGINT`);
        const subs = x.calls.filter((c) => c.argv[1] === "machine").map((c) => c.argv[2]);
        const teardown = x.step.before.length > 0 ? ["stop", "delete", "ls"] : [];
        assert.deepEqual(subs, [...x.step.before, ...teardown], tag);
        assert.deepEqual(x.left, [], tag);
        assert.deepEqual(x.fakes, [], `${tag}\nfake smolvm processes left running`);
      }
    } finally {
      await Deno.remove(cache, { recursive: true });
    }
  },
});
