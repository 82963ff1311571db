import assert from "node:assert/strict";
import {
  NETWORK_LS_ARGV,
  networkInspectArgv,
  parseNetworkInspect,
  readDockerSubnets,
} from "../../lib/host/docker_networks.ts";
import { fail, ok, on, RecordingRunner } from "../fixtures/recording_runner.ts";

Deno.test("reads subnets with two docker calls", async () => {
  const runner = new RecordingRunner([
    on(["docker", "network", "ls"], ok("id1\nid2\nid3\n")),
    on(
      ["docker", "network", "inspect"],
      ok("bridge 172.17.0.0/16\nhost\nproj_default 192.168.70.0/24 fd00::/64\n"),
    ),
  ]);
  const found = await readDockerSubnets(runner);
  assert.deepEqual(runner.argvs, [[...NETWORK_LS_ARGV], networkInspectArgv(["id1", "id2", "id3"])]);
  assert.deepEqual(found.ranges, [
    { cidr: "172.17.0.0/16", source: 'docker network "bridge"' },
    { cidr: "192.168.70.0/24", source: 'docker network "proj_default"' },
  ]);
  assert.equal(found.note, undefined);
});

Deno.test("docker failing is a note naming why", async () => {
  const found = await readDockerSubnets(
    new RecordingRunner([
      on(["docker"], fail(1, "WARNING: config file unreadable\npermission denied\n")),
    ]),
  );
  assert.deepEqual(found, {
    ranges: [],
    note: "existing Docker networks not checked (permission denied)",
  });
});

Deno.test("parseNetworkInspect ignores IPv6 and blank lines", () => {
  assert.deepEqual(parseNetworkInspect("\nv6only fd00::/64\n"), []);
});

Deno.test("a network removed between ls and inspect does not hide the others", async () => {
  const runner = new RecordingRunner([
    on(["docker", "network", "ls"], ok("id1\nid2\n")),
    on(["docker", "network", "inspect"], {
      code: 1,
      stdout: "bridge 172.17.0.0/16\n",
      stderr: "Error: No such network: id2\n",
    }),
  ]);
  const found = await readDockerSubnets(runner);
  assert.deepEqual(found, {
    ranges: [{ cidr: "172.17.0.0/16", source: 'docker network "bridge"' }],
  });
});
