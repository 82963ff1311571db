/**
 * The bundle's egress proxy and DNS sink on a real Docker engine: an `--internal` test network
 * with an upstream container (aliases allowed.test, a.b.wild.test, wild.test, other.test; HTTP
 * on :80 and :443), the bundle with allowlist [allowed.test, *.wild.test], and a client that
 * talks only to the bundle.
 */
import assert from "node:assert/strict";
import { bundleRunArgv } from "../../lib/bundle/bundle_run_argv.ts";
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
import { writeConfig } from "../_harness/files.ts";
import { bundleImage, fixtureImage } from "../_harness/images.ts";

/** A raw proxy request from the client; prints the whole response (the proxy closes it). */
function rawRequest(proxy: string, requestLine: string, host: string): string {
  const req = `${requestLine}\\r\\nHost: ${host}\\r\\nConnection: close\\r\\n\\r\\n`;
  return `timeout 5 bash -c 'exec 3<>/dev/tcp/${proxy}/8888; printf "${req}" >&3; cat <&3'`;
}

Deno.test("bundle egress proxy and DNS sink (real docker)", async (t) => {
  const t0 = performance.now();
  const [bundle, fixture] = await Promise.all([bundleImage(), fixtureImage()]);
  const prefix = uniquePrefix();
  const network = `${prefix}-net`;
  const upstream = `${prefix}-upstream`;
  const bundleName = `bot-bottle-${prefix}-bundle`;
  const client = `${prefix}-client`;
  const configDir = await Deno.makeTempDir({ prefix: "bbtest-bundle-cfg-" });
  const marker = `upstream-body-${crypto.randomUUID()}`;
  const containers = [bundleName, upstream, client];
  try {
    const { prefix: net } = await createTestNetwork(network);
    const bundleIp = `${net}.2`;
    await docker([
      "run",
      "-d",
      "--name",
      upstream,
      "--network",
      network,
      ...["allowed.test", "a.b.wild.test", "wild.test", "other.test"].flatMap((
        a,
      ) => ["--network-alias", a]),
      fixture,
      "bash",
      "-c",
      `mkdir /w && cd /w && echo ${marker} > index.html && (python3 -m http.server 443 &) && exec python3 -m http.server 80`,
    ]);
    const upstreamIp = (await docker([
      "inspect",
      "-f",
      `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
      upstream,
    ])).stdout.trim();
    const config = renderBundleConfig({
      slug: prefix,
      egressAllow: ["allowed.test", "*.wild.test"],
      git: [],
    });
    await writeConfig(configDir, config.files);
    await docker(
      bundleRunArgv({
        slug: prefix,
        image: bundle,
        egressNetwork: network,
        ip: bundleIp,
        configDir,
        identityMounts: config.identity_mounts,
        labels: {
          "io.bot-bottle.slug": prefix,
          "io.bot-bottle.role": "bundle",
          "io.bot-bottle.backend": "docker",
        },
      }).slice(1, -1).concat(
        // An allowlisted name whose DNS says cloud metadata (the test network is --internal:
        // nothing could leave even if the rule failed).
        ["--add-host", "meta.wild.test:169.254.169.254", bundle],
      ),
    );
    await docker(["run", "-d", "--name", client, "--network", network, fixture, "sleep", "600"]);
    await waitHealthy(bundleName);
    // Upstream servers must be listening before the first allowed request.
    const ready = await exec(
      upstream,
      "for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/443) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/80) 2>/dev/null && exit 0; sleep 0.1; done; exit 1",
    );
    assert.equal(ready.code, 0, "upstream http servers did not start");
    console.log(`setup done in ${((performance.now() - t0) / 1000).toFixed(1)}s`);

    const proxy = `http://${bundleIp}:8888`;
    const curl = (url: string, extra = "") =>
      exec(client, `curl -sS ${extra} -x ${proxy} -w '\\n%{http_code}' ${url}`);
    let decisions = 0;

    await t.step("squid accepts rendered configs (empty and full allowlist)", async () => {
      const dir = await Deno.makeTempDir({ prefix: "bbtest-squid-conf-" });
      try {
        const allowlists = {
          "empty.conf": [],
          "full.conf": ["api.anthropic.com", "*.githubusercontent.com", "10.213.0.5", "*.a.test"],
        };
        for (const [file, egressAllow] of Object.entries(allowlists)) {
          const rendered = renderBundleConfig({ slug: "conf-aaaaa", egressAllow, git: [] });
          await Deno.writeTextFile(`${dir}/${file}`, rendered.files["squid.conf"]);
          await Deno.chmod(dir, 0o755);
          const r = await docker([
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "squid",
            "-v",
            `${dir}:/conf:ro`,
            bundle,
            "-k",
            "parse",
            "-f",
            `/conf/${file}`,
          ], { allowFailure: true });
          assert.equal(r.code, 0, `${file}: ${r.stderr}`);
          assert.doesNotMatch(
            r.stderr.replace(/.*BCP 177.*IPv6 loopback.*/g, ""),
            /ERROR|FATAL|WARNING/,
            file,
          );
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
    await t.step("allowlisted exact host answers 200 with the upstream body", async () => {
      const r = await curl("http://allowed.test/");
      decisions++;
      assert.equal(r.stdout, `${marker}\n\n200`, r.stderr);
    });
    await t.step("*.wild.test matches a nested subdomain", async () => {
      const r = await curl("http://a.b.wild.test/");
      decisions++;
      assert.equal(r.stdout, `${marker}\n\n200`, r.stderr);
    });
    await t.step("*.wild.test does not match wild.test itself: 403 naming it", async () => {
      const r = await curl("http://wild.test/");
      decisions++;
      assert.match(r.stdout, /\n403$/);
      assert.match(r.stdout, /host "wild\.test" is not on this bottle's egress allowlist/);
      assert.doesNotMatch(r.stdout, new RegExp(marker));
    });
    await t.step("a host not on the allowlist gets 403 whose body names it", async () => {
      const r = await curl("http://other.test/");
      decisions++;
      assert.match(r.stdout, /\n403$/);
      assert.match(r.stdout, /host "other\.test" is not on this bottle's egress allowlist/);
    });
    await t.step("an IP literal that is not listed is refused", async () => {
      const r = await curl(`http://${upstreamIp}/`);
      decisions++;
      assert.match(r.stdout, /\n403$/);
      assert.ok(r.stdout.includes(`IP-literal destination "${upstreamIp}"`), r.stdout);
    });
    await t.step("CONNECT to a port other than 443 is refused with 403", async () => {
      const r = await exec(
        client,
        rawRequest(bundleIp, "CONNECT allowed.test:80 HTTP/1.1", "allowed.test:80"),
      );
      decisions++;
      assert.match(r.stdout, /^HTTP\/1\.1 403 /);
      assert.match(r.stdout, /CONNECT is allowed to port 443 only \(host "allowed\.test"\)/);
    });
    await t.step("CONNECT to a non-listed host on 443 is refused naming it", async () => {
      const r = await exec(
        client,
        rawRequest(bundleIp, "CONNECT evil.test:443 HTTP/1.1", "evil.test:443"),
      );
      decisions++;
      assert.match(r.stdout, /^HTTP\/1\.1 403 /);
      assert.match(r.stdout, /host "evil\.test" is not on this bottle's egress allowlist/);
    });
    await t.step(
      "CONNECT to allowed.test:443 is established (tunnel carries the request)",
      async () => {
        const r = await curl("http://allowed.test:443/", "-p -v");
        decisions++;
        assert.match(r.stderr, /HTTP\/1\.1 200 Connection established/i);
        assert.equal(r.stdout, `${marker}\n\n200`);
      },
    );
    await t.step("ftp:// through the proxy is refused", async () => {
      const r = await curl("ftp://allowed.test/");
      decisions++;
      assert.match(r.stdout, /only http:\/\/ requests and CONNECT to port 443 are proxied/);
    });
    await t.step("one log line per decision in docker logs", async () => {
      // Records are written when a transaction ends; allow a moment for the last one.
      let lines: string[] = [];
      for (let i = 0; i < 20; i++) {
        const logs = await docker(["logs", bundleName]);
        lines = logs.stdout.split("\n").filter((l) => l.startsWith("egress "));
        if (lines.length >= decisions) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const expected = [
        "egress allow GET allowed.test:80 (HTTP 200)",
        "egress allow GET a.b.wild.test:80 (HTTP 200)",
        "egress deny GET wild.test:80 (not on allowlist)",
        "egress deny GET other.test:80 (not on allowlist)",
        `egress deny GET ${upstreamIp}:80 (IP literal not on allowlist)`,
        "egress deny CONNECT allowed.test:80 (CONNECT allowed to port 443 only)",
        "egress deny CONNECT evil.test:443 (not on allowlist)",
        "egress allow CONNECT allowed.test:443 (HTTP 200)",
        "egress deny GET allowed.test:21 (only http:// and CONNECT are proxied)",
      ];
      assert.equal(expected.length, decisions);
      assert.deepEqual(lines, expected);
    });
    await t.step("an allowlisted name resolving to link-local (metadata) is refused", async () => {
      const r = await curl("http://meta.wild.test/latest/meta-data/");
      assert.match(r.stdout, /403$/);
      assert.match(r.stdout, /"meta\.wild\.test" resolves to a loopback or link-local address/);
    });
    await t.step("DNS via the bundle's :53 fails fast (udp and tcp)", async () => {
      for (const proto of ["+notcp", "+tcp"]) {
        const started = performance.now();
        const r = await exec(client, `dig ${proto} +time=2 +tries=1 @${bundleIp} allowed.test`);
        const ms = performance.now() - started;
        assert.match(r.stdout, /status: NXDOMAIN/, r.stdout + r.stderr);
        assert.doesNotMatch(r.stdout, /ANSWER: [1-9]/);
        assert.ok(ms < 2000, `dig took ${ms} ms`);
      }
    });
    await t.step("the bundle is labelled per SPEC §4.1", async () => {
      const r = await docker(["inspect", "-f", "{{json .Config.Labels}}", bundleName]);
      const labels = JSON.parse(r.stdout);
      assert.equal(labels["io.bot-bottle.slug"], prefix);
      assert.equal(labels["io.bot-bottle.role"], "bundle");
      assert.equal(labels["io.bot-bottle.backend"], "docker");
    });
    await t.step("SIGTERM stops the bundle cleanly (exit 0)", async () => {
      await docker(["kill", "--signal", "TERM", bundleName]);
      assert.equal(await waitExited(bundleName), 0);
      const logs = await docker(["logs", bundleName]);
      assert.match(logs.stderr, /bundle: received SIGTERM, stopping daemons/);
    });
    await t.step(
      "a dying daemon takes the bundle down with a non-zero exit (fail closed)",
      async () => {
        await docker(["start", bundleName]);
        await waitHealthy(bundleName);
        const kill = await exec(
          bundleName,
          "for p in /proc/[0-9]*; do if grep -qa '^dnsmasq' $p/cmdline 2>/dev/null; then kill ${p#/proc/}; exit 0; fi; done; exit 1",
        );
        assert.equal(kill.code, 0, "no dnsmasq process found");
        assert.equal(await waitExited(bundleName), 1);
        const logs = await docker(["logs", bundleName]);
        assert.match(logs.stderr, /FATAL: dns-sink exited .*fail closed/);
      },
    );
  } finally {
    await removeAll(containers, [network]);
    await Deno.remove(configDir, { recursive: true });
    console.log(`bundle proxy test total ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  }
});
