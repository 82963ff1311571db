import assert from "node:assert/strict";
import { parseProcNetRoute, readHostRoutes } from "../../lib/host/host_routes.ts";

const PROC_NET_ROUTE =
  `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	00000000	0100000A	0003	0	0	0	00000000	0	0	0
eth0	0000000A	00000000	0001	0	0	0	00FFFFFF	0	0	0
docker0	000011AC	00000000	0001	0	0	0	0000FFFF	0	0	0
wg0	0040A8C0	00000000	0001	0	0	0	00F0FFFF	0	0	0
`;

Deno.test("parses /proc/net/route, skipping the default route", () => {
  assert.deepEqual(parseProcNetRoute(PROC_NET_ROUTE), [
    { cidr: "10.0.0.0/24", source: "host route on eth0" },
    { cidr: "172.17.0.0/16", source: "host route on docker0" },
    { cidr: "192.168.64.0/20", source: "host route on wg0" },
  ]);
});

Deno.test("garbage lines are ignored", () => {
  assert.deepEqual(parseProcNetRoute("header\nnot a route\n\neth0 zz 0 0 0 0 0 00FFFFFF\n"), []);
});

Deno.test("an unreadable route table is a note, not a failure", async () => {
  const routes = await readHostRoutes(
    () => Promise.reject(new Deno.errors.NotCapable("no")),
    "linux",
  );
  assert.deepEqual(routes.ranges, []);
  assert.match(routes.note!, /host routes not checked \(Deno allows no access under \/proc/);
  const mac = await readHostRoutes(() => Promise.resolve(PROC_NET_ROUTE), "darwin");
  assert.deepEqual(mac.ranges, []);
  assert.match(mac.note!, /not read on darwin/);
});

Deno.test("this host's real route table parses (when readable)", async () => {
  const routes = await readHostRoutes();
  assert.equal(routes.note, undefined);
  for (const r of routes.ranges) assert.match(r.cidr, /^\d+\.\d+\.\d+\.\d+\/\d+$/);
});
