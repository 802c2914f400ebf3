"""One vocabulary with REST (`duration`, `fire_at`), the environment every client reads
(`MINOOTS_URL` / `MINOOTS_API_URL`, `MINOOTS_API_KEY`, `MINOOTS_TENANT`), and the original
toolkit's names (`MinootsClient`, `schedule_timer`, `AtoTimerTool`,
`build_llamaindex_timer_tool`), against a real server."""

import asyncio
import datetime
import json

import pytest

import minoots
from conftest import DEV_KEY


def test_duration_and_fire_at_as_in_rest(server):
    client = minoots.Client(server, api_key=DEV_KEY, tenant="vocab")
    assert client.schedule(name="by-keyword", duration="2s").name == "by-keyword"
    assert client.schedule("positional", "15m").to_dict()["durationMs"] == 900_000
    assert client.schedule("delta", duration=datetime.timedelta(minutes=5)).to_dict()["durationMs"] == 300_000
    at = client.schedule("at", fire_at="2030-01-01T09:00:00Z")
    assert at.fire_at == "2030-01-01T09:00:00Z"
    with pytest.raises(minoots.InvalidArgumentError) as both:
        client.schedule("both", "1m", fire_at="2030-01-01T09:00:00Z")
    assert both.value.field == "fire_at"
    with pytest.raises(minoots.InvalidArgumentError) as neither:
        client.schedule("neither")
    assert neither.value.field == "duration"
    with pytest.raises(TypeError):
        client.schedule("old", after="1m")


@pytest.mark.parametrize("url_variable", ["MINOOTS_URL", "MINOOTS_API_URL"])
def test_clients_read_the_environment(server, monkeypatch, url_variable):
    for name in ("MINOOTS_URL", "MINOOTS_API_URL", "MINOOTS_API_KEY", "MINOOTS_TENANT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(url_variable, server)
    monkeypatch.setenv("MINOOTS_API_KEY", DEV_KEY)
    monkeypatch.setenv("MINOOTS_TENANT", "from-env")
    timer = minoots.Client().schedule("env", "1h")
    assert timer.tenant_id == "from-env"
    # An argument wins over the environment.
    assert minoots.Client(tenant="argument").schedule("arg", "1h").tenant_id == "argument"

    async def main():
        return await (await minoots.AsyncClient.connect()).get(timer.id)

    assert asyncio.run(main()).id == timer.id
    monkeypatch.setenv("MINOOTS_API_KEY", "wrong-key")
    with pytest.raises(minoots.UnauthenticatedError):
        minoots.Client().list(limit=1)


def test_the_original_toolkit_names(server, monkeypatch):
    client = minoots.MinootsClient(server, tenant_id="original", api_key=DEV_KEY)
    timer = client.schedule_timer("legacy", "1h", labels={"via": "original"})
    assert (timer.tenant_id, timer.labels["via"]) == ("original", "original")
    later = asyncio.run(client.schedule_timer_async(name="legacy-async", fire_at="2030-01-01T00:00:00Z"))
    assert later.fire_at == "2030-01-01T00:00:00Z"

    # As the original toolkit was configured: MINOOTS_API_URL and MINOOTS_API_KEY.
    monkeypatch.delenv("MINOOTS_URL", raising=False)
    monkeypatch.setenv("MINOOTS_API_URL", server)
    monkeypatch.setenv("MINOOTS_API_KEY", DEV_KEY)
    tool = minoots.AtoTimerTool(minoots.MinootsClient(tenant_id="lc-original"))
    assert tool.name == "schedule_timer"
    scheduled = json.loads(tool.invoke({"name": "ato", "duration": "1h"}))
    assert scheduled["tenantId"] == "lc-original"
    llama = minoots.build_llamaindex_timer_tool()
    assert llama.metadata.name == "schedule_timer"
    assert json.loads(llama.call(name="li-original", duration="1h").content)["name"] == "li-original"
