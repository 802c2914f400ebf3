"""The pyo3 binding against a real server: sync and asyncio clients, exceptions per kind,
webhook verification, and a stream that resumes after a cut connection."""

import asyncio
import datetime
import json

import pytest

import minoots
from conftest import DEV_KEY


def test_sync_client_schedules_lists_waits_and_cancels(server):
    client = minoots.Client(server, api_key=DEV_KEY, tenant="acme")
    timer = client.schedule("standup", "150ms", labels={"team": "core"}, metadata={"room": 4})
    assert timer.status in ("scheduled", "armed")
    assert timer.labels == {"team": "core"}
    assert timer.metadata == {"room": 4}
    assert timer.to_dict()["durationMs"] == 150

    fired = client.wait_for(timer.id, until="fired", timeout=60)
    assert fired.fired_at is not None
    done = client.wait_for(timer.id, until="done", timeout=60)
    assert done.status == "settled"

    for i in range(5):
        client.schedule(f"later-{i}", datetime.timedelta(hours=1), labels={"batch": "b"})
    later = client.list(label_selector="batch=b", page_size=2)
    assert sorted(t.name for t in later) == [f"later-{i}" for i in range(5)]
    assert len(client.list(statuses=["armed", "scheduled"], limit=3)) == 3

    cancelled = client.cancel(later[0].id, "no longer needed")
    assert cancelled.status == "cancelled"
    assert client.get(later[0].id).cancel_reason == "no longer needed"

    at = client.schedule("at", fire_at="2030-01-01T09:00:00Z")
    assert at.fire_at == "2030-01-01T09:00:00Z"


def test_exception_classes_carry_the_kind_and_field(server):
    client = minoots.Client(server, api_key=DEV_KEY, tenant="acme")
    with pytest.raises(minoots.InvalidArgumentError) as bad:
        client.schedule("x", "15 parsecs")
    assert bad.value.field == "duration"
    assert bad.value.code == "INVALID_ARGUMENT"
    with pytest.raises(minoots.InvalidArgumentError) as unnamed:
        client.schedule("", "1m")
    assert unnamed.value.field == "name"
    with pytest.raises(minoots.InvalidArgumentError) as kind:
        client.schedule("x", "1m", action_bundle={"actions": [{"type": "fax"}]})
    assert kind.value.field == "action_bundle.actions[0].kind"
    with pytest.raises(minoots.NotFoundError):
        client.get("0190c0de-0000-7000-8000-000000000000")
    with pytest.raises(minoots.UnauthenticatedError) as denied:
        minoots.Client(server, api_key="wrong", tenant="acme").list()
    assert isinstance(denied.value, minoots.MinootsError)
    assert denied.value.code == "UNAUTHENTICATED"
    with pytest.raises(minoots.DeadlineExceededError):
        timer = client.schedule("far", "1h")
        client.wait_for(timer.id, timeout=0.2)
    with pytest.raises(minoots.TransportError):
        minoots.Client("http://127.0.0.1:1", api_key=DEV_KEY, connect_timeout=2)
    assert minoots.parse_duration("1h30m") == 5400.0


def test_asyncio_client_and_async_stream(server):
    async def main():
        client = await minoots.AsyncClient.connect(server, api_key=DEV_KEY, tenant="acme")
        stream = client.stream(after_sequence=0, event_types=["timer.settled"])
        timers = await asyncio.gather(*(client.schedule(f"a{i}", 0.05) for i in range(3)))
        ids = {t.id for t in timers}
        settled = set()
        async for event in stream:
            assert event.event_type == "timer.settled"
            assert event.payload["type"] == "timer.settled"
            settled.add(event.timer_id)
            if settled == ids:
                break
        await stream.aclose()
        assert (await client.get(timers[0].id)).status == "settled"
        assert len(await client.list(name_prefix="a")) == 3
        done = await client.wait_for(timers[1].id, until="done", timeout=60)
        assert done.status == "settled"
        with pytest.raises(minoots.NotFoundError):
            await client.cancel("0190c0de-0000-7000-8000-000000000000")
        # Cancelling the awaitable cancels the wait.
        far = await client.schedule("far", "1h")
        waiting = asyncio.ensure_future(client.wait_for(far.id))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(main())


def test_stream_resumes_after_a_cut_without_gaps_or_repeats(server, proxy):
    direct = minoots.Client(server, api_key=DEV_KEY, tenant="acme")
    through = minoots.Client(f"http://127.0.0.1:{proxy.port}", api_key=DEV_KEY, tenant="acme")
    stream = through.stream(after_sequence=0)
    sequences = []

    def read_until_settled(ids):
        left = set(ids)
        for event in stream:
            sequences.append(event.sequence)
            if event.event_type == "timer.settled":
                left.discard(event.timer_id)
            if not left:
                return

    first = [direct.schedule(f"before-{i}", "10ms").id for i in range(3)]
    read_until_settled(first)
    proxy.cut()
    second = [direct.schedule(f"during-{i}", "10ms").id for i in range(3)]
    for timer_id in second:
        direct.wait_for(timer_id, until="done", timeout=60)
    proxy.restore()
    read_until_settled(second)
    stream.close()
    assert sequences == list(range(1, len(sequences) + 1))


def test_verify_webhook_accepts_ours_and_names_what_is_wrong():
    from standardwebhooks.webhooks import Webhook

    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = json.dumps({"type": "timer.fired"})
    now = datetime.datetime.now(tz=datetime.timezone.utc)
    signature = Webhook(secret).sign("msg_1", now, body)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}
    minoots.verify_webhook([secret], headers, body.encode())
    minoots.verify_webhook(secret, headers, body)
    with pytest.raises(minoots.InvalidSignatureError) as tampered:
        minoots.verify_webhook(secret, headers, body + " ")
    assert tampered.value.part == "webhook-signature"
    with pytest.raises(minoots.InvalidSignatureError) as stale:
        minoots.verify_webhook(secret, {**headers, "webhook-timestamp": "1000"}, body)
    assert stale.value.part == "webhook-timestamp"
