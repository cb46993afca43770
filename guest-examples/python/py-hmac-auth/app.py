"""`py-hmac-auth`: the Python twin of guest-examples/rust/hmac-auth, same decisions, same deny
reasons.

An authenticator that admits a request only when it carries a valid HMAC-SHA256 signature of
its raw body. Config keys:

- ``secret`` (required): the shared HMAC key;
- ``header`` (optional, default ``x-signature``): the request header holding the signature,
  64 hex digits, with or without a ``sha256=`` prefix.
"""

from wit_world import exports
from wit_world.imports import host, types

from rust_compat import header, verify_hmac_sha256_hex


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
            return types.AuthDecision_Deny("missing signature header %s" % header_name)
        if verify_hmac_sha256_hex(secret.encode("utf-8"), request.body, signature):
            return types.AuthDecision_Allow()
        return types.AuthDecision_Deny("bad signature")
