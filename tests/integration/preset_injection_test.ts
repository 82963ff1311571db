/**
 * The claude and codex presets' credentials through injection (SPEC §12, §14), end to end on
 * both backends (smolmachines through the fake smolvm): the bottles carry exactly the presets'
 * secret tables and egress (lib/agents/presets.ts), on the demo agent image, and a fake Anthropic
 * / OpenAI API answers as
 * api.anthropic.com and api.openai.com: 200 only when the request carries the real credential
 * where the clients send it (Claude Code: `authorization: Bearer` for an OAuth token,
 * `x-api-key` for an API key; Codex: `authorization: Bearer`), 401 otherwise. The requests are
 * made with curl, with the headers those clients send, from the placeholders the guest holds;
 * preset_clients_test.ts runs the real CLIs (docker backend).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { PRESETS, presetSecretLines } from "../../lib/agents/presets.ts";
import type { Cli } from "../_harness/cli.ts";
import {
  containerIp,
  docker,
  networkIpam,
  removeLabelled,
  waitForNetwork,
} from "../_harness/docker.ts";
import { agentImage, fixtureImage } from "../_harness/images.ts";
import { tomlString } from "../_harness/manifests.ts";
import { Sandbox } from "../_harness/sandbox.ts";
import { startHttpsUpstream } from "../_harness/upstreams.ts";

const IDLE = `echo "READY"; exec sleep 600`;

async function scenario(backend: "docker" | "smolmachines"): Promise<void> {
  const fixture = await fixtureImage();
  const image = await agentImage();
  const token = `sk-ant-oat01-bbtest-${crypto.randomUUID()}`;
  const claude = PRESETS.find((p) => p.name === "claude")!;
  const codex = PRESETS.find((p) => p.name === "codex")!;
  const sb = await Sandbox.create({
    network: true,
    fakeSmolvm: backend === "smolmachines",
    agentArchive: backend === "smolmachines",
    // One credential for both fake APIs: what matters is where it is sent, and how.
    env: {
      [claude.secrets[0].hostVar]: token,
      [codex.secrets[0].hostVar]: token,
    },
  });
  const api = `${sb.prefix}-api`;
  const clis: Cli[] = [];
  const slugs: string[] = [];
  const printed: string[] = [];
  try {
    sb.containers.push(api);
    const { caPem } = await startHttpsUpstream({
      name: api,
      network: sb.network,
      fixture,
      names: ["api.anthropic.com", "api.openai.com"],
      expectSha256: createHash("sha256").update(token).digest("hex"),
    });
    const caFile = `${sb.dir}/api-ca.pem`;
    await Deno.writeTextFile(caFile, caPem);
    const bottle = (p: typeof claude) =>
      [
        `[bottles.${p.name}]`,
        `image = ${tomlString(image)}`,
        `ca_certs = [${tomlString(caFile)}]`,
        `egress.allow = [${p.egress.map(tomlString).join(", ")}]`,
        ...presetSecretLines(p),
        "",
        `[agents.${p.name}]`,
        `bottle = "${p.name}"`,
        `command = ["bash", "-c", ${tomlString(IDLE)}]`,
        "",
      ].join("\n");
    const manifest = await sb.writeManifest(`${bottle(claude)}\n${bottle(codex)}`);
    const start = async (name: string) => {
      const cli = sb.start(name, { backend, manifest, label: `${sb.prefix}-${name}` });
      clis.push(cli);
      const slug = await cli.slug();
      slugs.push(slug);
      await waitForNetwork(`bot-bottle-${slug}`);
      const { subnet } = await networkIpam(`bot-bottle-${slug}`);
      await docker([
        "network",
        "connect",
        "--ip",
        subnet.replace(/\.0\/24$/, ".200"),
        "--alias",
        "api.anthropic.com",
        "--alias",
        "api.openai.com",
        `bot-bottle-${slug}`,
        api,
      ]);
      await cli.waitFor("stdout", /^READY$/m, 180_000);
      // Before any request: the bundle resolves the API names to the fake, nothing else.
      const fake = await containerIp(api, `bot-bottle-${slug}`);
      for (const host of ["api.anthropic.com", "api.openai.com"]) {
        const r = await docker(["exec", `bot-bottle-${slug}-bundle`, "getent", "hosts", host]);
        assert.equal(r.stdout.trim().split(/\s+/)[0], fake, `${host} resolves elsewhere`);
      }
      return slug;
    };
    const curl = async (slug: string, args: string) => {
      const r = await sb.run([
        "exec",
        slug,
        "--",
        "sh",
        "-c",
        `curl -sS --max-time 20 -o /dev/null -w '%{http_code}' ${args}`,
      ]);
      printed.push(r.stdout, r.stderr);
      return r.stdout;
    };

    // Claude Code with CLAUDE_CODE_OAUTH_TOKEN: Authorization: Bearer, plus its beta header.
    const c = await start("claude");
    const messages = "-X POST https://api.anthropic.com/v1/messages " +
      "-H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' " +
      `-d '{"model":"claude","max_tokens":1,"messages":[]}'`;
    assert.equal(
      await curl(
        c,
        `${messages} -H "authorization: Bearer $CLAUDE_CODE_OAUTH_TOKEN" ` +
          "-H 'anthropic-beta: oauth-2025-04-20'",
      ),
      "200",
      "the OAuth token reaches the API as a bearer token",
    );
    // The same placeholder as an API key (what Claude Code sends for ANTHROPIC_API_KEY).
    assert.equal(await curl(c, `${messages} -H "x-api-key: $CLAUDE_CODE_OAUTH_TOKEN"`), "200");
    // Without injection (a literal the bundle does not know), the fake API refuses.
    assert.equal(await curl(c, `${messages} -H "x-api-key: sk-ant-not-the-key"`), "401");
    // The placeholder sent to another host is not swapped: api.openai.com is not allowed here.
    assert.equal(
      await curl(
        c,
        `-H "authorization: Bearer $CLAUDE_CODE_OAUTH_TOKEN" https://api.openai.com/v1/responses`,
      ),
      "000",
    );

    // Codex with OPENAI_API_KEY: Authorization: Bearer on /v1/responses.
    const x = await start("codex");
    assert.equal(
      await curl(
        x,
        `-X POST https://api.openai.com/v1/responses -H "Authorization: Bearer $OPENAI_API_KEY" ` +
          `-H 'content-type: application/json' -d '{"model":"gpt","input":"hi"}'`,
      ),
      "200",
    );
    assert.equal(
      await curl(
        x,
        "-X POST https://api.openai.com/v1/responses -H 'Authorization: Bearer sk-x'",
      ),
      "401",
    );
    const env = await sb.run(["exec", x, "--", "printenv", "OPENAI_API_KEY"]);
    assert.match(env.stdout, /^bot-bottle-placeholder-[0-9a-f]{32}\n$/);
    for (const text of printed) assert.ok(!text.includes(token), "the token in CLI output");
  } finally {
    for (const slug of slugs) {
      await docker(["network", "disconnect", `bot-bottle-${slug}`, api], { allowFailure: true });
    }
    for (const cli of clis) {
      try {
        cli.kill("SIGINT");
      } catch { /* exited */ }
      await cli.done;
    }
    for (const slug of slugs) await removeLabelled(slug);
    await sb.cleanup();
  }
}

Deno.test({
  name: "docker: the claude and codex presets' credentials reach the fake APIs only by injection",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () => scenario("docker"),
});

Deno.test({
  name:
    "smolmachines (fake smolvm): the claude and codex presets' credentials reach the fake APIs only by injection",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () => scenario("smolmachines"),
});
