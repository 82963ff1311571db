"""Two small patches to the pinned mitmproxy (Debian bookworm 8.1.1), applied at import.

1. A failed upstream TLS handshake says only "Certificate verify failed: <why>": the message is
   prefixed with the upstream's host and port, so the 502 names what failed.
2. The error responses mitmproxy makes itself (a 502 when upstream TLS or the connection fails,
   a 413 for a body over the limit) are HTML; they become plain text in bot-bottle's refusal
   format, with the X-Bot-Bottle-Refusal header and a reason code.
3. The leaf certificates for intercepted hosts get an Authority Key Identifier (strict
   verifiers, Python 3.13+ among them, require one).
"""
from mitmproxy import http, version
from mitmproxy.net.http import http1
from mitmproxy.proxy.layers import tls as tls_layer
from mitmproxy.proxy.layers.http import _http1

UPSTREAM_TLS_PREFIX = "upstream TLS to "

_receive_handshake_data = tls_layer.ServerTLSLayer.receive_handshake_data


def _named_handshake(self, data):
    done, err = yield from _receive_handshake_data(self, data)
    if err:
        address = self.conn.address or ("?", "?")
        err = f"{UPSTREAM_TLS_PREFIX}{address[0]}:{address[1]} failed: {err}"
    return done, err


def error_code(message: str) -> str:
    if message.startswith(UPSTREAM_TLS_PREFIX):
        return "upstream_tls"
    if "body_size_limit" in message:
        return "body_too_large"
    return "upstream_error"


def _plain_error_response(status_code: int, message: str = "") -> bytes:
    code = error_code(message)
    hint = {
        "upstream_tls": " (the upstream's certificate is checked against the system store and "
                        "the bottle's ca_certs)",
        "body_too_large": " (the bundle buffers a body it must inspect, up to 64 MiB)",
    }.get(code, "")
    body = f"bot-bottle egress: {status_code}: {message}{hint}\nreason: {code}\n"
    resp = http.Response.make(status_code, body, http.Headers(
        Server=version.MITMPROXY,
        Connection="close",
        Content_Type="text/plain; charset=utf-8",
        X_Bot_Bottle_Refusal=f"{code}: {message}"[:400],
    ))
    return http1.assemble_response(resp)


def apply() -> None:
    from mitmproxy import certs

    tls_layer.ServerTLSLayer.receive_handshake_data = _named_handshake
    _http1.make_error_response = _plain_error_response
    certs.dummy_cert = _leaf_cert


def _leaf_cert(privkey, cacert, commonname, sans, organization=None):
    """mitmproxy's leaf certificate for an intercepted host (certs.dummy_cert), with an Authority
    Key Identifier: Python 3.13+ verifies strictly (VERIFY_X509_STRICT) and refuses a leaf
    without one ("Missing Authority Key Identifier")."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    from mitmproxy import certs

    now = datetime.datetime.now()
    subject = []
    valid_cn = commonname is not None and len(commonname) < 64
    if valid_cn:
        subject.append(x509.NameAttribute(NameOID.COMMON_NAME, commonname))
    if organization is not None:
        subject.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    names = []
    for san in sans:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            names.append(x509.DNSName(san))
    builder = (
        x509.CertificateBuilder()
        .issuer_name(cacert.subject)
        .subject_name(x509.Name(subject))
        .public_key(cacert.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=2))
        .not_valid_after(now + certs.CERT_EXPIRY)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(cacert.public_key()),
                       critical=False)
        # RFC 5280 §4.2.1.6: subjectAltName is critical if the subject is empty.
        .add_extension(x509.SubjectAlternativeName(names), critical=not valid_cn)
    )
    return certs.Cert(builder.sign(private_key=privkey, algorithm=hashes.SHA256()))
