"""Signs like a Standard Webhooks sender, with the reference `standardwebhooks` package.

stdin: {"secret": "whsec_...", "id": "...", "timestamp": 1700000000, "body": "..."}
stdout: the webhook-signature header value.
"""
import json
import sys
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook

request = json.load(sys.stdin)
when = datetime.fromtimestamp(request["timestamp"], tz=timezone.utc)
print(Webhook(request["secret"]).sign(request["id"], when, request["body"]))
