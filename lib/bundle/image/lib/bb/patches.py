"""A small patch to the pinned mitmproxy (Debian bookworm 8.1.1), applied at import.

The error responses mitmproxy makes itself (a 502 when the upstream connection of a plain-http
request fails, a 413 for a body over the limit) are HTML; they become plain text in bot-bottle's
refusal format (bb.gate.error_page, which bot-bottle's TLS interceptor answers too), with the
X-Bot-Bottle-Refusal header and a reason code.

mitmproxy terminates no TLS in the bundle (bb.intercept does), so its TLS layers are not patched.
"""
from mitmproxy import http, version
from mitmproxy.net.http import http1
from mitmproxy.proxy.layers.http import _http1

from .gate import error_code, error_page

__all__ = ["apply", "error_code"]


def _plain_error_response(status_code: int, message: str = "") -> bytes:
    headers, body = error_page(status_code, message)
    resp = http.Response.make(status_code, body, http.Headers(Server=version.MITMPROXY, **{
        k.replace("-", "_"): v for k, v in headers.items()}))
    return http1.assemble_response(resp)


def apply() -> None:
    _http1.make_error_response = _plain_error_response
