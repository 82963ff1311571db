/**
 * `start --yes` on the smolmachines backend refuses on every failed preflight
 * check (SPEC §5) before any side effect: in-process through `main()` with a
 * recording runner and a fake host probe. Each refusal has its own message and
 * names its fix; the only subprocesses run are read-only probes.
 */
import assert from "node:assert/strict";
import { main } from "../../main.ts";
import { fail, ok, on } from "../fixtures/recording_runner.ts";
import { HEALTHY_HOST, testContext, type TestContextOptions } from "../fixtures/test_context.ts";

const MANIFEST = "/home/u/bottles.toml";
const TOML = `
[bottles.shell]
image = "bot-bottle/agent-shell:latest"
secrets = { API_TOKEN = "BBTEST_NEEDLE" }

[agents.demo]
bottle = "shell"
command = ["bash", "-l"]
`;

interface Refusal {
  name: string;
  opts: TestContextOptions;
  /** Fragments only this refusal prints (what was found, and the fix). */
  says: string[];
}

const DAEMON_DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. " +
  "Is the docker daemon running?";

const REFUSALS: Refusal[] = [
  {
    name: "no smolvm on PATH",
    opts: { have: ["docker"] },
    says: [
      "FAIL smolvm-installed: the smolmachines backend needs `smolvm` on PATH, and it is not there",
      "fix: Install it with: curl -sSL https://smolmachines.com/install.sh | bash",
    ],
  },
  {
    name: "smolvm 1.1.0 (allowlist on TSI)",
    opts: { handlers: [on(["smolvm", "--version"], ok("smolvm 1.1.0\n")), ...HEALTHY_HOST] },
    says: [
      "FAIL smolvm-version: smolvm 1.1.0 enforces the egress allowlist through TSI, which the " +
      "smolvm maintainers found does not enforce it (fixed in 1.1.3); bot-bottle needs smolvm " +
      "1.2.5 or newer",
    ],
  },
  {
    name: "smolvm 1.2.4 (no --dns)",
    opts: { handlers: [on(["smolvm", "--version"], ok("smolvm 1.2.4\n")), ...HEALTHY_HOST] },
    says: [
      "FAIL smolvm-version: smolvm 1.2.4 has no `machine create --dns`, so guest DNS would leak " +
      "to the host's resolver (added in 1.2.5)",
    ],
  },
  {
    name: "no /dev/kvm",
    opts: { kvm: { state: "missing" } },
    says: [
      "FAIL kvm-device: the smolmachines backend needs /dev/kvm on Linux, and it is missing",
      "`sudo modprobe kvm-intel` or `sudo modprobe kvm-amd`",
    ],
  },
  {
    name: "/dev/kvm not accessible",
    opts: { kvm: { state: "no-access" } },
    says: [
      "FAIL kvm-access: /dev/kvm exists but is not readable and writable by this user",
      'fix: Add yourself to the kvm group: `sudo usermod -aG kvm "$USER"`',
    ],
  },
  {
    name: "no docker on PATH",
    opts: { have: ["smolvm"] },
    says: ["FAIL docker-installed: `docker` is not on PATH"],
  },
  {
    name: "Docker daemon down",
    opts: {
      handlers: [
        on(["smolvm", "--version"], ok("smolvm 1.9.3\n")),
        on(["docker", "info"], fail(1, `${DAEMON_DOWN}\n`)),
      ],
    },
    says: [
      `FAIL docker-daemon: the Docker daemon is not reachable: ${DAEMON_DOWN}`,
      "fix: Start it (`sudo systemctl start docker`)",
    ],
  },
];

/** What a plan asks of the host (the preflight and, at the same time, networks and images). */
const READ_ONLY = [
  ["smolvm", "--version"],
  ["docker", "info"],
  ["docker", "network", "ls"],
  ["docker", "network", "inspect"],
  ["docker", "image", "inspect"],
];

for (const refusal of REFUSALS) {
  Deno.test(`start --yes (smolmachines) refuses before any side effect: ${refusal.name}`, async () => {
    const c = testContext({
      files: { [MANIFEST]: TOML },
      env: { BBTEST_NEEDLE: "needle-value" },
      ...refusal.opts,
    });
    const code = await main(["start", "demo", "--yes", "--manifest", MANIFEST], c);
    assert.equal(code, 1, c.stderrText);
    for (const fragment of refusal.says) {
      assert.ok(c.stderrText.includes(fragment), `missing ${fragment}\n${c.stderrText}`);
    }
    for (const other of REFUSALS) {
      if (other === refusal) continue;
      for (const fragment of other.says) {
        assert.ok(!c.stderrText.includes(fragment), `${other.name}'s message in\n${c.stderrText}`);
      }
    }
    assert.match(c.stderrText, /preflight for the smolmachines backend failed:/);
    assert.match(
      c.stderrText,
      /bot-bottle: error: cannot start a smolmachines bottle on this host; nothing was created\n$/,
    );
    // The alternative backend is named wherever smolvm/KVM is the problem.
    if (!refusal.name.toLowerCase().includes("docker")) {
      assert.match(c.stderrText, /--backend=docker or set BOT_BOTTLE_BACKEND=docker/);
    }
    // Only read-only probes ran: no docker network/run/build/save, no smolvm machine.
    for (const argv of c.runner.argvs) {
      assert.ok(
        READ_ONLY.some((prefix) => prefix.every((p, i) => argv[i] === p)),
        `side effect before the refusal: ${argv.join(" ")}`,
      );
    }
    assert.ok(!c.stdoutText.includes("needle-value") && !c.stderrText.includes("needle-value"));
  });
}

Deno.test("start --yes (smolmachines) on a healthy host gets past preflight", async () => {
  // The control case: same context, nothing failing, so the refusals above are
  // caused by their one failing check. The launch then reaches Docker (and the
  // recording runner, which has no answer for it, fails loudly).
  const state = await Deno.makeTempDir({ prefix: "bbtest-state-" });
  const c = testContext({
    files: { [MANIFEST]: TOML },
    env: { BBTEST_NEEDLE: "x", XDG_STATE_HOME: state },
  });
  try {
    await main(["start", "demo", "--yes", "--manifest", MANIFEST], c);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
  assert.ok(!c.stderrText.includes("preflight for the smolmachines backend failed"));
  assert.ok(
    c.runner.argvs.some((a) => !READ_ONLY.some((p) => p.every((x, i) => a[i] === x))),
    "the launch went on past the read-only probes",
  );
});
