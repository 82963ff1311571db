/**
 * The docker backend end to end (real CLI, real Docker): the agent reaches an
 * allowlisted upstream through the bundle's proxy, is refused (403, naming the
 * host) for anything else, and has no other way out: the upstream's IP, the
 * host (egress gateway, the internal /24's .1) and another bottle's bundle are
 * refused quickly, not by timeout, and the bundle's DNS resolves nothing.
 *
 * The upstream is a container this test starts and attaches to the bottle's
 * egress network `bot-bottle-<slug>` (aliases allowed.test and denied.test)
 * once that network exists; the agent waits (bounded) until the upstream
 * answers through the proxy, reads the list of addresses to try from it, and
 * prints one tagged line per result.
 */
import assert from "node:assert/strict";
import { type Cli, tagged } from "../_harness/cli.ts";
import {
  assertNothingLeft,
  containerIp,
  docker,
  networkIpam,
  removeLabelled,
  waitForNetwork,
} from "../_harness/docker.ts";
import { fixtureImage } from "../_harness/images.ts";
import { manifestToml } from "../_harness/manifests.ts";
import { Sandbox } from "../_harness/sandbox.ts";

const PROBING_AGENT = `set -u
for i in $(seq 240); do
  curl -sf -o /tmp/targets --max-time 2 http://allowed.test/targets && break
  sleep 0.25
done
[ -s /tmp/targets ] || { echo "FATAL the upstream never answered through the proxy"; exit 20; }
echo "ALLOWED $(curl -s -o /tmp/body -w '%{http_code}' --max-time 5 http://allowed.test/index.html) $(head -c 200 /tmp/body)"
echo "TUNNEL $(curl -s -o /dev/null -w '%{http_connect}' --max-time 5 https://allowed.test/)"
echo "DENIED $(curl -s -o /tmp/denied -w '%{http_code}' --max-time 5 http://denied.test/) $(tr '\\n' ' ' </tmp/denied)"
echo "DENIED_TUNNEL $(curl -s -o /dev/null -w '%{http_connect}' --max-time 5 https://denied.test/)"
while read -r what addr port; do
  t0=$(date +%s%N)
  if timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$addr" "$port" 2>/tmp/err; then rc=0; else rc=$?; fi
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "DIRECT $what $addr:$port $rc $ms $(tail -n 1 /tmp/err | sed 's/^.*: //')"
done </tmp/targets
t0=$(date +%s%N)
if getent ahosts deb.debian.org >/tmp/dns 2>&1; then rc=0; else rc=$?; fi
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "DNS deb.debian.org $rc $ms $(head -c 200 /tmp/dns | tr '\\n' ' ')"
echo "RESULTS-DONE"
for i in $(seq 240); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://allowed.test/index.html)" = 200 ] || break
  sleep 0.25
done
echo "RELEASED"
`;

const IDLE_AGENT = `echo "IDLE-READY $HTTPS_PROXY"; sleep 60`;

Deno.test("docker backend: proxy allows the allowlist, refuses the rest; no other way out", async () => {
  const t0 = performance.now();
  const fixture = await fixtureImage();
  const sandbox = await Sandbox.create({ network: true });
  const upstream = `${sandbox.prefix}-upstream`;
  const marker = `upstream-body-${crypto.randomUUID()}`;
  let a: Cli | undefined;
  let b: Cli | undefined;
  const slugs: string[] = [];
  try {
    sandbox.containers.push(upstream);
    await docker([
      "run",
      "-d",
      "--name",
      upstream,
      "--network",
      sandbox.network,
      fixture,
      "bash",
      "-c",
      `mkdir /w && cd /w && echo ${marker} > index.html && ` +
      "(python3 -m http.server 443 &) && exec python3 -m http.server 80",
    ]);
    const manifest = await sandbox.writeManifest(manifestToml({
      egressAllow: ["allowed.test"],
      agents: { prober: PROBING_AGENT, idle: IDLE_AGENT },
    }));
    // Bottle B only has to exist beside A: its bundle is an address A must not reach.
    b = sandbox.start("idle", { backend: "docker", manifest, label: `${sandbox.prefix}-b` });
    a = sandbox.start("prober", { backend: "docker", manifest, label: `${sandbox.prefix}-a` });
    const slugA = await a.slug();
    const slugB = await b.slug();
    slugs.push(slugA, slugB);
    assert.ok(slugA.startsWith(`${sandbox.prefix}-a-`), slugA);

    const egressA = `bot-bottle-${slugA}`;
    await waitForNetwork(egressA);
    await docker([
      "network",
      "connect",
      "--alias",
      "allowed.test",
      "--alias",
      "denied.test",
      egressA,
      upstream,
    ]);
    await b.waitFor("stdout", /^IDLE-READY /m);
    const bundleB = `bot-bottle-${slugB}-bundle`;
    const internalA = await networkIpam(`bot-bottle-${slugA}-internal`);
    const egressIpam = await networkIpam(egressA);
    const internalDotOne = internalA.subnet.replace(/\.0\/24$/, ".1");
    assert.notEqual(internalDotOne, internalA.subnet, `not a /24: ${internalA.subnet}`);
    const bundleIpA = internalA.subnet.replace(/\.0\/24$/, ".2");
    const targets = [
      `own-bundle-proxy ${bundleIpA} 8888`,
      `upstream-on-egress ${await containerIp(upstream, egressA)} 80`,
      `upstream-on-test-net ${await containerIp(upstream, sandbox.network)} 80`,
      `egress-gateway ${egressIpam.gateway} 80`,
      `internal-dot-one ${internalDotOne} 80`,
      `other-bundle-internal ${await containerIp(bundleB, `bot-bottle-${slugB}-internal`)} 8888`,
      `other-bundle-egress ${await containerIp(bundleB, `bot-bottle-${slugB}`)} 8888`,
      `probe-target ${sandbox.probeTarget.replace(":", " ")}`,
    ];
    await docker(
      ["exec", "-i", upstream, "bash", "-c", "cat >/w/t.tmp && mv /w/t.tmp /w/targets"],
      {
        input: `${targets.join("\n")}\n`,
      },
    );

    await a.waitFor("stdout", /^RESULTS-DONE$/m, 90_000);
    // The bundle writes its stdout lines within 0.1 s (batched): ask until the agent's last
    // lookup is there, bounded.
    let bundleLog = "";
    for (let i = 0; i < 50; i++) {
      const logs = await docker(["logs", `bot-bottle-${slugA}-bundle`]);
      bundleLog = `${logs.stdout}\n${logs.stderr}`;
      if (/^dns deny A+ deb\.debian\.org/m.test(bundleLog)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // Release the agent: with the upstream gone from the egress network it stops waiting.
    await docker(["network", "disconnect", "--force", egressA, upstream]);
    const resultA = await a.done;
    const out = a.stdout;
    assert.equal(resultA.code, 0, a.transcript);
    assert.match(out, /^RELEASED$/m);

    // 1. The allowlisted host answers through the proxy (HTTP and a CONNECT tunnel to 443).
    const [allowed] = tagged(out, "ALLOWED");
    assert.equal(allowed, `200 ${marker}`, a.transcript);
    assert.deepEqual(tagged(out, "TUNNEL"), ["200"]);
    // ... and a host not on the list gets 403 naming it (the proxy could resolve it).
    const [denied] = tagged(out, "DENIED");
    assert.match(denied, /^403 /, a.transcript);
    assert.match(denied, /denied\.test/);
    assert.deepEqual(tagged(out, "DENIED_TUNNEL"), ["403"]);
    assert.match(bundleLog, /egress allow GET allowed\.test/);
    assert.match(bundleLog, /egress deny GET denied\.test/);

    // 2. Direct connections: the own proxy is reachable (the method works), all else is not.
    const direct = new Map(
      tagged(out, "DIRECT").map((line) => {
        const [what, target, rc, ms, ...why] = line.split(" ");
        return [what, { target, rc: Number(rc), ms: Number(ms), why: why.join(" ") }];
      }),
    );
    assert.equal(direct.size, targets.length, a.transcript);
    assert.equal(direct.get("own-bundle-proxy")!.rc, 0, a.transcript);
    for (const [what, r] of direct) {
      if (what === "own-bundle-proxy") continue;
      const info = `${what} ${r.target}: rc ${r.rc} in ${r.ms} ms (${r.why})`;
      assert.notEqual(r.rc, 0, `LEAK: ${info}`);
      assert.notEqual(r.rc, 124, `timed out instead of being refused: ${info}`);
      assert.ok(r.ms < 1500, `not refused quickly: ${info}`);
      // No route at all: not a peer that answered with a reset.
      assert.match(r.why, /unreachable|no route to host/i, info);
      console.log(`refused: ${info}`);
    }

    // A name the host resolves for apt resolves to nothing in the bottle; the query ended
    // at the bundle's DNS sink, which forwards nothing.
    const [dns] = tagged(out, "DNS");
    const [, dnsRc, dnsMs] = dns.split(" ");
    assert.notEqual(Number(dnsRc), 0, `deb.debian.org resolved in the bottle: ${dns}`);
    assert.ok(Number(dnsMs) < 5000, `the lookup hung: ${dns}`);
    assert.doesNotMatch(dns, /\d+\.\d+\.\d+\.\d+/);
    assert.match(bundleLog, /^dns deny A+ deb\.debian\.org \(no answers/m);

    // Bottle B ran beside A the whole time; SIGINT ends it cleanly.
    b.kill("SIGINT");
    const resultB = await b.done;
    assert.equal(resultB.code, 130, b.transcript);
    await assertNothingLeft(slugA);
    await assertNothingLeft(slugB);
  } finally {
    for (const cli of [a, b]) {
      try {
        cli?.kill("SIGINT");
      } catch { /* already exited */ }
      await cli?.done;
    }
    for (const slug of slugs) await removeLabelled(slug);
    await sandbox.cleanup();
    console.log(`egress test total ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  }
});
