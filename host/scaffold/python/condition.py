"""{{name}}: a hookgate condition. A 2xx whose JSON body says {"ok": true} is a success,
{"ok": false} asks for a retry, anything else fails."""
import json

from wit_world import exports
from wit_world.imports import host, types


class Evaluate(exports.Evaluate):
    def evaluate(self, request: types.OutgoingRequest, response: types.Response, attempt: int) -> types.Verdict:
        if not 200 <= response.status < 300:
            return types.Verdict_Retry(None)
        try:
            ok = json.loads(bytes(response.body)).get("ok")
        except (ValueError, AttributeError):
            ok = None
        if ok is True:
            return types.Verdict_Success()
        if ok is False:
            host.log(host.Level.INFO, f"target not ready at attempt {attempt}")
            return types.Verdict_Retry(None)
        return types.Verdict_Fail("the response has no boolean `ok`")
