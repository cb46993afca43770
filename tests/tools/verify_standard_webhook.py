"""Verifies one delivery with the reference `standardwebhooks` package (PyPI), an
implementation independent of the gateway's own.

stdin: {"secret": "whsec_...", "headers": {"webhook-id": ...}, "body": "..."}
exit 0 when the signature verifies, 1 (with the reason on stderr) when it does not.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

request = json.load(sys.stdin)
try:
    Webhook(request["secret"]).verify(request["body"], request["headers"])
except WebhookVerificationError as e:
    print(f"verification failed: {e}", file=sys.stderr)
    sys.exit(1)
