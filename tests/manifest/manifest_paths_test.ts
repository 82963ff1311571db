/**
 * Where the manifests are: `--manifest` > BOT_BOTTLE_MANIFEST > XDG_CONFIG_HOME > HOME.
 */
import assert from "node:assert/strict";
import { ManifestError } from "../../lib/manifest/manifest_error.ts";
import { manifestSources } from "../../lib/manifest/manifest_paths.ts";

const CWD = "/src/repo";
const PROJECT = "/src/repo/bot-bottle.toml";

function envOf(vars: Record<string, string>): (name: string) => string | undefined {
  return (name) => Object.hasOwn(vars, name) ? vars[name] : undefined;
}

interface PathCase {
  name: string;
  flag?: string;
  env: Record<string, string>;
  userPath: string;
  userExplicit: boolean;
  userOrigin: string;
}

const ALL = {
  BOT_BOTTLE_MANIFEST: "/etc/bb/env.toml",
  XDG_CONFIG_HOME: "/xdg",
  HOME: "/home/u",
};

const CASES: PathCase[] = [
  {
    name: "--manifest beats everything",
    flag: "/tmp/m.toml",
    env: ALL,
    userPath: "/tmp/m.toml",
    userExplicit: true,
    userOrigin: "--manifest",
  },
  {
    name: "relative --manifest resolves against cwd",
    flag: "conf/../m.toml",
    env: ALL,
    userPath: "/src/repo/m.toml",
    userExplicit: true,
    userOrigin: "--manifest",
  },
  {
    name: "BOT_BOTTLE_MANIFEST beats XDG and HOME",
    env: ALL,
    userPath: "/etc/bb/env.toml",
    userExplicit: true,
    userOrigin: "BOT_BOTTLE_MANIFEST",
  },
  {
    name: "relative BOT_BOTTLE_MANIFEST resolves against cwd",
    env: { ...ALL, BOT_BOTTLE_MANIFEST: "ci.toml" },
    userPath: "/src/repo/ci.toml",
    userExplicit: true,
    userOrigin: "BOT_BOTTLE_MANIFEST",
  },
  {
    name: "empty BOT_BOTTLE_MANIFEST counts as unset",
    env: { ...ALL, BOT_BOTTLE_MANIFEST: "" },
    userPath: "/xdg/bot-bottle/bot-bottle.toml",
    userExplicit: false,
    userOrigin: "XDG_CONFIG_HOME",
  },
  {
    name: "absolute XDG_CONFIG_HOME",
    env: { XDG_CONFIG_HOME: "/xdg", HOME: "/home/u" },
    userPath: "/xdg/bot-bottle/bot-bottle.toml",
    userExplicit: false,
    userOrigin: "XDG_CONFIG_HOME",
  },
  {
    name: "relative XDG_CONFIG_HOME is ignored (XDG spec)",
    env: { XDG_CONFIG_HOME: "xdg", HOME: "/home/u" },
    userPath: "/home/u/.config/bot-bottle/bot-bottle.toml",
    userExplicit: false,
    userOrigin: "HOME",
  },
  {
    name: "HOME only",
    env: { HOME: "/home/u" },
    userPath: "/home/u/.config/bot-bottle/bot-bottle.toml",
    userExplicit: false,
    userOrigin: "HOME",
  },
  {
    name: "XDG without HOME",
    env: { XDG_CONFIG_HOME: "/xdg" },
    userPath: "/xdg/bot-bottle/bot-bottle.toml",
    userExplicit: false,
    userOrigin: "XDG_CONFIG_HOME",
  },
];

for (const c of CASES) {
  Deno.test(`manifestSources: ${c.name}`, () => {
    assert.deepEqual(manifestSources({ flag: c.flag, env: envOf(c.env), cwd: CWD }), {
      userPath: c.userPath,
      userExplicit: c.userExplicit,
      projectPath: PROJECT,
      userOrigin: c.userOrigin,
    });
  });
}

Deno.test("manifestSources: no HOME and no XDG_CONFIG_HOME is a ManifestError", () => {
  const envs: Record<string, string>[] = [
    {},
    { HOME: "" },
    { HOME: "relative", XDG_CONFIG_HOME: "also-relative" },
  ];
  for (const env of envs) {
    assert.throws(() => manifestSources({ env: envOf(env), cwd: CWD }), (e: unknown) => {
      assert.ok(e instanceof ManifestError);
      assert.equal(
        e.message,
        "cannot locate the user manifest: neither XDG_CONFIG_HOME nor HOME is set to an " +
          "absolute path; set HOME, or name the manifest with --manifest PATH or " +
          "BOT_BOTTLE_MANIFEST=PATH",
      );
      return true;
    });
  }
  // An explicit manifest needs neither.
  assert.equal(
    manifestSources({ flag: "m.toml", env: envOf({}), cwd: CWD }).userPath,
    "/src/repo/m.toml",
  );
});

Deno.test("manifestSources: an empty --manifest is refused", () => {
  assert.throws(() => manifestSources({ flag: "", env: envOf(ALL), cwd: CWD }), {
    name: "ManifestError",
    message: "--manifest was given an empty path; pass the manifest file's path",
  });
});

Deno.test("manifestSources: the project manifest is always <cwd>/bot-bottle.toml", () => {
  const sources = manifestSources({ flag: "/x.toml", env: envOf(ALL), cwd: "/a/b/" });
  assert.equal(sources.projectPath, "/a/b/bot-bottle.toml");
});
