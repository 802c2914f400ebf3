"""Recurring schedules through the binding, against a real server: create with a cron in
Europe/Paris, preview across the 2026-03-29 daylight-saving change, pause, resume, update,
delete, errors naming the field; then the same through the asyncio client."""

import asyncio
import datetime

import pytest

import minoots
from conftest import DEV_KEY

UNKNOWN = "0190c0de-0000-7000-8000-000000000000"

# Mondays at 09:00 Paris wall time: CET (+01:00) before 2026-03-29, CEST (+02:00) after.
PARIS_MONDAYS = [
    ("2026-03-16T08:00:00Z", "2026-03-16T09:00:00+01:00"),
    ("2026-03-23T08:00:00Z", "2026-03-23T09:00:00+01:00"),
    ("2026-03-30T07:00:00Z", "2026-03-30T09:00:00+02:00"),
    ("2026-04-06T07:00:00Z", "2026-04-06T09:00:00+02:00"),
]


def check_paris_mondays(occurrences):
    assert [o["fire_at"] for o in occurrences] == [at for at, _ in PARIS_MONDAYS]
    # 09:00 Paris wall time on both sides of the change, as RFC 3339 with offset and zone.
    assert [o["local_time"] for o in occurrences] == [f"{local}[Europe/Paris]" for _, local in PARIS_MONDAYS]


def test_create_preview_pause_resume_update_delete(server):
    client = minoots.Client(server, api_key=DEV_KEY, tenant="schedules")
    schedule = client.create_schedule(
        "weekly-standup",
        "0 9 * * MON",
        time_zone="Europe/Paris",
        jitter="30s",
        overlap_policy="buffer_one",
        catch_up_policy="none",
        catch_up_window=datetime.timedelta(hours=2),
        labels={"team": "core"},
        metadata={"room": "blue"},
        webhook="https://example.com/standup",
        idempotency_key="standup-weekly",
    )
    assert (schedule.name, schedule.cron, schedule.interval) == ("weekly-standup", "0 9 * * MON", None)
    assert (schedule.time_zone, schedule.state, schedule.runs) == ("Europe/Paris", "active", 0)
    assert (schedule.jitter, schedule.catch_up_window) == (30.0, 7200.0)
    assert (schedule.overlap_policy, schedule.catch_up_policy) == ("buffer_one", "none")
    assert (schedule.labels, schedule.metadata) == ({"team": "core"}, {"room": "blue"})
    assert schedule.next_fire_at is not None
    as_rest = schedule.to_dict()
    assert (as_rest["timeZone"], as_rest["jitterMs"], as_rest["state"]) == ("Europe/Paris", 30_000, "active")
    assert as_rest["actionBundle"]["actions"][0]["url"] == "https://example.com/standup"

    # The same key returns the same schedule; get by id and by key agree.
    again = client.create_schedule("weekly-standup", "0 9 * * MON", time_zone="Europe/Paris", jitter="30s",
                                   overlap_policy="buffer_one", catch_up_policy="none",
                                   catch_up_window=datetime.timedelta(hours=2), labels={"team": "core"},
                                   metadata={"room": "blue"}, webhook="https://example.com/standup",
                                   idempotency_key="standup-weekly")
    assert again.id == schedule.id
    assert client.get_schedule(schedule.id).id == schedule.id
    assert client.get_schedule_by_key("standup-weekly").id == schedule.id

    # Preview of the stored schedule and of a spec not yet created, across the DST change.
    after = "2026-03-10T00:00:00Z"
    check_paris_mondays(client.preview_schedule(schedule.id, count=4, after=after))
    check_paris_mondays(
        client.preview_schedule(
            cron="0 9 * * MON",
            time_zone="Europe/Paris",
            count=4,
            after=datetime.datetime(2026, 3, 10, tzinfo=datetime.timezone.utc),
        )
    )
    every = client.preview_schedule(interval="15m", start_at="2030-01-01T00:00:00Z", count=3,
                                    after="2030-01-01T00:00:00Z")
    assert [o["fire_at"] for o in every] == ["2030-01-01T00:15:00Z", "2030-01-01T00:30:00Z", "2030-01-01T00:45:00Z"]

    paused = client.pause_schedule(schedule.id, "holiday")
    assert (paused.state, paused.pause_reason) == ("paused", "holiday")
    assert paused.paused_at is not None and paused.version > schedule.version
    assert [s.id for s in client.list_schedules(states=["paused"])] == [schedule.id]
    assert client.list_schedules(states=["active"]) == []
    resumed = client.resume_schedule(schedule.id)
    assert resumed.state == "active"

    # A timing change alone keeps the rest of the timing.
    moved = client.update_schedule(schedule.id, time_zone="America/New_York", name="standup-ny")
    assert (moved.cron, moved.time_zone, moved.name) == ("0 9 * * MON", "America/New_York", "standup-ny")
    assert moved.overlap_policy == "buffer_one"
    with pytest.raises(minoots.AbortedError):
        client.update_schedule(schedule.id, name="stale", expected_version=schedule.version)

    other = client.create_schedule("poll", interval="15m", labels={"team": "ops"})
    assert (other.cron, other.interval, other.time_zone) == (None, 900.0, "UTC")
    assert [s.id for s in client.list_schedules(label_selector="team=ops")] == [other.id]
    assert len(client.list_schedules(limit=1)) == 1

    deleted = client.delete_schedule(schedule.id)
    assert (deleted.state, deleted.next_fire_at) == ("deleted", None)
    assert [s.id for s in client.list_schedules()] == [other.id]
    assert schedule.id in [s.id for s in client.list_schedules(states=["deleted"])]

    # Another tenant sees none of it.
    stranger = minoots.Client(server, api_key=DEV_KEY, tenant="schedules-other")
    assert stranger.list_schedules() == []
    with pytest.raises(minoots.NotFoundError):
        stranger.get_schedule(other.id)


def test_bad_input_names_the_field(server):
    client = minoots.Client(server, api_key=DEV_KEY, tenant="schedules-bad")

    def field(call, *args, **kwargs):
        with pytest.raises(minoots.InvalidArgumentError) as bad:
            call(*args, **kwargs)
        return bad.value.field

    # Checked by the server: the cron, the zone.
    assert "cron" in field(client.create_schedule, "x", "0 25 * * *")
    assert "cron" in field(client.create_schedule, "x", "every monday")
    assert "time_zone" in field(client.create_schedule, "x", "0 9 * * MON", time_zone="Europe/Pariss")
    assert "cron" in field(client.preview_schedule, cron="61 * * * *")
    # Checked by the SDK before sending.
    assert field(client.create_schedule, "x") == "cron"
    assert field(client.create_schedule, "x", "@daily", interval="1h") == "interval"
    assert field(client.create_schedule, "x", interval="15 parsecs") == "interval"
    assert field(client.create_schedule, "x", "@daily", jitter="soon") == "jitter"
    assert field(client.create_schedule, "x", "@daily", end_at="tomorrow") == "end_at"
    assert field(client.create_schedule, "x", "@daily", overlap_policy="queue") == "overlap_policy"
    assert field(client.create_schedule, "x", "@daily", catch_up_policy="some") == "catch_up_policy"
    assert field(client.list_schedules, states=["sleeping"]) == "states"
    assert field(client.preview_schedule, UNKNOWN, after="yesterday") == "after"
    # Nothing was half-created.
    assert client.list_schedules(states=["active", "paused", "completed", "deleted"]) == []
    with pytest.raises(minoots.NotFoundError):
        client.get_schedule(UNKNOWN)
    with pytest.raises(minoots.NotFoundError):
        client.pause_schedule(UNKNOWN)


def test_the_asyncio_client(server):
    async def main():
        client = await minoots.AsyncClient.connect(server, api_key=DEV_KEY, tenant="schedules-async")
        schedule = await client.create_schedule("weekly", "0 9 * * MON", time_zone="Europe/Paris")
        assert (schedule.state, schedule.time_zone) == ("active", "Europe/Paris")
        assert (await client.get_schedule(schedule.id)).cron == "0 9 * * MON"
        check_paris_mondays(await client.preview_schedule(schedule.id, count=4, after="2026-03-10T00:00:00Z"))
        assert (await client.pause_schedule(schedule.id)).state == "paused"
        assert [s.id for s in await client.list_schedules(states=["paused"])] == [schedule.id]
        assert (await client.resume_schedule(schedule.id)).state == "active"
        assert (await client.update_schedule(schedule.id, cron="0 10 * * MON")).cron == "0 10 * * MON"
        assert (await client.delete_schedule(schedule.id)).state == "deleted"
        assert await client.list_schedules() == []
        with pytest.raises(minoots.InvalidArgumentError) as bad:
            await client.create_schedule("x", "0 25 * * *")
        assert "cron" in bad.value.field
        with pytest.raises(minoots.NotFoundError):
            await client.get_schedule_by_key("no-such-key")

    asyncio.run(main())
