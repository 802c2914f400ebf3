"""`minoots mcp` exercised by the official `mcp` Python client, over stdio and over streamable
HTTP: list the tools, schedule a timer, wait for it, read the result."""

import asyncio
import json
import os
import subprocess
import threading

from mcp import Client, StdioServerParameters

from conftest import DEV_KEY

TOOLS = {
    "schedule_timer",
    "get_timer",
    "list_timers",
    "cancel_timer",
    "update_timer",
    "pause_timer",
    "resume_timer",
    "cancel_timers",
    "wait_for_timer",
    "create_schedule",
    "get_schedule",
    "list_schedules",
    "pause_schedule",
    "resume_schedule",
    "delete_schedule",
    "preview_schedule",
}


async def exercise(client):
    tools = await client.list_tools()
    assert {t.name for t in tools.tools} == TOOLS
    schedule = next(t for t in tools.tools if t.name == "schedule_timer")
    assert schedule.input_schema["required"] == ["name"]

    scheduled = await client.call_tool("schedule_timer", {"name": "from-mcp", "duration": "100ms", "labels": {"via": "mcp"}})
    assert not scheduled.is_error, scheduled.content
    timer = json.loads(scheduled.content[0].text)
    assert timer["status"] in ("scheduled", "armed")
    assert scheduled.structured_content["id"] == timer["id"]

    waited = await client.call_tool("wait_for_timer", {"id": timer["id"], "until": "done", "timeout_seconds": 60})
    assert json.loads(waited.content[0].text)["status"] == "settled"
    listed = await client.call_tool("list_timers", {"label_selector": "via=mcp"})
    assert [t["id"] for t in json.loads(listed.content[0].text)["timers"]] == [timer["id"]]

    # Mistakes come back as tool errors naming the field, for the model to correct.
    bad = await client.call_tool("schedule_timer", {"name": "x", "duration": "soon"})
    assert bad.is_error
    assert "INVALID_ARGUMENT" in bad.content[0].text and "duration" in bad.content[0].text
    missing = await client.call_tool("get_timer", {"id": "0190c0de-0000-7000-8000-000000000000"})
    assert missing.is_error and "NOT_FOUND" in missing.content[0].text

    # An agent moves, pauses and resumes a reminder by its key, then cancels by label.
    reminder = await client.call_tool(
        "schedule_timer",
        {"name": "standup", "duration": "1h", "idempotency_key": "standup-mcp", "labels": {"via": "mcp-control"}},
    )
    reminder_id = json.loads(reminder.content[0].text)["id"]
    moved = await client.call_tool("update_timer", {"idempotency_key": "standup-mcp", "duration": "2h", "name": "standup-late"})
    assert not moved.is_error, moved.content
    assert json.loads(moved.content[0].text)["name"] == "standup-late"
    paused = await client.call_tool("pause_timer", {"id": reminder_id, "reason": "holiday"})
    assert json.loads(paused.content[0].text)["status"] == "paused"
    resumed = await client.call_tool("resume_timer", {"id": reminder_id})
    assert json.loads(resumed.content[0].text)["status"] == "armed"
    counted = await client.call_tool("cancel_timers", {"label_selector": "via=mcp-control", "dry_run": True})
    assert json.loads(counted.content[0].text) == {"matched": 1, "changed": 0}
    done = await client.call_tool("cancel_timers", {"label_selector": "via=mcp-control"})
    assert json.loads(done.content[0].text) == {"matched": 1, "changed": 1}
    by_key = await client.call_tool("get_timer", {"idempotency_key": "standup-mcp"})
    assert json.loads(by_key.content[0].text)["status"] == "cancelled"

    # "Remind me every Monday 9:00 Paris time": a schedule an agent previews, pauses, resumes and deletes.
    create = next(t for t in tools.tools if t.name == "create_schedule")
    assert "Europe/Paris" in create.description and "time_zone" in create.input_schema["properties"]
    preview = await client.call_tool(
        "preview_schedule",
        {"cron": "0 9 * * MON", "time_zone": "Europe/Paris", "count": 2, "after": "2026-03-20T00:00:00Z"},
    )
    assert not preview.is_error, preview.content
    occurrences = json.loads(preview.content[0].text)["occurrences"]
    assert [o["fireAt"] for o in occurrences] == ["2026-03-23T08:00:00Z", "2026-03-30T07:00:00Z"]
    created = await client.call_tool(
        "create_schedule",
        {"name": "weekly", "cron": "0 9 * * MON", "time_zone": "Europe/Paris", "labels": {"via": "mcp-schedule"}},
    )
    assert not created.is_error, created.content
    schedule = json.loads(created.content[0].text)
    assert (schedule["cron"], schedule["timeZone"], schedule["state"]) == ("0 9 * * MON", "Europe/Paris", "active")
    listed = await client.call_tool("list_schedules", {"label_selector": "via=mcp-schedule"})
    assert [s["id"] for s in json.loads(listed.content[0].text)["schedules"]] == [schedule["id"]]
    paused = await client.call_tool("pause_schedule", {"id": schedule["id"], "reason": "holiday"})
    assert json.loads(paused.content[0].text)["state"] == "paused"
    resumed = await client.call_tool("resume_schedule", {"id": schedule["id"]})
    assert json.loads(resumed.content[0].text)["state"] == "active"
    deleted = await client.call_tool("delete_schedule", {"id": schedule["id"]})
    assert json.loads(deleted.content[0].text)["state"] == "deleted"
    bad = await client.call_tool("create_schedule", {"name": "x", "cron": "0 25 * * *"})
    assert bad.is_error and "INVALID_ARGUMENT" in bad.content[0].text and "cron" in bad.content[0].text


def binary():
    return os.environ.get("MINOOTS_BIN", "target/debug/minoots")


def test_mcp_over_stdio(start_minoots):
    server = start_minoots()
    params = StdioServerParameters(
        command=binary(),
        args=["mcp", "--url", server.url, "--api-key", DEV_KEY, "--tenant", "mcp-stdio"],
    )

    async def main():
        async with Client(params) as client:
            await exercise(client)

    asyncio.run(asyncio.wait_for(main(), 120))


def test_mcp_over_streamable_http(start_minoots):
    server = start_minoots()
    proc = subprocess.Popen(
        [binary(), "mcp", "--http", "127.0.0.1:0", "--url", server.url, "--api-key", DEV_KEY, "--tenant", "mcp-http"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("minoots mcp listening on "), line
        url = line.removeprefix("minoots mcp listening on ").strip()
        threading.Thread(target=proc.stdout.read, daemon=True).start()

        async def main():
            async with Client(url) as client:
                await exercise(client)

        asyncio.run(asyncio.wait_for(main(), 120))
    finally:
        proc.kill()
        proc.wait()
