/**
 * The real Claude Code and Codex CLIs (pinned, tests/_harness/agent_clients.ts) in bottles with
 * exactly the claude and codex presets' secret tables, env and egress (lib/agents/presets.ts),
 * against a fake Anthropic / OpenAI API: an HTTPS upstream with its own CA (through ca_certs)
 * answering as api.anthropic.com and api.openai.com, which replies only to a request carrying
 * the real credential, and streams the reply the way the API does. So a client prints the fake's
 * reply only if it read the placeholder from the variable the preset sets, sent it where the
 * bundle swaps it (the headers), and trusted the bottle's CA. On the server side: what arrived.
 *
 * Docker backend only: the fake smolvm would need a `docker save` of this ~1 GB image; injection
 * on smolmachines is covered by credentials_test.ts and preset_injection_test.ts. Ignored, saying
 * why, when the CLIs have not been fetched (`deno run -A scripts/fetch_agent_clients.ts`).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { CODEX_LOGIN, PRESETS, presetSecretLines } from "../../lib/agents/presets.ts";
import type { Cli } from "../_harness/cli.ts";
import { clientsImage, clientsMissing } from "../_harness/agent_clients.ts";
import {
  containerIp,
  docker,
  networkIpam,
  removeLabelled,
  waitForNetwork,
} from "../_harness/docker.ts";
import { fixtureImage } from "../_harness/images.ts";
import { tomlString } from "../_harness/manifests.ts";
import { Sandbox } from "../_harness/sandbox.ts";
import { startHttpsUpstream, upstreamRequests } from "../_harness/upstreams.ts";

const IDLE = `echo "READY"; exec sleep 600`;
/** What the fake API replies (tests/_harness/upstreams.ts). */
const REPLY = "bbtest reply from the fake API";
const API_HOSTS = ["api.anthropic.com", "api.openai.com"];

const missing = clientsMissing();
if (missing) console.warn(`preset_clients_test: ignored: ${missing}`);

Deno.test({
  name: "docker: the real Claude Code and Codex CLIs authenticate only through injection",
  ignore: missing !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const [fixture, image] = await Promise.all([fixtureImage(), clientsImage()]);
    const token = `sk-ant-oat01-bbtest-${crypto.randomUUID()}`;
    const claude = PRESETS.find((p) => p.name === "claude")!;
    const codex = PRESETS.find((p) => p.name === "codex")!;
    const sb = await Sandbox.create({
      network: true,
      env: { [claude.secrets[0].hostVar]: token, [codex.secrets[0].hostVar]: token },
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
        names: API_HOSTS,
        expectSha256: createHash("sha256").update(token).digest("hex"),
      });
      const caFile = `${sb.dir}/api-ca.pem`;
      await Deno.writeTextFile(caFile, caPem);
      const bottle = (p: typeof claude) =>
        [
          `[bottles.${p.name}]`,
          `image = ${tomlString(image)}`,
          `ca_certs = [${tomlString(caFile)}]`,
          ...(Object.keys(p.env).length > 0
            ? [`env = { ${
              Object.entries(p.env).map(([k, v]) => `${k} = ${tomlString(v)}`).join(", ")
            } }`]
            : []),
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
        const cli = sb.start(name, { backend: "docker", manifest, label: `${sb.prefix}-${name}` });
        clis.push(cli);
        const slug = await cli.slug();
        slugs.push(slug);
        const net = `bot-bottle-${slug}`;
        await waitForNetwork(net);
        const { subnet } = await networkIpam(net);
        await docker([
          "network",
          "connect",
          "--ip",
          subnet.replace(/\.0\/24$/, ".200"),
          ...API_HOSTS.flatMap((h) => ["--alias", h]),
          net,
          api,
        ]);
        await cli.waitFor("stdout", /^READY$/m, 180_000);
        // Before any client runs: the bundle resolves the API names to the fake, nothing else.
        const fake = await containerIp(api, net);
        for (const host of API_HOSTS) {
          const r = await docker(["exec", `bot-bottle-${slug}-bundle`, "getent", "hosts", host]);
          assert.equal(r.stdout.trim().split(/\s+/)[0], fake, `${host} resolves elsewhere`);
        }
        return slug;
      };
      const sh = async (slug: string, script: string) => {
        const r = await sb.run(["exec", slug, "--", "sh", "-c", `cd /tmp && ${script}`]);
        printed.push(r.stdout, r.stderr);
        return r;
      };
      const seen = async (path: string) =>
        (await upstreamRequests(api)).filter((q) => q.method === "POST" && q.path.startsWith(path))
          .map((q) => Object.fromEntries(q.headers.map(([k, v]) => [k.toLowerCase(), v])));

      // Claude Code with CLAUDE_CODE_OAUTH_TOKEN (a `claude setup-token` token): Bearer.
      const c = await start("claude");
      const placeholder = (await sh(c, 'printf %s "$CLAUDE_CODE_OAUTH_TOKEN"')).stdout;
      assert.match(placeholder, /^bot-bottle-placeholder-[0-9a-f]{32}$/);
      const oauth = await sh(c, 'timeout 120 claude -p "say hi" --max-turns 1');
      assert.equal(oauth.code, 0, oauth.stdout + oauth.stderr);
      assert.match(oauth.stdout, new RegExp(REPLY), "claude did not print the fake's reply");
      const messages = await seen("/v1/messages");
      assert.ok(messages.length > 0, "no /v1/messages request arrived");
      assert.equal(messages.at(-1)!["authorization"], `Bearer ${token}`);
      assert.match(messages.at(-1)!["anthropic-beta"] ?? "", /oauth-/);
      // The same client with ANTHROPIC_API_KEY (the alternative the preset names): x-api-key.
      const before = messages.length;
      const key = await sh(
        c,
        'env -u CLAUDE_CODE_OAUTH_TOKEN ANTHROPIC_API_KEY="$CLAUDE_CODE_OAUTH_TOKEN" ' +
          'timeout 120 claude -p "say hi" --max-turns 1',
      );
      assert.equal(key.code, 0, key.stdout + key.stderr);
      assert.match(key.stdout, new RegExp(REPLY));
      const keyed = (await seen("/v1/messages")).slice(before);
      assert.ok(keyed.length > 0, "no /v1/messages request with the API key arrived");
      assert.equal(keyed.at(-1)!["x-api-key"], token);

      // Codex with OPENAI_API_KEY, logged in as the preset's command does: Bearer.
      const x = await start("codex");
      const login = await sh(x, `${CODEX_LOGIN} && cat "$HOME/.codex/auth.json"`);
      assert.equal(login.code, 0, login.stdout + login.stderr);
      assert.match(login.stdout, /bot-bottle-placeholder-[0-9a-f]{32}/, "auth.json holds it");
      const run = await sh(x, 'timeout 180 codex exec --skip-git-repo-check "say hi"');
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, new RegExp(REPLY), "codex did not print the fake's reply");
      const responses = await seen("/v1/responses");
      assert.ok(responses.length > 0, "no /v1/responses request arrived");
      assert.equal(responses.at(-1)!["authorization"], `Bearer ${token}`);

      // Upstream got values only, never a placeholder; the agents never saw a value.
      for (const q of await upstreamRequests(api)) {
        assert.ok(!JSON.stringify(q).includes("bot-bottle-placeholder-"), `${q.method} ${q.path}`);
      }
      for (const slug of slugs) {
        const files = await docker([
          "exec",
          "-u",
          "0",
          `bot-bottle-${slug}-agent`,
          "sh",
          "-c",
          `grep -rlF -e '${token}' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev ` +
          "2>/dev/null; true",
        ]);
        assert.equal(files.stdout.trim(), "", `the token in the guest's files: ${files.stdout}`);
      }
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
  },
});
