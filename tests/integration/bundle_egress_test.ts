/**
 * The bundle's egress proxy, DNS sink and audit log on a real Docker engine: an `--internal`
 * test network with an upstream container (aliases allowed.test, a.b.wild.test, wild.test,
 * other.test, alt.test; HTTP on :80, :443, :8443 and :25), the bundle with allowlist
 * [allowed.test, *.wild.test, alt.test:8443], and a client that talks only to the bundle.
 * Listed names the bundle's /etc/hosts points at local, link-local, IPv4-mapped IPv6 and the
 * bundle's own address are refused with their reasons. Nothing can leave the test network
 * (--internal) even if a rule failed.
 */
import assert from "node:assert/strict";
import { renderBundleConfig } from "../../lib/bundle/config/render_bundle_config.ts";
import { parseEgressEntry } from "../../lib/policy/egress_entry.ts";
import { auditDir as auditDirOf, controlDir as controlDirOf } from "../../lib/state/approvals.ts";
import {
  createTestNetwork,
  docker,
  exec,
  removeAll,
  uniquePrefix,
  waitExited,
  waitHealthy,
} from "../_harness/docker.ts";
import { type AuditRecord, auditRecords, testBundleArgv } from "../_harness/bundle.ts";
import { bundleImage, fixtureImage } from "../_harness/images.ts";

/** A raw proxy request from the client; prints the whole response (the proxy closes it). */
function rawRequest(proxy: string, requestLine: string, host: string): string {
  const req = `${requestLine}\\r\\nHost: ${host}\\r\\nConnection: close\\r\\n\\r\\n`;
  return `timeout 5 bash -c 'exec 3<>/dev/tcp/${proxy}/8888; printf "${req}" >&3; cat <&3'`;
}

Deno.test({
  name: "bundle egress proxy, DNS sink and audit log (real docker)",
  sanitizeResources: false,
  fn: async (t) => {
    const t0 = performance.now();
    const [bundle, fixture] = await Promise.all([bundleImage(), fixtureImage()]);
    const prefix = uniquePrefix();
    const network = `${prefix}-net`;
    const upstream = `${prefix}-upstream`;
    const bundleName = `bot-bottle-${prefix}-bundle`;
    const client = `${prefix}-client`;
    const root = await Deno.makeTempDir({ prefix: "bbtest-bundle-" });
    const configDir = `${root}/config`;
    const auditDir = auditDirOf(root);
    const controlDir = controlDirOf(root);
    const marker = `upstream-body-${crypto.randomUUID()}`;
    const containers = [bundleName, upstream, client];
    try {
      const { prefix: net } = await createTestNetwork(network);
      const bundleIp = `${net}.2`;
      const aliases = ["allowed.test", "a.b.wild.test", "wild.test", "other.test", "alt.test"];
      await docker([
        "run",
        "-d",
        "--name",
        upstream,
        "--network",
        network,
        ...aliases.flatMap((a) => ["--network-alias", a]),
        fixture,
        "bash",
        "-c",
        `mkdir /w && cd /w && echo ${marker} > index.html && ` +
        "(for p in 443 8443 25; do python3 -m http.server $p & done) && " +
        "exec python3 -m http.server 80",
      ]);
      const upstreamIp = (await docker([
        "inspect",
        "-f",
        `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
        upstream,
      ])).stdout.trim();
      const config = renderBundleConfig({
        slug: prefix,
        egressAllow: ["allowed.test", "*.wild.test", "alt.test:8443"],
        git: [],
      });
      const runArgv = await testBundleArgv({
        prefix,
        image: bundle,
        network,
        ip: bundleIp,
        root,
        config,
        configDir,
      });
      await docker(
        runArgv.slice(1, -1).concat(
          // Listed names whose DNS says something local (--add-host writes the bundle's hosts).
          "--add-host",
          "meta.wild.test:169.254.169.254",
          "--add-host",
          "loop.wild.test:127.0.0.1",
          "--add-host",
          "mapped.wild.test:::ffff:127.0.0.1",
          "--add-host",
          "ll6.wild.test:fe80::1",
          "--add-host",
          `self.wild.test:${bundleIp}`,
          bundle,
        ),
      );
      await docker(["run", "-d", "--name", client, "--network", network, fixture, "sleep", "900"]);
      await waitHealthy(bundleName);
      const ready = await exec(
        upstream,
        "for i in $(seq 50); do ok=1; for p in 80 443 8443 25; do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || ok=0; done; [ $ok = 1 ] && exit 0; sleep 0.1; done; exit 1",
      );
      assert.equal(ready.code, 0, "upstream http servers did not start");
      console.log(`setup done in ${((performance.now() - t0) / 1000).toFixed(1)}s`);

      const proxy = `http://${bundleIp}:8888`;
      const curl = (url: string, extra = "") =>
        exec(client, `curl -sS ${extra} -x ${proxy} -w '\\n%{http_code}' '${url}'`);
      const refused = async (url: string, reason: string, text: RegExp) => {
        const r = await curl(url);
        assert.match(r.stdout, /\n403$/, `${url}: ${r.stdout} ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`reason: ${reason}\\n`), `${url}: ${r.stdout}`);
        assert.match(r.stdout, text, url);
        assert.doesNotMatch(r.stdout, new RegExp(marker), url);
      };

      await t.step(
        "the health script: --wait answers at once when healthy, bad input is 2",
        async () => {
          const up = await docker([
            "exec",
            bundleName,
            "/usr/local/bin/bot-bottle-health",
            "--wait",
            "3",
          ]);
          assert.equal(up.stdout, "healthy\n");
          const bad = await docker(
            ["exec", bundleName, "/usr/local/bin/bot-bottle-health", "--wait", "0"],
            { allowFailure: true },
          );
          assert.equal(bad.code, 2);
          assert.match(bad.stderr, /usage: bot-bottle-health \[--wait SECONDS \(1-999\)\]/);
          // No daemons at all (a bare container of the image): unhealthy after the wait, naming why.
          const bare = await docker([
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "/usr/local/bin/bot-bottle-health",
            bundle,
            "--wait",
            "1",
          ], { allowFailure: true });
          assert.equal(bare.code, 1);
          assert.equal(
            bare.stdout,
            "unhealthy: bundle init has not finished starting its daemons\n",
          );
        },
      );

      await t.step("allowlisted exact host answers 200 with the upstream body", async () => {
        const r = await curl("http://allowed.test/");
        assert.equal(r.stdout, `${marker}\n\n200`, r.stderr);
      });
      await t.step(
        "an IDNA name is checked in its ASCII form, as patterns are written",
        async () => {
          // mitmproxy turns xn-- names into Unicode; the checks compare them as ASCII again.
          const r = await curl("http://xn--e1afmkfd.test/");
          assert.match(r.stdout, /\n403$/, r.stdout + r.stderr);
          assert.match(r.stdout, /refused GET xn--e1afmkfd\.test:80/, r.stdout);
        },
      );

      await t.step(
        "plain http: a Host header naming another host than the target is refused",
        async () => {
          const r = await curl("http://allowed.test/", "-H 'Host: other.test'");
          assert.match(r.stdout, /\n403$/, r.stdout + r.stderr);
          assert.match(r.stdout, /reason: host_mismatch/);
          assert.match(
            r.stdout,
            /the Host header names 'other\.test', but the request goes to allowed\.test:80/,
          );
          const same = await curl("http://allowed.test/", "-H 'Host: allowed.test:80'");
          assert.match(same.stdout, /\n200$/, same.stdout + same.stderr);
        },
      );

      await t.step("*.wild.test matches a nested subdomain, never wild.test itself", async () => {
        assert.equal((await curl("http://a.b.wild.test/")).stdout, `${marker}\n\n200`);
        await refused("http://wild.test/", "not_allowed", /host "wild\.test" is not on this/);
      });
      await t.step("an unlisted host gets 403 naming it and the approve command", async () => {
        await refused(
          "http://other.test/",
          "not_allowed",
          new RegExp(`bot-bottle approve ${prefix} other\\.test`),
        );
      });
      await t.step(
        "IP literals: unlisted refused; local and the bundle's own, always",
        async () => {
          await refused(`http://${upstreamIp}/`, "ip_literal", /IP-literal destination/);
          await refused("http://127.0.0.1/", "local_address", /loopback, link-local/);
          await refused("http://[::1]/", "local_address", /in IPv4 or IPv6/);
          await refused("http://[::ffff:7f00:1]/", "local_address", /loopback/);
          await refused("http://169.254.169.254/", "local_address", /cloud metadata/);
          await refused(`http://${bundleIp}:8888/`, "bundle_self", /the bundle's own address/);
        },
      );
      await t.step("listed names resolving somewhere local are refused, v4 and v6", async () => {
        for (
          const [host, reason] of [
            ["meta.wild.test", "local_address"],
            ["loop.wild.test", "local_address"],
            ["mapped.wild.test", "local_address"],
            ["ll6.wild.test", "local_address"],
            ["self.wild.test", "bundle_self"],
          ]
        ) {
          await refused(`http://${host}/`, reason, new RegExp(host.replaceAll(".", "\\.")));
        }
      });
      await t.step("the bundle by its own name: not listed, never reached", async () => {
        await refused("http://bundle:9418/", "not_allowed", /host "bundle"/);
      });
      await t.step("ports: 80/443 by default, host:port entries open one port", async () => {
        await refused("http://allowed.test:25/", "port", /port 25 is not open for "allowed\.test"/);
        await refused("http://allowed.test:8443/", "port", /port 8443/);
        assert.equal((await curl("http://alt.test:8443/")).stdout, `${marker}\n\n200`);
        await refused("http://alt.test/", "port", /port 80 is not open for "alt\.test"/);
        const tunnel = await curl("http://alt.test:8443/", "-p");
        assert.equal(tunnel.stdout, `${marker}\n\n200`, tunnel.stderr);
      });
      await t.step(
        "CONNECT: 443 to a listed host tunnels; other ports and hosts are refused",
        async () => {
          const r = await curl("http://allowed.test:443/", "-p -v");
          assert.match(r.stderr, /HTTP\/1\.1 200 Connection established/i);
          assert.equal(r.stdout, `${marker}\n\n200`);
          const port = await exec(
            client,
            rawRequest(bundleIp, "CONNECT allowed.test:80 HTTP/1.1", "allowed.test:80"),
          );
          assert.match(port.stdout, /^HTTP\/1\.1 403 Forbidden by bot-bottle: port not allowed/);
          const host = await exec(
            client,
            rawRequest(bundleIp, "CONNECT evil.test:443 HTTP/1.1", "evil.test:443"),
          );
          assert.match(host.stdout, /^HTTP\/1\.1 403 Forbidden by bot-bottle: not on allowlist/);
          assert.match(host.stdout, /X-Bot-Bottle-Refusal: not_allowed: evil\.test:443/i);
          // curl shows only the status line of a refused CONNECT; it says why.
          const https = await exec(client, `curl -sS -x ${proxy} https://other.test/ 2>&1`);
          assert.match(https.stdout, /CONNECT tunnel failed, response 403/);
        },
      );
      await t.step("CONNECT to the bundle itself or a local address is refused", async () => {
        const self = await exec(
          client,
          rawRequest(bundleIp, `CONNECT ${bundleIp}:443 HTTP/1.1`, `${bundleIp}:443`),
        );
        assert.match(self.stdout, /^HTTP\/1\.1 403 Forbidden by bot-bottle: the bundle itself/);
        const v6 = await exec(
          client,
          rawRequest(bundleIp, "CONNECT [::ffff:169.254.169.254]:443 HTTP/1.1", "x:443"),
        );
        assert.match(v6.stdout, /^HTTP\/1\.1 403 Forbidden by bot-bottle: loopback, link-local/);
      });
      await t.step("ftp:// through the proxy is refused", async () => {
        const r = await curl("ftp://allowed.test/");
        assert.doesNotMatch(r.stdout, new RegExp(marker));
        assert.doesNotMatch(r.stdout, /\n200$/);
      });
      await t.step("DNS answers nothing, version.bind included (udp and tcp)", async () => {
        for (const proto of ["+notcp", "+tcp"]) {
          const started = performance.now();
          const r = await exec(client, `dig ${proto} +time=2 +tries=1 @${bundleIp} allowed.test`);
          assert.match(r.stdout, /status: NXDOMAIN/, r.stdout + r.stderr);
          assert.doesNotMatch(r.stdout, /ANSWER: [1-9]/);
          assert.ok(performance.now() - started < 2000);
        }
        const chaos = await exec(
          client,
          `dig +time=2 +tries=1 @${bundleIp} version.bind chaos txt`,
        );
        assert.match(chaos.stdout, /status: REFUSED/, chaos.stdout);
        assert.match(chaos.stdout, /ANSWER: 0/);
      });
      await t.step("every decision is one JSON line in the audit log on the host", async () => {
        let records: AuditRecord[] = [];
        for (let i = 0; i < 20 && !records.some((r) => r.source === "dns"); i++) {
          records = await auditRecords(auditDir);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const find = (pred: (r: AuditRecord) => boolean) => records.find(pred);
        assert.ok(
          find((r) =>
            r.source === "proxy" && r.decision === "allow" && r.host === "allowed.test" &&
            r.port === 80 && r.method === "GET" && r.path === "/"
          ),
          "allowed GET",
        );
        assert.ok(
          find((r) =>
            r.decision === "deny" && r.host === "other.test" && r.reason === "not_allowed"
          ),
          "deny not_allowed",
        );
        assert.ok(find((r) => r.reason === "bundle_self" && r.host === "self.wild.test"));
        assert.ok(find((r) => r.reason === "port" && r.port === 25));
        assert.ok(
          find((r) => r.source === "dns" && r.host === "allowed.test" && r.decision === "deny"),
          "dns query",
        );
        for (const r of records) {
          for (const key of ["time", "source", "decision", "reason"]) {
            assert.ok(r[key as keyof AuditRecord] !== undefined, `${key} in ${JSON.stringify(r)}`);
          }
          assert.match(r.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        }
        // One line per decision on stdout too (docker logs).
        const logs = await docker(["logs", bundleName]);
        assert.match(logs.stdout, /^egress deny GET other\.test:80 \(not on allowlist\)$/m);
        assert.match(logs.stdout, /^egress allow GET allowed\.test:80 \(http\)$/m);
      });
      await t.step("an approval reloads the live allowlist without a restart", async () => {
        const entry = parseEgressEntry("other.test");
        assert.ok("entry" in entry);
        const tmp = `${controlDir}/.approvals.tmp`;
        await Deno.writeTextFile(tmp, JSON.stringify({ approved: [entry.entry], denied: [] }));
        await Deno.chmod(tmp, 0o644);
        await Deno.rename(tmp, `${controlDir}/approvals.json`);
        let code = "";
        for (let i = 0; i < 20 && code !== "200"; i++) {
          code = (await curl("http://other.test/")).stdout.split("\n").pop() ?? "";
          if (code !== "200") await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assert.equal(code, "200", "approved within 2 s");
        await Deno.writeTextFile(tmp, JSON.stringify({ approved: [], denied: [entry.entry] }));
        await Deno.rename(tmp, `${controlDir}/approvals.json`);
        await new Promise((resolve) => setTimeout(resolve, 1500));
        await refused("http://other.test/", "not_allowed", /other\.test/);
      });
      await t.step("the bundle is confined: limits, no forwarding, no IPv6", async () => {
        const r = await docker(["inspect", "-f", "{{json .HostConfig}}", bundleName]);
        const host = JSON.parse(r.stdout);
        assert.equal(host.Memory, 384 * 1024 * 1024);
        assert.equal(host.MemorySwap, 384 * 1024 * 1024);
        assert.equal(host.PidsLimit, 256);
        assert.equal(host.NanoCpus, 1e9);
        assert.deepEqual(host.CapDrop, ["ALL"]);
        const sysctls = await exec(
          bundleName,
          "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/disable_ipv6",
        );
        assert.deepEqual(sysctls.stdout.trim().split("\n"), ["0", "1"]);
        // The proxy runs unprivileged.
        const user = await exec(
          bundleName,
          'for p in /proc/[0-9]*; do [ "${p#/proc/}" = $$ ] && continue; ' +
            "grep -qa bb.main $p/cmdline 2>/dev/null && awk '/^Uid:/ {print $2}' $p/status; done",
        );
        const uid = await exec(bundleName, "id -u bbegress");
        assert.equal(user.stdout.trim(), uid.stdout.trim(), "the daemon runs as bbegress");
        assert.notEqual(uid.stdout.trim(), "0");
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
            "for p in /proc/[0-9]*; do [ \"${p#/proc/}\" = $$ ] && continue; if grep -qa 'bb.main' $p/cmdline 2>/dev/null; then kill -9 ${p#/proc/}; exit 0; fi; done; exit 1",
          );
          assert.equal(kill.code, 0, "no bundle daemon process found");
          assert.equal(await waitExited(bundleName), 1);
          const logs = await docker(["logs", bundleName]);
          assert.match(logs.stderr, /FATAL: bundled exited .*fail closed/);
        },
      );
    } finally {
      await removeAll(containers, [network]);
      await Deno.remove(root, { recursive: true }).catch(() => {});
      console.log(`bundle egress test total ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    }
  },
});
