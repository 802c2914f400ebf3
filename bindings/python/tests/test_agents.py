"""`minoots.agents` called through LangChain's and LlamaIndex's own tool interfaces, and as plain
function specs, against a real server."""

import json

import minoots
from minoots.agents import Toolkit, function_specs, langchain_tools, llamaindex_tools
from conftest import DEV_KEY

NAMES = [
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
]


def test_function_specs_and_toolkit(server):
    specs = function_specs()
    assert [s["function"]["name"] for s in specs] == NAMES
    assert all(s["type"] == "function" and s["function"]["parameters"]["type"] == "object" for s in specs)
    toolkit = Toolkit(minoots.Client(server, api_key=DEV_KEY, tenant="plain"))
    timer = toolkit.call("schedule_timer", name="plain", duration="1h")
    assert toolkit.call("get_timer", id=timer["id"])["name"] == "plain"
    assert toolkit.call("cancel_timer", id=timer["id"], reason="test")["status"] == "cancelled"
    # What a model's tool call gets back: JSON text, or the error as text to correct itself by.
    assert json.loads(toolkit.call_for_model("list_timers", '{"limit": 5}'))["timers"][0]["id"] == timer["id"]
    assert toolkit.call_for_model("schedule_timer", {"name": "x", "duration": "soon"}).startswith("INVALID_ARGUMENT")


def test_langchain_tools(server):
    from langchain_core.tools import BaseTool

    tools = {t.name: t for t in langchain_tools(minoots.Client(server, api_key=DEV_KEY, tenant="langchain"))}
    assert list(tools) == NAMES
    assert all(isinstance(t, BaseTool) for t in tools.values())
    assert "duration" in tools["schedule_timer"].args
    timer = json.loads(tools["schedule_timer"].invoke({"name": "lc", "duration": "100ms", "labels": {"via": "langchain"}}))
    done = json.loads(tools["wait_for_timer"].invoke({"id": timer["id"], "until": "done", "timeout_seconds": 60}))
    assert done["status"] == "settled"
    listed = json.loads(tools["list_timers"].invoke({"label_selector": "via=langchain"}))
    assert [t["id"] for t in listed["timers"]] == [timer["id"]]
    assert tools["get_timer"].invoke({"id": "0190c0de-0000-7000-8000-000000000000"}).startswith("NOT_FOUND")


def test_llamaindex_tools(server):
    from llama_index.core.tools import FunctionTool

    tools = {t.metadata.name: t for t in llamaindex_tools(minoots.Client(server, api_key=DEV_KEY, tenant="llama"))}
    assert list(tools) == NAMES
    assert all(isinstance(t, FunctionTool) for t in tools.values())
    parameters = tools["schedule_timer"].metadata.get_parameters_dict()
    assert parameters["required"] == ["name"] and "duration" in parameters["properties"]
    timer = json.loads(tools["schedule_timer"].call(name="li", duration="100ms").content)
    done = json.loads(tools["wait_for_timer"].call(id=timer["id"], until="done", timeout_seconds=60).content)
    assert done["status"] == "settled"
    assert tools["cancel_timer"].call(id=timer["id"]).content.startswith("FAILED_PRECONDITION")
