/**
 * list, stop, rm, resume and cleanup in-process through main(), against a
 * recorded runner and a real temp state root.
 */
import assert from "node:assert/strict";
import { main } from "../../main.ts";
import {
  CONTAINERS_ARGV,
  LABELLED_CONTAINERS_ARGV,
  LABELLED_NETWORKS_ARGV,
  NETWORKS_ARGV,
} from "../../lib/bottles/inventory.ts";
import { ownerId } from "../../lib/plan/resource_names.ts";
import { buildLeftoversArgv } from "../../lib/host/docker_build.ts";
import { lsJsonArgv } from "../../lib/backends/smolvm/smolvm_argv.ts";
import { readStatus, writeStatus } from "../../lib/state/metadata_store.ts";
import { takeOwnerLock } from "../../lib/state/owner_lock.ts";
import { writeFakeBottle } from "../fixtures/bottle_state.ts";
import { fail, type Handler, ok, on } from "../fixtures/recording_runner.ts";
import { HEALTHY_HOST, testContext, type TestContextOptions } from "../fixtures/test_context.ts";

const MANIFEST = "/home/u/.config/bot-bottle/bot-bottle.toml";
const USER_TOML = `
[bottles.shell]
image = "bot-bottle/agent-shell:latest"
egress.allow = ["deb.debian.org"]

[agents.demo]
bottle = "shell"
command = ["bash", "-l"]
`;

const ESC = "\x1b[";

/** A temp XDG_STATE_HOME; the state root is `<it>/bot-bottle`. */
async function withState(fn: (xdg: string, root: string) => Promise<void>): Promise<void> {
  const xdg = await Deno.makeTempDir({ prefix: "bbtest-lifecycle-cli-" });
  try {
    await fn(xdg, `${xdg}/bot-bottle`);
  } finally {
    await Deno.remove(xdg, { recursive: true });
  }
}

/** Inventory answers: these containers / networks (already formatted lines), no machines. */
function inventory(containers: string[] = [], networks: string[] = []): Handler[] {
  const text = (lines: string[]) => ok(lines.length ? `${lines.join("\n")}\n` : "");
  return [
    on(CONTAINERS_ARGV, text(containers)),
    on(LABELLED_CONTAINERS_ARGV, text(containers)),
    on(NETWORKS_ARGV, text(networks)),
    on(LABELLED_NETWORKS_ARGV, text(networks)),
    on(lsJsonArgv(), ok("[]\n")),
  ];
}

function ctx(xdg: string, opts: TestContextOptions = {}) {
  return testContext({
    files: { [MANIFEST]: USER_TOML },
    ...opts,
    env: { XDG_STATE_HOME: xdg, ...opts.env },
  });
}

/** Calls that would change something on the host. */
function mutations(argvs: string[][]): string[][] {
  return argvs.filter((a) =>
    (a[0] === "docker" && (a[1] === "rm" || (a[1] === "network" && a[2] === "rm"))) ||
    (a[0] === "smolvm" && (a[2] === "stop" || a[2] === "delete"))
  );
}

Deno.test("resume of an unknown slug exits 1 and says nothing is recorded", async () => {
  await withState(async (xdg, root) => {
    for (const slug of ["nope-abcde", "../etc", "Bad Slug"]) {
      const c = ctx(xdg, { handlers: inventory() });
      assert.equal(await main(["resume", slug, "--yes"], c), 1, c.stderrText);
      assert.ok(
        c.stderrText.includes(
          `bot-bottle: error: no bottle "${slug}" to resume: nothing is recorded in ` +
            `${root}/bottles/${slug}`,
        ),
        c.stderrText,
      );
      assert.match(c.stderrText, /hint: see `bot-bottle list` for the bottles there are/);
      assert.deepEqual(c.runner.argvs, [], "nothing is run for an unknown slug");
    }
  });
});

Deno.test("resume of a running bottle exits 1 with its own message", async () => {
  await withState(async (xdg, root) => {
    const dir = await writeFakeBottle(root, { slug: "demo-aaaaa", status: "running" });
    const lock = await takeOwnerLock(dir);
    assert.ok(lock);
    try {
      const c = ctx(xdg, { handlers: inventory() });
      assert.equal(await main(["resume", "demo-aaaaa", "--yes"], c), 1, c.stderrText);
      assert.match(
        c.stderrText,
        /bot-bottle: error: bottle demo-aaaaa is running; only a stopped bottle can be resumed\n/,
      );
      assert.match(c.stderrText, /hint: .*bot-bottle stop demo-aaaaa/);
      assert.deepEqual(mutations(c.runner.argvs), []);
      assert.ok(!c.runner.argvs.some((a) => a[1] === "run" || a[2] === "create"));
    } finally {
      lock.release();
    }
  });
});

Deno.test("resume of a bottle with leftovers asks for a stop first", async () => {
  await withState(async (xdg, root) => {
    await writeFakeBottle(root, { slug: "demo-aaaaa", status: "starting" });
    const me = ownerId(root);
    const c = ctx(xdg, {
      handlers: inventory([], [`bot-bottle-demo-aaaaa\tdemo-aaaaa\tdocker\t${me}`]),
    });
    assert.equal(await main(["resume", "demo-aaaaa", "--yes"], c), 1, c.stderrText);
    assert.match(c.stderrText, /bottle demo-aaaaa still has resources left from its last run/);
    assert.match(c.stderrText, /hint: tear them down first: bot-bottle stop demo-aaaaa/);
  });
});

Deno.test("stop and rm of a gone bottle say so and exit 0; a near miss is an error", async () => {
  await withState(async (xdg, root) => {
    await writeFakeBottle(root, { slug: "other-aaaaa", status: "stopped" });
    for (const command of ["stop", "rm"]) {
      const c = ctx(xdg, { handlers: inventory() });
      assert.equal(await main([command, "nope-abcde"], c), 0, c.stderrText);
      assert.match(
        c.stderrText,
        /^bot-bottle: nope-abcde: no such bottle on this machine \(already (stopped|removed)\?\); nothing to do\n$/,
      );
      assert.deepEqual(mutations(c.runner.argvs), []);
      const typo = ctx(xdg, { handlers: inventory() });
      assert.equal(await main([command, "othre-aaaaa"], typo), 1, typo.stderrText);
      assert.match(
        typo.stderrText,
        /error: no bottle "othre-aaaaa" on this machine \(did you mean "other-aaaaa"\?\)/,
      );
      assert.deepEqual(mutations(typo.runner.argvs), []);
    }
    assert.equal(await readStatus(`${root}/bottles/other-aaaaa`), "stopped");
    // Missing slug, and what cannot be a slug, are usage errors.
    for (
      const [argv, pattern] of [
        [["stop"], /stop: missing <slug>/],
        [["rm"], /rm: missing <slug>/],
        [["rm", "../etc"], /rm: "\.\.\/etc" is not a bottle slug/],
        [["rm", "a-aaaaa", "--stopped"], /rm: give slugs or --stopped, not both/],
      ] as [string[], RegExp][]
    ) {
      const c = ctx(xdg, { handlers: inventory() });
      assert.equal(await main(argv, c), 2, argv.join(" "));
      assert.match(c.stderrText, pattern);
    }
  });
});

Deno.test("a second stop or rm says it was done already and exits 0", async () => {
  await withState(async (xdg, root) => {
    const dir = await writeFakeBottle(root, { slug: "demo-aaaaa", status: "stopped" });
    const handlers = [...inventory(), on(["docker"], ok(""))];
    const stop = ctx(xdg, { handlers });
    assert.equal(await main(["stop", "demo-aaaaa"], stop), 0);
    assert.match(stop.stderrText, /demo-aaaaa is already stopped; resume it with/);
    assert.deepEqual(mutations(stop.runner.argvs), []);
    const rm = ctx(xdg, { handlers });
    assert.equal(await main(["rm", "demo-aaaaa"], rm), 0);
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
    const again = ctx(xdg, { handlers });
    assert.equal(await main(["rm", "demo-aaaaa"], again), 0);
    assert.match(
      again.stderrText,
      /demo-aaaaa: no such bottle on this machine \(already removed\?\)/,
    );
  });
});

Deno.test("rm takes several slugs; rm --stopped removes every stopped bottle and only those", async () => {
  await withState(async (xdg, root) => {
    const a = await writeFakeBottle(root, { slug: "a-aaaaa", status: "stopped" });
    const b = await writeFakeBottle(root, { slug: "b-bbbbb", status: "stopped" });
    const c3 = await writeFakeBottle(root, { slug: "c-ccccc", status: "stopped" });
    const orphan = await writeFakeBottle(root, { slug: "d-ddddd", status: "starting" });
    const handlers = [...inventory(), on(["docker"], ok(""))];
    const several = ctx(xdg, { handlers });
    assert.equal(await main(["rm", "a-aaaaa", "b-bbbbb", "gone-zzzzz"], several), 0);
    assert.match(several.stderrText, /a-aaaaa removed, state deleted\n.*b-bbbbb removed/s);
    for (const dir of [a, b]) await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);

    const stopped = ctx(xdg, { handlers });
    assert.equal(await main(["rm", "--stopped"], stopped), 0, stopped.stderrText);
    await assert.rejects(Deno.stat(c3), Deno.errors.NotFound);
    assert.ok((await Deno.stat(orphan)).isDirectory, "an orphan is cleanup's, not rm --stopped's");
    const none = ctx(xdg, { handlers });
    assert.equal(await main(["rm", "--stopped"], none), 0);
    assert.equal(none.stderrText, "bot-bottle: no stopped bottles; nothing removed\n");
  });
});

Deno.test("with Docker unreachable nothing claims success: rm, stop, cleanup and list exit 1", async () => {
  await withState(async (xdg, root) => {
    const dir = await writeFakeBottle(root, { slug: "demo-aaaaa", status: "stopped" });
    const down = [
      on(lsJsonArgv(), ok("[]\n")),
      on(["docker"], { code: 1, stdout: "", stderr: "Cannot connect to the Docker daemon" }),
    ];
    for (const argv of [["rm", "demo-aaaaa"], ["stop", "demo-aaaaa"], ["cleanup", "--yes"]]) {
      const c = ctx(xdg, { handlers: down });
      assert.equal(await main(argv, c), 1, argv.join(" "));
      assert.match(
        c.stderrText,
        /error: cannot see Docker's containers and networks \(Docker containers not listed: Cannot connect to the Docker daemon/,
      );
      assert.match(c.stderrText, /so nothing was removed|so nothing was stopped/);
      assert.ok(!/removed, state deleted|nothing to clean up/.test(c.stderrText), c.stderrText);
      assert.deepEqual(mutations(c.runner.argvs), []);
    }
    assert.ok((await Deno.stat(dir)).isDirectory);
    const list = ctx(xdg, { handlers: down });
    assert.equal(await main(["list"], list), 1);
    assert.match(list.stderrText, /the list is incomplete: docker could not be listed/);
  });
});

Deno.test("stop keeps the state as stopped; rm deletes it", async () => {
  await withState(async (xdg, root) => {
    const me = ownerId(root);
    const dir = await writeFakeBottle(root, { slug: "demo-aaaaa", status: "starting" });
    const handlers = [
      ...inventory(
        [`bot-bottle-demo-aaaaa-bundle\texited\tdemo-aaaaa\tbundle\tdocker\t${me}`],
        [`bot-bottle-demo-aaaaa\tdemo-aaaaa\tdocker\t${me}`],
      ),
      on(["docker"], ok("")),
    ];
    const stop = ctx(xdg, { handlers });
    assert.equal(await main(["stop", "demo-aaaaa"], stop), 0, stop.stderrText);
    assert.deepEqual(mutations(stop.runner.argvs), [
      ["docker", "rm", "--force", "--volumes", "bot-bottle-demo-aaaaa-bundle"],
      ["docker", "network", "rm", "bot-bottle-demo-aaaaa"],
    ]);
    assert.equal(await readStatus(dir), "stopped");
    assert.match(
      stop.stderrText,
      /demo-aaaaa stopped; resume it with `bot-bottle resume demo-aaaaa`; removed container bot-bottle-demo-aaaaa-bundle, network bot-bottle-demo-aaaaa\n/,
    );

    const rm = ctx(xdg, { handlers: [...inventory(), on(["docker"], ok(""))] });
    assert.equal(await main(["rm", "demo-aaaaa"], rm), 0, rm.stderrText);
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
    assert.match(rm.stderrText, /demo-aaaaa removed, state deleted/);
  });
});

Deno.test("rm of a running bottle lets its own launch finish writing its state, then deletes it", async () => {
  await withState(async (xdg, root) => {
    const me = ownerId(root);
    const dir = await writeFakeBottle(root, { slug: "demo-aaaaa", status: "running" });
    // The bottle's `start` process: holds the owner lock; once its agent's container is
    // removed, it tears down and records its last status in the state dir, then exits.
    const lock = (await takeOwnerLock(dir))!;
    let launchWrote: Promise<string> | undefined;
    const launchTeardown = () =>
      launchWrote ??= new Promise<void>((r) => setTimeout(r, 300)).then(async () => {
        try {
          await writeStatus(dir, "stopped");
          return "wrote";
        } catch (error) {
          return `failed: ${(error as Error).message}`;
        } finally {
          lock.release();
        }
      });
    const handlers: Handler[] = [
      ...inventory(
        [`bot-bottle-demo-aaaaa-agent\trunning\tdemo-aaaaa\tagent\tdocker\t${me}`],
        [`bot-bottle-demo-aaaaa\tdemo-aaaaa\tdocker\t${me}`],
      ),
      (argv) => {
        if (argv[0] === "docker" && argv[1] === "rm") void launchTeardown();
        return undefined;
      },
      on(["docker"], ok("")),
    ];
    const rm = ctx(xdg, { handlers });
    assert.equal(await main(["rm", "demo-aaaaa"], rm), 0, rm.stderrText);
    assert.equal(await launchWrote, "wrote", "the launch's own teardown was not cut short");
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
    assert.match(rm.stderrText, /demo-aaaaa removed, state deleted/);
  });
});

Deno.test("cleanup --dry-run lists the orphans and changes nothing", async () => {
  await withState(async (xdg, root) => {
    const me = ownerId(root);
    const orphan = await writeFakeBottle(root, { slug: "left-aaaaa", status: "starting" });
    const stopped = await writeFakeBottle(root, { slug: "stop-bbbbb", status: "stopped" });
    const c = ctx(xdg, {
      handlers: inventory(
        [`bot-bottle-left-aaaaa-bundle\texited\tleft-aaaaa\tbundle\tdocker\t${me}`],
        [`bot-bottle-left-aaaaa-internal\tleft-aaaaa\tdocker\t${me}`],
      ),
    });
    const before = await Array.fromAsync(Deno.readDir(orphan), (e) => e.name);
    assert.equal(await main(["cleanup", "--dry-run"], c), 0, c.stderrText);
    assert.equal(
      c.stdoutText,
      [
        "cleanup would remove:",
        "  left-aaaaa (resources left without a live bot-bottle process)",
        "    container bot-bottle-left-aaaaa-bundle",
        "    network bot-bottle-left-aaaaa-internal",
        `    state dir ${orphan}`,
        "",
      ].join("\n"),
    );
    assert.deepEqual(mutations(c.runner.argvs), []);
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(orphan), (e) => e.name)).sort(),
      before.sort(),
    );
    assert.equal(await readStatus(stopped), "stopped");
    assert.equal(c.stderrText, "");
  });
});

Deno.test("cleanup without a TTY and without --yes refuses and removes nothing", async () => {
  await withState(async (xdg, root) => {
    const me = ownerId(root);
    const orphan = await writeFakeBottle(root, { slug: "left-aaaaa", status: "starting" });
    const c = ctx(xdg, {
      stdinIsTerminal: false,
      handlers: inventory([
        `bot-bottle-left-aaaaa-bundle\texited\tleft-aaaaa\tbundle\tdocker\t${me}`,
      ]),
    });
    assert.equal(await main(["cleanup"], c), 1, c.stderrText);
    assert.match(
      c.stderrText,
      /bot-bottle: error: refusing to remove anything without confirmation: stdin is not a terminal\nhint: pass --yes, or look first with --dry-run\n/,
    );
    assert.deepEqual(mutations(c.runner.argvs), []);
    assert.ok((await Deno.stat(orphan)).isDirectory);

    // On a TTY, anything but y/yes keeps everything too.
    const tty = ctx(xdg, {
      stdinIsTerminal: true,
      input: ["n"],
      handlers: inventory([
        `bot-bottle-left-aaaaa-bundle\texited\tleft-aaaaa\tbundle\tdocker\t${me}`,
      ]),
    });
    assert.equal(await main(["cleanup"], tty), 1);
    assert.match(tty.stderrText, /Remove all of the above\? \[y\/N\] nothing removed\n$/);
    assert.deepEqual(mutations(tty.runner.argvs), []);

    // Ctrl-C at the prompt: 130, and it says nothing was removed.
    const ctrlC = ctx(xdg, {
      stdinIsTerminal: true,
      interruptRead: true,
      handlers: inventory([
        `bot-bottle-left-aaaaa-bundle\texited\tleft-aaaaa\tbundle\tdocker\t${me}`,
      ]),
    });
    assert.equal(await main(["cleanup"], ctrlC), 130);
    assert.match(ctrlC.stderrText, /interrupted by SIGINT at the prompt; nothing was removed\n$/);
    assert.deepEqual(mutations(ctrlC.runner.argvs), []);
    assert.ok((await Deno.stat(orphan)).isDirectory);
  });
});

Deno.test("cleanup with nothing orphaned says so, and names kept state", async () => {
  await withState(async (xdg, root) => {
    await writeFakeBottle(root, { slug: "stop-aaaaa", status: "stopped" });
    const kept = await writeFakeBottle(root, {
      slug: "kept-bbbbb",
      status: "starting",
      keep: true,
    });
    const c = ctx(xdg, { handlers: inventory() });
    assert.equal(await main(["cleanup", "--yes"], c), 0, c.stderrText);
    assert.equal(c.stderrText, `nothing to clean up\nkept ${kept} (keep marker)\n`);
    assert.deepEqual(mutations(c.runner.argvs), []);
  });
});

/** A list context whose stderr may be a terminal. */
function listCtx(xdg: string, root: string, env: Record<string, string>, terminal: boolean) {
  const me = ownerId(root);
  const c = ctx(xdg, {
    env,
    handlers: inventory(
      [`bot-bottle-ghost-ccccc-bundle\texited\tghost-ccccc\tbundle\tdocker\t${me}`],
    ),
  });
  return Object.assign(c, { stdoutIsTerminal: terminal });
}

async function seedList(root: string): Promise<void> {
  await writeFakeBottle(root, {
    slug: "a-very-long-slug-name-aaaaa",
    agent: "demo",
    backend: "smolmachines",
    octet: 7,
    status: "stopped",
    startedAt: "2026-11-22T11:59:30.000Z",
  });
  await writeFakeBottle(root, {
    slug: "b-bbbbb",
    agent: "a-long-agent-name",
    backend: "docker",
    octet: 123,
    status: "stopped",
    startedAt: "2026-11-19T12:00:00.000Z",
  });
}

Deno.test("list: aligned columns, orphan reasons, plain text with NO_COLOR", async () => {
  await withState(async (xdg, root) => {
    await seedList(root);
    const c = listCtx(xdg, root, { NO_COLOR: "1" }, true);
    assert.equal(await main(["list"], c), 0, c.stderrText);
    assert.ok(!c.stdoutText.includes(ESC), "NO_COLOR must turn colour off on a terminal");
    assert.equal(c.stderrText, "", "the table goes to stdout");
    const lines = c.stdoutText.split("\n");
    assert.deepEqual(lines.slice(0, 4), [
      "SLUG                         AGENT              BACKEND       STATE     SUBNET            AGE",
      "a-very-long-slug-name-aaaaa  demo               smolmachines  stopped   192.168.7.0/24    30s",
      "b-bbbbb                      a-long-agent-name  docker        stopped   192.168.123.0/24  3d",
      "ghost-ccccc                  -                  docker        orphaned  -                 -",
    ]);
    assert.equal(lines[4], "ghost-ccccc: orphaned: resources without a state dir");
    // Every column starts where its header starts.
    const header = lines[0];
    const starts = ["AGENT", "BACKEND", "STATE", "SUBNET", "AGE"].map((h) => header.indexOf(h));
    for (const row of lines.slice(1, 4)) {
      for (const s of starts) assert.notEqual(row[s - 1], undefined);
      for (const s of starts) assert.equal(row.slice(s - 2, s), "  ", `column at ${s} in ${row}`);
    }
    // `ls` is the same command.
    const ls = listCtx(xdg, root, { NO_COLOR: "1" }, true);
    assert.equal(await main(["ls"], ls), 0);
    assert.equal(ls.stdoutText, c.stdoutText);
  });
});

Deno.test("list: colour on a terminal without NO_COLOR keeps the alignment", async () => {
  await withState(async (xdg, root) => {
    await seedList(root);
    const plain = listCtx(xdg, root, { NO_COLOR: "1" }, true);
    await main(["list"], plain);
    const colour = listCtx(xdg, root, {}, true);
    assert.equal(await main(["list"], colour), 0);
    assert.ok(colour.stdoutText.includes(`${ESC}33m`), "orphaned is yellow on a terminal");
    // Empty NO_COLOR means colour (no-color.org); non-terminal means none.
    const empty = listCtx(xdg, root, { NO_COLOR: "" }, true);
    await main(["list"], empty);
    assert.ok(empty.stdoutText.includes(ESC));
    const pipe = listCtx(xdg, root, {}, false);
    await main(["list"], pipe);
    assert.equal(pipe.stdoutText, plain.stdoutText);
    // Without the escapes it is byte for byte the plain table.
    // deno-lint-ignore no-control-regex
    assert.equal(colour.stdoutText.replace(/\x1b\[\d+m/g, ""), plain.stdoutText);
  });
});

Deno.test("list --json: schema 1 on stdout, nothing on stderr; empty list says so", async () => {
  await withState(async (xdg, root) => {
    const empty = ctx(xdg, { handlers: inventory() });
    assert.equal(await main(["list"], empty), 0);
    assert.match(empty.stdoutText, /\(no bottles\)/);

    await seedList(root);
    const c = listCtx(xdg, root, {}, false);
    assert.equal(await main(["list", "--json"], c), 0);
    assert.equal(c.stderrText, "");
    const doc = JSON.parse(c.stdoutText);
    assert.equal(doc.schema, 1);
    assert.deepEqual(doc.notes, []);
    assert.deepEqual(
      doc.bottles.map((b: { slug: string; state: string }) => [b.slug, b.state]),
      [["a-very-long-slug-name-aaaaa", "stopped"], ["b-bbbbb", "stopped"], [
        "ghost-ccccc",
        "orphaned",
      ]],
    );
    assert.equal(doc.bottles[1].age_seconds, 3 * 86400);
    const c2 = listCtx(xdg, root, {}, false);
    assert.equal(await main(["list", "extra"], c2), 2);
  });
});

Deno.test("cleanup removes intermediate containers of builds that did not finish", async () => {
  await withState(async (xdg, root) => {
    const me = ownerId(root);
    const handlers = [
      on(buildLeftoversArgv(me), ok("bb-dead\texited\tbot-bottle/agent-x:1\n")),
      ...inventory(),
      on(["docker", "rm"], ok("")),
    ];
    const dry = ctx(xdg, { handlers });
    assert.equal(await main(["cleanup", "--dry-run"], dry), 0, dry.stderrText);
    assert.equal(
      dry.stdoutText,
      "cleanup would remove:\n" +
        "  image builds (intermediate containers of builds that did not finish)\n" +
        "    container bb-dead\n",
    );
    assert.deepEqual(mutations(dry.runner.argvs), []);
    const c = ctx(xdg, { handlers });
    assert.equal(await main(["cleanup", "--yes"], c), 0, c.stderrText);
    assert.deepEqual(mutations(c.runner.argvs), [
      ["docker", "rm", "--force", "--volumes", "bb-dead"],
    ]);
    assert.match(c.stderrText, /removed container bb-dead\ncleanup: 1 removed, 0 failed\n$/);
  });
});

Deno.test("a start that fails before the agent runs leaves no state; a resume keeps its own", async () => {
  await withState(async (xdg, root) => {
    const failing = [
      on(["docker", "network", "create"], fail(1, "Error response from daemon: boom")),
      ...HEALTHY_HOST,
      on(["docker"], ok("")),
    ];
    const c = ctx(xdg, { handlers: failing });
    assert.equal(await main(["start", "demo", "--backend", "docker", "--yes"], c), 1);
    assert.match(c.stderrText, /creating network bot-bottle-demo-abcde-internal .* failed: .*boom/);
    assert.match(c.stderrText, /the agent never ran: its state was deleted/);
    assert.deepEqual([...Deno.readDirSync(`${root}/bottles`)], [], "no record of it");

    // A resumed bottle that fails the same way is still there to resume.
    const dir = await writeFakeBottle(root, {
      slug: "demo-bbbbb",
      status: "stopped",
      backend: "docker",
    });
    const r = ctx(xdg, { handlers: [...inventory(), ...failing] });
    assert.equal(await main(["resume", "demo-bbbbb", "--yes"], r), 1, r.stderrText);
    assert.equal(await readStatus(dir), "stopped");
  });
});

Deno.test("resume reads the manifest the bottle was started from, on its recorded backend", async () => {
  await withState(async (xdg, root) => {
    const elsewhere = "/srv/manifests/team.toml";
    await writeFakeBottle(root, {
      slug: "demo-ccccc",
      status: "stopped",
      backend: "docker",
      manifest: { user_path: elsewhere, user_explicit: true, project_path: null },
    });
    // No --manifest, and the default user manifest does not define the agent at all.
    const c = testContext({
      files: { [elsewhere]: USER_TOML, [MANIFEST]: "" },
      env: { XDG_STATE_HOME: xdg, BOT_BOTTLE_BACKEND: "smolmachines" },
      handlers: [...inventory(), ...HEALTHY_HOST],
    });
    assert.equal(
      await main(["resume", "demo-ccccc", "--dry-run", "--json", "--", "-c", "echo again"], c),
      0,
      c.stderrText,
    );
    const plan = JSON.parse(c.stdoutText);
    assert.equal(plan.slug, "demo-ccccc");
    assert.equal(plan.backend, "docker", "the recorded backend, not BOT_BOTTLE_BACKEND");
    assert.deepEqual(plan.manifest, {
      user_path: elsewhere,
      user_explicit: true,
      project_path: null,
    });
    assert.deepEqual(plan.agent_source, { scope: "user", file: elsewhere });
    assert.deepEqual(plan.command, ["bash", "-l", "-c", "echo again"]);
    assert.ok(
      plan.notes.some((n: string) => n.includes("BOT_BOTTLE_BACKEND=smolmachines applies to new")),
    );

    // The recorded file is gone: said so, with how to name another.
    const gone = testContext({
      files: {},
      env: { XDG_STATE_HOME: xdg },
      handlers: [...inventory(), ...HEALTHY_HOST],
    });
    assert.equal(await main(["resume", "demo-ccccc", "--dry-run"], gone), 1);
    assert.match(
      gone.stderrText,
      /\/srv\/manifests\/team\.toml: manifest file not found \(the bottle was started from it; name another with --manifest PATH\)/,
    );
  });
});

Deno.test("start records where its manifests are, for resume", async () => {
  const c = testContext({
    files: { "/tmp/m.toml": USER_TOML, "/home/u/project/bot-bottle.toml": "" },
  });
  assert.equal(
    await main(["start", "demo", "--dry-run", "--json", "--manifest", "/tmp/m.toml"], c),
    0,
  );
  assert.deepEqual(JSON.parse(c.stdoutText).manifest, {
    user_path: "/tmp/m.toml",
    user_explicit: true,
    project_path: "/home/u/project/bot-bottle.toml",
  });
});
