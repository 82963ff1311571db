/**
 * The agent's `prompt` is written into the guest ($HOME/.bot-bottle-prompt.txt,
 * mode 0600) before the agent runs, on both backends (the fake smolvm's exec
 * runs on the host with the test's HOME; on docker it is the agent's HOME).
 * The probe target is a closed loopback port (the bottle's own loopback).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

for (const backend of ["smolmachines", "docker"]) {
  Deno.test(`${backend}: the agent's prompt is in the guest before the agent runs`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "bbtest-prompt-" });
    try {
      const prompt = 'You are a careful reviewer.\nLine two with "quotes" and $HOME left as is.\n';
      await Deno.writeTextFile(
        `${dir}/m.toml`,
        `[bottles.b]\ndockerfile = "${ROOT}examples/agents/shell.Dockerfile"\ncpus = 1\nmemory = 512\n\n` +
          `[agents.reviewer]\nbottle = "b"\ncommand = ["sh", "-c", 'cat "$HOME/.bot-bottle-prompt.txt"; ` +
          `stat -c %a "$HOME/.bot-bottle-prompt.txt"']\nprompt = ${JSON.stringify(prompt)}\n`,
      );
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const closedPort = (listener.addr as Deno.NetAddr).port;
      listener.close();
      const denoDir = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-q",
          "--no-prompt",
          "-P=bot-bottle",
          `--config=${ROOT}deno.json`,
          `${ROOT}main.ts`,
          "start",
          "reviewer",
          "--yes",
          "--label",
          `bbtest-p${Date.now() % 100000}`,
          "--manifest",
          `${dir}/m.toml`,
        ],
        clearEnv: true,
        env: {
          PATH: `${ROOT}tests/fixtures/bin:${Deno.env.get("PATH")}`,
          HOME: dir,
          XDG_STATE_HOME: `${dir}/state`,
          XDG_DATA_HOME: `${dir}/data`,
          DENO_DIR: denoDir,
          BOT_BOTTLE_PROBE_TARGET: `127.0.0.1:${closedPort}`,
          NO_COLOR: "1",
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      assert.equal(stdout, `${prompt}600\n`);
      assert.match(stderr, /prompt {5}\d+ characters, written to \$HOME\/\.bot-bottle-prompt\.txt/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
