/**
 * What the guest trusts (SPEC §12): the bottle's CA (made in its bundle at start, for the hosts
 * the bundle intercepts) and the bottle's `ca_certs`. The public certificates are read from the
 * bundle and written into the guest's CA dir by a POSIX sh script on stdin: `extra.pem` (those
 * certificates) and `bundle.pem` (the guest's own system store plus them), which the guest's
 * trust variables point at (guest_env.ts). Where the backend can run it as root (docker), the
 * certificates are also appended to the guest's system store and put in
 * /usr/local/share/ca-certificates. No key is ever read: only the bundle holds the CA's key.
 */
import type { Backend, Launch } from "../backends/backend.ts";
import { UserError } from "../errors.ts";
import { lastLine, type Runner } from "../host/runner.ts";
import { GUEST_CA_FILES } from "../plan/guest_env.ts";
import { bundleName } from "../plan/resource_names.ts";

/** Where the bundle publishes the guest's certificates (bottle CA + ca_certs). */
export const BUNDLE_GUEST_PEM = "/run/bot-bottle/tls/guest.pem";

/** `docker exec <bundle> cat <guest.pem>`. Pure. */
export function guestPemArgv(bundle: string): string[] {
  return ["docker", "exec", bundle, "cat", BUNDLE_GUEST_PEM];
}

/**
 * The script run in the guest: `sh -c SCRIPT trust <dir> <files|system>`, the certificates on
 * stdin. It prints one line saying what it wrote.
 */
export const TRUST_SCRIPT = `set -eu
dir=$1 mode=$2
umask 022
mkdir -p "$dir"
cat >"$dir/${GUEST_CA_FILES.extra}.new"
grep -q 'BEGIN CERTIFICATE' "$dir/${GUEST_CA_FILES.extra}.new" || { echo "no certificate on stdin" >&2; exit 3; }
sys=""
for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/ca-bundle.pem /etc/pki/tls/cacert.pem /etc/ssl/cert.pem; do
  if [ -r "$f" ]; then sys=$f; break; fi
done
{ if [ -n "$sys" ]; then cat "$sys"; echo; fi; cat "$dir/${GUEST_CA_FILES.extra}.new"; } >"$dir/${GUEST_CA_FILES.bundle}.new"
mv -f "$dir/${GUEST_CA_FILES.extra}.new" "$dir/${GUEST_CA_FILES.extra}"
mv -f "$dir/${GUEST_CA_FILES.bundle}.new" "$dir/${GUEST_CA_FILES.bundle}"
store="not changed"
if [ "$mode" = system ]; then
  if [ -n "$sys" ] && [ -w "$sys" ]; then
    { echo; cat "$dir/${GUEST_CA_FILES.extra}"; } >>"$sys"
    store="extended ($sys)"
  else
    store="not found or not writable"
  fi
  if [ -d /usr/local/share/ca-certificates ] && [ -w /usr/local/share/ca-certificates ]; then
    cp "$dir/${GUEST_CA_FILES.extra}" /usr/local/share/ca-certificates/bot-bottle.crt
  fi
fi
echo "guest trust: $dir/${GUEST_CA_FILES.bundle} and $dir/${GUEST_CA_FILES.extra} written (base: \${sys:-no system store}); system store $store"
`;

/** The guest's trust, installed (when the plan needs it); a line for the progress log. */
export async function installGuestTrust(launch: Launch, backend: Backend): Promise<string | null> {
  const plan = launch.plan;
  const dir = plan.tls.guest_ca_dir;
  if (dir === null) return null;
  const pem = await readGuestPem(launch.runner, bundleName(plan.slug));
  const mode = plan.tls.guest_system_store ? "system" : "files";
  const r = await launch.runner.run(
    backend.execArgv(
      { slug: plan.slug, secretNames: [] },
      ["sh", "-c", TRUST_SCRIPT, "trust", dir, mode],
      { stdin: true, tty: false, asRoot: plan.tls.guest_system_store, timeout: "30s" },
    ),
    { input: pem },
  );
  if (r.code !== 0) {
    throw new UserError(
      `writing the bottle's CA into the guest failed (exit ${r.code}): ${lastLine(r)}`,
      {
        hint: "the guest needs /bin/sh, cat, grep and mkdir; nothing was left running",
      },
    );
  }
  return r.stdout.trim().split("\n").pop() ?? null;
}

async function readGuestPem(runner: Runner, bundle: string): Promise<string> {
  const r = await runner.run(guestPemArgv(bundle));
  if (r.code !== 0 || !r.stdout.includes("BEGIN CERTIFICATE")) {
    throw new UserError(
      `could not read the bottle's CA certificate from the bundle ${bundle}: ${
        lastLine(r) || "no certificate"
      }`,
    );
  }
  return r.stdout;
}
