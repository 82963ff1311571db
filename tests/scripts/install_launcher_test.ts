/**
 * The checkout launcher (`deno task install-launcher`): it runs main.ts with
 * exactly deno.json's `bot-bottle` task flags, from any directory (a project's
 * ./bot-bottle.toml is read from where it runs), never replaces a file that is
 * not a launcher, and uninstalls only its own.
 */
import assert from "node:assert/strict";
import denoConfig from "../../deno.json" with { type: "json" };
import { launcherScript, MARKER, shQuote, taskFlags } from "../../scripts/install_launcher.ts";
import { hostDenoDir, ROOT } from "../_harness/paths.ts";

const SCRIPT = `${ROOT}scripts/install_launcher.ts`;
const root = ROOT.replace(/\/$/, "");

async function run(
  argv: string[],
  opts: { cwd?: string; env: Record<string, string> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: opts.cwd ?? ROOT,
    clearEnv: true,
    env: opts.env,
    stdin: "null",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

function install(args: string[], env: Record<string, string>) {
  const task = denoConfig.tasks["install-launcher"].command.split(" ");
  assert.equal(task.at(-1), "scripts/install_launcher.ts");
  return run([Deno.execPath(), ...task.slice(1, -1), SCRIPT, ...args], { env });
}

Deno.test("launcher: exactly the bot-bottle task's flags, the checkout's config and main.ts", async () => {
  const flags = await taskFlags();
  const words = denoConfig.tasks["bot-bottle"].command.split(/\s+/);
  assert.deepEqual(flags, words.slice(2, -1));
  const script = launcherScript("/src/bot bottle", "/usr/bin/deno", flags);
  const exec = script.split("\n").find((l) => l.startsWith("exec "))!;
  assert.equal(
    exec,
    `exec /usr/bin/deno run ${flags.join(" ")} '--config=/src/bot bottle/deno.json' ` +
      `'/src/bot bottle/main.ts' "$@"`,
  );
  assert.ok(script.includes(MARKER));
  assert.equal(shQuote("it's"), `'it'\\''s'`);
});

Deno.test("launcher: installed, it runs from any directory and reads that directory's project manifest", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bbtest-launcher-" });
  try {
    const env = {
      HOME: `${dir}/home`,
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      DENO_DIR: await hostDenoDir(),
      XDG_CONFIG_HOME: `${dir}/config`,
      XDG_STATE_HOME: `${dir}/state`,
    };
    const first = await install([], env);
    assert.equal(first.code, 0, first.stderr);
    const launcher = `${dir}/home/.local/bin/bot-bottle`;
    assert.match(first.stderr, new RegExp(`wrote ${launcher} \\(runs ${root}/main\\.ts\\)`));
    assert.match(first.stderr, /is not on PATH; add it/);
    assert.equal((await Deno.stat(launcher)).mode! & 0o777, 0o755);

    // A user manifest (init, through the launcher) and a project one in another directory.
    const project = `${dir}/project`;
    await Deno.mkdir(project);
    const init = await run([launcher, "init"], { cwd: project, env });
    assert.equal(init.code, 0, init.stderr);
    await Deno.writeTextFile(
      `${project}/bot-bottle.toml`,
      '[agents.helper]\nbottle = "shell"\ncommand = ["sh"]\n',
    );
    const agents = await run([launcher, "agents", "-q"], { cwd: project, env });
    assert.equal(agents.code, 0, agents.stderr);
    assert.equal(agents.stdout, "claude\ncodex\nhelper\nshell\n");
    const version = await run([launcher, "--version"], { cwd: "/", env });
    assert.equal(version.stdout, "bot-bottle 0.1.0\n");

    // Installing again replaces its own launcher; a foreign file is left alone.
    assert.equal((await install([], env)).code, 0);
    const other = `${dir}/bin`;
    await Deno.mkdir(other);
    await Deno.writeTextFile(`${other}/bot-bottle`, "\x7fELF not ours");
    const refused = await install(["--prefix", other], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /exists and is not a bot-bottle launcher/);
    assert.equal(await Deno.readTextFile(`${other}/bot-bottle`), "\x7fELF not ours");
    assert.equal((await install(["--prefix", other, "--uninstall"], env)).code, 1);

    const removed = await install(["--uninstall"], env);
    assert.equal(removed.code, 0, removed.stderr);
    await assert.rejects(Deno.stat(launcher), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
