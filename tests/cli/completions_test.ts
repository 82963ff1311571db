/**
 * `completions bash|zsh|fish`: generated from the command table; the bash
 * script loads in bash and completes commands, options, backends, agents and
 * slugs (the `bot-bottle agents -q` / `list -q` it calls are stubbed here).
 */
import assert from "node:assert/strict";
import { main } from "../../main.ts";
import { COMMANDS } from "../../lib/cli/commands.ts";
import { testContext } from "../fixtures/test_context.ts";

async function script(shell: string): Promise<string> {
  const c = testContext();
  assert.equal(await main(["completions", shell], c), 0, c.stderrText);
  assert.equal(c.stderrText, "");
  return c.stdoutText;
}

async function which(program: string): Promise<boolean> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if ((await Deno.stat(`${dir}/${program}`)).isFile) return true;
    } catch { /* next */ }
  }
  return false;
}

/** What bash completes for `line` (words split on spaces; a trailing space starts a new word). */
async function complete(file: string, line: string): Promise<string[]> {
  const words = line.split(" ");
  const program = [
    `source ${JSON.stringify(file)}`,
    // Stand-ins for the CLI the script calls for agents and slugs.
    'bot-bottle() { case "$1" in agents) echo "claude codex shell";; list) echo "demo-aaaaa shell-bbbbb";; esac; }',
    `COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(" ")})`,
    `COMP_CWORD=${words.length - 1}`,
    "_bot_bottle",
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join("\n");
  const out = await new Deno.Command("bash", { args: ["-c", program], stdin: "null" }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean);
}

Deno.test("the bash script loads in bash and completes from the command table", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/bot-bottle.bash`;
    await Deno.writeTextFile(file, await script("bash"));
    const loaded = await new Deno.Command("bash", {
      args: ["-c", `source ${JSON.stringify(file)} && complete -p bot-bottle`],
    }).output();
    assert.equal(new TextDecoder().decode(loaded.stdout), "complete -F _bot_bottle bot-bottle\n");
    assert.deepEqual(await complete(file, "bot-bottle st"), ["start", "stop"]);
    assert.deepEqual(await complete(file, "bot-bottle start --dr"), ["--dry-run"]);
    assert.deepEqual(await complete(file, "bot-bottle start "), ["claude", "codex", "shell"]);
    assert.deepEqual(await complete(file, "bot-bottle rm "), ["demo-aaaaa", "shell-bbbbb"]);
    assert.deepEqual(await complete(file, "bot-bottle resume d"), ["demo-aaaaa"]);
    assert.deepEqual(await complete(file, "bot-bottle start claude --backend "), [
      "smolmachines",
      "docker",
    ]);
    assert.deepEqual(await complete(file, "bot-bottle --manifest m.toml li"), ["list"]);
    assert.deepEqual(await complete(file, "bot-bottle ls -"), [
      "--json",
      "--quiet",
      "-q",
      "--manifest",
      "--help",
      "-h",
      "--version",
    ]);
    assert.deepEqual(await complete(file, "bot-bottle completions "), ["bash", "zsh", "fish"]);
    assert.deepEqual(
      await complete(file, "bot-bottle start claude -- "),
      [],
      "agent args are the agent's",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every command and option is in each script; zsh and fish parse where installed", async () => {
  const scripts = {
    bash: await script("bash"),
    zsh: await script("zsh"),
    fish: await script("fish"),
  };
  for (const [shell, text] of Object.entries(scripts)) {
    for (const c of COMMANDS) {
      assert.ok(text.includes(c.name), `${shell}: ${c.name}`);
      for (const name of Object.keys(c.options)) {
        assert.ok(
          shell === "fish" ? text.includes(`-l ${name}`) : text.includes(`--${name}`),
          `${shell}: ${c.name} --${name}`,
        );
      }
    }
  }
  assert.match(scripts.zsh, /^#compdef bot-bottle\n/);
  assert.match(scripts.zsh, /_bot_bottle\(\) \{\n {2}setopt localoptions ksharrays\n/);
  for (const shell of ["zsh", "fish"]) {
    if (!(await which(shell))) continue;
    const out = await new Deno.Command(shell, { args: ["-n"], stdin: "piped" }).spawn();
    const w = out.stdin.getWriter();
    await w.write(new TextEncoder().encode(scripts[shell as "zsh" | "fish"]));
    await w.close();
    assert.equal((await out.status).code, 0, `${shell} -n`);
  }
  if (await which("fish")) {
    const fish = await new Deno.Command("fish", {
      args: [
        "-c",
        `${scripts.fish}\nfunction bot-bottle; echo claude; echo shell; end\n` +
        'complete -C "bot-bottle sta"; complete -C "bot-bottle start "',
      ],
    }).output();
    const got = new TextDecoder().decode(fish.stdout).split("\n").map((l) => l.split("\t")[0]);
    assert.deepEqual(got.filter(Boolean), ["start", "claude", "shell"]);
  }
  const bad = testContext();
  assert.equal(await main(["completions", "tcsh"], bad), 2);
  assert.match(bad.stderrText, /unknown shell "tcsh" \(expected bash, zsh, fish\)/);
});
