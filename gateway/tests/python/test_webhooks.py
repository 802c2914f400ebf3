"""Webhook signatures verified by the published `standardwebhooks` package, not by our code."""

import base64
import json

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

CURRENT = "whsec_" + base64.b64encode(b"minoots-current-secret-0123456789").decode()
PREVIOUS = "whsec_" + base64.b64encode(b"minoots-previous-secret-012345678").decode()
UNRELATED = "whsec_" + base64.b64encode(b"somebody-elses-secret-0123456789").decode()


def test_deliveries_verify_with_every_active_secret(start_minoots, receiver):
    minoots = start_minoots("--webhook-allow", "127.0.0.1", "--signing-secrets", f"{CURRENT},{PREVIOUS}")
    timer = minoots.request("POST", "/timers", {
        "name": "signed",
        "duration": "20ms",
        "actionBundle": {"actions": [{"type": "webhook", "url": receiver.url}]},
    })
    assert minoots.wait_finished(timer["id"])["status"] == "settled"
    headers, body = receiver.wait(1)[0]
    headers = {k.lower(): v for k, v in headers.items()}

    # Rotation: a receiver holding either active secret verifies the same delivery.
    for secret in (CURRENT, PREVIOUS):
        payload = Webhook(secret).verify(body, headers)
        assert payload["type"] == "timer.fired"
        assert payload["data"]["id"] == timer["id"]
    assert headers["webhook-id"] == f"{timer['id']}:0"

    with pytest.raises(WebhookVerificationError):
        Webhook(UNRELATED).verify(body, headers)
    tampered = json.dumps({**json.loads(body), "type": "timer.cancelled"}).encode()
    with pytest.raises(WebhookVerificationError):
        Webhook(CURRENT).verify(tampered, headers)
