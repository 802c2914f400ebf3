"""Delivery control from Python: flow control on a webhook and the bundle's on_success /
on_failure callbacks, passed in the REST JSON form, against a real server and receivers."""

import pytest

import minoots
from conftest import DEV_KEY, Receiver


def test_flow_control_and_callbacks_are_taken_and_the_callback_is_called(server, receiver):
    receiver.status = 200
    callbacks = Receiver()
    callbacks.status = 200
    try:
        client = minoots.Client(server, api_key=DEV_KEY, tenant="acme")
        bundle = {
            "actions": [
                {
                    "type": "webhook",
                    "url": receiver.url,
                    "flowControl": {"maxConcurrent": 2, "maxPerSecond": 20},
                }
            ],
            "onSuccess": {"id": "done", "type": "webhook", "url": callbacks.url},
            "onFailure": {"id": "alarm", "type": "webhook", "url": callbacks.url},
        }
        timer = client.schedule("with-callbacks", "10ms", action_bundle=bundle)
        stored = timer.to_dict()["actionBundle"]
        assert stored["actions"][0]["flowControl"] == {
            "key": "",
            "maxConcurrent": 2,
            "maxPerSecond": 20,
        }
        assert stored["onSuccess"]["id"] == "done"
        done = client.wait_for(timer.id, until="done", timeout=60)
        assert done.status == "settled"
        results = done.to_dict()["actionResults"]
        assert [r.get("callback") for r in results] == [None, "on_success"]
        assert results[1]["actionId"] == "done"
        assert (receiver.hits, callbacks.hits) == (1, 1)
    finally:
        callbacks.close()


def test_bad_flow_control_names_the_field(server):
    client = minoots.Client(server, api_key=DEV_KEY, tenant="acme")
    hook = {"type": "webhook", "url": "https://example.com/hook"}
    with pytest.raises(minoots.InvalidArgumentError) as bad:
        client.schedule(
            "x",
            "1h",
            action_bundle={"actions": [dict(hook, flowControl={"maxPerSecond": 100_001})]},
        )
    assert bad.value.field == "action_bundle.actions[0].webhook.flow_control.max_per_second"
    with pytest.raises(minoots.InvalidArgumentError) as typo:
        client.schedule("x", "1h", action_bundle={"actions": [], "onSucces": hook})
    assert typo.value.field == "action_bundle.onSucces"
