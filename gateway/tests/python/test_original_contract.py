"""A client speaking only the original control plane's REST shape (as its Python toolkit did):
the deployment guide's ecosystem curl body, and a webhook timer in the original action shape whose
delivery verifies with the published `standardwebhooks` package."""

import base64
import copy
import json

from standardwebhooks.webhooks import Webhook

SECRET = "whsec_" + base64.b64encode(b"minoots-original-contract-secret").decode()

# The body of the deployment guide's ecosystem smoke test (seeds/000, section 13), verbatim.
SEED = json.loads(
    """{
        "tenantId": "tenant-local",
        "requestedBy": "dev:ecosystem",
        "duration": "15m",
        "ecosystem": {
          "parserator": {"workspaceId": "parserator-west", "datasetId": "beta-contacts"},
          "reposiologist": {"repositoryUrl": "https://github.com/domusgpt/minoots-timer-system", "sweepCadence": "weekly"},
          "nimbusGuardian": {"policyId": "guardian-local-gate", "environment": "staging"},
          "clearSeas": {"engagementId": "cse-lab", "serviceTier": "pilot"},
          "sharedNarrative": "Local Parse → Plan → Ship rehearsal",
          "nextSyncIso": "2025-11-01T17:00:00Z"
        }
      }"""
)


def test_the_original_shape_schedules_and_the_delivery_verifies(start_minoots, receiver):
    minoots = start_minoots("--webhook-allow", "127.0.0.1", "--signing-secrets", SECRET)

    seeded = minoots.request("POST", "/timers", SEED)
    fetched = minoots.request("GET", f"/timers/{seeded['id']}")
    assert fetched["labels"]["ecosystem.parserator/dataset"] == "beta-contacts"
    assert fetched["labels"]["ecosystem.nimbusGuardian/policy"] == "guardian-local-gate"
    assert fetched["metadata"]["ecosystem"] == SEED["ecosystem"]

    body = copy.deepcopy(SEED)
    body["duration"] = 20
    body["actionBundle"] = {
        "actions": [{"id": "notify", "kind": "webhook", "parameters": {"url": receiver.url}}],
        "retryPolicy": {"maxAttempts": 3, "backoffInitialMs": 100, "backoffMultiplier": 2},
    }
    body["agentBinding"] = {"adapter": "mcp", "target": "demo-agent", "acknowledgementTimeoutMs": 1000}
    timer = minoots.request("POST", "/timers", body)
    assert minoots.wait_finished(timer["id"])["status"] == "settled"

    headers, delivered = receiver.wait(1)[0]
    headers = {k.lower(): v for k, v in headers.items()}
    payload = Webhook(SECRET).verify(delivered, headers)
    assert payload["type"] == "timer.fired"
    assert payload["data"]["id"] == timer["id"]
    assert payload["data"]["agentBinding"]["adapter"] == "mcp"
    assert payload["data"]["labels"]["ecosystem.clearSeas/tier"] == "pilot"
