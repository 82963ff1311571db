/**
 * A docker-backend bottle with `git = [...]` end to end: the upstream is an
 * SSH server container this test starts (a throwaway key pair; the host key
 * pinned in the manifest) and attaches to the bottle's egress network as soon
 * as it exists. From the agent, a push of a commit holding an AWS-key-shaped
 * string to `$GIT_GATE_URL/app.git` is refused with gitleaks' findings and
 * never reaches the upstream; a clean push does. The agent never sees the SSH
 * identity: it is not mounted into the agent, and no file in the agent's
 * filesystem carries its name or any private key.
 */
import assert from "node:assert/strict";
import { type Cli, tagged } from "../_harness/cli.ts";
import {
  assertNothingLeft,
  attachWhenCreated,
  docker,
  exec,
  removeLabelled,
} from "../_harness/docker.ts";
import { fixtureImage } from "../_harness/images.ts";
import { manifestToml, tomlString } from "../_harness/manifests.ts";
import { Sandbox } from "../_harness/sandbox.ts";
import { startSshUpstream } from "../_harness/upstreams.ts";

// AWS-shaped test credentials (random-looking, not the documented example key).
const AWS_KEY_ID = "AKIAZ7QK3R4MNXW2PLT5";
const AWS_SECRET = "q8Vn3Rt5Lw2Zx7Kb9Pd4Hs6Jm1Fg0Yc5Ue8Wa3Ti";

function gitAgent(identityName: string): string {
  return `set -u
cd /tmp
git clone -q "$GIT_GATE_URL/app.git" app 2>/tmp/clone.err || { echo "FATAL clone: $(cat /tmp/clone.err)"; exit 20; }
cd app
echo "CLONED $(git log -1 --format=%s)"
git config user.name agent && git config user.email agent@test
printf 'aws_access_key_id = ${AWS_KEY_ID}\\naws_secret_access_key = ${AWS_SECRET}\\n' > creds.ini
git add creds.ini && git commit -q -m 'add creds'
if git push origin main 2>/tmp/leak.err; then echo "LEAKY_PUSH accepted"; else echo "LEAKY_PUSH refused"; fi
sed 's/^/LEAKY_ERR /' /tmp/leak.err
git reset -q --hard origin/main
echo hello > README && git add README && git commit -q -m 'clean change from the bottle'
if git push origin main 2>/tmp/clean.err; then echo "CLEAN_PUSH accepted"; else echo "CLEAN_PUSH refused"; fi
sed 's/^/CLEAN_ERR /' /tmp/clean.err
echo "BY_NAME $(find / -xdev -name '${identityName}*' 2>/dev/null | tr '\\n' ' ')"
echo "BY_CONTENT $(grep -rlIsF 'PRIVATE KEY-----' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev 2>/dev/null | tr '\\n' ' ')"
echo "SSH_AUTH_SOCK \${SSH_AUTH_SOCK:-unset}"
`;
}

Deno.test("docker backend: git gate refuses a leaked key, forwards a clean push, hides the identity", async () => {
  const t0 = performance.now();
  const fixture = await fixtureImage();
  const sandbox = await Sandbox.create({ network: true });
  const upstream = `${sandbox.prefix}-upstream`;
  const identityName = `${sandbox.prefix}-identity`;
  const identity = `${sandbox.dir}/home/${identityName}`;
  let cli: Cli | undefined;
  let slug = "";
  try {
    sandbox.containers.push(upstream);
    const { hostKey } = await startSshUpstream({
      name: upstream,
      network: sandbox.network,
      fixture,
      identity,
      aliases: ["upstream.test"],
    });
    const git = `[{ name = "app", upstream = "ssh://git@git-upstream.test/srv/git/app.git", ` +
      `identity = ${tomlString(identity)}, host_key = ${tomlString(hostKey)} }]`;
    const manifest = await sandbox.writeManifest(manifestToml({
      git,
      agents: { gitter: gitAgent(identityName) },
    }));
    const label = `${sandbox.prefix}-g`;
    const attached = attachWhenCreated(label, upstream, ["git-upstream.test"]);
    cli = sandbox.start("gitter", { backend: "docker", manifest, label });
    slug = await cli.slug();
    const egress = await attached;
    assert.equal(egress, `bot-bottle-${slug}`);

    // While the agent runs: the identity is mounted into the bundle only.
    await cli.waitFor("stderr", /running bash -c/, 90_000);
    const mounts = async (name: string) =>
      (await docker(["inspect", "-f", "{{json .Mounts}}", name], { allowFailure: true })).stdout;
    const bundleMounts = await mounts(`bot-bottle-${slug}-bundle`);
    const agentMounts = await mounts(`bot-bottle-${slug}-agent`);
    assert.ok(bundleMounts.includes(identity), `the bundle holds the identity: ${bundleMounts}`);
    assert.ok(!agentMounts.includes(identityName), `the agent has the identity: ${agentMounts}`);

    await cli.waitFor("stdout", /^SSH_AUTH_SOCK /m, 90_000);
    // The upstream has served its purpose; detach it so teardown finds the network empty.
    const upstreamHead =
      (await exec(upstream, "git --git-dir=/srv/git/app.git log -1 --format=%s main"))
        .stdout.trim();
    await docker(["network", "disconnect", "--force", egress, upstream]);
    const result = await cli.done;
    const out = cli.stdout;
    assert.equal(result.code, 0, cli.transcript);
    assert.deepEqual(tagged(out, "CLONED"), ["seed"], cli.transcript);

    assert.deepEqual(tagged(out, "LEAKY_PUSH"), ["refused"], cli.transcript);
    const leakErr = tagged(out, "LEAKY_ERR").join("\n");
    assert.match(leakErr, /git-gate: +aws-access-token in commit [0-9a-f]{40}, file /);
    assert.match(leakErr, /REFUSED: gitleaks found secrets/);
    assert.ok(!leakErr.includes(AWS_SECRET), "gitleaks output must be redacted");

    assert.deepEqual(tagged(out, "CLEAN_PUSH"), ["accepted"], cli.transcript);
    assert.match(tagged(out, "CLEAN_ERR").join("\n"), /git-gate: clean; forwarding/);
    assert.equal(upstreamHead, "clean change from the bottle", "the clean push reached upstream");
    const log = (await exec(upstream, "git --git-dir=/srv/git/app.git log --format=%s main"))
      .stdout;
    assert.ok(!log.includes("add creds"), "the refused commit reached the upstream");

    assert.deepEqual(tagged(out, "BY_NAME"), [""], "a file named like the identity is visible");
    assert.deepEqual(tagged(out, "BY_CONTENT"), [""], "a private key is readable in the agent");
    assert.deepEqual(tagged(out, "SSH_AUTH_SOCK"), ["unset"]);
    await assertNothingLeft(slug);

    // The audit log, after teardown: the refused push (with its findings), the clean one
    // (with its refs), and the fetches, each naming the upstream's host.
    const logs = await sandbox.run(["logs", slug, "--json"]);
    assert.equal(logs.code, 0, logs.stderr);
    const gitRecs: Record<string, unknown>[] = logs.stdout.trim().split("\n").map((l) =>
      JSON.parse(l)
    )
      .filter((r) => r.source === "git");
    const pushes = gitRecs.filter((r) => r.method === "push" && r.decision !== "start");
    const refused = pushes.find((r) => r.decision === "deny" && r.reason === "secret_found");
    assert.ok(refused, `no refused push in ${JSON.stringify(gitRecs)}`);
    assert.ok(Number(refused.findings) >= 1, JSON.stringify(refused));
    const forwarded = pushes.find((r) => r.decision === "allow" && r.reason === "forwarded");
    assert.ok(forwarded, `no forwarded push in ${JSON.stringify(gitRecs)}`);
    assert.match(String(forwarded.refs), /refs\/heads\/main/);
    assert.ok(
      gitRecs.some((r) => r.method === "fetch" && r.decision === "allow"),
      "no fetch record",
    );
    for (const r of gitRecs) {
      assert.ok(r.host && r.host !== "", `no upstream host: ${JSON.stringify(r)}`);
    }
  } finally {
    try {
      cli?.kill("SIGINT");
    } catch { /* already exited */ }
    await cli?.done;
    if (slug) await removeLabelled(slug);
    await sandbox.cleanup();
    console.log(`git test total ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  }
});
