"""{{name}}: a hookgate authenticator. Admits a request whose `x-api-key` header equals
the `api_key` value of the binding's config."""
import hmac

from wit_world import exports
from wit_world.imports import host, types


class Authenticate(exports.Authenticate):
    def check(self, request: types.IncomingRequest) -> types.AuthDecision:
        expected = host.config("api_key")
        if expected is None:
            return types.AuthDecision_Deny("the authenticator has no `api_key` in its config")
        given = next((v for k, v in request.headers if k.lower() == "x-api-key"), "")
        if hmac.compare_digest(given.encode(), expected.encode()):
            return types.AuthDecision_Allow()
        return types.AuthDecision_Deny("missing or wrong x-api-key")
