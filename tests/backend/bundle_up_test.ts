import assert from "node:assert/strict";
import { createSubnetNetwork } from "../../lib/backend/bundle_up.ts";
import { Interrupts } from "../../lib/backend/interrupts.ts";
import type { TakenRange } from "../../lib/plan/bundle_subnet.ts";
import type { Plan } from "../../lib/plan/plan_types.ts";
import { fail, ok, on, RecordingRunner } from "../fixtures/recording_runner.ts";

function fakePlan(octet: number, stateDir: string): Plan {
  return {
    subnet: `192.168.${octet}.0/24`,
    gateway: `192.168.${octet}.1`,
    labels: { "io.bot-bottle.slug": "a-abcde" },
    state_dir: stateDir,
    metadata: { schema: 1, subnet: `192.168.${octet}.0/24` },
  } as unknown as Plan;
}

Deno.test("createSubnetNetwork: on overlap, everything Docker has now is marked taken", async () => {
  const stateDir = await Deno.makeTempDir();
  const interrupts = new Interrupts([]);
  try {
    // 192.168.170.0/24 lies in a default-pool /20 another network took after planning.
    const runner = new RecordingRunner([
      on(
        ["docker", "network", "create"],
        (argv) =>
          argv.includes("192.168.170.0/24")
            ? fail(
              1,
              "Error response from daemon: Pool overlaps with other one on this address space",
            )
            : ok("netid\n"),
      ),
      on(["docker", "network", "ls"], ok("id1\n")),
      on(["docker", "network", "inspect"], ok("bot-bottle-b-xyz12 192.168.160.0/20\n")),
    ]);
    const extras: TakenRange[][] = [];
    const created = { containers: [], networks: [] as string[] };
    const plan = await createSubnetNetwork(runner, fakePlan(170, stateDir), {
      name: "bot-bottle-a-abcde-internal",
      role: "internal",
      internal: true,
      created,
      interrupts,
      replan: (extra) => {
        extras.push(extra);
        return fakePlan(176, stateDir);
      },
      progress: () => {},
    });
    assert.equal(plan.subnet, "192.168.176.0/24");
    assert.deepEqual(extras, [[
      { cidr: "192.168.170.0/24", source: "docker network create (overlap)" },
      { cidr: "192.168.160.0/20", source: 'docker network "bot-bottle-b-xyz12"' },
    ]]);
    assert.deepEqual(created.networks, ["bot-bottle-a-abcde-internal"]);
  } finally {
    interrupts.dispose();
    await Deno.remove(stateDir, { recursive: true });
  }
});
