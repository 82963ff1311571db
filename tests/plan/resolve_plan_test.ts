/**
 * resolvePlan for credentials (SPEC §3, §12): the two forms of a secret, the placeholder in the
 * guest's environment, the TLS plan (which hosts the bundle intercepts, the rules, ca_certs,
 * where the guest's trust files go per backend), the bundle's view of the secrets, and the
 * printed plan, which marks a secret the agent holds and never shows a value.
 */
import assert from "node:assert/strict";
import { parseManifestText } from "../../lib/manifest/parse_manifest.ts";
import type { Manifest } from "../../lib/manifest/types.ts";
import { placeholderSource } from "../../lib/plan/placeholder.ts";
import type { BackendName } from "../../lib/plan/plan_types.ts";
import { renderPlan } from "../../lib/plan/render_plan.ts";
import { resolvePlan } from "../../lib/plan/resolve_plan.ts";
import { makeStyle } from "../../lib/ui/style.ts";

const FILE = "/cfg/bot-bottle.toml";
const CA_PATH = "/cfg/corp-ca.pem";
const CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const TOML = `
[bottles.dev]
image = "agent:1"
ca_certs = ["corp-ca.pem"]
secrets.GH_TOKEN = "HOST_GH"
egress.allow = ["api.anthropic.com", "api.github.com", "deb.debian.org"]
egress.rules = [{ host = "api.github.com", methods = ["GET"], paths = ["/repos/me/**"] }]

[bottles.dev.secrets.ANTHROPIC_API_KEY]
from = "HOST_ANTHROPIC"
inject = ["api.anthropic.com"]

[agents.demo]
bottle = "dev"
command = ["agent"]
`;

function plan(backend: BackendName, toml = TOML, present = true) {
  const manifest: Manifest = {
    files: [FILE],
    ...parseManifestText(toml, FILE, "user"),
    certificates: { [CA_PATH]: CA_PEM },
  };
  const made: string[] = [];
  const placeholder = placeholderSource(() => {
    const p = `bot-bottle-placeholder-${String(made.length).padStart(32, "0")}`;
    made.push(p);
    return p;
  });
  return resolvePlan({
    manifest,
    agent: "demo",
    backend,
    slug: "demo-abcde",
    taken: [],
    preflight: [],
    hasHostVar: () => present,
    stateRoot: "/state",
    smolvmVersion: "1.9.3",
    now: "2026-12-01T00:00:00.000Z",
    placeholder,
  });
}

Deno.test("plan: a held secret and an injected one, each marked; the guest gets a placeholder", () => {
  const p = plan("docker");
  assert.deepEqual(p.secrets, [
    {
      guest: "ANTHROPIC_API_KEY",
      host_var: "HOST_ANTHROPIC",
      present: true,
      holder: "bundle",
      inject: ["api.anthropic.com"],
      placeholder: `bot-bottle-placeholder-${"0".repeat(32)}`,
    },
    {
      guest: "GH_TOKEN",
      host_var: "HOST_GH",
      present: true,
      holder: "agent",
      inject: [],
      placeholder: null,
    },
  ]);
  // The injected secret's guest variable is its placeholder; the held one is not in guest_env
  // (its value travels by reference at exec).
  assert.equal(p.guest_env.ANTHROPIC_API_KEY, `bot-bottle-placeholder-${"0".repeat(32)}`);
  assert.equal(p.guest_env.GH_TOKEN, undefined);
  const text = renderPlan(p, makeStyle(false, "1"));
  assert.match(text, /GH_TOKEN <- \$HOST_GH \(set; the agent holds this value\)$/m);
  assert.match(
    text,
    /ANTHROPIC_API_KEY <- \$HOST_ANTHROPIC \(set; injected by the bundle into requests to api\.anthropic\.com; the agent holds only the placeholder bot-bottle-placeholder-0{32}\)/,
  );
  assert.match(
    text,
    /tls +terminated by the bundle \(its own CA, made at start\) for api\.anthropic\.com, api\.github\.com; others tunnelled/,
  );
  assert.match(text, /rule api\.github\.com: GET on \/repos\/me\/\*\*/);
  assert.match(text, /ca_certs +\/cfg\/corp-ca\.pem/);
  // The placeholder is in the env list once, under secrets: not again as a plain env entry.
  assert.equal(text.split("ANTHROPIC_API_KEY").length - 1, 1);
});

Deno.test("plan: TLS is intercepted for inject and rule hosts; the guest's trust per backend", () => {
  const docker = plan("docker");
  assert.deepEqual(docker.tls.intercept, ["api.anthropic.com", "api.github.com"]);
  assert.equal(docker.tls.inspect, "credentials");
  assert.deepEqual(docker.tls.rules, [{
    host: "api.github.com",
    methods: ["GET"],
    paths: ["/repos/me/**"],
    where: "bottles.dev.egress.rules[0]",
  }]);
  assert.deepEqual(docker.tls.ca_certs, [CA_PATH]);
  assert.equal(docker.tls.guest_ca_dir, "/etc/bot-bottle/ca");
  assert.equal(docker.tls.guest_system_store, true);
  assert.equal(docker.guest_env.SSL_CERT_FILE, "/etc/bot-bottle/ca/bundle.pem");
  assert.equal(docker.guest_env.NODE_EXTRA_CA_CERTS, "/etc/bot-bottle/ca/extra.pem");
  for (const v of ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"]) {
    assert.equal(docker.guest_env[v], "/etc/bot-bottle/ca/bundle.pem", v);
  }
  // smolvm runs guest commands as the image's user: files only, and the plan says so.
  const smol = plan("smolmachines");
  assert.equal(smol.tls.guest_ca_dir, "/tmp/bot-bottle-ca");
  assert.equal(smol.tls.guest_system_store, false);
  assert.equal(smol.guest_env.SSL_CERT_FILE, "/tmp/bot-bottle-ca/bundle.pem");
  assert.ok(smol.notes.some((n) => /system store is\s+not changed/.test(n)), smol.notes.join("\n"));
  // Nothing to intercept and no ca_certs: no trust files, no trust variables.
  const plain = plan(
    "docker",
    '[bottles.dev]\nimage = "a"\negress.allow = ["x.test"]\n' +
      '[agents.demo]\nbottle = "dev"\ncommand = ["a"]\n',
  );
  assert.equal(plain.tls.guest_ca_dir, null);
  assert.equal(plain.guest_env.SSL_CERT_FILE, undefined);
  // egress.inspect = "all": every allowed host, with the trust files.
  const all = plan(
    "docker",
    '[bottles.dev]\nimage = "a"\negress.allow = ["x.test"]\negress.inspect = "all"\n' +
      '[agents.demo]\nbottle = "dev"\ncommand = ["a"]\n',
  );
  assert.equal(all.tls.inspect, "all");
  assert.equal(all.tls.guest_ca_dir, "/etc/bot-bottle/ca");
  assert.match(renderPlan(all, makeStyle(false, "1")), /for every allowed HTTPS host/);
});

Deno.test("plan: the bundle's config names secrets and placeholders, never a value", () => {
  const p = plan("docker");
  const policy = JSON.parse(p.bundle_config.files["policy.json"]);
  assert.deepEqual(
    policy.secrets.map((s: { name: string; placeholder: string }) => [s.name, s.placeholder]),
    [["ANTHROPIC_API_KEY", `bot-bottle-placeholder-${"0".repeat(32)}`]],
  );
  assert.equal(p.bundle_config.files["ca_certs.pem"], CA_PEM);
  // The held secret is not the bundle's business.
  assert.ok(!JSON.stringify(p.bundle_config).includes("GH_TOKEN"));
  // Host variables are asked about, never read: an unset one makes the plan not ready.
  const unset = plan("docker", TOML, false);
  assert.equal(unset.ready, false);
  assert.ok(unset.notes.some((n) => n.includes("export HOST_ANTHROPIC")), unset.notes.join("\n"));
});
