"""Timer control through the binding, against a real server: update by id or idempotency key
(with an optimistic state_version), pause and resume, key policies on schedule, bulk
cancel/pause/resume by label selector (with a dry run), and the tenant's deliveries pause."""

import asyncio
import datetime

import pytest

import minoots
from conftest import DEV_KEY


def at(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_update_by_key_and_by_id_with_state_version(server):
    client = minoots.Client(server, api_key=DEV_KEY, tenant="control")
    timer = client.schedule("invoice", "1h", labels={"team": "core"}, idempotency_key="invoice-42")
    assert client.get_by_key("invoice-42").id == timer.id

    moved = client.update(idempotency_key="invoice-42", duration="2h", labels={"team": "billing", "tier": "gold"})
    assert moved.id == timer.id
    assert moved.labels == {"team": "billing", "tier": "gold"}
    assert at(moved.fire_at) - at(timer.fire_at) >= datetime.timedelta(minutes=59)
    assert moved.state_version > timer.state_version

    renamed = client.update(
        timer.id,
        name="invoice (renamed)",
        metadata={"attempt": 2},
        fire_at="2030-01-01T09:00:00Z",
        expected_state_version=moved.state_version,
    )
    assert (renamed.name, renamed.metadata, renamed.fire_at) == ("invoice (renamed)", {"attempt": 2}, "2030-01-01T09:00:00Z")
    with pytest.raises(minoots.AbortedError) as stale:
        client.update(timer.id, name="lost", expected_state_version=moved.state_version)
    assert stale.value.code == "ABORTED"
    assert client.get(timer.id).name == "invoice (renamed)"

    with pytest.raises(minoots.InvalidArgumentError) as both:
        client.update(timer.id, duration="1h", fire_at="2030-01-01T09:00:00Z")
    assert both.value.field == "fire_at"
    with pytest.raises(minoots.NotFoundError):
        client.get_by_key("no-such-key")

    cancelled = client.cancel_by_key("invoice-42", "paid")
    assert (cancelled.id, cancelled.status, cancelled.cancel_reason) == (timer.id, "cancelled", "paid")


def test_pause_and_resume_one_timer(server):
    client = minoots.Client(server, api_key=DEV_KEY, tenant="control")
    timer = client.schedule("reminder", "1h")
    paused = client.pause(timer.id, "on hold")
    assert paused.status == "paused"
    assert client.get(timer.id).status == "paused"
    assert [t.id for t in client.list(statuses=["paused"])] == [timer.id]
    resumed = client.resume(timer.id)
    assert resumed.status == "armed"
    assert resumed.fire_at == timer.fire_at

    events = client.stream(after_sequence=0, event_types=["timer.paused", "timer.resumed"])
    assert [next(events).event_type for _ in range(2)] == ["timer.paused", "timer.resumed"]
    events.close()


def test_key_policies_on_schedule(server):
    client = minoots.Client(server, api_key=DEV_KEY, tenant="control")
    first = client.schedule("debounce", "1h", idempotency_key="debounce-1", key_policy="replace")
    replaced = client.schedule("debounce", "3h", idempotency_key="debounce-1", key_policy="replace")
    assert replaced.id == first.id
    assert at(replaced.fire_at) - at(first.fire_at) >= datetime.timedelta(hours=1, minutes=59)
    kept = client.schedule("debounce", "9h", idempotency_key="debounce-1", key_policy="keep")
    assert (kept.id, kept.fire_at) == (first.id, replaced.fire_at)
    with pytest.raises(minoots.InvalidArgumentError) as bad:
        client.schedule("x", "1h", idempotency_key="debounce-2", key_policy="sometimes")
    assert bad.value.field == "key_policy"
    with pytest.raises(minoots.InvalidArgumentError) as late:
        client.schedule("late", fire_at="2001-01-01T00:00:00Z", late_policy="reject")
    assert late.value.field == "fire_at"
    many = client.schedule_many([{"name": "debounce", "duration": "5h", "idempotency_key": "debounce-1", "key_policy": "replace"}])
    assert many[0].id == first.id


def test_bulk_cancel_pause_resume_by_label_selector(server):
    client = minoots.Client(server, api_key=DEV_KEY, tenant="bulk")
    for i in range(3):
        client.schedule(f"job-{i}", "1h", labels={"batch": "nightly"})
    client.schedule("other", "1h", labels={"batch": "daily"})

    assert client.pause_timers("batch=nightly", dry_run=True) == {"matched": 3, "changed": 0}
    assert client.pause_timers("batch=nightly", reason="maintenance") == {"matched": 3, "changed": 3}
    assert sorted(t.name for t in client.list(statuses=["paused"])) == ["job-0", "job-1", "job-2"]
    assert client.resume_timers("batch=nightly") == {"matched": 3, "changed": 3}
    assert client.list(statuses=["paused"]) == []

    assert client.cancel_timers("batch=nightly", dry_run=True) == {"matched": 3, "changed": 0}
    assert len(client.list(label_selector="batch=nightly", statuses=["armed", "scheduled"])) == 3
    assert client.cancel_timers("batch=nightly", reason="retired") == {"matched": 3, "changed": 3}
    assert {t.status for t in client.list(label_selector="batch=nightly")} == {"cancelled"}
    assert [t.name for t in client.list(statuses=["armed", "scheduled"])] == ["other"]
    assert client.cancel_timers(all=True, dry_run=True) == {"matched": 1, "changed": 0}


def test_tenant_pause(server):
    client = minoots.Client(server, api_key=DEV_KEY, tenant="paused-tenant")
    before = client.schedule("before", "1h")
    assert client.tenant_pause().paused is False
    state = client.pause_tenant("incident")
    assert (state.tenant_id, state.paused, state.reason, state.changed) == ("paused-tenant", True, "incident", 1)
    assert state.paused_at is not None
    assert client.get(before.id).status == "paused"
    during = client.schedule("during", "1h")
    assert during.status == "paused"
    assert client.tenant_pause().paused is True
    lifted = client.resume_tenant()
    assert (lifted.paused, lifted.changed) == (False, 2)
    assert {client.get(t.id).status for t in (before, during)} == {"armed"}


def test_asyncio_client_controls_timers(server):
    async def main():
        client = await minoots.AsyncClient.connect(server, api_key=DEV_KEY, tenant="async-control")
        timer = await client.schedule("a", "1h", labels={"k": "v"}, idempotency_key="a-1")
        assert (await client.get_by_key("a-1")).id == timer.id
        moved = await client.update(idempotency_key="a-1", duration="2h", expected_state_version=timer.state_version)
        with pytest.raises(minoots.AbortedError):
            await client.update(timer.id, name="stale", expected_state_version=timer.state_version)
        assert (await client.pause(timer.id, "hold")).status == "paused"
        assert (await client.resume(timer.id)).status == "armed"
        replaced = await client.schedule("a", "4h", labels={"k": "v"}, idempotency_key="a-1", key_policy="replace")
        assert replaced.id == timer.id and at(replaced.fire_at) > at(moved.fire_at)
        assert await client.pause_timers("k=v") == {"matched": 1, "changed": 1}
        assert await client.resume_timers("k=v") == {"matched": 1, "changed": 1}
        assert (await client.pause_tenant("drill")).paused is True
        assert (await client.tenant_pause()).paused is True
        assert (await client.resume_tenant()).paused is False
        assert await client.cancel_timers("k=v", dry_run=True) == {"matched": 1, "changed": 0}
        assert (await client.cancel_by_key("a-1", "done")).status == "cancelled"
        assert await client.cancel_timers("k=v") == {"matched": 0, "changed": 0}

    asyncio.run(main())
