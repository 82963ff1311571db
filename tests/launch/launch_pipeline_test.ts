/**
 * The launch pipeline on the recording runner: a clean run's exact calls, and
 * a failure injected at every step of both backends — after which exactly
 * what was created is removed, newest first, then the label sweep runs.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { backendFor } from "../../lib/backends/registry.ts";
import { Interrupts } from "../../lib/launch/interrupts.ts";
import { runLaunch } from "../../lib/launch/launch_pipeline.ts";
import { parseManifestText } from "../../lib/manifest/parse_manifest.ts";
import type { Manifest } from "../../lib/manifest/types.ts";
import type { BackendName, Plan } from "../../lib/plan/plan_types.ts";
import { placeholderSource } from "../../lib/plan/placeholder.ts";
import { resolvePlan } from "../../lib/plan/resolve_plan.ts";
import { IDLE_ENTRYPOINT } from "../../lib/plan/render_smolfile.ts";
import { fail, type Handler, ok, RecordingRunner } from "../fixtures/recording_runner.ts";

const IMAGE_ID = `sha256:${"ab".repeat(32)}`;
/** SHA-256 of the empty archive the test caches. */
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const MANIFEST = "/cfg/bot-bottle.toml";
const TOML = `
[bottles.dev]
image = "agent:1"
secrets = { API_TOKEN = "HOST_TOKEN" }
egress.allow = ["api.example.test"]

[agents.demo]
bottle = "dev"
command = ["agent", "--go"]
prompt = "hello"
`;

/** A bottle with a secret the agent holds and one the bundle injects. */
const INJECTED_TOML = TOML.replace(
  'secrets = { API_TOKEN = "HOST_TOKEN" }',
  'secrets.API_TOKEN = "HOST_TOKEN"',
).replace(
  'egress.allow = ["api.example.test"]',
  'egress.allow = ["api.example.test"]\n\n[bottles.dev.secrets.API_KEY]\nfrom = "HOST_API_KEY"\n' +
    'inject = ["api.example.test"]',
);
const INJECTED_VALUE = "sk-injected-0123456789";
const GUEST_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

interface World {
  root: string;
  plan: Plan;
  env: Record<string, string>;
}

async function world(backend: BackendName, toml = TOML): Promise<World> {
  const root = await Deno.makeTempDir({ prefix: "bbtest-pipeline-" });
  const manifest: Manifest = { files: [MANIFEST], ...parseManifestText(toml, MANIFEST, "user") };
  const plan = resolvePlan({
    manifest,
    agent: "demo",
    backend,
    slug: "demo-abcde",
    taken: [],
    preflight: [],
    hasHostVar: () => true,
    stateRoot: `${root}/state`,
    smolvmVersion: "1.9.3",
    now: "2026-12-01T00:00:00.000Z",
    placeholder: placeholderSource(),
  });
  await Deno.mkdir(plan.state_dir, { recursive: true });
  const env = {
    HOME: `${root}/home`,
    HOST_TOKEN: "s3cret",
    HOST_API_KEY: INJECTED_VALUE,
    BOT_BOTTLE_PROBE_TARGET: "10.9.0.9:443",
  };
  // The smolvm DB as `machine create` leaves it, where bot-bottle reads it back.
  const dbDir = `${root}/home/.local/share/smolvm/server`;
  await Deno.mkdir(dbDir, { recursive: true });
  const db = new DatabaseSync(`${dbDir}/smolvm.db`);
  db.exec("CREATE TABLE vms (name TEXT PRIMARY KEY NOT NULL, data BLOB NOT NULL)");
  const record = {
    state: "created",
    network: true,
    allowed_cidrs: [`${plan.bundle_ip}/32`],
    dns: plan.bundle_ip,
    image: `local:${EMPTY_SHA256}`,
    entrypoint: [...IDLE_ENTRYPOINT],
    cmd: [],
  };
  db.prepare("INSERT INTO vms VALUES (?, ?)").run(
    "bot-bottle-demo-abcde",
    new TextEncoder().encode(JSON.stringify(record)),
  );
  db.close();
  // The image archive is cached already.
  await Deno.mkdir(`${root}/state/images`, { recursive: true });
  await Deno.writeTextFile(`${root}/state/images/${"ab".repeat(32)}.tar`, "");
  await Deno.writeTextFile(`${root}/state/images/${"ab".repeat(32)}.tar.sha256`, EMPTY_SHA256);
  return { root, plan, env };
}

/** Answers every call a launch makes as a healthy host would. */
function healthyHost(argv: readonly string[]) {
  const a = argv.join(" ");
  if (a.startsWith("docker image inspect")) return ok(`${IMAGE_ID}\n`);
  if (argv[1] === "exec" && a.includes("/usr/local/bin/bot-bottle-health")) return ok("healthy\n");
  if (a.startsWith("docker run --rm --name bot-bottle-demo-abcde-agent-probe")) {
    return ok("probe ok: refused\n");
  }
  if (a.startsWith("smolvm machine ls")) return ok("[]\n");
  if (a.endsWith("bb-secrets")) return ok("bb-secrets: ok loaded 1 injected secret(s): API_KEY\n");
  if (a.endsWith("cat /run/bot-bottle/tls/guest.pem")) return ok(GUEST_PEM);
  if (argv[0] === "smolvm" && argv[2] === "exec" && argv.includes("probe")) {
    return ok("probe ok: refused\n");
  }
  return ok("");
}

/** The object a creating call makes, or null for calls that create nothing. */
function createdBy(argv: readonly string[]): { kind: string; name: string } | null {
  if (argv[0] === "docker" && argv[1] === "network" && argv[2] === "create") {
    return { kind: "network", name: argv[argv.length - 1] };
  }
  const named = argv.indexOf("--name");
  if (argv[0] === "docker" && (argv[1] === "create" || (argv[1] === "run" && argv[2] === "-d"))) {
    return { kind: "container", name: argv[named + 1] };
  }
  if (argv[0] === "docker" && argv[1] === "run" && argv[2] === "--detach") {
    return { kind: "container", name: argv[named + 1] };
  }
  if (argv[0] === "smolvm" && argv[2] === "create") return { kind: "machine", name: argv[4] };
  return null;
}

function removalOf(resource: { kind: string; name: string }): string[][] {
  switch (resource.kind) {
    case "network":
      return [["docker", "network", "rm", resource.name]];
    case "container":
      return [["docker", "rm", "--force", "--volumes", resource.name]];
    default:
      return [
        ["smolvm", "machine", "stop", "--name", resource.name],
        ["smolvm", "machine", "delete", "--name", resource.name, "-f"],
      ];
  }
}

async function launch(w: World, handlers: Handler[]) {
  const runner = new RecordingRunner(handlers);
  const interrupts = new Interrupts([]);
  const lines: string[] = [];
  try {
    const outcome = await runLaunch(w.plan, backendFor(w.plan.backend), {
      runner,
      env: { get: (n) => w.env[n] },
      progress: (line) => void lines.push(line),
      stdinIsTerminal: false,
      interrupts,
      replan: () => w.plan,
      os: "linux",
      probe: {
        os: "linux",
        kvmPath: "/dev/kvm",
        which: () => Promise.resolve(null),
        kvm: () => Promise.resolve({ state: "ok" }),
        uid: () => 1000,
        gid: () => 1000,
        passwdHome: () => Promise.resolve(null),
      },
      imageCacheDir: `${w.root}/state/images`,
    }).then((code) => ({ code }), (error) => ({ error: error as Error }));
    return { runner, outcome, lines };
  } finally {
    interrupts.dispose();
  }
}

const isTeardownStart = (argv: readonly string[]) =>
  (argv[0] === "docker" && (argv[1] === "rm" || (argv[1] === "network" && argv[2] === "rm"))) ||
  (argv[0] === "smolvm" && argv[2] === "stop") ||
  (argv[0] === "docker" && argv[1] === "ps");

for (const backend of ["docker", "smolmachines"] as const) {
  Deno.test(`pipeline (${backend}): a clean run creates, runs the agent, removes in reverse`, async () => {
    const w = await world(backend);
    try {
      const { runner, outcome } = await launch(w, [healthyHost]);
      assert.deepEqual(outcome, { code: 0 });
      const argvs = runner.argvs;
      const firstTeardown = argvs.findIndex(isTeardownStart);
      const created = argvs.slice(0, firstTeardown).map(createdBy).filter((r) => r !== null);
      const slug = w.plan.slug;
      assert.deepEqual(
        created.map((r) => r!.name),
        backend === "docker"
          ? [
            `bot-bottle-${slug}-internal`,
            `bot-bottle-${slug}`,
            `bot-bottle-${slug}-bundle`,
            `bot-bottle-${slug}-agent`,
          ]
          : [`bot-bottle-${slug}`, `bot-bottle-${slug}-bundle`, `bot-bottle-${slug}`],
      );
      // Every network a bottle creates has an explicit subnet: none comes from Docker's pools.
      const creates = argvs.filter((a) => a[1] === "network" && a[2] === "create");
      assert.equal(creates.length, backend === "docker" ? 2 : 1);
      for (const argv of creates) {
        const subnet = argv[argv.indexOf("--subnet") + 1];
        assert.ok(
          argv.includes("--subnet") && /^192\.168\.\d+\.0\/24$/.test(subnet),
          argv.join(" "),
        );
      }
      if (backend === "docker") {
        const [internal, bridge] = creates.map((a) => a[a.indexOf("--subnet") + 1]);
        assert.equal(internal, w.plan.subnet);
        assert.equal(bridge, w.plan.bridge_subnet);
        assert.notEqual(internal, bridge);
      }
      // The agent ran with its secret only in the child's environment, the prompt on stdin.
      const agent = runner.calls.find((c) => c.argv.includes("--go"))!;
      assert.equal(agent.kind, "spawn");
      assert.equal((agent.options.env ?? {}).API_TOKEN, "s3cret");
      assert.ok(!argvs.some((a) => a.join(" ").includes("s3cret")));
      const prompt = runner.calls.find((c) => c.argv.join(" ").includes(".bot-bottle-prompt.txt"))!;
      assert.equal((prompt.options as { input?: string }).input, "hello");
      // Teardown: everything created, newest first, then the label sweep.
      const expected = [...created].reverse().flatMap((r) => removalOf(r!));
      const teardown = argvs.slice(firstTeardown).filter((a) => a[1] !== "ps" && a[2] !== "ls");
      assert.deepEqual(teardown, expected);
      assert.equal(await Deno.readTextFile(`${w.plan.state_dir}/status`), "stopped\n");
      if (backend === "smolmachines") {
        // The private archive copy and smolvm's staged archive are gone (no other bottle uses it),
        // and smolvm was handed the copy, never bot-bottle's cached original.
        const create = argvs.find((a) => a[0] === "smolvm" && a[2] === "create")!;
        assert.equal(create[create.indexOf("-I") + 1], `${w.plan.state_dir}/image.tar`);
        for (
          const gone of [
            `${w.plan.state_dir}/image.tar`,
            `${w.root}/home/.cache/smolvm-image-archives/${EMPTY_SHA256}`,
          ]
        ) {
          assert.equal(await Deno.stat(gone).catch(() => null), null, gone);
        }
        assert.ok((await Deno.stat(`${w.root}/state/images/${"ab".repeat(32)}.tar`)).isFile);
      }
    } finally {
      await Deno.remove(w.root, { recursive: true });
    }
  });

  Deno.test(`pipeline (${backend}): an injected value goes to the bundle's stdin only`, async () => {
    const w = await world(backend, INJECTED_TOML);
    try {
      const { runner, outcome, lines } = await launch(w, [healthyHost]);
      assert.deepEqual(outcome, { code: 0 });
      const placeholder = w.plan.guest_env.API_KEY;
      assert.match(placeholder, /^bot-bottle-placeholder-[0-9a-f]{32}$/);
      const slug = w.plan.slug;
      // Once, after the bundle is up and before anything runs in the guest (docker's idle agent
      // container may already exist: it is started while the bundle's health is waited for),
      // on docker exec -i stdin.
      const calls = runner.calls;
      const at = calls.findIndex((c) => c.argv.join(" ").endsWith("bb-secrets"));
      assert.ok(at >= 0, "no delivery");
      assert.deepEqual(calls[at].argv, [
        "docker",
        "exec",
        "--interactive",
        `bot-bottle-${slug}-bundle`,
        "/usr/local/bin/bb-secrets",
      ]);
      assert.equal(
        (calls[at].options as { input?: string }).input,
        `{"API_KEY":"${INJECTED_VALUE}"}\n`,
      );
      const bundleRun = calls.findIndex((c) =>
        c.argv.includes(`bot-bottle-${slug}-bundle`) && ["run", "create"].includes(c.argv[1])
      );
      const guest = calls.findIndex((c) =>
        backend === "docker"
          ? c.argv.join(" ").includes(`bot-bottle-${slug}-agent-probe`)
          : c.argv[0] === "smolvm" && c.argv[2] === "create"
      );
      assert.ok(bundleRun < at && at < guest, `order: bundle ${bundleRun}, ${at}, guest ${guest}`);
      assert.equal(calls.filter((c) => c.argv.join(" ").endsWith("bb-secrets")).length, 1);
      // Nowhere else: no argv, no other call's input or environment, not the state dir.
      for (const [i, c] of calls.entries()) {
        assert.ok(!c.argv.join(" ").includes(INJECTED_VALUE), c.argv.join(" "));
        if (i === at) continue;
        assert.ok(!JSON.stringify(c.options).includes(INJECTED_VALUE), c.argv.join(" "));
      }
      for await (const entry of Deno.readDir(w.plan.state_dir)) {
        if (!entry.isFile) continue;
        const text = await Deno.readTextFile(`${w.plan.state_dir}/${entry.name}`);
        assert.ok(!text.includes(INJECTED_VALUE), entry.name);
      }
      // The agent gets the held secret by reference and the injected one's placeholder only.
      const agent = calls.find((c) => c.argv.includes("--go"))!;
      assert.equal((agent.options.env ?? {}).API_TOKEN, "s3cret");
      assert.equal((agent.options.env ?? {}).API_KEY, undefined);
      if (backend === "smolmachines") {
        const create = calls.find((c) => c.argv[0] === "smolvm" && c.argv[2] === "create")!;
        const refs = create.argv.flatMap((a, k) =>
          a === "--secret-env" ? [create.argv[k + 1]] : []
        );
        assert.deepEqual(refs, ["API_TOKEN=HOST_TOKEN"]);
      } else {
        const run = calls.find((c) =>
          c.argv[1] === "run" && c.argv.includes(`bot-bottle-${slug}-agent`)
        )!;
        assert.ok(run.argv.includes(`API_KEY=${placeholder}`), run.argv.join(" "));
      }
      // The guest trusts the bundle's CA: written by a script on stdin, as root on docker.
      const trust = calls.find((c) => c.argv.includes("trust") && c.argv.includes("sh"))!;
      assert.equal((trust.options as { input?: string }).input, GUEST_PEM);
      assert.ok(
        lines.some((l) => /bundle holds the injected secret API_KEY/.test(l)),
        lines.join("\n"),
      );
    } finally {
      await Deno.remove(w.root, { recursive: true });
    }
  });

  Deno.test(`pipeline (${backend}): an injected secret whose host variable is unset creates nothing`, async () => {
    const w = await world(backend, INJECTED_TOML);
    try {
      delete (w.env as Record<string, string>).HOST_API_KEY;
      const { runner, outcome } = await launch(w, [healthyHost]);
      assert.ok("error" in outcome);
      assert.match(
        outcome.error.message,
        /secret API_KEY needs host variable HOST_API_KEY, which is not set/,
      );
      assert.equal(runner.argvs.map(createdBy).filter((r) => r !== null).length, 0);
      w.env.HOST_API_KEY = "short";
      const short = await launch(w, [healthyHost]);
      assert.ok("error" in short.outcome);
      assert.match(
        short.outcome.error.message,
        /has 5 characters; an injected secret needs at least 8/,
      );
      assert.ok(!short.outcome.error.message.includes("short"), "the value is shown");
      assert.equal(short.runner.argvs.map(createdBy).filter((r) => r !== null).length, 0);
    } finally {
      await Deno.remove(w.root, { recursive: true });
    }
  });

  Deno.test(`pipeline (${backend}): the label sweep removes leftovers, never the stack's twice`, async () => {
    const w = await world(backend);
    try {
      const slug = w.plan.slug;
      const leftover = `bot-bottle-${slug}-agent-probe`;
      // Docker lists everything of the bottle as teardown starts, the stack's own objects too.
      const listing: Handler = (argv) => {
        const docker = backend === "docker";
        if (argv[1] === "ps") {
          return ok(
            `${docker ? `bot-bottle-${slug}-agent\n` : ""}bot-bottle-${slug}-bundle\n${leftover}\n`,
          );
        }
        if (argv[1] === "network" && argv[2] === "ls") {
          return ok(`bot-bottle-${slug}\n${docker ? `bot-bottle-${slug}-internal\n` : ""}`);
        }
        return undefined;
      };
      const { runner, outcome } = await launch(w, [listing, healthyHost]);
      assert.deepEqual(outcome, { code: 0 });
      const argvs = runner.argvs;
      const start = argvs.findIndex(isTeardownStart);
      const removals = argvs.slice(start).filter((a) => a[1] === "rm" || a[2] === "rm")
        .map((a) => a.at(-1));
      assert.equal(removals.filter((n) => n === leftover).length, 1, removals.join(" "));
      assert.equal(removals.at(-1), leftover, "the leftover goes after the stack's objects");
      assert.equal(new Set(removals).size, removals.length, `removed twice: ${removals}`);
    } finally {
      await Deno.remove(w.root, { recursive: true });
    }
  });

  Deno.test(`pipeline (${backend}): a failure at every step removes exactly what exists`, async () => {
    const w = await world(backend);
    try {
      const clean = (await launch(w, [healthyHost])).runner.argvs;
      const steps = clean.slice(0, clean.findIndex(isTeardownStart));
      assert.ok(steps.length >= 8, `${steps.length} steps`);
      for (let i = 0; i < steps.length; i++) {
        let n = 0;
        const inject: Handler = (argv) =>
          n++ === i && !isTeardownStart(argv)
            ? fail(1, `Error: injected at step ${i}\n`)
            : undefined;
        const { runner, outcome } = await launch(w, [inject, healthyHost]);
        const argvs = runner.argvs;
        const failedAt = argvs[i];
        assert.deepEqual(failedAt, steps[i], `step ${i} is the same call`);
        // What this run created: every creating call that succeeded (the injected failure is at
        // i), plus smolvm's machine on a failed create (it was checked absent before create).
        const start = argvs.findIndex((a, k) => k > i && isTeardownStart(a));
        assert.ok(start > i, `step ${i}: a teardown follows`);
        const exists = argvs.slice(0, start).flatMap((a, k) => {
          const made = createdBy(a);
          return made && (k !== i || made.kind === "machine") ? [made] : [];
        });
        // Reads are not removals: the label sweep's listings, and smolvm's machine list (asked
        // before its staged archive is removed, which another machine may still use).
        const teardown = argvs.slice(start).filter((a) =>
          !(a[1] === "ps") && !(a[1] === "network" && a[2] === "ls") &&
          !(a[0] === "smolvm" && a[2] === "ls")
        );
        const tag = `${backend} step ${i}: ${failedAt.slice(0, 4).join(" ")}`;
        assert.deepEqual(teardown, [...exists].reverse().flatMap(removalOf), tag);
        // The label sweep's listings: asked as teardown starts (nothing was interrupted, so no
        // docker call is in flight), and nothing the stack removed is removed twice.
        assert.deepEqual(argvs[start]?.slice(0, 2), ["docker", "ps"], tag);
        assert.deepEqual(argvs[start + 1]?.slice(0, 3), ["docker", "network", "ls"], tag);
        if ("error" in outcome) assert.match(outcome.error.message, /injected|failed|probe/, tag);
        else if (failedAt.includes("--go")) assert.equal(outcome.code, 1, `${tag}: agent's code`);
        else {
          // Only a missing image (pulled or built) and a health poll (asked again) are recovered
          // from, and the launch goes on.
          assert.ok(
            failedAt.slice(0, 3).join(" ") === "docker image inspect" ||
              failedAt.includes("/usr/local/bin/bot-bottle-health"),
            tag,
          );
          assert.equal(outcome.code, 0, tag);
        }
      }
    } finally {
      await Deno.remove(w.root, { recursive: true });
    }
  });
}
