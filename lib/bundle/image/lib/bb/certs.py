"""Leaf certificates for intercepted hosts, signed by the bottle's CA (SPEC §12), for
bb.intercept. Imports nothing of mitmproxy.

The leaf carries the CA's own public key (P-256, made by bot-bottle-init: ECDSA handshakes are
cheap), subjectAltName for the host, serverAuth, and an Authority Key Identifier: Python 3.13+
verifies strictly (VERIFY_X509_STRICT) and refuses a leaf without one ("Missing Authority Key
Identifier").
"""
import datetime
import ipaddress
from typing import Iterable, Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# As long as mitmproxy's leaves were (certs.CERT_EXPIRY).
EXPIRY = datetime.timedelta(days=365)


def leaf_certificate(privkey, cacert: x509.Certificate, commonname: Optional[str],
                     sans: Iterable[str], organization: Optional[str] = None) -> x509.Certificate:
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
        .not_valid_after(now + EXPIRY)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(cacert.public_key()),
                       critical=False)
        # RFC 5280 §4.2.1.6: subjectAltName is critical if the subject is empty.
        .add_extension(x509.SubjectAlternativeName(names), critical=not valid_cn)
    )
    return builder.sign(private_key=privkey, algorithm=hashes.SHA256())


def load_ca(path: str):
    """(private key, certificate) of the CA file bot-bottle-init makes (key, then cert)."""
    with open(path, "rb") as f:
        data = f.read()
    key = serialization.load_pem_private_key(data, password=None)
    cert = x509.load_pem_x509_certificate(data[data.index(b"-----BEGIN CERTIFICATE-----"):])
    return key, cert


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)
