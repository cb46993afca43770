"""`py-hmac-auth`: the Python twin of guest-examples/rust/hmac-auth.

An authenticator that admits a request only when it carries a valid HMAC-SHA256 signature of
its raw body. Config keys:

- ``secret`` (required): the shared HMAC key;
- ``header`` (optional, default ``x-signature``): the request header holding the signature,
  64 hex digits, with or without a ``sha256=`` prefix.
"""

import hashlib
import hmac

from wit_world import exports
from wit_world.imports import host, types


def header(headers, name):
    """The value of the first header called ``name`` (in any case), or None."""
    return next((v for n, v in headers if n.lower() == name.lower()), None)


def signature_ok(secret, body, signature):
    """Whether ``signature`` is the HMAC-SHA256 of ``body`` with ``secret`` in hex (either
    case), optionally after ``sha256=``; compared in constant time."""
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    sent = signature.strip().removeprefix("sha256=").lower()
    return hmac.compare_digest(expected.encode(), sent.encode())


# componentize-py snapshots the interpreter after importing this module, and the gateway's
# sandbox has no files to import modules from at run time. Without OpenSSL, `hmac` falls back
# to pure Python, which imports more modules (e.g. `warnings`) on first use: check once now,
# at build time, so that they are all in the snapshot.
signature_ok(b"warm-up", b"", "")


class Authenticate(exports.Authenticate):
    def check(self, request: types.IncomingRequest) -> types.AuthDecision:
        secret = host.config("secret")
        if not secret:
            return types.AuthDecision_Deny("hmac-auth: no secret configured")
        header_name = host.config("header")
        if header_name is None:
            header_name = "x-signature"
        signature = header(request.headers, header_name)
        if signature is None:
            return types.AuthDecision_Deny(f"missing signature header {header_name}")
        if signature_ok(secret.encode(), request.body, signature):
            return types.AuthDecision_Allow()
        return types.AuthDecision_Deny("bad signature")
