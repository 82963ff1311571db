"""The bundle daemon: the egress proxy (:8888), the DNS sink (:53), the audit log and the intake
of injected secrets' values, in one asyncio process started by bot-bottle-init as root.

It binds :53 while it is still root, then drops to the unprivileged `bbegress` user before it
parses anything an agent sends. :8888 is bot-bottle's TLS interceptor (bb.intercept), which
serves CONNECT tunnels to intercepted hosts itself and hands every other connection to
mitmproxy's connection handler (mitmproxy listens on no port of its own). mitmproxy is started
with only the addons the proxy needs (its package imports every addon, UI ones included: those
are stubbed, which keeps the process small).
Any failure to start exits non-zero, and bot-bottle-init then stops the whole bundle (fail
closed).
"""
import asyncio
import os
import pwd
import signal
import socket
import sys
import types

_UNUSED_ADDONS = (
    "onboarding browser clientplayback serverplayback export cut save maplocal mapremote "
    "modifybody modifyheaders stickyauth stickycookie proxyauth upstream_auth blocklist block "
    "anticache anticomp comment command_history dns_resolver disable_h2c script"
).split()
for _name in _UNUSED_ADDONS:
    sys.modules[f"mitmproxy.addons.{_name}"] = types.ModuleType(_name)

from mitmproxy import master, options  # noqa: E402
from mitmproxy.addons import core, errorcheck, next_layer, proxyserver, termlog, tlsconfig  # noqa: E402

from . import dns_sink, patches  # noqa: E402
from .audit import AuditLog, AuditReceiver, flush_said, now, say  # noqa: E402
from .credentials import Intake, Secrets  # noqa: E402
from .egress import MAX_INSPECTED_BODY, Egress, load_reasons  # noqa: E402
from .gate import Gate  # noqa: E402
from .intercept import Interceptor  # noqa: E402
from .policy import Policy  # noqa: E402

patches.apply()

CONF = "/etc/bot-bottle"
CONTROL = "/var/lib/bot-bottle/control/approvals.json"
AUDIT_DIR = "/var/log/bot-bottle"
RUN = "/run/bot-bottle"
LIB = "/usr/local/lib/bot-bottle"
USER = "bbegress"


def _bind_dns() -> tuple:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp.bind(("0.0.0.0", 53))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("0.0.0.0", 53))
    tcp.listen(64)
    for sock in (udp, tcp):
        sock.setblocking(False)
    return udp, tcp


def _drop_privileges() -> None:
    entry = pwd.getpwnam(USER)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    os.environ["HOME"] = entry.pw_dir


class Front:
    """Starts accepting on :8888 once mitmproxy (which it hands connections to) is running."""

    def __init__(self, server: asyncio.AbstractServer):
        self.server = server

    async def running(self) -> None:
        await self.server.start_serving()


async def main() -> int:
    udp, tcp = _bind_dns()
    log = AuditLog(AUDIT_DIR, max_bytes=int(os.environ.get("BB_AUDIT_MAX_BYTES", 4 << 20)),
                   keep=int(os.environ.get("BB_AUDIT_KEEP", 3)))
    receiver = AuditReceiver(f"{RUN}/audit.sock", log)
    _drop_privileges()
    policy = Policy(f"{CONF}/policy.json", CONTROL)
    print(f"bundle: {policy.reload()}", flush=True)
    loop = asyncio.get_running_loop()
    loop.add_reader(receiver.sock.fileno(), receiver.on_readable)

    def dns_report(client: str, name: str, qtype: str, transport: str) -> None:
        log.write({"time": now(), "source": "dns", "decision": "deny", "host": name, "port": 53,
                   "method": qtype, "reason": "dns_sink", "client": client,
                   "transport": transport})
        say(f"dns deny {qtype} {name} (no answers: the bundle resolves for the proxy only)")

    await dns_sink.serve(udp, tcp, dns_report)
    secrets = Secrets(policy.settings.get("secrets", []))
    if secrets.expected:
        def said(line: str) -> None:
            say(f"bundle: secrets intake: {line}")
            log.write({"time": now(), "source": "bundle",
                       "decision": "start" if line.startswith("ok") else "error",
                       "reason": "secrets_loaded" if line.startswith("ok") else "secrets_refused",
                       "detail": line})
        await Intake(f"{RUN}/secrets/intake.sock", secrets, said).start()
    gate = Gate(policy, log, load_reasons(f"{LIB}/reasons.json"), secrets)
    opts = options.Options()
    proxy = master.Master(opts)
    server = proxyserver.Proxyserver()
    interceptor = Interceptor(gate, f"{RUN}/mitm/mitmproxy-ca.pem", f"{RUN}/tls/upstream-cas.pem",
                              server.handle_tcp_connection)
    # Bound now (a failure exits non-zero); it accepts once mitmproxy runs (Front.running).
    front = await interceptor.serve("0.0.0.0", 8888)
    proxy.addons.add(
        termlog.TermLog(),
        core.Core(),
        server,
        next_layer.NextLayer(),
        tlsconfig.TlsConfig(),
        errorcheck.ErrorCheck(),
        Egress(gate),
        Front(front),
    )
    opts.update(
        # :8888 is the interceptor's: mitmproxy gets its connections from there.
        server=False,
        confdir=f"{RUN}/mitm",
        connection_strategy="lazy",
        upstream_cert=False,
        http2=False,
        rawtcp=False,
        # A body the bundle must read (for secrets' values) is buffered up to this much.
        body_size_limit=f"{MAX_INSPECTED_BODY >> 20}m",
        termlog_verbosity="warn",
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, proxy.shutdown)
    gate.start()
    log.write({"time": now(), "source": "bundle", "decision": "start", "reason": "started"})
    try:
        await proxy.run()
    finally:
        flush_said()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
