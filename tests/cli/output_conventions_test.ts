/**
 * SPEC §2's output convention, command by command: what a command produces
 * (help, tables, plans, JSON) on stdout, progress and diagnostics on stderr;
 * `-q` and `--json` on the reporting commands.
 */
import assert from "node:assert/strict";
import { main } from "../../main.ts";
import { renderTable } from "../../lib/cli/_shared/output.ts";
import {
  CONTAINERS_ARGV,
  LABELLED_CONTAINERS_ARGV,
  LABELLED_NETWORKS_ARGV,
  NETWORKS_ARGV,
} from "../../lib/bottles/inventory.ts";
import { lsJsonArgv } from "../../lib/backends/smolvm/smolvm_argv.ts";
import { ownerId } from "../../lib/plan/resource_names.ts";
import { writeFakeBottle } from "../fixtures/bottle_state.ts";
import { type Handler, ok, on } from "../fixtures/recording_runner.ts";
import { testContext } from "../fixtures/test_context.ts";

const MANIFEST = "/home/u/.config/bot-bottle/bot-bottle.toml";
const TOML = `
[bottles.shell]
image = "img:1"
egress.allow = ["a.test"]

[agents.zed]
bottle = "shell"
command = ["zsh"]

[agents.alpha]
bottle = "shell"
command = ["sh"]
`;

function inventory(containers: string[] = []): Handler[] {
  const text = ok(containers.length ? `${containers.join("\n")}\n` : "");
  return [
    on(CONTAINERS_ARGV, text),
    on(LABELLED_CONTAINERS_ARGV, text),
    on(NETWORKS_ARGV, ok("")),
    on(LABELLED_NETWORKS_ARGV, ok("")),
    on(lsJsonArgv(), ok("[]\n")),
  ];
}

async function withState(fn: (xdg: string, root: string) => Promise<void>): Promise<void> {
  const xdg = await Deno.makeTempDir({ prefix: "bbtest-output-" });
  try {
    await fn(xdg, `${xdg}/bot-bottle`);
  } finally {
    await Deno.remove(xdg, { recursive: true });
  }
}

Deno.test("help asked for goes to stdout; help after a usage error goes to stderr", async () => {
  for (const argv of [["--help"], ["-h"], ["help"], ["help", "start"], ["list", "--help"]]) {
    const c = testContext();
    assert.equal(await main(argv, c), 0, argv.join(" "));
    assert.match(c.stdoutText, /Usage: bot-bottle/, argv.join(" "));
    assert.equal(c.stderrText, "", argv.join(" "));
  }
  const none = testContext();
  assert.equal(await main([], none), 2);
  assert.equal(none.stdoutText, "");
  assert.match(none.stderrText, /Usage: bot-bottle.*\n[^]*error: no command given/);
  const bad = testContext();
  assert.equal(await main(["help", "strat"], bad), 2);
  assert.match(bad.stderrText, /help: unknown command "strat" \(did you mean "start"\?\)/);
});

Deno.test("a dry run's plan is on stdout, text or JSON, and nothing else is", async () => {
  for (const json of [false, true]) {
    const c = testContext({ files: { [MANIFEST]: TOML } });
    const argv = [
      "start",
      "alpha",
      "--dry-run",
      "--backend",
      "docker",
      ...(json ? ["--json"] : []),
    ];
    assert.equal(await main(argv, c), 0, c.stderrText);
    if (json) assert.equal(JSON.parse(c.stdoutText).slug, "alpha-abcde");
    else assert.match(c.stdoutText, /^bot-bottle plan for agent "alpha"\n {2}slug {7}alpha-abcde/);
    assert.equal(c.stderrText, "", json ? "json" : "text");
  }
});

Deno.test("list: table on stdout, -q only slugs, --json; -q and --json together are refused", async () => {
  await withState(async (xdg, root) => {
    await writeFakeBottle(root, { slug: "b-bbbbb", status: "stopped" });
    await writeFakeBottle(root, { slug: "a-aaaaa", status: "stopped" });
    const me = ownerId(root);
    const ghost = `bot-bottle-c-ccccc-bundle\texited\tc-ccccc\tbundle\tdocker\t${me}`;
    const env = { XDG_STATE_HOME: xdg };
    const table = testContext({ env, handlers: inventory([ghost]) });
    assert.equal(await main(["list"], table), 0);
    assert.match(table.stdoutText, /^SLUG +AGENT +BACKEND +STATE +SUBNET +AGE\na-aaaaa /);
    assert.equal(table.stderrText, "");

    const quiet = testContext({ env, handlers: inventory([ghost]) });
    assert.equal(await main(["ls", "-q"], quiet), 0);
    assert.equal(quiet.stdoutText, "a-aaaaa\nb-bbbbb\nc-ccccc\n");
    assert.equal(quiet.stderrText, "");

    const both = testContext({ env, handlers: inventory() });
    assert.equal(await main(["list", "-q", "--json"], both), 2);
    assert.match(both.stderrText, /list: --json and -q do not go together/);
  });
});

Deno.test("list notes (what could not be listed) go to stderr, the table to stdout", async () => {
  await withState(async (xdg) => {
    const c = testContext({
      env: { XDG_STATE_HOME: xdg },
      handlers: [
        on(lsJsonArgv(), ok("[]\n")),
        on(["docker"], { code: 1, stdout: "", stderr: "boom" }),
      ],
    });
    assert.equal(await main(["list"], c), 1);
    assert.match(c.stdoutText, /^SLUG/);
    assert.match(c.stderrText, /^note: Docker containers not listed: boom$/m);
    assert.ok(!c.stdoutText.includes("note"));
  });
});

Deno.test("agents: readable list on stdout, -q only names, --json with schema", async () => {
  const text = testContext({ files: { [MANIFEST]: TOML } });
  assert.equal(await main(["agents"], text), 0);
  assert.match(text.stdoutText, /^alpha {2}\(user: /);
  assert.equal(text.stderrText, "");
  const quiet = testContext({ files: { [MANIFEST]: TOML } });
  assert.equal(await main(["agents", "-q"], quiet), 0);
  assert.equal(quiet.stdoutText, "alpha\nzed\n");
  const json = testContext({ files: { [MANIFEST]: TOML } });
  assert.equal(await main(["agents", "--json"], json), 0);
  assert.equal(JSON.parse(json.stdoutText).schema, 1);
});

Deno.test("doctor: the report on stdout, text or JSON", async () => {
  const text = testContext();
  assert.equal(await main(["doctor"], text), 0);
  assert.match(text.stdoutText, /^bot-bottle 0\.1\.0 doctor\n/);
  assert.equal(text.stderrText, "");
  const json = testContext();
  assert.equal(await main(["doctor", "--json"], json), 0);
  assert.equal(JSON.parse(json.stdoutText).schema, 1);
  assert.equal(json.stderrText, "");
});

Deno.test("version --json: name, version, runtime", async () => {
  const c = testContext();
  assert.equal(await main(["version", "--json"], c), 0);
  const doc = JSON.parse(c.stdoutText);
  assert.equal(doc.schema, 1);
  assert.equal(doc.version, "0.1.0");
  assert.equal(doc.deno, Deno.version.deno);
  assert.equal(c.stderrText, "");
});

Deno.test("cleanup --dry-run: the listing on stdout, --json too; --json needs --dry-run", async () => {
  await withState(async (xdg, root) => {
    const me = ownerId(root);
    const orphan = await writeFakeBottle(root, { slug: "left-aaaaa", status: "starting" });
    const ghost = `bot-bottle-left-aaaaa-bundle\texited\tleft-aaaaa\tbundle\tdocker\t${me}`;
    const env = { XDG_STATE_HOME: xdg };
    const c = testContext({ env, handlers: inventory([ghost]) });
    assert.equal(await main(["cleanup", "--dry-run", "--json"], c), 0, c.stderrText);
    assert.deepEqual(JSON.parse(c.stdoutText), {
      schema: 1,
      remove: [{
        slug: "left-aaaaa",
        reason: "resources left without a live bot-bottle process",
        items: [
          { kind: "container", name: "bot-bottle-left-aaaaa-bundle" },
          { kind: "state dir", name: orphan },
        ],
      }],
      build_leftovers: [],
      kept: [],
      notes: [],
    });
    assert.equal(c.stderrText, "");
    const bad = testContext({ env, handlers: inventory([ghost]) });
    assert.equal(await main(["cleanup", "--json"], bad), 2);
    assert.match(bad.stderrText, /--json needs --dry-run/);
  });
});

Deno.test("a launch keeps stdout for the agent: its plan is part of the dialogue on stderr", async () => {
  const c = testContext({ files: { [MANIFEST]: TOML }, stdinIsTerminal: true, input: ["n"] });
  assert.equal(await main(["start", "alpha", "--backend", "docker"], c), 1);
  assert.equal(c.stdoutText, "");
  assert.match(c.stderrText, /^bot-bottle plan for agent "alpha"/);
  assert.match(c.stderrText, /Launch\? \[y\/N\] not launched; nothing was created\n$/);
});

Deno.test("renderTable aligns columns without trailing blanks; paint keeps the alignment", () => {
  const rows = [["a", "long-cell", "x"], ["bbbb", "c", ""]];
  assert.deepEqual(renderTable(["H1", "H2", "H3"], rows), [
    "H1    H2         H3",
    "a     long-cell  x",
    "bbbb  c",
  ]);
  const painted = renderTable(["H1", "H2"], [["a", "b"]], (_i, _cell, padded) => `<${padded}>`);
  assert.deepEqual(painted, ["H1  H2", "<a >  <b>"]);
});
