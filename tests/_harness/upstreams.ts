/**
 * Test upstreams, all containers of the fixture image on a network the test created: a probe
 * target (something listening that a bottle must NOT reach) and an SSH git server.
 */
import assert from "node:assert/strict";
import { containerIp, docker, exec } from "./docker.ts";

/** Waits (bounded, ~10 s) until something in `container` listens on 127.0.0.1:`port`. */
export async function waitListening(container: string, port: number): Promise<boolean> {
  const r = await exec(
    container,
    `for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && exit 0; sleep 0.1; done; exit 1`,
  );
  return r.code === 0;
}

/**
 * Starts `name` on `network` listening on 443 (python's http.server): the egress probe's
 * direct target. Returns `<ip>:443`.
 */
export async function startProbeTarget(
  name: string,
  network: string,
  fixture: string,
): Promise<string> {
  await docker([
    "run",
    "-d",
    "--name",
    name,
    "--network",
    network,
    fixture,
    "python3",
    "-m",
    "http.server",
    "443",
  ]);
  const ip = await containerIp(name, network);
  assert.ok(await waitListening(name, 443), "the probe target did not start listening on 443");
  return `${ip}:443`;
}

/** The SSH git upstream's setup: user `git`, bare repo /srv/git/app.git seeded on `main`. */
const SSH_UPSTREAM_SETUP = `set -e
ssh-keygen -A >/dev/null
mkdir -p /run/sshd
useradd -m -s /bin/bash git && usermod -p '*' git
install -d -o git -g git -m 0700 /home/git/.ssh
printf '%s\\n' "$CLIENT_PUB" > /home/git/.ssh/authorized_keys
chown git:git /home/git/.ssh/authorized_keys && chmod 0600 /home/git/.ssh/authorized_keys
mkdir -p /srv/git && git init -q --bare -b main /srv/git/app.git
git init -q -b main /tmp/seed && cd /tmp/seed
git -c user.name=seed -c user.email=seed@test commit -q --allow-empty -m seed
git push -q /srv/git/app.git main
chown -R git:git /srv/git
exec /usr/sbin/sshd -D -e`;

/**
 * Starts an SSH git server container (`git@<alias>:/srv/git/app.git`, one empty commit "seed" on
 * main) with a throwaway ed25519 key pair generated for the test; the private key is written to
 * `identity` (mode 0600). Returns the public key and the server's pinned host key.
 */
export async function startSshUpstream(opts: {
  name: string;
  network: string;
  fixture: string;
  identity: string;
  aliases?: string[];
}): Promise<{ pub: string; hostKey: string }> {
  const keygen = await docker([
    "run",
    "--rm",
    "--network",
    "none",
    opts.fixture,
    "bash",
    "-c",
    "ssh-keygen -q -t ed25519 -N '' -C bbtest -f /tmp/k && cat /tmp/k.pub && cat /tmp/k",
  ]);
  const [pub, ...priv] = keygen.stdout.split("\n");
  await Deno.writeTextFile(opts.identity, priv.join("\n"), { mode: 0o600 });
  await docker([
    "run",
    "-d",
    "--name",
    opts.name,
    "--network",
    opts.network,
    ...(opts.aliases ?? []).flatMap((a) => ["--network-alias", a]),
    "-e",
    `CLIENT_PUB=${pub}`,
    opts.fixture,
    "bash",
    "-c",
    SSH_UPSTREAM_SETUP,
  ]);
  if (!await waitListening(opts.name, 22)) {
    throw new Error(`upstream sshd in ${opts.name} did not start`);
  }
  const hostKey = (await exec(opts.name, "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub"))
    .stdout.trim();
  if (!/^ssh-ed25519 /.test(hostKey)) throw new Error(`no host key in ${opts.name}: ${hostKey}`);
  return { pub, hostKey };
}

/**
 * A plain-http upstream (python): `/slow` streams 20 x 64 KiB over ~6 s (a long download to
 * keep open through an approval); anything else answers `hello from <Host>`.
 */
const WEB_UPSTREAM = `
import http.server, socketserver, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/slow"):
            self.send_response(200)
            self.send_header("Content-Length", str(20 * 65536))
            self.end_headers()
            for _ in range(20):
                self.wfile.write(b"x" * 65536)
                self.wfile.flush()
                time.sleep(0.3)
            return
        body = ("hello from %s\\n" % self.headers.get("Host")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
S(("0.0.0.0", 80), H).serve_forever()
`;

/** Starts {@link WEB_UPSTREAM} as `name` on `network` (port 80). */
export async function startWebUpstream(
  name: string,
  network: string,
  fixture: string,
): Promise<void> {
  await docker([
    "run",
    "-d",
    "--name",
    name,
    "--network",
    network,
    fixture,
    "python3",
    "-c",
    WEB_UPSTREAM,
  ]);
  assert.ok(await waitListening(name, 80), "the web upstream did not start listening on 80");
}
