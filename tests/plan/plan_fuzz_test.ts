/**
 * Seeded fuzz through loading AND planning: every generated manifest ends in
 * a plan for each of its agents on both backends, or in a clean UserError
 * (ManifestError included, listing at most 20 problems) with no stack trace.
 * Nothing else.
 */
import assert from "node:assert/strict";
import { UserError } from "../../lib/errors.ts";
import { loadManifest } from "../../lib/manifest/load_manifest.ts";
import { resolvePlan } from "../../lib/plan/resolve_plan.ts";
import { BACKENDS } from "../../lib/plan/plan_types.ts";
import { isValidSlug, makeSlug } from "../../lib/plan/slug.ts";
import { generateManifests } from "../manifest/_manifest_generator.ts";

const SEED = 0xb0771e;
const COUNT = 10_000;
const USER = "/fuzz/user.toml";
const PROJECT = "/fuzz/project/bot-bottle.toml";

function clean(error: unknown, where: string): void {
  if (!(error instanceof UserError)) {
    assert.fail(
      `${where}: not a UserError:\n${error instanceof Error ? error.stack : String(error)}`,
    );
  }
  assert.ok(!/^\s*at /m.test(error.message), `${where}: stack trace in message`);
  assert.ok(
    error.message.length > 0 && error.message.length <= 6_000,
    `${where}: bad message length`,
  );
}

Deno.test(`fuzz: ${COUNT} manifests through loading and planning end in a plan or a clean error`, async () => {
  let plans = 0;
  let errors = 0;
  let index = 0;
  for (const text of generateManifests(SEED, COUNT)) {
    const where = `seed ${SEED}, input ${index++}`;
    let manifest;
    try {
      manifest = await loadManifest(
        { userPath: USER, userExplicit: true, projectPath: PROJECT },
        (path) => Promise.resolve(path === USER ? text : null),
      );
    } catch (error) {
      clean(error, `${where} (load)`);
      errors++;
      continue;
    }
    for (const agent of Object.keys(manifest.agents)) {
      for (const backend of BACKENDS) {
        try {
          const slug = makeSlug(agent, "fz0zz");
          assert.ok(isValidSlug(slug), `${where}: bad slug ${slug}`);
          const plan = resolvePlan({
            manifest,
            agent,
            backend,
            slug,
            taken: [{ cidr: "192.168.0.0/17", source: "fuzz" }],
            preflight: [],
            hasHostVar: () => false,
            stateRoot: "/fuzz/state",
            smolvmVersion: "1.9.3",
            now: "2026-11-22T00:00:00.000Z",
          });
          assert.ok(plan.subnet.startsWith("192.168."), where);
          assert.ok(Number(plan.subnet.split(".")[2]) >= 128, `${where}: subnet in a taken range`);
          JSON.stringify(plan);
          plans++;
        } catch (error) {
          clean(error, `${where} (plan ${agent} on ${backend})`);
          errors++;
        }
      }
    }
  }
  assert.equal(index, COUNT);
  assert.ok(plans > 100, `only ${plans} plans: the generator no longer reaches the planner`);
  assert.ok(errors > 100, `only ${errors} errors: the generator no longer produces bad input`);
});
