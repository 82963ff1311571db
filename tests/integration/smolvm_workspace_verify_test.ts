/**
 * The smolmachines backend through the fake smolvm (whose guest is a confined container and
 * whose exec runs in it): `start --cwd` copies the tree in with `smolvm machine exec -i`,
 * `exec` runs as the agent, `verify` passes every check inside the running guest, `logs`
 * records the agent's refused request, and the agent's work comes back through `diff` and
 * `export` after it exits.
 */
import assert from "node:assert/strict";
import { git } from "../_harness/git.ts";
import { Cli, tagged } from "../_harness/cli.ts";
import { networkIpam, removeLabelled } from "../_harness/docker.ts";
import { manifestToml } from "../_harness/manifests.ts";
import { Sandbox } from "../_harness/sandbox.ts";

const AGENT = String.raw`set -u
cd "$BOT_BOTTLE_WORKSPACE"
echo "PWD $(pwd)"
ls -A | sed 's/^/SEES /'
git config --global user.email agent@bottle
git config --global user.name agent
echo "agent change" >> tracked.txt
git commit -qam "agent: edit tracked.txt"
echo "left uncommitted" > wip.txt
curl -s -o /dev/null -w 'DENIED %{http_code}\n' --max-time 10 http://unlisted.test/
echo READY
for i in $(seq 600); do [ -e /tmp/release ] && break; sleep 0.2; done
exit 0
`;

Deno.test({
  name: "smolmachines: --cwd in, exec and verify in the live guest, the work out",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sb = await Sandbox.create({ fakeSmolvm: true, network: true });
    let cli: Cli | undefined;
    let slug = "";
    try {
      const repo = `${sb.cwd}/repo`;
      await Deno.mkdir(repo);
      await git(repo, "init", "-q", "-b", "main");
      await Deno.writeTextFile(`${repo}/tracked.txt`, "tracked\n");
      await Deno.writeTextFile(`${repo}/.gitignore`, ".env\n");
      await git(repo, "add", "-A");
      await git(repo, "commit", "-qm", "init");
      await Deno.writeTextFile(`${repo}/untracked.txt`, "untracked\n");
      await Deno.writeTextFile(`${repo}/.env`, "IGNORED=1\n");
      const manifest = await sb.writeManifest(manifestToml({
        egressAllow: ["allowed.test"],
        agents: { worker: AGENT },
      }));
      cli = new Cli(
        ["start", "worker", "--cwd", "--yes", "--manifest", manifest, "--label", sb.prefix],
        { env: sb.env, cwd: repo },
      );
      slug = await cli.slug();
      await cli.waitFor("stdout", /^READY$/m, 300_000);
      assert.deepEqual(tagged(cli.stdout, "PWD"), ["/workspace"]);
      const seen = tagged(cli.stdout, "SEES");
      for (const f of ["tracked.txt", "untracked.txt", ".gitignore", ".git"]) {
        assert.ok(seen.includes(f), `${f} not in ${seen}`);
      }
      assert.ok(!seen.includes(".env"), "the ignored .env went in");
      assert.deepEqual(tagged(cli.stdout, "DENIED"), ["403"]);

      // exec runs as the agent's user in the guest; its exit code passes.
      const who = await sb.run(["exec", slug, "--", "sh", "-c", "pwd; id -un; exit 4"]);
      assert.equal(who.code, 4, who.stderr);
      assert.equal(who.stdout, "/workspace\nagent\n");

      // verify: every check passes inside the live guest.
      const ipam = await networkIpam(sb.network);
      const verify = await sb.run(["verify", slug, "--json"], {
        BOT_BOTTLE_VERIFY_TARGET: sb.probeTarget,
        BOT_BOTTLE_VERIFY_HOSTS: ipam.gateway || ipam.subnet.replace(/\.0\/24$/, ".1"),
      });
      const report = JSON.parse(verify.stdout);
      assert.equal(report.backend, "smolmachines");
      for (const c of report.checks) assert.equal(c.status, "pass", `${c.id}: ${c.detail}`);
      assert.equal(verify.code, 0);

      // The refused request is in the audit log.
      const logs = await sb.run(["logs", slug, "--json"]);
      const denied = logs.stdout.trim().split("\n").map((l) => JSON.parse(l))
        .find((r) => r.host === "unlisted.test");
      assert.equal(denied?.decision, "deny");
      assert.equal(denied?.reason, "not_allowed");

      assert.equal((await sb.run(["exec", slug, "--", "touch", "/tmp/release"])).code, 0);
      const done = await cli.wait(120_000);
      assert.equal(done.code, 0, cli.transcript);
      assert.match(done.stderr, /workspace captured: 2 commits/);

      const diff = await sb.run(["diff", slug]);
      assert.match(diff.stdout, /^\+agent change$/m);
      // Through smolvm's exec too, the guest sent only what changed (its commit made there).
      const capture = JSON.parse(
        await Deno.readTextFile(`${sb.stateDir(slug)}/workspace/capture.json`),
      );
      assert.equal(capture.mode, "incremental", JSON.stringify(capture));
      assert.deepEqual(capture.archives, ["base.tar", "delta-1.tar"]);
      assert.match(diff.stdout, /^\+left uncommitted$/m);
      const bundle = `${sb.dir}/work.bundle`;
      const exported = await sb.run(["export", slug, "--to", bundle]);
      assert.equal(exported.code, 0, exported.stderr);
      await git(repo, "fetch", "-q", bundle, `bot-bottle/${slug}:bot-bottle/${slug}`);
      assert.equal(
        (await git(repo, "show", `bot-bottle/${slug}:wip.txt`)).trim(),
        "left uncommitted",
      );
    } finally {
      try {
        cli?.kill("SIGINT");
      } catch { /* exited */ }
      await cli?.done;
      if (slug) await removeLabelled(slug);
      await sb.cleanup();
    }
  },
});
