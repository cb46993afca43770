"""What the Rust SDK (hookgate_sdk) does that the Python examples need, with the same results.

- headers: names compared ASCII-case-insensitively (Rust's ``eq_ignore_ascii_case``);
  ``set_header`` replaces the first match in place and drops the others;
- ``rust_trim``: Rust's ``str::trim`` (Unicode White_Space, which is not Python's
  ``str.strip`` set: that one also strips U+001C..U+001F);
- ``verify_hmac_sha256_hex``: the SDK's signature check, constant time.

Standard library only. The JavaScript twin of the header helpers is
guest-examples/js/lib/headers.js.
"""

import hashlib
import hmac
import re

__all__ = ["header", "set_header", "rust_trim", "verify_hmac_sha256_hex"]

_ASCII_UPPER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _ascii_lower(s):
    return s.translate(_ASCII_UPPER)


def eq_ignore_ascii_case(a, b):
    return len(a) == len(b) and _ascii_lower(a) == _ascii_lower(b)


def header(headers, name):
    """The value of the first header called ``name``, or None."""
    for n, v in headers:
        if eq_ignore_ascii_case(n, name):
            return v
    return None


def set_header(headers, name, value):
    """A copy of ``headers`` where the first header called ``name`` becomes ``(name, value)``
    and the other headers of that name are gone; appended when there was none."""
    out = []
    replaced = False
    for n, v in headers:
        if eq_ignore_ascii_case(n, name):
            if not replaced:
                out.append((name, value))
                replaced = True
        else:
            out.append((n, v))
    if not replaced:
        out.append((name, value))
    return out


# Unicode White_Space, what Rust's `char::is_whitespace` and `str::trim` use.
_WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def rust_trim(s):
    """Rust's ``str::trim``."""
    return s.strip(_WHITE_SPACE)


_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def verify_hmac_sha256_hex(key, data, signature):
    """hookgate_sdk::verify_hmac_sha256_hex: ``signature`` is 64 hex digits (either case),
    optionally after ``sha256=`` and surrounding whitespace; compared in constant time."""
    signature = rust_trim(signature)
    if signature.startswith("sha256="):
        signature = signature[len("sha256="):]
    if _HEX64.fullmatch(signature) is None:
        return False
    expected = hmac.new(key, data, hashlib.sha256).digest()
    return hmac.compare_digest(expected, bytes.fromhex(signature))


# componentize-py snapshots the interpreter after importing the app, and at run time the
# gateway's sandbox has no files to import modules from. Without OpenSSL, `hmac` falls back to
# pure Python and imports more modules on first use (e.g. `warnings`): run the check once now,
# while the component is being built, so that all of them are in the snapshot.
verify_hmac_sha256_hex(b"warm-up", b"", "0" * 64)
