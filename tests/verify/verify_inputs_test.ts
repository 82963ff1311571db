import assert from "node:assert/strict";
import { type EgressEntry, parseEgressEntry } from "../../lib/policy/egress_entry.ts";
import { hostAddressesFor, portProbeFor } from "../../lib/verify/verify_inputs.ts";
import { VERIFY_SCRIPT, verifyScriptArgs } from "../../lib/verify/isolation_script.ts";

const entries = (...texts: string[]): EgressEntry[] =>
  texts.map((t) => (parseEgressEntry(t) as { entry: EgressEntry }).entry);

Deno.test("portProbeFor: a listed name and a port none of its entries opens", () => {
  assert.deepEqual(portProbeFor(entries("api.example.com")), { host: "api.example.com", port: 1 });
  assert.deepEqual(portProbeFor(entries("10.0.0.1", "*.example.org")), {
    host: "verify.example.org",
    port: 1,
  });
  assert.deepEqual(portProbeFor(entries("a.test:1", "a.test:2", "b.test")), {
    host: "a.test",
    port: 3,
  });
  assert.equal(portProbeFor(entries("10.0.0.1")), null);
  assert.equal(portProbeFor([]), null);
});

Deno.test("hostAddressesFor: the host's IPv4 addresses but loopback and the bottle's own /24", () => {
  const env = (v?: string) => ({
    get: (n: string) => (n === "BOT_BOTTLE_VERIFY_HOSTS" ? v : undefined),
  });
  const found =
    () => ["127.0.0.1", "10.0.0.5", "::1", "fe80::1", "192.168.7.1", "172.17.0.1", "10.0.0.5"];
  assert.deepEqual(hostAddressesFor(env(), found, "192.168.7."), ["10.0.0.5", "172.17.0.1"]);
  assert.deepEqual(hostAddressesFor(env("10.9.0.1, 10.9.0.2"), found, "192.168.7."), [
    "10.9.0.1",
    "10.9.0.2",
  ]);
  assert.deepEqual(hostAddressesFor(env(""), found, "192.168.7."), []);
  assert.throws(() => hostAddressesFor(env("host.example"), found, "x"), /not IPv4 addresses/);
});

Deno.test("the isolation script is shellcheck clean and takes its arguments in order", async () => {
  const path = await Deno.makeTempFile({ suffix: ".sh" });
  try {
    await Deno.writeTextFile(path, `#!/bin/bash\n${VERIFY_SCRIPT}`);
    const out = await new Deno.Command("shellcheck", {
      args: ["--severity=style", path],
      stdout: "piped",
    })
      .output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stdout));
  } finally {
    await Deno.remove(path);
  }
  assert.deepEqual(
    verifyScriptArgs({
      backend: "docker",
      bundleIp: "192.168.5.2",
      gateway: "192.168.5.1",
      target: { host: "10.1.1.1", port: 443 },
      portProbe: null,
      others: ["192.168.6.2"],
      hostAddresses: ["10.0.0.5", "172.17.0.1"],
      secretHashes: [],
      heldSecrets: ["API_TOKEN"],
    }),
    [
      "docker",
      "192.168.5.2",
      "192.168.5.1",
      "10.1.1.1",
      "443",
      "",
      "",
      "192.168.6.2",
      "10.0.0.5,172.17.0.1",
      "",
      "API_TOKEN",
    ],
  );
});
