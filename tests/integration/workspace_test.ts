/**
 * The workspace end to end (SPEC §11) on the docker backend: `start --cwd` copies a repository's
 * tracked and untracked files and .git (not the ignored ones) to /workspace; the agent commits
 * one change and leaves another uncommitted; after it exits `diff` shows both and `export`
 * gives a bundle from which `git fetch` yields both; the host tree is byte-for-byte unchanged;
 * a hook planted in the guest's .git does not come out; `resume` finds the workspace as left;
 * a secret the agent commits makes `export` refuse (and `--allow-findings` export); `stop` from
 * another process captures too; a plain directory works the same; an over-limit workspace is
 * refused before anything is created.
 */
import assert from "node:assert/strict";
import { git } from "../_harness/git.ts";
import { Cli, tagged } from "../_harness/cli.ts";
import { assertNothingLeft, removeLabelled } from "../_harness/docker.ts";
import { manifestToml } from "../_harness/manifests.ts";
import { Sandbox } from "../_harness/sandbox.ts";

/** The agent: what it finds, then what it does, by round (a marker file in the workspace). */
const AGENT = String.raw`set -u
cd "$BOT_BOTTLE_WORKSPACE"
round=$(cat .round 2>/dev/null || echo 1)
echo "PWD $(pwd)"
echo "ROUND $round"
find . -path ./.git -prune -o -print | sort | sed 's/^/SEES /'
[ -d .git ] && echo "HAS_GIT yes"
echo "STATUS $(git status --porcelain | tr '\n' '|')"
git config --global user.email agent@bottle
git config --global user.name agent
case "$round" in
  1)
    echo "agent change" >> tracked.txt
    git commit -qam "agent: edit tracked.txt"
    echo "left uncommitted" > wip.txt
    printf '#!/bin/sh\necho PWNED >/tmp/pwned\n' > .git/hooks/post-merge
    chmod +x .git/hooks/post-merge
    rm untracked.txt
    mkdir -p build && echo "agent built" > build/agent.out
    echo 2 > .round
    ;;
  2)
    echo "aws_access_key_id = AKIA$(printf 'IOSFODNN7EXAMPLF')" > creds.txt
    git add creds.txt && git commit -qm "agent: add creds"
    echo 3 > .round
    ;;
  3)
    echo "during round 3" > round3.txt
    # The agent spoils the incremental capture's state: the full capture takes over.
    rm -f /tmp/.bot-bottle-workspace.snar
    echo "WAITING"
    sleep 300
    ;;
esac
exit 0
`;

async function treeDigest(dir: string): Promise<string> {
  const entries: string[] = [];
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(`${dir}/${rel}`)) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      const st = await Deno.lstat(`${dir}/${path}`);
      if (st.isDirectory) {
        entries.push(`d ${path} ${st.mode! & 0o7777}`);
        await walk(path);
      } else if (st.isSymlink) {
        entries.push(`l ${path} ${await Deno.readLink(`${dir}/${path}`)}`);
      } else {
        const data = await Deno.readFile(`${dir}/${path}`);
        const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
        entries.push(
          `f ${path} ${st.mode! & 0o7777} ${st.mtime?.getTime()} ${[...hash].join(",")}`,
        );
      }
    }
  };
  await walk("");
  return entries.sort().join("\n");
}

Deno.test("docker: --cwd copies the tree in; diff, export, resume, findings, stop capture", async () => {
  const sb = await Sandbox.create({ network: true });
  const clis: Cli[] = [];
  let slug = "";
  try {
    const repo = `${sb.cwd}/repo`;
    await Deno.mkdir(`${repo}/sub dir`, { recursive: true });
    await git(repo, "init", "-q", "-b", "main");
    await Deno.writeTextFile(`${repo}/tracked.txt`, "tracked\n");
    await Deno.writeTextFile(`${repo}/sub dir/spaced name.txt`, "spaced\n");
    await Deno.writeTextFile(`${repo}/.gitignore`, ".env\nbuild/\n");
    await git(repo, "add", "-A");
    await git(repo, "commit", "-qm", "init");
    await Deno.writeTextFile(`${repo}/untracked.txt`, "untracked\n");
    await Deno.writeTextFile(`${repo}/.env`, `TOKEN=${sb.needle}\n`);
    await Deno.mkdir(`${repo}/build`);
    await Deno.writeTextFile(`${repo}/build/out.bin`, "ignored\n");
    await Deno.symlink("/etc/hostname", `${repo}/outside-link`);
    const before = await treeDigest(repo);
    const base = (await git(repo, "rev-parse", "HEAD")).trim();
    const manifest = await sb.writeManifest(manifestToml({ agents: { worker: AGENT } }));

    // The plan says what goes in.
    const dry = new Cli(
      [
        "start",
        "worker",
        "--backend",
        "docker",
        "--cwd",
        "--dry-run",
        "--json",
        "--manifest",
        manifest,
      ],
      { env: sb.env, cwd: repo },
    );
    const dryDone = await dry.wait(120_000);
    assert.equal(dryDone.code, 0, dry.transcript);
    const plan = JSON.parse(dryDone.stdout);
    assert.equal(plan.workspace.source, repo);
    assert.equal(plan.workspace.kind, "git");
    assert.equal(plan.workspace.base, base);
    assert.equal(plan.workdir, "/workspace");
    assert.equal(plan.guest_env.BOT_BOTTLE_WORKSPACE, "/workspace");
    assert.ok(
      plan.workspace.notes.some((n: string) => /1 symlink\(s\) point outside the tree/.test(n)),
    );

    // Round 1.
    const one = new Cli(
      [
        "start",
        "worker",
        "--backend",
        "docker",
        "--cwd",
        "--yes",
        "--manifest",
        manifest,
        "--label",
        sb.prefix,
      ],
      { env: sb.env, cwd: repo },
    );
    clis.push(one);
    slug = await one.slug();
    const r1 = await one.wait(240_000);
    assert.equal(r1.code, 0, one.transcript);
    const seen = tagged(r1.stdout, "SEES");
    for (
      const f of [
        "./tracked.txt",
        "./untracked.txt",
        "./.gitignore",
        "./sub dir/spaced name.txt",
        "./outside-link",
      ]
    ) {
      assert.ok(seen.includes(f), `the guest does not see ${f}: ${seen}`);
    }
    for (const f of ["./.env", "./build", "./build/out.bin"]) {
      assert.ok(!seen.includes(f), `the guest sees the ignored ${f}`);
    }
    assert.deepEqual(tagged(r1.stdout, "HAS_GIT"), ["yes"]);
    assert.deepEqual(tagged(r1.stdout, "PWD"), ["/workspace"]);
    assert.match(
      r1.stderr,
      /workspace captured: 2 commits \(the last one by bot-bottle, of uncommitted work\)/,
    );
    assert.ok(!`${r1.stdout}${r1.stderr}`.includes(sb.needle), "the ignored .env leaked");
    const capture1 = JSON.parse(
      await Deno.readTextFile(`${sb.stateDir(slug)}/workspace/capture.json`),
    );
    assert.equal(capture1.mode, "incremental", JSON.stringify(capture1));
    assert.deepEqual(capture1.archives, ["base.tar", "delta-1.tar"]);
    // The kept copy-in holds what went in, never an ignored file.
    const kept = await Deno.readFile(`${sb.stateDir(slug)}/workspace/base.tar`);
    assert.ok(!new TextDecoder().decode(kept).includes(sb.needle), "the ignored .env was kept");

    // diff: both changes; export: a bundle git can fetch both from; the host tree untouched.
    const diff = await sb.run(["diff", slug]);
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stdout, /^\+agent change$/m);
    assert.match(diff.stdout, /^\+left uncommitted$/m);
    assert.match(diff.stderr, /gitleaks found nothing/);
    const bundle = `${sb.dir}/work.bundle`;
    const exported = await sb.run(["export", slug, "--to", bundle]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal(
      exported.stdout.trim(),
      `git fetch ${bundle} bot-bottle/${slug}:bot-bottle/${slug}`,
    );
    const review = `${sb.dir}/review`;
    await git(sb.dir, "clone", "-q", repo, review);
    await git(review, "fetch", "-q", bundle, `bot-bottle/${slug}:bot-bottle/${slug}`);
    const log = await git(review, "log", "--format=%an %s", `bot-bottle/${slug}`);
    assert.match(log, /^bot-bottle bot-bottle: work left uncommitted in /m);
    assert.match(log, /^agent agent: edit tracked\.txt$/m);
    assert.equal(
      (await git(review, "show", `bot-bottle/${slug}:wip.txt`)).trim(),
      "left uncommitted",
    );
    // A bundle carries objects and refs: the planted hook is nowhere in the review clone.
    assert.ok(!(await Deno.stat(`${review}/.git/hooks/post-merge`).then(() => true, () => false)));
    await git(review, "merge", "-q", `bot-bottle/${slug}`);
    assert.ok(
      !(await Deno.stat("/tmp/pwned").then(() => true, () => false)),
      "the guest's hook ran",
    );
    assert.equal(await treeDigest(repo), before, "the host work tree changed");

    // Round 2 (resume): the workspace as left, then a committed secret.
    const two = sb.spawn(["resume", slug, "--yes", "--manifest", manifest]);
    clis.push(two);
    const r2 = await two.wait(240_000);
    assert.equal(r2.code, 0, two.transcript);
    assert.deepEqual(tagged(r2.stdout, "ROUND"), ["2"]);
    assert.match(
      tagged(r2.stdout, "STATUS")[0],
      /\?\? wip\.txt/,
      "the uncommitted file is still uncommitted",
    );
    const seen2 = tagged(r2.stdout, "SEES");
    assert.ok(seen2.includes("./wip.txt"));
    // What the agent deleted stays deleted; what it made that git ignores is there too.
    assert.ok(!seen2.includes("./untracked.txt"), `a deleted file came back: ${seen2}`);
    assert.ok(seen2.includes("./build/agent.out"), `an ignored file of the agent's is gone`);
    // Round 1's capture was incremental: the copy-in, then its changes; round 2 adds its own.
    const capture2 = JSON.parse(
      await Deno.readTextFile(`${sb.stateDir(slug)}/workspace/capture.json`),
    );
    assert.equal(capture2.mode, "incremental");
    assert.deepEqual(capture2.archives, ["base.tar", "delta-1.tar", "delta-2.tar"]);
    const refused = await sb.run(["export", slug, "--to", `${sb.dir}/leaky.bundle`]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /not exported: gitleaks found 1 thing\(s\)/);
    assert.match(refused.stderr, /aws-access-token in commit [0-9a-f]{40}, file creds\.txt/);
    assert.ok(!refused.stderr.includes("IOSFODNN7EXAMPLF"), "the finding's value is shown");
    const allowed = await sb.run([
      "export",
      slug,
      "--to",
      `${sb.dir}/leaky.bundle`,
      "--allow-findings",
    ]);
    assert.equal(allowed.code, 0, allowed.stderr);

    // Round 3: `stop` from another process captures before teardown.
    const three = sb.spawn(["resume", slug, "--yes", "--manifest", manifest]);
    clis.push(three);
    await three.waitFor("stdout", /^WAITING$/m, 240_000);
    const stop = await sb.run(["stop", slug]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stderr, /capturing the workspace of .* before it is torn down/);
    await three.wait(120_000);
    const capture = JSON.parse(
      await Deno.readTextFile(`${sb.stateDir(slug)}/workspace/capture.json`),
    );
    assert.equal(capture.by, "stop", `${stop.stderr}\n${three.transcript}`);
    assert.equal(capture.mode, "full");
    assert.deepEqual(capture.archives, ["guest.tar"]);
    const left = [];
    for await (const e of Deno.readDir(`${sb.stateDir(slug)}/workspace`)) left.push(e.name);
    assert.ok(!left.some((n) => /^(base|delta-\d+)\.tar$/.test(n)), `unlisted archives: ${left}`);
    const diff3 = await sb.run(["diff", slug]);
    assert.match(diff3.stdout, /^\+during round 3$/m);
    await assertNothingLeft(slug);
    assert.equal(await treeDigest(repo), before, "the host work tree changed");
  } finally {
    for (const c of clis) {
      try {
        c.kill("SIGINT");
      } catch { /* exited */ }
      await c.done;
    }
    if (slug) await removeLabelled(slug);
    await sb.cleanup();
  }
});

Deno.test("docker: a plain directory works the same; an over-limit workspace is refused first", async () => {
  const sb = await Sandbox.create({ network: true });
  let slug = "";
  try {
    const dir = `${sb.cwd}/plain`;
    await Deno.mkdir(dir);
    await Deno.writeTextFile(`${dir}/data.txt`, "x".repeat(4096));
    const manifest = await sb.writeManifest(manifestToml({
      agents: {
        worker: String
          .raw`cd /workspace && git log --format='BASE %an %s' && echo new > made.txt && ls -A | sed 's/^/SEES /'`,
        filler: "truncate -s 1G /workspace/huge",
      },
    }));
    // Over the limit: refused before anything is created.
    const over = new Cli(
      [
        "start",
        "worker",
        "--backend",
        "docker",
        "--cwd",
        "--yes",
        "--max-workspace",
        "1KiB",
        "--manifest",
        manifest,
        "--label",
        sb.prefix,
      ],
      { env: sb.env, cwd: dir },
    );
    const o = await over.wait(120_000);
    assert.equal(o.code, 1, over.transcript);
    assert.match(o.stderr, /the workspace is .* over the 1\.0 KiB limit/);
    assert.match(o.stderr, /--max-workspace/);
    assert.deepEqual(await sb.leftovers(), []);
    assert.equal(await sb.recordedSlug(), null, "a state dir was made");

    const run = new Cli(
      [
        "start",
        "worker",
        "--backend",
        "docker",
        "--cwd",
        "--yes",
        "--manifest",
        manifest,
        "--label",
        sb.prefix,
      ],
      { env: sb.env, cwd: dir },
    );
    slug = await run.slug();
    const r = await run.wait(240_000);
    assert.equal(r.code, 0, run.transcript);
    assert.deepEqual(tagged(r.stdout, "BASE"), ["bot-bottle bot-bottle: snapshot of plain"]);
    assert.ok(tagged(r.stdout, "SEES").includes("data.txt"));
    const bundle = `${sb.dir}/plain.bundle`;
    const exported = await sb.run(["export", slug, "--to", bundle]);
    assert.equal(exported.code, 0, `${exported.stderr}\n${run.transcript}`);
    assert.equal(exported.stdout.trim(), `git clone --branch bot-bottle/${slug} ${bundle} ${slug}`);
    await git(sb.dir, "clone", "-q", "--branch", `bot-bottle/${slug}`, bundle, "clone");
    assert.equal(await Deno.readTextFile(`${sb.dir}/clone/made.txt`), "new\n");
    assert.equal((await Deno.readTextFile(`${sb.dir}/clone/data.txt`)).length, 4096);
    assert.ok(
      !(await Deno.stat(`${dir}/made.txt`).then(() => true, () => false)),
      "the host dir was written",
    );

    // A sparse 1 GiB file costs the guest nothing; the capture stops at twice the limit.
    const fill = new Cli(
      [
        "start",
        "filler",
        "--backend",
        "docker",
        "--cwd",
        "--yes",
        "--max-workspace",
        "64KiB",
        "--manifest",
        manifest,
        "--label",
        `${sb.prefix}f`,
      ],
      { env: sb.env, cwd: dir },
    );
    const fillSlug = await fill.slug();
    const f = await fill.wait(240_000);
    await removeLabelled(fillSlug);
    assert.equal(f.code, 0, fill.transcript);
    assert.match(
      f.stderr,
      /workspace not captured: (what changed in )?\/workspace is larger than 128\.0 KiB/,
    );
    const d = await sb.run(["diff", fillSlug]);
    assert.equal(d.code, 1, d.stderr);
    assert.match(d.stderr, /has not been captured yet/);
  } finally {
    if (slug) await removeLabelled(slug);
    await sb.cleanup();
  }
});

Deno.test("docker: a workspace the agent emptied is said plainly; diff/export without --cwd refuse", async () => {
  const sb = await Sandbox.create({ network: true });
  const slugs: string[] = [];
  try {
    const repo = `${sb.cwd}/repo`;
    await Deno.mkdir(repo);
    await git(repo, "init", "-q", "-b", "main");
    await Deno.writeTextFile(`${repo}/a.txt`, "a\n");
    // A name that is not UTF-8 (Latin-1 "café") goes in as it is.
    const touched = await new Deno.Command("bash", {
      args: ["-c", "touch $'caf\\xe9.bin'"],
      cwd: repo,
    })
      .output();
    assert.equal(touched.code, 0);
    await git(repo, "add", "-A");
    await git(repo, "commit", "-qm", "init");
    const manifest = await sb.writeManifest(manifestToml({
      agents: {
        wipe: String
          .raw`ls /workspace | od -c | head -3 | sed 's/^/NAMES /'; rm -rf /workspace/* /workspace/.git; ls -A /workspace | wc -l | sed 's/^/LEFT /'`,
        plain: "true",
      },
    }));
    const wipe = new Cli(
      [
        "start",
        "wipe",
        "--backend",
        "docker",
        "--cwd",
        "--yes",
        "--manifest",
        manifest,
        "--label",
        sb.prefix,
      ],
      { env: sb.env, cwd: repo },
    );
    const slug = await wipe.slug();
    slugs.push(slug);
    const r = await wipe.wait(240_000);
    assert.equal(r.code, 0, wipe.transcript);
    assert.deepEqual(tagged(r.stdout, "LEFT"), ["0"]);
    assert.match(
      tagged(r.stdout, "NAMES").join(" "),
      /c +a +f +351 +\. +b +i +n/,
      "the Latin-1 name arrived as it is",
    );
    assert.match(
      r.stderr,
      /workspace kept for resume \([^)]*\), but not as commits: the workspace has no \.git directory \(the agent removed it\)/,
    );
    const diff = await sb.run(["diff", slug]);
    assert.equal(diff.code, 1);
    assert.match(diff.stderr, /could not make commits of it: the workspace has no \.git directory/);

    const plain = await sb.run(sb.startArgs("plain", { backend: "docker", manifest }));
    assert.equal(plain.code, 0, plain.stderr);
    const other = (await sb.list()).bottles.map((b) => b.slug).find((s) => s !== slug)!;
    slugs.push(other);
    for (const cmd of ["diff", "export"]) {
      const refused = await sb.run([cmd, other]);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /was started without --cwd, so it has no workspace/);
    }
  } finally {
    for (const slug of slugs) await removeLabelled(slug);
    await sb.cleanup();
  }
});
