/**
 * A Dockerfile bottle's image build trusts the bottle's ca_certs (SPEC §12), on a real Docker
 * engine, through the launch's own ensureAgentImage: the build's RUN steps fetch over HTTPS from
 * a test upstream whose certificate comes from its own CA, as a build behind a TLS-intercepting
 * egress meets one. With the CA in ca_certs, curl and Python (in two stages) succeed; without
 * it, the same build fails on the certificate. The user's Dockerfile is not changed.
 *
 * The upstream is a container of this test on Docker's default bridge (where `docker build`'s
 * steps run), reached by its address, which its certificate names; nothing else is contacted.
 */
import assert from "node:assert/strict";
import { DenoRunner } from "../../lib/host/runner.ts";
import { ensureAgentImage } from "../../lib/launch/agent_image.ts";
import { buildCaImageTag } from "../../lib/launch/build_trust.ts";
import { parseCaPem } from "../../lib/manifest/ca_certs.ts";
import { docker, uniquePrefix } from "../_harness/docker.ts";
import { bundleImage, fixtureImage } from "../_harness/images.ts";
import { startHttpsUpstream } from "../_harness/upstreams.ts";

Deno.test({
  name: "docker build: a Dockerfile bottle's build trusts its ca_certs in every stage",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const [fixture, bundle] = await Promise.all([fixtureImage(), bundleImage()]);
    const prefix = uniquePrefix();
    const upstream = `${prefix}-https`;
    const dir = await Deno.makeTempDir({ prefix: "bbtest-build-ca-" });
    const images: string[] = [];
    const runner = new DenoRunner();
    try {
      const { caPem, ip } = await startHttpsUpstream({
        name: upstream,
        network: "bridge",
        fixture,
        names: ["build.test"],
        defaultBridge: true,
      });
      const parsed = parseCaPem(caPem);
      assert.ok("pem" in parsed, "the upstream's CA parses as ca_certs");
      const dockerfile = [
        `FROM ${fixture} AS fetch`,
        // A nonce, so each run builds (the tag is the Dockerfile's hash).
        `RUN echo ${prefix} >/nonce && curl -fsS https://${ip}/from-curl -o /curl.json`,
        `FROM ${fixture}`,
        "COPY --from=fetch /curl.json /curl.json",
        `RUN python3 -c "import urllib.request; open('/py.json', 'wb').write(` +
        `urllib.request.urlopen('https://${ip}/from-python').read())"`,
        "",
      ].join("\n");
      const path = `${dir}/Dockerfile`;
      await Deno.writeTextFile(path, dockerfile);
      const build = (trust: boolean) =>
        ensureAgentImage(runner, {
          bottle: `bbtest-${prefix}`,
          image: null,
          dockerfile: path,
          progress: () => {},
          buildTrust: trust ? { pem: parsed.pem, fromImage: bundle } : undefined,
        });

      // Without ca_certs: the first fetch fails on the certificate, and so does the build.
      let failed: unknown;
      try {
        images.push(await build(false));
      } catch (error) {
        failed = error;
      }
      assert.ok(failed instanceof Error, "a build that cannot verify the upstream succeeded");
      assert.match(failed.message, /building agent image \S+ failed/);
      assert.match(failed.message, /certificate|SSL/i);

      // With them: both stages fetch, and what they fetched is in the image.
      const tag = await build(true);
      images.push(tag, buildCaImageTag(parsed.pem, bundle));
      const out = await docker([
        "run",
        "--rm",
        "--network",
        "none",
        tag,
        "cat",
        "/curl.json",
        "/py.json",
      ]);
      assert.match(out.stdout, /"path": "\/from-curl"/);
      assert.match(out.stdout, /"path": "\/from-python"/);
      // The image keeps the variables pointing at the certificates; the user's file is as it was.
      const env = await docker(["image", "inspect", "--format", "{{json .Config.Env}}", tag]);
      assert.match(env.stdout, /SSL_CERT_FILE=\/etc\/bot-bottle\/build-ca\/bundle\.pem/);
      assert.equal(await Deno.readTextFile(path), dockerfile);
    } finally {
      await docker(["rm", "-f", upstream], { allowFailure: true });
      for (const image of images) await docker(["rmi", "-f", image], { allowFailure: true });
      await Deno.remove(dir, { recursive: true });
    }
  },
});
