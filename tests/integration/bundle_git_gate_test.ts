/**
 * The bundle's git gate on a real Docker engine: an SSH upstream container (git +
 * openssh-server, key generated for the test), the bundle mirroring it, and a client that
 * clones from and pushes to git://<bundle>:9418. A push carrying an AWS key is refused with
 * gitleaks' findings; a clean push reaches the upstream; a wrong host key fails closed. Every
 * way a key got past the old gate (binary and exempted files, metadata, evil merges, names) is
 * tried, each checked refused at the gate and absent from the upstream repository; a push over
 * the size limit is refused quickly.
 */
import assert from "node:assert/strict";
import { auditDir } from "../../lib/state/approvals.ts";
import { renderBundleConfig } from "../../lib/bundle/config/render_bundle_config.ts";
import {
  createTestNetwork,
  docker,
  exec,
  removeAll,
  uniquePrefix,
  waitExited,
  waitHealthy,
} from "../_harness/docker.ts";
import { testBundleArgv } from "../_harness/bundle.ts";
import { bundleImage, fixtureImage } from "../_harness/images.ts";
import { startSshUpstream } from "../_harness/upstreams.ts";

// AWS-shaped test credentials (random-looking, not the documented example key).
const AWS_KEY_ID = "AKIAZ7QK3R4MNXW2PLT5";
const AWS_SECRET = "q8Vn3Rt5Lw2Zx7Kb9Pd4Hs6Jm1Fg0Yc5Ue8Wa3Ti";

Deno.test("bundle git gate: gitleaks refuses secrets, clean pushes reach upstream (real docker)", async (t) => {
  const t0 = performance.now();
  const [bundle, fixture] = await Promise.all([bundleImage(), fixtureImage()]);
  const prefix = uniquePrefix();
  const network = `${prefix}-net`;
  const upstream = `${prefix}-upstream`;
  const bundleName = `bot-bottle-${prefix}-bundle`;
  const badBundleName = `bot-bottle-${prefix}-bad-bundle`;
  const client = `${prefix}-client`;
  const tmp = await Deno.makeTempDir({ prefix: "bbtest-gitgate-" });
  const containers = [bundleName, badBundleName, upstream, client];
  try {
    const { prefix: net } = await createTestNetwork(network);
    const identity = `${tmp}/id_ed25519`;
    const { pub, hostKey } = await startSshUpstream({
      name: upstream,
      network,
      fixture,
      identity,
      aliases: ["upstream.test"],
    });
    assert.match(hostKey, /^ssh-ed25519 /);

    const remote = {
      name: "app",
      upstream: "ssh://git@upstream.test/srv/git/app.git",
      identity,
      hostKey,
    };
    const start = async (name: string, ip: string, remoteHostKey: string, dir: string) => {
      await Deno.mkdir(dir);
      const config = renderBundleConfig({
        slug: prefix,
        egressAllow: [],
        git: [{ ...remote, hostKey: remoteHostKey }],
        maxPushMib: 2,
      });
      const argv = await testBundleArgv({
        prefix,
        image: bundle,
        network,
        ip,
        root: dir,
        config,
        configDir: dir,
      });
      argv[argv.indexOf("--name") + 1] = name;
      await docker(argv.slice(1));
    };
    await start(bundleName, `${net}.2`, hostKey, `${tmp}/cfg`);
    await docker(["run", "-d", "--name", client, "--network", network, fixture, "sleep", "600"]);
    await waitHealthy(bundleName);
    console.log(`setup done in ${((performance.now() - t0) / 1000).toFixed(1)}s`);

    const gate = `git://${net}.2:9418/app.git`;
    const upstreamHead = async () =>
      (await exec(upstream, "git --git-dir=/srv/git/app.git log -1 --format=%s main")).stdout
        .trim();

    await t.step("the agent clones the mirror through the gate", async () => {
      const r = await exec(
        client,
        `git clone -q ${gate} /w/app && git -C /w/app log -1 --format=%s`,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), "seed");
    });
    await t.step("a push containing an AWS key is refused with gitleaks' findings", async () => {
      const r = await exec(
        client,
        `set -e; cd /w/app
        git config user.name agent; git config user.email agent@test
        printf 'aws_access_key_id = ${AWS_KEY_ID}\\naws_secret_access_key = ${AWS_SECRET}\\n' > creds.ini
        git add creds.ini && git commit -q -m 'add creds'
        git push origin main`,
      );
      assert.notEqual(r.code, 0, "push with a secret was accepted");
      assert.match(r.stderr, /git-gate: +aws-access-token in commit [0-9a-f]{40}, file creds\.ini/);
      assert.match(r.stderr, /push REFUSED: gitleaks found secrets/);
      assert.match(r.stderr, /pre-receive hook declined/);
      assert.ok(!r.stderr.includes(AWS_SECRET), "gitleaks output must be redacted");
      assert.equal(await upstreamHead(), "seed");
    });
    await t.step("a 'gitleaks:allow' comment does not get a secret through", async () => {
      const r = await exec(
        client,
        `set -e; cd /w/app
        printf 'key = ${AWS_KEY_ID} # gitleaks:allow\\n' > creds.ini
        git commit -q -a --amend -m 'add creds quietly'
        git push origin main`,
      );
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /gitleaks:allow/);
      assert.equal(await upstreamHead(), "seed");
    });
    await t.step("a clean push is forwarded and reaches the upstream repo", async () => {
      const r = await exec(
        client,
        `set -e; cd /w/app
        git reset -q --hard origin/main
        echo hello > README && git add README && git commit -q -m 'clean change'
        git push origin main`,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /git-gate: clean; forwarding/);
      assert.equal(await upstreamHead(), "clean change");
    });
    await t.step(
      "a tag at a blob or an annotated tag cannot carry a secret past the scan",
      async () => {
        const r = await exec(
          client,
          `set -e; cd /w/app
        blob=$(printf 'aws_access_key_id = ${AWS_KEY_ID}\\naws_secret_access_key = ${AWS_SECRET}\\n' | git hash-object -w --stdin)
        git tag leak-blob "$blob"
        git tag -a leak-annotated -m 'aws_secret_access_key = ${AWS_SECRET}' HEAD
        rc=0; git push origin refs/tags/leak-blob 2>blob.err || rc=$?; echo "blob=$rc"; cat blob.err >&2
        rc=0; git push origin refs/tags/leak-annotated 2>ann.err || rc=$?; echo "annotated=$rc"; cat ann.err >&2`,
        );
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /blob=[1-9]/);
        assert.match(r.stdout, /annotated=[1-9]/);
        assert.match(r.stderr, /refusing refs\/tags\/leak-blob: it points at a blob/);
        assert.match(r.stderr, /refusing refs\/tags\/leak-annotated: it points at a tag/);
        const tags = await exec(upstream, "git --git-dir=/srv/git/app.git tag --list");
        assert.equal(tags.code, 0, tags.stderr);
        assert.equal(tags.stdout.trim(), "", "no tag reached the upstream");
      },
    );
    // The bypasses an attacker's review found in the old gate: each must be refused, and the
    // upstream must have neither the ref nor the commit.
    const bypasses: [string, string][] = [
      ["a file with a NUL byte", `printf 'x\\000y\\n%s\\n' "$KEY" > data.dat`],
      ["a .pdf file", `printf '%%PDF-1.4\\n%s\\n' "$KEY" > doc.pdf`],
      ["a .bin file", `printf '%s\\n' "$KEY" > blob.bin`],
      ["an .svg file", `printf '<svg><!-- %s --></svg>\\n' "$KEY" > img.svg`],
      ["vendor/", `mkdir -p vendor/lib && printf '%s\\n' "$KEY" > vendor/lib/creds.txt`],
      ["node_modules/", `mkdir -p node_modules/x && printf '%s\\n' "$KEY" > node_modules/x/c.js`],
      ["go.sum", `printf '%s\\n' "$KEY" > go.sum`],
      ["gitleaks.toml", `printf '# %s\\n' "$KEY" > gitleaks.toml`],
      ["the commit message", `MSG="deploy with $KEY"`],
      ["the author name", `AUTHOR="$KEY_ID"`],
      ["a file name", `printf 'x\\n' > "key-$KEY_ID.txt"`],
      ["the ref name", `REF="refs/heads/$KEY_ID"`],
      ["an evil merge (a merge whose own change adds the file)", `EVIL=1`],
    ];
    let n = 0;
    for (const [what, setup] of bypasses) {
      await t.step(`a key in ${what} is refused and never reaches the upstream`, async () => {
        const ref = `refs/heads/bypass-${++n}`;
        const r = await exec(
          client,
          `set -e; cd /w/app
          KEY="aws_access_key_id = ${AWS_KEY_ID} aws_secret_access_key = ${AWS_SECRET}"
          KEY_ID=${AWS_KEY_ID}
          MSG="case ${n}"; AUTHOR=agent; REF=${ref}; EVIL=
          git checkout -q -f -B case-${n} origin/main && git clean -fdqx
          ${setup}
          if [ -n "$EVIL" ]; then
            git commit -q --allow-empty -m side && side=$(git rev-parse HEAD)
            printf '%s\n' "$KEY" > evil.txt && git add evil.txt
            tree=$(git write-tree) && git rm -q --cached evil.txt && rm evil.txt
            sha=$(git commit-tree "$tree" -p origin/main -p "$side" -m 'merge side')
          else
            git add -A
            git -c user.name="$AUTHOR" commit -q --allow-empty -m "$MSG"
            sha=$(git rev-parse HEAD)
          fi
          echo "sha=$sha"
          rc=0; git push origin "$sha:$REF" 2>/tmp/push.err || rc=$?
          echo "rc=$rc"; cat /tmp/push.err >&2`,
        );
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /rc=[1-9]/, `${what}: push accepted\n${r.stderr}`);
        assert.match(r.stderr, /push REFUSED: gitleaks found secrets/, what);
        assert.ok(!r.stderr.includes(AWS_SECRET), "the refusal never shows the value");
        const sha = /sha=([0-9a-f]{40})/.exec(r.stdout)![1];
        const has = await exec(upstream, `git --git-dir=/srv/git/app.git cat-file -t ${sha}`);
        assert.notEqual(has.code, 0, `${what}: the upstream has the commit`);
        assert.match(has.stderr, /could not get object info|Not a valid object/, has.stderr);
        const refs = await exec(
          upstream,
          "git --git-dir=/srv/git/app.git for-each-ref --format='%(refname)'",
        );
        assert.equal(refs.code, 0, refs.stderr);
        assert.equal(refs.stdout.trim(), "refs/heads/main", `${what}: a new ref upstream`);
      });
    }
    await t.step("a push over the size limit is refused quickly, before any scan", async () => {
      const started = performance.now();
      const r = await exec(
        client,
        `set -e; cd /w/app; git checkout -q -f -B big origin/main && git clean -fdqx
        head -c 3145728 /dev/zero > zeros.dat && git add zeros.dat && git commit -q -m zeros
        rc=0; git push origin HEAD:refs/heads/big 2>/tmp/push.err || rc=$?
        echo "rc=$rc"; cat /tmp/push.err >&2`,
      );
      const ms = performance.now() - started;
      assert.match(r.stdout, /rc=[1-9]/, r.stderr);
      assert.match(
        r.stderr,
        /push REFUSED: it brings \d+ bytes of new objects, more than the 2097152/,
      );
      assert.ok(ms < 15_000, `refused in ${ms} ms`);
      const refs = await exec(
        upstream,
        "git --git-dir=/srv/git/app.git for-each-ref --format='%(refname)'",
      );
      assert.equal(refs.code, 0, refs.stderr);
      assert.equal(refs.stdout.trim(), "refs/heads/main");
    });
    await t.step(
      "the gate's decisions are in the audit log (no secret, no refused ref name)",
      async () => {
        const text = await Deno.readTextFile(`${auditDir(`${tmp}/cfg`)}/audit.jsonl`);
        const records = text.trim().split("\n").map((l) => JSON.parse(l));
        const git = records.filter((r) => r.source === "git");
        assert.ok(
          git.some((r) =>
            r.decision === "allow" && r.reason === "forwarded" &&
            r.refs === "refs/heads/main"
          ),
          JSON.stringify(git),
        );
        assert.ok(git.some((r) =>
          r.decision === "deny" && r.reason === "secret_found" &&
          r.findings >= 1
        ));
        assert.ok(git.some((r) => r.decision === "deny" && r.reason === "too_large"));
        assert.ok(!text.includes(AWS_SECRET) && !text.includes(AWS_KEY_ID), "no secret in the log");
      },
    );
    await t.step("deleting an upstream branch through the gate is refused", async () => {
      const r = await exec(client, "cd /w/app && git push origin :main");
      assert.notEqual(r.code, 0);
      assert.equal(await upstreamHead(), "clean change");
    });
    await t.step(
      "the identity is only mounted read-only and not in the agent-facing repos",
      async () => {
        const r = await docker([
          "inspect",
          "-f",
          "{{range .Mounts}}{{.Destination}} {{.RW}};{{end}}",
          bundleName,
        ]);
        assert.match(r.stdout, /\/run\/secrets\/bot-bottle\/app false;/);
        assert.match(r.stdout, /\/etc\/bot-bottle false;/);
        const leak = await exec(
          bundleName,
          `grep -rl 'OPENSSH PRIVATE' /srv/git /run/bot-bottle || true`,
        );
        assert.equal(leak.stdout.trim(), "");
      },
    );
    await t.step("a wrong pinned host key makes the bundle fail closed", async () => {
      const wrongKey = `ssh-ed25519 ${pub.split(" ")[1]}`; // a valid key, not the server's
      await start(badBundleName, `${net}.3`, wrongKey, `${tmp}/badcfg`);
      assert.equal(await waitExited(badBundleName, 40_000), 1);
      const logs = await docker(["logs", badBundleName]);
      assert.match(logs.stderr, /cannot fetch git remote app/);
      assert.match(logs.stderr, /Host key verification failed|REMOTE HOST IDENTIFICATION/);
    });
  } finally {
    await removeAll(containers, [network]);
    await Deno.remove(tmp, { recursive: true });
    console.log(`bundle git gate test total ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  }
});
