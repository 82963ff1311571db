/**
 * The docker backend's agent container as `docker inspect` shows it while the
 * agent runs (SPEC §7: all capabilities dropped, no-new-privileges, not
 * privileged, no Docker socket, the bottle's cpu/memory, internal network
 * only, DNS at the bundle), and a planted secret: the agent sees its value,
 * but it is nowhere else — not in `docker inspect` of any bottle container or
 * network, the dry-run plan, any file bot-bottle wrote, the CLI's output,
 * the bundle's logs, or any process's argv on the host.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { LABEL_SLUG } from "../../lib/plan/resource_names.ts";
import { type Cli, tagged } from "../_harness/cli.ts";
import { assertNothingLeft, docker, removeLabelled } from "../_harness/docker.ts";
import { filesUnder } from "../_harness/files.ts";
import { ensureImages } from "../_harness/images.ts";
import { manifestToml } from "../_harness/manifests.ts";
import { hostArgvs } from "../_harness/procs.ts";
import { Sandbox } from "../_harness/sandbox.ts";

const CPUS = 1;
const MEMORY_MIB = 768;

const HOLDING_AGENT = `echo "TOKEN_SHA $(printf %s "\${API_TOKEN:-}" | sha256sum | cut -d' ' -f1)"
echo "ID $(id -u)"
echo "CAPS $(grep -E '^Cap(Prm|Eff|Bnd)' /proc/self/status | tr -s '\\t\\n' '  ')"
echo "NNP $(grep NoNewPrivs /proc/self/status | tr -s '\\t' ' ')"
echo "WAITING"
for i in $(seq 600); do [ -e /tmp/bbtest-go ] && break; sleep 0.1; done
echo "DONE"
`;

interface Inspect {
  Config: { User: string; Env: string[] };
  HostConfig: {
    CapDrop: string[] | null;
    CapAdd: string[] | null;
    SecurityOpt: string[] | null;
    Privileged: boolean;
    NanoCpus: number;
    Memory: number;
    Binds: string[] | null;
    Dns: string[] | null;
    NetworkMode: string;
  };
  Mounts: { Type: string; Source: string; Destination: string }[];
  NetworkSettings: { Networks: Record<string, unknown> };
}

Deno.test("docker backend: the agent container is hardened and secrets stay out of sight", async () => {
  const t0 = performance.now();
  await ensureImages();
  const sandbox = await Sandbox.create({ network: true });
  const needle = `bbtest-needle-${crypto.randomUUID()}`;
  const env = { BBTEST_NEEDLE_VAR: needle };
  let cli: Cli | undefined;
  let slug = "";
  try {
    const manifest = await sandbox.writeManifest(manifestToml({
      cpus: CPUS,
      memory: MEMORY_MIB,
      secrets: { API_TOKEN: "BBTEST_NEEDLE_VAR" },
      agents: { holder: HOLDING_AGENT },
    }));

    // The dry-run plan names the secret, never its value.
    const dry = sandbox.spawn(
      ["start", "holder", "--backend", "docker", "--dry-run", "--json", "--manifest", manifest],
      env,
    );
    assert.equal((await dry.done).code, 0, dry.transcript);
    const plan = JSON.parse(dry.stdout);
    assert.deepEqual(
      plan.secrets.map((s: { guest: string; host_var: string }) => [s.guest, s.host_var]),
      [["API_TOKEN", "BBTEST_NEEDLE_VAR"]],
    );
    assert.ok(!dry.stdout.includes(needle) && !dry.stderr.includes(needle), "needle in the plan");

    cli = sandbox.start("holder", { backend: "docker", manifest, env });
    slug = await cli.slug();
    await cli.waitFor("stdout", /^WAITING$/m, 90_000);
    const agent = `bot-bottle-${slug}-agent`;
    const bundle = `bot-bottle-${slug}-bundle`;
    const internal = `bot-bottle-${slug}-internal`;

    const [info] = JSON.parse((await docker(["inspect", agent])).stdout) as Inspect[];
    const host = info.HostConfig;
    assert.deepEqual(host.CapDrop, ["ALL"]);
    assert.deepEqual(host.CapAdd ?? [], []);
    assert.ok(host.SecurityOpt?.includes("no-new-privileges"), `${host.SecurityOpt}`);
    assert.equal(host.Privileged, false);
    assert.equal(host.NanoCpus, CPUS * 1e9);
    assert.equal(host.Memory, MEMORY_MIB * 1024 * 1024);
    assert.deepEqual(host.Binds ?? [], []);
    assert.deepEqual(info.Mounts, [], "the agent container has no mounts at all");
    assert.ok(!JSON.stringify(info).includes("docker.sock"));
    assert.equal(host.NetworkMode, internal);
    assert.deepEqual(Object.keys(info.NetworkSettings.Networks), [internal]);
    const bundleIp = (await cli.waitFor("stderr", /is healthy at (\S+)$/m))[1];
    assert.deepEqual(host.Dns, [bundleIp]);
    assert.equal(info.Config.User, "agent", "runs as the image's non-root user");
    // ... and from inside: uid 1000, no capabilities at all, no_new_privs set.
    assert.deepEqual(tagged(cli.stdout, "ID"), ["1000"]);
    const [caps] = tagged(cli.stdout, "CAPS");
    for (const set of ["CapPrm", "CapEff", "CapBnd"]) {
      assert.match(caps, new RegExp(`${set}: 0{16}\\b`), caps);
    }
    assert.match(tagged(cli.stdout, "NNP")[0], /NoNewPrivs: 1/);

    // The secret is nowhere but in the agent's process environment.
    const containers = (await docker([
      "ps",
      "-a",
      "--filter",
      `label=${LABEL_SLUG}=${slug}`,
      "--format",
      "{{.Names}}",
    ])).stdout.trim().split("\n").sort();
    assert.deepEqual(containers, [agent, bundle].sort());
    const inspectAll = await docker(["inspect", ...containers]);
    assert.ok(!inspectAll.stdout.includes(needle), "the secret is in docker inspect");
    const netInspect = await docker(["network", "inspect", internal, `bot-bottle-${slug}`]);
    assert.ok(!netInspect.stdout.includes(needle));
    for (const c of containers) {
      const logs = await docker(["logs", c]);
      assert.ok(!`${logs.stdout}${logs.stderr}`.includes(needle), `the secret is in ${c}'s logs`);
    }
    const argvs = hostArgvs();
    assert.ok(argvs.some((a) => a.includes(agent)), "the scan sees bot-bottle's docker calls");
    assert.ok(!argvs.some((a) => a.includes(needle)), "the secret is in a process's argv");

    await docker(["exec", agent, "touch", "/tmp/bbtest-go"]);
    const result = await cli.done;
    assert.equal(result.code, 0, cli.transcript);
    assert.match(cli.stdout, /^DONE$/m);
    const sha = createHash("sha256").update(needle).digest("hex");
    assert.deepEqual(tagged(cli.stdout, "TOKEN_SHA"), [sha], "the agent sees the secret's value");
    assert.ok(!cli.stdout.includes(needle) && !cli.stderr.includes(needle), "needle in output");

    // Files bot-bottle wrote (metadata, the bundle's config) hold no secret either.
    const files: string[] = [];
    for (const path of await filesUnder(sandbox.dir)) {
      files.push(path);
      const bytes = await Deno.readFile(path);
      assert.ok(!new TextDecoder().decode(bytes).includes(needle), `the secret is in ${path}`);
    }
    const stateDir = `${sandbox.dir}/state/bot-bottle/bottles/${slug}`;
    assert.ok(files.includes(`${stateDir}/metadata.json`), files.join("\n"));
    assert.ok(files.some((f) => f.startsWith(`${stateDir}/bundle/`)), files.join("\n"));
    await assertNothingLeft(slug);
  } finally {
    try {
      cli?.kill("SIGINT");
    } catch { /* already exited */ }
    await cli?.done;
    if (slug) await removeLabelled(slug);
    await sandbox.cleanup();
    console.log(`hardening test total ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  }
});
