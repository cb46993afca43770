"""{{name}}: a hookgate transformer. Wraps the event's JSON data in an envelope with the
event id and marks the request with a header."""
import json

from wit_world import exports
from wit_world.imports import host, types


class Transform(exports.Transform):
    def transform(self, message: types.Message, draft: types.OutgoingRequest) -> types.TransformResult:
        try:
            data = json.loads(bytes(message.body))
        except ValueError as e:
            return types.TransformResult_Error(f"the message is not JSON: {e}")
        headers = [(k, v) for k, v in draft.headers if k.lower() != "content-type"]
        headers += [("content-type", "application/json"), ("x-transformed-by", "{{name}}")]
        body = json.dumps({"event": message.event_id, "data": data}).encode()
        host.log(host.Level.INFO, f"transformed {message.message_id}")
        return types.TransformResult_Send(types.OutgoingRequest(draft.method, draft.url, headers, body))
