"""`py-adobe-to-json`: the Python twin of guest-examples/rust/adobe-to-json, same input, same
output.

A transformer that flattens an Adobe-style envelope
``{"data":{"uid":"..","event":"..","value":{...}}}`` into one JSON object: all the fields of
``value``, plus ``uid`` and ``event``. Sets ``content-type: application/json`` and
``x-hookgate-event: <event>``; keeps the draft's method and URL; logs ``transformed <uid>``.
No config keys.
"""

from wit_world import exports
from wit_world.imports import host, types

from rust_compat import set_header
from serde_json_compat import JsonError, from_slice, to_vec


def read_envelope(r):
    """The Rust twin's ``struct Envelope { data: Data }`` and
    ``struct Data { uid: String, event: String, value: Map<String, Value> }``."""

    def data():
        return r.struct("Data", [("uid", r.string), ("event", r.string), ("value", r.map)])

    return r.struct("Envelope", [("data", data)])


class Transform(exports.Transform):
    def transform(self, message: types.Message, draft: types.OutgoingRequest) -> types.TransformResult:
        try:
            data = from_slice(message.body, read_envelope)["data"]
        except JsonError as e:
            return types.TransformResult_Error('adobe-to-json: expected {"data":{"uid","event","value"}}: %s' % e)
        uid, event, flat = data["uid"], data["event"], data["value"]
        flat["uid"] = uid
        flat["event"] = event
        headers = set_header(draft.headers, "content-type", "application/json")
        headers = set_header(headers, "x-hookgate-event", event)
        host.log(host.Level.INFO, "transformed %s" % uid)
        return types.TransformResult_Send(
            types.OutgoingRequest(method=draft.method, url=draft.url, headers=headers, body=to_vec(flat))
        )
