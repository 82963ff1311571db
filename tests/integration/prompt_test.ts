/**
 * The agent's `prompt` is written into the guest ($HOME/.bot-bottle-prompt.txt,
 * mode 0600) before the agent runs, on both backends (the agent's HOME: in the
 * docker backend's container, in the fake smolvm's guest container).
 * The probe target is a closed loopback port (the bottle's own loopback).
 */
import assert from "node:assert/strict";
import { SHELL_DOCKERFILE } from "../_harness/paths.ts";
import { Sandbox } from "../_harness/sandbox.ts";

for (const backend of ["smolmachines", "docker"]) {
  Deno.test(`${backend}: the agent's prompt is in the guest before the agent runs`, async () => {
    const sb = await Sandbox.create({ fakeSmolvm: true });
    try {
      const prompt = 'You are a careful reviewer.\nLine two with "quotes" and $HOME left as is.\n';
      const manifest = await sb.writeManifest(
        `[bottles.b]\ndockerfile = "${SHELL_DOCKERFILE}"\ncpus = 1\nmemory = 512\n\n` +
          `[agents.reviewer]\nbottle = "b"\ncommand = ["sh", "-c", 'cat "$HOME/.bot-bottle-prompt.txt"; ` +
          `stat -c %a "$HOME/.bot-bottle-prompt.txt"']\nprompt = ${JSON.stringify(prompt)}\n`,
        "m.toml",
      );
      const out = await sb.run(sb.startArgs("reviewer", { manifest }));
      const { stdout, stderr } = out;
      assert.equal(out.code, 0, stderr);
      assert.equal(stdout, `${prompt}600\n`);
      assert.match(stderr, /prompt {5}\d+ characters, written to \$HOME\/\.bot-bottle-prompt\.txt/);
    } finally {
      await sb.cleanup();
    }
  });
}
