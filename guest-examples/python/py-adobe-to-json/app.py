"""`py-adobe-to-json`: the Python twin of guest-examples/rust/adobe-to-json.

A transformer that flattens an Adobe-style envelope
``{"data":{"uid":"..","event":"..","value":{...}}}`` into one JSON object: the fields of
``value``, plus ``uid`` and ``event``. Sets ``content-type: application/json`` and
``x-hookgate-event: <event>``, keeps the draft's method and URL, logs ``transformed <uid>``.
No config keys.
"""

import json

from wit_world import exports
from wit_world.imports import host, types


def parse_envelope(body):
    """``(uid, event, value)`` of the envelope in ``body``; ValueError when it is not one."""
    envelope = json.loads(body)  # not JSON, or not UTF-8: a ValueError too
    data = envelope.get("data") if isinstance(envelope, dict) else None
    if isinstance(data, dict):
        uid, event, value = data.get("uid"), data.get("event"), data.get("value")
        if isinstance(uid, str) and isinstance(event, str) and isinstance(value, dict):
            return uid, event, value
    raise ValueError("no data object with a string uid, a string event and an object value")


def with_header(headers, name, value):
    """``headers`` without any called ``name`` (lower case; matched in any case), then ``name: value``."""
    return [(n, v) for n, v in headers if n.lower() != name] + [(name, value)]


class Transform(exports.Transform):
    def transform(self, message: types.Message, draft: types.OutgoingRequest) -> types.TransformResult:
        try:
            uid, event, value = parse_envelope(message.body)
        except ValueError as e:
            return types.TransformResult_Error(f'adobe-to-json: expected {{"data":{{"uid","event","value"}}}}: {e}')
        flat = {**value, "uid": uid, "event": event}
        # Sorted keys, no spaces: the bytes the Rust twin writes, for most documents.
        body = json.dumps(flat, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        headers = with_header(draft.headers, "content-type", "application/json")
        headers = with_header(headers, "x-hookgate-event", event)
        host.log(host.Level.INFO, f"transformed {uid}")
        return types.TransformResult_Send(
            types.OutgoingRequest(method=draft.method, url=draft.url, headers=headers, body=body.encode())
        )
