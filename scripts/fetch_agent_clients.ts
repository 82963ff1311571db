/**
 * Fetches the pinned agent CLIs the credentials tests run (tests/_harness/agent_clients.ts) from
 * the npm registry with `npm pack`, into their cache directory; what is there already is kept.
 * `scripts/setup.sh` runs it. Exits 1 (saying which) when a package could not be fetched.
 */
import { AGENT_CLIENTS, clientsDir } from "../tests/_harness/agent_clients.ts";

const dir = clientsDir();
await Deno.mkdir(dir, { recursive: true });
let failed = 0;
for (const client of AGENT_CLIENTS) {
  const path = `${dir}/${client.tarball}`;
  try {
    if (Deno.statSync(path).size > 0) continue;
  } catch { /* not there yet */ }
  console.log(`fetch_agent_clients: npm pack ${client.spec} into ${dir}`);
  const out = await new Deno.Command("npm", {
    args: ["pack", "--silent", "--pack-destination", dir, client.spec],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    failed++;
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join("\n");
    console.error(`fetch_agent_clients: npm pack ${client.spec} failed:\n${err}`);
  }
}
if (failed > 0) Deno.exit(1);
console.log(`fetch_agent_clients: ${AGENT_CLIENTS.map((c) => c.spec).join(", ")} in ${dir}`);
