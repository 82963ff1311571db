/**
 * The real agent CLIs, for the tests that check what they send through injection: Claude Code
 * and OpenAI's Codex CLI, as the npm registry ships them for linux-x64 (each a self-contained
 * binary in a platform package), pinned here.
 *
 * Tests never fetch anything: `deno run -A scripts/fetch_agent_clients.ts` (which
 * `scripts/setup.sh` runs) `npm pack`s these packages into {@link clientsDir}; a test built on them
 * is ignored, saying so, when they are not there. The image is the demo agent image plus the two
 * binaries, built from that local directory (no network), tagged by what went in.
 */
import { createHash } from "node:crypto";
import { docker } from "./docker.ts";
import { agentImage } from "./images.ts";

/** The packages, pinned: name@version, the tarball `npm pack` writes, the binary inside. */
export const AGENT_CLIENTS = [
  {
    spec: "@anthropic-ai/claude-code-linux-x64@2.1.332",
    tarball: "anthropic-ai-claude-code-linux-x64-2.1.332.tgz",
    binary: "package/claude",
    command: "claude",
  },
  {
    spec: "@openai/codex@0.171.0-linux-x64",
    tarball: "openai-codex-0.171.0-linux-x64.tgz",
    binary: "package/vendor/x86_64-unknown-linux-musl/bin/codex",
    command: "codex",
  },
] as const;

/** Where the tarballs are kept: BOT_BOTTLE_TEST_CLIENTS, else ~/.cache/bot-bottle-test/clients. */
export function clientsDir(): string {
  const explicit = Deno.env.get("BOT_BOTTLE_TEST_CLIENTS");
  if (explicit) return explicit;
  const cache = Deno.env.get("XDG_CACHE_HOME") || `${Deno.env.get("HOME") ?? "/root"}/.cache`;
  return `${cache}/bot-bottle-test/clients`;
}

/** Why the clients cannot be used here (a sentence), or null when every tarball is present. */
export function clientsMissing(): string | null {
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    return `the pinned agent CLIs are linux-x64 builds; this is ${Deno.build.os}-${Deno.build.arch}`;
  }
  const missing = AGENT_CLIENTS.filter((c) => {
    try {
      return !Deno.statSync(`${clientsDir()}/${c.tarball}`).isFile;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return null;
  return `${missing.map((c) => c.tarball).join(", ")} not in ${clientsDir()}; ` +
    "`deno run -A scripts/fetch_agent_clients.ts` fetches them from the npm registry";
}

let ready: Promise<string> | undefined;
/** The demo agent image plus `claude` and `codex` in /usr/local/bin (built once, cached by tag). */
export function clientsImage(): Promise<string> {
  ready ??= (async () => {
    const base = await agentImage();
    const baseId = (await docker(["image", "inspect", "--format", "{{.Id}}", base])).stdout.trim();
    const dockerfile = [
      `FROM ${base}`,
      "USER root",
      ...AGENT_CLIENTS.flatMap((c) => [
        `COPY ${c.tarball} /tmp/${c.tarball}`,
        `RUN tar -xzf /tmp/${c.tarball} -C /tmp ${c.binary} && ` +
        `install -m 0755 /tmp/${c.binary} /usr/local/bin/${c.command} && rm -rf /tmp/package /tmp/${c.tarball}`,
      ]),
      "USER agent",
      "",
    ].join("\n");
    const hash = createHash("sha256").update(baseId).update(dockerfile).digest("hex").slice(0, 12);
    const tag = `bot-bottle-test/agent-clients:${hash}`;
    if ((await docker(["image", "inspect", tag], { allowFailure: true })).code === 0) return tag;
    const context = await Deno.makeTempDir({ prefix: "bbtest-clients-" });
    try {
      await Deno.writeTextFile(`${context}/Dockerfile`, dockerfile);
      for (const c of AGENT_CLIENTS) {
        await Deno.copyFile(`${clientsDir()}/${c.tarball}`, `${context}/${c.tarball}`);
      }
      console.log(`building ${tag} (the agent CLIs, from ${clientsDir()})`);
      await docker(["build", "-q", "--network", "none", "-t", tag, context]);
    } finally {
      await Deno.remove(context, { recursive: true });
    }
    return tag;
  })();
  return ready;
}
