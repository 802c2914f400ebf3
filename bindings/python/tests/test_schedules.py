"""Recurring schedules through the binding, against a real server: create with a cron in
Europe/Paris, preview across the 2026-03-29 daylight-saving change, pause, resume, update,
delete, errors naming the field; then the same through the asyncio client."""

import asyncio
import datetime

import pytest

import minoots
from conftest import DEV_KEY

UNKNOWN = "0190c0de-0000-7000-8000-000000000000"

def paris_mondays(year):
    """Four Mondays at 09:00 Paris wall time around that year's change to summer time (the last
    Sunday of March): CET (+01:00) for two, CEST (+02:00) after. Returns (after, expected)."""
    change = datetime.date(year, 3, 31)
    change -= datetime.timedelta(days=(change.weekday() - 6) % 7)
    expected = []
    for days in (-13, -6, 1, 8):
        monday = change + datetime.timedelta(days=days)
        summer = days > 0
        expected.append(
            {
                "fire_at": f"{monday}T{'07' if summer else '08'}:00:00Z",
                "local_time": f"{monday}T09:00:00{'+02:00' if summer else '+01:00'}[Europe/Paris]",
            }
        )
    return f"{change - datetime.timedelta(days=14)}T00:00:00Z", expected


def next_paris_mondays():
    """`paris_mondays` of the next change to summer time still ahead (a stored schedule lists
    no slot before its creation)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    year = now.year
    if paris_mondays(year)[0] <= now.strftime("%Y-%m-%dT%H:%M:%SZ"):
        year += 1
    return paris_mondays(year)


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

    # Preview of a spec not yet created across the 2026-03-29 change, and of the stored
    # schedule across the next one: 09:00 Paris wall time on both sides.
    after, expected = paris_mondays(2026)
    assert expected[2] == {"fire_at": "2026-03-30T07:00:00Z", "local_time": "2026-03-30T09:00:00+02:00[Europe/Paris]"}
    spec = client.preview_schedule(
        cron="0 9 * * MON",
        time_zone="Europe/Paris",
        start_at="2026-01-01T00:00:00Z",  # a spec's slots start at now unless told
        count=4,
        after=datetime.datetime(2026, 3, 15, tzinfo=datetime.timezone.utc),
    )
    assert spec == expected
    after, expected = next_paris_mondays()
    assert client.preview_schedule(schedule.id, count=4, after=after) == expected
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
        after, expected = next_paris_mondays()
        assert await client.preview_schedule(schedule.id, count=4, after=after) == expected
        after, expected = paris_mondays(2026)
        assert await client.preview_schedule(
            cron="0 9 * * MON", time_zone="Europe/Paris", start_at="2026-01-01T00:00:00Z", count=4, after=after
        ) == expected
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
