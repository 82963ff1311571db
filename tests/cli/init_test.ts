/**
 * `init`: the user manifest with the shell, claude and codex presets, written
 * where the user manifest is looked for, never over an existing file without
 * --force; and what a command says when there is no manifest at all.
 */
import assert from "node:assert/strict";
import { main } from "../../main.ts";
import { PRESETS, presetSecretLines, userManifestToml } from "../../lib/agents/presets.ts";
import { readTextFileOrNull } from "../../lib/manifest/load_manifest.ts";
import { parseManifestText } from "../../lib/manifest/parse_manifest.ts";
import { testContext, type TestContextOptions } from "../fixtures/test_context.ts";

/** A context on a real temp dir: XDG_CONFIG_HOME there, files read from disk. */
async function withConfig(
  fn: (dir: string, ctx: (opts?: TestContextOptions) => ReturnType<typeof testContext>) => Promise<
    void
  >,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bbtest-init-" });
  try {
    await fn(dir, (opts = {}) => {
      const c = testContext({
        ...opts,
        env: { XDG_CONFIG_HOME: `${dir}/config`, ...opts.env },
      });
      return Object.assign(c, { readFile: readTextFileOrNull });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the presets are a valid user manifest: shell, claude, codex, built-in Dockerfiles", () => {
  const parsed = parseManifestText(userManifestToml(), "/x/bot-bottle.toml", "user");
  assert.deepEqual(Object.keys(parsed.agents), ["shell", "claude", "codex"]);
  assert.deepEqual(Object.keys(parsed.bottles), ["shell", "claude", "codex"]);
  for (const name of ["shell", "claude", "codex"]) {
    assert.equal(parsed.bottles[name].dockerfile, `builtin:${name}`);
    assert.equal(parsed.agents[name].bottle, name);
  }
  // Injected: the agents hold placeholders, the bundle swaps the values in for the API hosts.
  assert.equal(parsed.bottles.claude.secrets, undefined);
  assert.deepEqual(parsed.bottles.claude.injected, {
    CLAUDE_CODE_OAUTH_TOKEN: { from: "BOT_BOTTLE_CLAUDE_TOKEN", inject: ["api.anthropic.com"] },
  });
  assert.deepEqual(parsed.bottles.codex.injected, {
    OPENAI_API_KEY: { from: "BOT_BOTTLE_OPENAI_KEY", inject: ["api.openai.com"] },
  });
  assert.deepEqual(parsed.bottles.claude.egressAllow, ["api.anthropic.com"]);
  // Codex takes its key from ~/.codex/auth.json: the agent logs in with its placeholder first.
  assert.deepEqual(parsed.agents.codex.command, [
    "sh",
    "-c",
    "printenv OPENAI_API_KEY | codex login --with-api-key >/dev/null && exec codex " +
    '--dangerously-bypass-approvals-and-sandbox "$@"',
    "codex",
  ]);
  // The one place the secrets are written, and the hosts an injected form will need.
  const claude = PRESETS.find((p) => p.name === "claude")!;
  assert.deepEqual(presetSecretLines(claude).slice(-3), [
    "[bottles.claude.secrets.CLAUDE_CODE_OAUTH_TOKEN]",
    'from = "BOT_BOTTLE_CLAUDE_TOKEN"',
    'inject = ["api.anthropic.com"]',
  ]);
  assert.deepEqual(claude.secrets[0].inject, ["api.anthropic.com"]);
});

Deno.test("init writes the user manifest under an empty XDG_CONFIG_HOME; agents then lists it", async () => {
  await withConfig(async (dir, ctx) => {
    const c = ctx();
    assert.equal(await main(["init"], c), 0, c.stderrText);
    const path = `${dir}/config/bot-bottle/bot-bottle.toml`;
    assert.equal(await Deno.readTextFile(path), userManifestToml());
    assert.match(c.stderrText, new RegExp(`^bot-bottle: wrote ${path} with the agents shell, `));
    assert.match(c.stderrText, /export BOT_BOTTLE_CLAUDE_TOKEN=\.\.\./);
    assert.equal(c.stdoutText, "");

    const agents = ctx();
    assert.equal(await main(["agents", "-q"], agents), 0, agents.stderrText);
    assert.equal(agents.stdoutText, "claude\ncodex\nshell\n");

    const dry = ctx({ env: { BOT_BOTTLE_CLAUDE_TOKEN: "x" } });
    assert.equal(
      await main(["start", "claude", "--dry-run", "--json", "--backend", "docker"], dry),
      0,
      dry.stderrText,
    );
    const plan = JSON.parse(dry.stdoutText);
    assert.equal(plan.dockerfile, "builtin:claude");
    assert.deepEqual(plan.egress_allow, ["api.anthropic.com"]);
  });
});

Deno.test("init never overwrites without --force; --force keeps the old file as .bak", async () => {
  await withConfig(async (dir, ctx) => {
    const path = `${dir}/config/bot-bottle/bot-bottle.toml`;
    await Deno.mkdir(`${dir}/config/bot-bottle`, { recursive: true });
    await Deno.writeTextFile(path, "# mine\n");
    const again = ctx();
    assert.equal(await main(["init"], again), 1);
    assert.equal(await Deno.readTextFile(path), "# mine\n");
    assert.match(
      again.stderrText,
      new RegExp(`error: ${path} already exists; init never overwrites a manifest`),
    );
    assert.match(again.stderrText, /hint: .*bot-bottle init --force/);

    const forced = ctx();
    assert.equal(await main(["init", "--force"], forced), 0, forced.stderrText);
    assert.equal(await Deno.readTextFile(path), userManifestToml());
    assert.equal(await Deno.readTextFile(`${path}.bak`), "# mine\n");
    assert.match(forced.stderrText, /the previous file is kept as .*\.bak/);
  });
});

Deno.test("init --manifest PATH writes there", async () => {
  await withConfig(async (dir, ctx) => {
    const c = ctx();
    assert.equal(await main(["init", "--manifest", `${dir}/elsewhere/m.toml`], c), 0);
    assert.ok((await Deno.stat(`${dir}/elsewhere/m.toml`)).isFile);
  });
});

Deno.test("with no manifest at all, start and agents say where they looked and name init", async () => {
  await withConfig(async (dir, ctx) => {
    const start = ctx();
    assert.equal(await main(["start", "claude", "--dry-run"], start), 1);
    assert.equal(
      start.stderrText,
      `bot-bottle: error: no agent named "claude": no manifest found (looked for ${dir}/config/` +
        "bot-bottle/bot-bottle.toml and /home/u/project/bot-bottle.toml)\n" +
        "hint: run `bot-bottle init` to write one with the shell, claude and codex presets, or " +
        "name one with --manifest PATH (or BOT_BOTTLE_MANIFEST)\n",
    );
    const agents = ctx();
    assert.equal(await main(["agents"], agents), 0);
    assert.match(agents.stderrText, /no agents defined: no manifest found \(looked for /);
    assert.match(agents.stderrText, /hint: run `bot-bottle init`/);
  });
});
