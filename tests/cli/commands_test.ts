import assert from "node:assert/strict";
import { GLOBAL_OPTIONS, renderCommandHelp } from "../../lib/cli/_shared/command.ts";
import { COMMANDS, findCommand, renderMainHelp } from "../../lib/cli/commands.ts";
import { main } from "../../main.ts";
import { testContext } from "../fixtures/test_context.ts";

Deno.test("every option of every command appears in that command's help", () => {
  for (const command of COMMANDS) {
    const help = renderCommandHelp(command);
    for (const [name, spec] of Object.entries({ ...command.options, ...GLOBAL_OPTIONS })) {
      assert.match(help, new RegExp(`--${name}\\b`), `${command.name}: --${name}`);
      if (spec.short) assert.ok(help.includes(`-${spec.short}, --${name}`), name);
      assert.ok(help.includes(spec.help), `${command.name}: help of --${name}`);
    }
    assert.ok(help.startsWith(`Usage: bot-bottle ${command.name}`), command.name);
  }
});

Deno.test("the main help lists every command with its summary", () => {
  const help = renderMainHelp();
  for (const command of COMMANDS) {
    const line = help.split("\n").find((l) => l.startsWith(`  ${command.name}`)) ?? "";
    assert.ok(line.endsWith(`  ${command.summary}`), `${command.name}: ${line}`);
  }
});

Deno.test("aliases find their command; names are unique", () => {
  assert.equal(findCommand("ls"), findCommand("list"));
  const names = COMMANDS.flatMap((c) => [c.name, ...(c.aliases ?? [])]);
  assert.equal(new Set(names).size, names.length);
});

Deno.test("`<command> --help` prints the generated help and exits 0", async () => {
  for (const command of COMMANDS) {
    const c = testContext();
    assert.equal(await main([command.name, "--help"], c), 0);
    assert.equal(c.stdoutText, renderCommandHelp(command));
    assert.equal(c.stderrText, "");
  }
});

Deno.test("an unknown command gets a did-you-mean and exit 2", async () => {
  const c = testContext();
  assert.equal(await main(["strat"], c), 2);
  assert.match(c.stderrText, /unknown command "strat" \(did you mean "start"\?\)/);
});

Deno.test("an unknown option gets the nearest option of that command and exit 2", async () => {
  const cases: [string[], string][] = [
    [["start", "demo", "--dryrun"], "start: unknown option --dryrun (did you mean --dry-run?)"],
    [["start", "demo", "--dry_run"], "start: unknown option --dry_run (did you mean --dry-run?)"],
    [["start", "demo", "--lable", "x"], "start: unknown option --lable (did you mean --label?)"],
    [["list", "--jsno"], "list: unknown option --jsno (did you mean --json?)"],
    [["list", "-Q"], "list: unknown option -Q (did you mean --quiet?)"],
    [["doctor", "--manifst", "x"], "doctor: unknown option --manifst (did you mean --manifest?)"],
    [["list", "--dry-run"], "list: unknown option --dry-run (--dry-run is an option of"],
    [["list", "--frobnicate"], "list: unknown option --frobnicate\n"],
    [["--dryrun"], "bot-bottle: unknown option --dryrun\n"],
    [["start", "demo", "--label"], "start: --label needs a value (--label L)"],
    [["start", "demo", "--json=yes"], "start: --json takes no value"],
  ];
  for (const [argv, expected] of cases) {
    const c = testContext();
    assert.equal(await main(argv, c), 2, argv.join(" "));
    assert.ok(c.stderrText.includes(`bot-bottle: error: ${expected}`), c.stderrText);
    assert.match(c.stderrText, /\nhint: Run `bot-bottle( \w+)? --help` for usage\.\n$/);
    assert.equal(c.stdoutText, "");
  }
});

Deno.test("a manifest with two typos reports both, once, exit 1, no stack", async () => {
  const c = testContext({
    files: {
      "/home/u/.config/bot-bottle/bot-bottle.toml":
        '[bottles.a]\nimgae = "x"\n[agents.b]\nbottle = "a"\ncomand = ["sh"]\n',
    },
  });
  assert.equal(await main(["agents"], c), 1);
  assert.equal(
    c.stderrText,
    "bot-bottle: error: /home/u/.config/bot-bottle/bot-bottle.toml: 3 problems:\n" +
      '  unknown key bottles.a.imgae (did you mean "image"?)\n' +
      '  unknown key agents.b.comand (did you mean "command"?)\n' +
      '  agents.b: missing required key command (the argv to run, e.g. ["claude"])\n',
  );
});
