"""The bundle daemon: the egress proxy (:8888), the DNS sink (:53), the audit log and the intake
of injected secrets' values, in one asyncio process started by bot-bottle-init as root.

It binds :53 while it is still root, then drops to the unprivileged `bbegress` user before it
parses anything an agent sends. mitmproxy is started with only the addons the proxy needs (its
package imports every addon, UI ones included: those are stubbed, which keeps the process small).
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
from .audit import AuditLog, AuditReceiver, now  # noqa: E402
from .credentials import Intake, Secrets  # noqa: E402
from .egress import MAX_INSPECTED_BODY, Egress, load_reasons  # noqa: E402
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
        print(f"dns deny {qtype} {name} (no answers: the bundle resolves for the proxy only)",
              flush=True)

    await dns_sink.serve(udp, tcp, dns_report)
    secrets = Secrets(policy.settings.get("secrets", []))
    if secrets.expected:
        def said(line: str) -> None:
            print(f"bundle: secrets intake: {line}", flush=True)
            log.write({"time": now(), "source": "bundle",
                       "decision": "start" if line.startswith("ok") else "error",
                       "reason": "secrets_loaded" if line.startswith("ok") else "secrets_refused",
                       "detail": line})
        await Intake(f"{RUN}/secrets/intake.sock", secrets, said).start()
    opts = options.Options()
    proxy = master.Master(opts)
    proxy.addons.add(
        termlog.TermLog(),
        core.Core(),
        proxyserver.Proxyserver(),
        next_layer.NextLayer(),
        tlsconfig.TlsConfig(),
        errorcheck.ErrorCheck(),
        Egress(policy, log, load_reasons(f"{LIB}/reasons.json"), secrets),
    )
    opts.update(
        listen_host="0.0.0.0",
        listen_port=8888,
        confdir=f"{RUN}/mitm",
        connection_strategy="lazy",
        upstream_cert=False,
        http2=False,
        # Inside an intercepted tunnel only HTTP (and WebSocket) is relayed, never raw bytes.
        rawtcp=False,
        # The system store plus the bottle's ca_certs (bot-bottle-init builds it).
        ssl_verify_upstream_trusted_ca=f"{RUN}/tls/upstream-cas.pem",
        # A body the bundle must read (for secrets' values) is buffered up to this much.
        body_size_limit=f"{MAX_INSPECTED_BODY >> 20}m",
        termlog_verbosity="warn",
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, proxy.shutdown)
    log.write({"time": now(), "source": "bundle", "decision": "start", "reason": "started"})
    await proxy.run()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
