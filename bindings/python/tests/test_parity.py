"""What the binding offers beside single timers, against a real server: schedule_many, dead
letters (list, get, replay one or all), the SDK's label parser, and the agent tool specs."""

import asyncio

import pytest

import minoots
from conftest import DEV_KEY
from test_agents import NAMES

UNKNOWN = "0190c0de-0000-7000-8000-000000000000"


def test_schedule_many_is_one_write_and_one_bad_timer_rejects_all(server):
    client = minoots.Client(server, api_key=DEV_KEY, tenant="many")
    timers = client.schedule_many(
        [
            {"name": "a", "duration": "1h", "labels": {"batch": "many"}},
            {"name": "b", "fire_at": "2030-01-01T09:00:00Z", "labels": {"batch": "many"}, "metadata": {"n": 2}},
        ]
    )
    assert [t.name for t in timers] == ["a", "b"]
    assert timers[1].fire_at == "2030-01-01T09:00:00Z" and timers[1].metadata == {"n": 2}
    with pytest.raises(minoots.InvalidArgumentError) as bad:
        client.schedule_many([{"name": "fine", "duration": "1m", "labels": {"batch": "many"}}, {"name": "x", "duration": "15 parsecs"}])
    assert bad.value.field == "duration"
    with pytest.raises(minoots.InvalidArgumentError) as unknown:
        client.schedule_many([{"name": "x", "afterr": "1m"}])
    assert unknown.value.field == "afterr"
    assert sorted(t.name for t in client.list(label_selector="batch=many")) == ["a", "b"]

    async def main():
        aclient = await minoots.AsyncClient.connect(server, api_key=DEV_KEY, tenant="many")
        return await aclient.schedule_many([{"name": f"async-{i}", "duration": 3600} for i in range(3)])

    assert [t.name for t in asyncio.run(main())] == ["async-0", "async-1", "async-2"]


def test_dead_letters_listed_read_and_replayed(server, receiver):
    client = minoots.Client(server, api_key=DEV_KEY, tenant="dlq")
    bundle = {
        "actions": [{"type": "webhook", "url": receiver.url}],
        "retryPolicy": {"maxAttempts": 2, "initialBackoffMs": 10, "jitter": 0.0},
    }

    def failed_timer():
        timer = client.schedule("hook", "10ms", action_bundle=bundle)
        assert client.wait_for(timer.id, until="done", timeout=60).status == "failed"
        return timer

    timer = failed_timer()
    assert receiver.hits == 2
    letters = client.dead_letters()
    assert [letter.timer_id for letter in letters] == [timer.id]
    letter = client.dead_letter(letters[0].id)
    assert (letter.attempts, letter.idempotency_key, letter.resolved_at) == (2, f"{timer.id}:0", None)
    assert letter.action["type"] == "webhook" and "500" in letter.last_error
    assert letter.to_dict()["timerId"] == timer.id
    assert [x.id for x in client.dead_letters(since="1h")] == [letter.id]
    assert client.dead_letters(since="2100-01-01T00:00:00Z") == []
    assert minoots.Client(server, api_key=DEV_KEY, tenant="other").dead_letters(include_resolved=True) == []

    # Still broken: the replay runs and fails again, and the letter stays.
    again = client.replay_dead_letter(letter.id)
    assert (again.result.ok, again.timer.status) == (False, "failed")
    receiver.status = 200
    fixed = client.replay_dead_letter(letter.id)
    assert (fixed.result.ok, fixed.result.kind, fixed.timer.status) == (True, "webhook", "settled")
    assert fixed.dead_letter.resolved_at is not None and fixed.dead_letter.replays == 2
    assert client.dead_letters() == []
    assert [x.id for x in client.dead_letters(include_resolved=True)] == [letter.id]

    # Two more, replayed together through the asyncio client.
    receiver.status = 500
    more = {failed_timer().id, failed_timer().id}
    receiver.status = 200

    async def main():
        aclient = await minoots.AsyncClient.connect(server, api_key=DEV_KEY, tenant="dlq")
        assert {x.timer_id for x in await aclient.dead_letters(since="1h")} == more
        one = (await aclient.dead_letters())[0]
        assert (await aclient.dead_letter(one.id)).id == one.id
        return await aclient.replay_dead_letters(since="1h")

    results = asyncio.run(main())
    assert {r.timer.id for r in results} == more
    assert all(r.result.ok and r.timer.status == "settled" for r in results)

    with pytest.raises(minoots.NotFoundError):
        client.dead_letter(UNKNOWN)
    with pytest.raises(minoots.InvalidArgumentError) as bad:
        client.dead_letters(since="yesterday")
    assert bad.value.field == "since"


def test_parse_labels_is_the_sdks():
    assert minoots.parse_labels("team=core, env=prod\nquery=a=b") == {"team": "core", "env": "prod", "query": "a=b"}
    assert minoots.parse_labels('{"kind": "gate"}') == {"kind": "gate"}
    with pytest.raises(minoots.InvalidArgumentError) as bad:
        minoots.parse_labels("team=core,oops")
    assert bad.value.field == "labels" and '"oops"' in str(bad.value)


def test_tool_specs_and_call_tool(server):
    specs = minoots.tool_specs()
    assert [s["name"] for s in specs] == NAMES
    client = minoots.Client(server, api_key=DEV_KEY, tenant="tools")
    timer = client.call_tool("schedule_timer", {"name": "tool", "duration": "1h"})
    assert client.call_tool("get_timer", {"id": timer["id"]})["requestedBy"] == "minoots-agent-tools"
    with pytest.raises(minoots.InvalidArgumentError) as bad:
        client.call_tool("schedule_timer", {"name": "x", "duraton": "1m"})
    assert bad.value.field == "duraton"
