/**
 * Good manifests parse to the expected definitions, and `extends` chains fold
 * by SPEC §3's merge rules.
 */
import assert from "node:assert/strict";
import { ManifestError } from "../../lib/manifest/manifest_error.ts";
import { parseManifestText } from "../../lib/manifest/parse_manifest.ts";
import { bottleChain, resolveBottle } from "../../lib/manifest/resolve_bottle.ts";
import type { Manifest, ResolvedBottle } from "../../lib/manifest/types.ts";

const P = "/cfg/bot-bottle/bot-bottle.toml";
const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAswVXqfxOkOM1h9osfsETZbgKXK7xQ5XoOozfIXPGGG";

function manifestOf(toml: string): Manifest {
  return { files: [P], ...parseManifestText(toml, P, "user") };
}

function remote(name: string, upstream = `git@git.example.org:me/${name}.git`): string {
  return `{ name = "${name}", upstream = "${upstream}", identity = "~/.ssh/id", ` +
    `host_key = "${ED25519}" }`;
}

Deno.test("good fixture: every key parses to the expected definitions", async () => {
  const url = new URL("../fixtures/manifests/good/full.toml", import.meta.url);
  const path = url.pathname;
  const dir = new URL(".", url).pathname;
  const parsed = parseManifestText(await Deno.readTextFile(url), path, "user");
  assert.deepEqual(parsed.bottles.base, {
    name: "base",
    source: path,
    image: "bot-bottle/agent-shell:latest",
    cpus: 2,
    memory: 4096,
    env: { GIT_AUTHOR_NAME: "me", EDITOR: "vi" },
    secrets: { CLAUDE_CODE_OAUTH_TOKEN: "BOT_BOTTLE_CLAUDE_TOKEN" },
    egressAllow: ["api.anthropic.com", "*.githubusercontent.com"],
  });
  assert.deepEqual(parsed.bottles.built, {
    name: "built",
    source: path,
    extends: "dev",
    dockerfile: `${dir}images/Dockerfile`,
  });
  assert.deepEqual(parsed.agents.researcher, {
    name: "researcher",
    source: path,
    scope: "user",
    bottle: "dev",
    command: ["claude", "--dangerously-skip-permissions"],
    prompt: "You are a careful researcher.",
  });

  const manifest: Manifest = { files: [path], ...parsed };
  const dev = resolveBottle(manifest, "dev");
  const expectedDev: ResolvedBottle = {
    name: "dev",
    chain: ["base", "dev"],
    image: "bot-bottle/agent-shell:latest",
    cpus: 4,
    memory: 4096,
    workdir: "/work",
    env: { GIT_AUTHOR_NAME: "me", EDITOR: "nano" },
    secrets: { CLAUDE_CODE_OAUTH_TOKEN: "BOT_BOTTLE_CLAUDE_TOKEN" },
    injected: {},
    caCerts: [],
    egressInspect: "credentials",
    egressRules: [],
    egressAllow: ["api.anthropic.com", "*.githubusercontent.com", "github.com", "10.0.0.1"],
    git: [{
      name: "app",
      upstream: "ssh://git@git.example.org:2222/me/app.git",
      identity: "~/.ssh/id_ed25519",
      hostKey: ED25519,
    }],
    supervise: false,
    egressOnBlock: "refuse",
    egressAskTimeout: 60,
    bundle: { memory: 384, cpus: 1, pids: 256, maxPushMib: 64 },
    runtime: "runc",
  };
  assert.deepEqual(dev, expectedDev);

  const built = resolveBottle(manifest, "built");
  const { image: _image, ...devWithoutImage } = expectedDev;
  assert.deepEqual(built, {
    ...devWithoutImage,
    name: "built",
    chain: ["base", "dev", "built"],
    dockerfile: `${dir}images/Dockerfile`,
  });
  assert.equal("image" in built, false, "a child's dockerfile clears the inherited image");
});

Deno.test("a bottle without extends gets the defaults", () => {
  const resolved = resolveBottle(manifestOf('[bottles.solo]\nimage = "img"\n'), "solo");
  assert.deepEqual(resolved, {
    name: "solo",
    chain: ["solo"],
    image: "img",
    cpus: 2,
    memory: 4096,
    env: {},
    secrets: {},
    injected: {},
    caCerts: [],
    egressAllow: [],
    egressInspect: "credentials",
    egressRules: [],
    egressOnBlock: "refuse",
    egressAskTimeout: 60,
    git: [],
    supervise: false,
    bundle: { memory: 384, cpus: 1, pids: 256, maxPushMib: 64 },
    runtime: "runc",
  });
});

interface MergeCase {
  name: string;
  toml: string;
  bottle: string;
  expect: Partial<ResolvedBottle>;
  absent?: (keyof ResolvedBottle)[];
}

const MERGE_CASES: MergeCase[] = [
  {
    name: "env merges key by key, child wins",
    toml: '[bottles.a]\nimage = "i"\nenv = { X = "1", Y = "2" }\n' +
      '[bottles.b]\nextends = "a"\nenv = { Y = "3", Z = "4" }\n',
    bottle: "b",
    expect: { env: { X: "1", Y: "3", Z: "4" } },
  },
  {
    name: "secrets merge key by key, child wins",
    toml: '[bottles.a]\nimage = "i"\nsecrets = { T = "HOST_A", U = "HOST_U" }\n' +
      '[bottles.b]\nextends = "a"\nsecrets = { T = "HOST_B" }\n',
    bottle: "b",
    expect: { secrets: { T: "HOST_B", U: "HOST_U" } },
  },
  {
    name: "egress.allow unions in first-seen order without duplicates",
    toml: '[bottles.a]\nimage = "i"\negress.allow = ["a.example.com", "b.example.com"]\n' +
      '[bottles.b]\nextends = "a"\negress.allow = ["c.example.com", "a.example.com", ' +
      '"c.example.com"]\n',
    bottle: "b",
    expect: { egressAllow: ["a.example.com", "b.example.com", "c.example.com"] },
  },
  {
    name: "git unions by remote name, child wins in place",
    toml: `[bottles.a]\nimage = "i"\ngit = [${remote("one")}, ${remote("two")}]\n` +
      `[bottles.b]\nextends = "a"\ngit = [${remote("three")}, ` +
      `${remote("one", "ssh://git@other.example.org/one.git")}]\n`,
    bottle: "b",
    expect: {
      git: [
        {
          name: "one",
          upstream: "ssh://git@other.example.org/one.git",
          identity: "~/.ssh/id",
          hostKey: ED25519,
        },
        {
          name: "two",
          upstream: "git@git.example.org:me/two.git",
          identity: "~/.ssh/id",
          hostKey: ED25519,
        },
        {
          name: "three",
          upstream: "git@git.example.org:me/three.git",
          identity: "~/.ssh/id",
          hostKey: ED25519,
        },
      ],
    },
  },
  {
    name: "scalars override",
    toml: '[bottles.a]\nimage = "i"\ncpus = 8\nmemory = 8192\nworkdir = "/a"\nsupervise = true\n' +
      '[bottles.b]\nextends = "a"\ncpus = 1\nworkdir = "/b"\nsupervise = false\n',
    bottle: "b",
    expect: { cpus: 1, memory: 8192, workdir: "/b", supervise: false },
  },
  {
    name: "a child's image clears an inherited dockerfile",
    toml: '[bottles.a]\ndockerfile = "Dockerfile"\n[bottles.b]\nextends = "a"\nimage = "i"\n',
    bottle: "b",
    expect: { image: "i" },
    absent: ["dockerfile"],
  },
  {
    name: "a child's dockerfile (relative to the manifest) clears an inherited image",
    toml:
      '[bottles.a]\nimage = "i"\n[bottles.b]\nextends = "a"\ndockerfile = "../img/Dockerfile"\n',
    bottle: "b",
    expect: { dockerfile: "/cfg/img/Dockerfile" },
    absent: ["image"],
  },
  {
    name: "a built-in Dockerfile stays builtin:<name>, not a path",
    toml: '[bottles.a]\ndockerfile = "builtin:codex"\n',
    bottle: "a",
    expect: { dockerfile: "builtin:codex" },
    absent: ["image"],
  },
  {
    name: "three levels fold root first",
    toml: '[bottles.c]\nextends = "b"\nenv = { L = "c" }\n' +
      '[bottles.b]\nextends = "a"\nenv = { L = "b", M = "b" }\n' +
      '[bottles.a]\nimage = "i"\nenv = { L = "a", M = "a", N = "a" }\n',
    bottle: "c",
    expect: { chain: ["a", "b", "c"], env: { L: "c", M: "b", N: "a" } },
  },
  {
    name: "an abstract parent without image is fine when the child sets one",
    toml:
      '[bottles.a]\negress.allow = ["x.example.com"]\n[bottles.b]\nextends = "a"\nimage = "i"\n',
    bottle: "b",
    expect: { image: "i", egressAllow: ["x.example.com"] },
  },
];

for (const c of MERGE_CASES) {
  Deno.test(`resolveBottle: ${c.name}`, () => {
    const resolved = resolveBottle(manifestOf(c.toml), c.bottle);
    for (const [key, value] of Object.entries(c.expect)) {
      assert.deepEqual(resolved[key as keyof ResolvedBottle], value, key);
    }
    for (const key of c.absent ?? []) assert.equal(key in resolved, false, `${key} is set`);
    const setCount = [resolved.image, resolved.dockerfile].filter((v) => v !== undefined).length;
    assert.equal(setCount, 1, "exactly one of image / dockerfile");
  });
}

Deno.test("resolveBottle: a chain of exactly 32 bottles resolves, 33 does not", () => {
  let toml = '[bottles.b0]\nimage = "i"\n';
  for (let i = 1; i < 33; i++) toml += `[bottles.b${i}]\nextends = "b${i - 1}"\n`;
  const manifest = manifestOf(toml);
  assert.equal(resolveBottle(manifest, "b31").chain.length, 32);
  assert.throws(() => resolveBottle(manifest, "b32"), ManifestError);
});

Deno.test("resolveBottle: an undefined bottle names the files and a near miss", () => {
  const manifest = manifestOf('[bottles.dev]\nimage = "i"\n');
  assert.throws(() => resolveBottle(manifest, "dve"), {
    name: "ManifestError",
    message: `bottle "dve" is not defined in ${P} (did you mean "dev"?)`,
  });
  assert.throws(() => resolveBottle({ files: [], bottles: {}, agents: {} }, "constructor"), {
    message: 'bottle "constructor" is not defined in any manifest (no manifest file was found)',
  });
});

Deno.test("resolveBottle does not alias or mutate the manifest", () => {
  const manifest = manifestOf(
    `[bottles.a]\nimage = "i"\nenv = { X = "1" }\ngit = [${remote("r")}]\n`,
  );
  const before = structuredClone(manifest);
  const resolved = resolveBottle(manifest, "a");
  resolved.env.X = "changed";
  resolved.git[0].name = "changed";
  resolved.egressAllow.push("changed.example.com");
  assert.deepEqual(manifest, before);
});

Deno.test("bottleChain returns definitions root first", () => {
  const manifest = manifestOf('[bottles.b]\nextends = "a"\n[bottles.a]\nimage = "i"\n');
  assert.deepEqual(bottleChain(manifest, "b").map((d) => d.name), ["a", "b"]);
});

Deno.test("prototype-looking names stay plain data", () => {
  const manifest = manifestOf(
    '[bottles.dev]\nimage = "i"\nenv = { __proto__ = "x", constructor = "y" }\n',
  );
  const resolved = resolveBottle(manifest, "dev");
  assert.ok(Object.hasOwn(resolved.env, "__proto__"));
  assert.equal(resolved.env["__proto__"], "x");
  assert.equal(Object.getPrototypeOf(resolved.env), Object.prototype);
  assert.deepEqual(Object.keys(resolved.env), ["__proto__", "constructor"]);
  assert.throws(() => resolveBottle(manifest, "constructor"), {
    message: `bottle "constructor" is not defined in ${P}`,
  });
});
