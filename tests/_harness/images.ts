/**
 * The images the integration tests need, each built (or found) once per process:
 *
 * - the bundle image (the product's own build, {@link ensureBundleImage});
 * - the demo agent image, from examples/agents/shell.Dockerfile for the bottle `shell`
 *   (the product's own build, {@link ensureAgentImage}), and a `docker save` archive of it
 *   for the smolmachines backend;
 * - the fixture image: test upstreams and clients (python3, curl, git, sshd, dig).
 *
 * `BOT_BOTTLE_BASE_IMAGE`, when set, is the base of the bundle and agent images here exactly
 * as it is for the CLI (the sandbox passes it through).
 */
import { ensureImageArchive } from "../../lib/backends/smolvm/image_archive.ts";
import { ensureBundleImage } from "../../lib/bundle/bundle_image.ts";
import { ensureAgentImage } from "../../lib/launch/agent_image.ts";
import { docker, runner } from "./docker.ts";
import { ENTRYPOINT_DOCKERFILE, SHELL_DOCKERFILE } from "./paths.ts";

/** The bottle name every test manifest uses, so the agent image (tagged per bottle) is built once. */
export const BOTTLE = "shell";

function baseImage(): string | undefined {
  return Deno.env.get("BOT_BOTTLE_BASE_IMAGE") || undefined;
}

const FIXTURE_DOCKERFILE = `FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      python3 curl git openssh-server bind9-dnsutils ca-certificates && rm -rf /var/lib/apt/lists/*
`;

let fixtureReady: Promise<string> | undefined;
/** The test image (upstream servers and clients), cached by a tag derived from its Dockerfile. */
export function fixtureImage(): Promise<string> {
  fixtureReady ??= (async () => {
    const data = new TextEncoder().encode(FIXTURE_DOCKERFILE);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, 12);
    const tag = `bot-bottle-test/fixture:${hex}`;
    const inspect = await docker(["image", "inspect", tag], { allowFailure: true });
    if (inspect.code !== 0) {
      await docker(["build", "-q", "-t", tag, "-"], { input: FIXTURE_DOCKERFILE });
    }
    return tag;
  })();
  return fixtureReady;
}

let bundleReady: Promise<string> | undefined;
/** The bundle image (built or found); logs how long that took. */
export function bundleImage(): Promise<string> {
  bundleReady ??= (async () => {
    const workDir = await Deno.makeTempDir({ prefix: "bbtest-bundle-ctx-" });
    const t0 = performance.now();
    try {
      const tag = await ensureBundleImage(runner, { baseImage: baseImage(), workDir });
      console.log(`bundle image ${tag} ready in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
      return tag;
    } finally {
      await Deno.remove(workDir, { recursive: true }).catch(() => {});
    }
  })();
  return bundleReady;
}

let agentReady: Promise<string> | undefined;
/** The demo agent image of the bottle {@link BOTTLE} (built or found). */
export function agentImage(): Promise<string> {
  agentReady ??= ensureAgentImage(runner, {
    bottle: BOTTLE,
    image: null,
    dockerfile: SHELL_DOCKERFILE,
    baseImage: baseImage(),
    progress: (line) => console.log(line),
  });
  return agentReady;
}

/** The images a launch needs (agent, with its image ID, and bundle), built once per process. */
export async function ensureImages(): Promise<{ agent: string; agentId: string; bundle: string }> {
  const [agent, bundle] = await Promise.all([agentImage(), bundleImage()]);
  const id = await docker(["image", "inspect", "--format", "{{.Id}}", agent]);
  return { agent, agentId: id.stdout.trim(), bundle };
}

/**
 * A `docker save` archive of the agent image in `cacheDir`, made the way bot-bottle caches it
 * (so a launch finding it there does not save 300 MB again); returns its path.
 */
export async function saveAgentArchive(cacheDir: string): Promise<string> {
  return (await ensureImageArchive(runner, {
    image: await agentImage(),
    cacheDir,
    progress: () => {},
  })).path;
}

let entrypointReady: Promise<string> | undefined;
/**
 * The image of tests/fixtures/entrypoint_agent.Dockerfile (its ENTRYPOINT writes its env to
 * /tmp/bbtest-entrypoint-ran), built by the product's own image build for bottle `ep`.
 */
export function entrypointImage(): Promise<string> {
  entrypointReady ??= ensureAgentImage(runner, {
    bottle: "ep",
    image: null,
    dockerfile: ENTRYPOINT_DOCKERFILE,
    baseImage: baseImage(),
    progress: (line) => console.log(line),
  });
  return entrypointReady;
}
