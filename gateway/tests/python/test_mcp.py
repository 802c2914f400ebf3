"""The kernel's MCP adapter calling a real MCP server built with the official `mcp` package."""

import asyncio
import threading
import time

import uvicorn
from mcp.server.mcpserver import MCPServer

from conftest import free_socket


def start_mcp_server(calls):
    mcp = MCPServer("reminders")

    @mcp.tool()
    def remind(prompt: str = "", timer_id: str = "", idempotency_key: str = "", channel: str = "") -> str:
        """Records a reminder."""
        calls.append({"prompt": prompt, "timer_id": timer_id, "key": idempotency_key, "channel": channel})
        return f"reminded {channel}: {prompt}"

    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(mcp.streamable_http_app(), log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "MCP server did not start"
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}/mcp"


def test_agent_prompt_calls_an_mcp_tool(start_minoots):
    calls = []
    server, url = start_mcp_server(calls)
    try:
        minoots = start_minoots("--webhook-allow", "127.0.0.1")
        timer = minoots.request("POST", "/timers", {
            "name": "standup",
            "duration": "20ms",
            "actionBundle": {"actions": [{
                "type": "agent_prompt", "adapter": "mcp", "target": url, "tool": "remind",
                "prompt": "stand up", "arguments": {"channel": "#eng"},
            }]},
        })
        done = minoots.wait_finished(timer["id"])
        assert done["status"] == "settled", done
        result = done["actionResults"][0]
        assert result["ok"] and result["detail"] == "MCP tool remind called"
        assert result["output"] == "reminded #eng: stand up"
        assert calls == [{"prompt": "stand up", "timer_id": timer["id"], "key": f"{timer['id']}:0", "channel": "#eng"}]

        # A tool that does not exist: the MCP error fails the timer, with a dead letter.
        timer = minoots.request("POST", "/timers", {
            "name": "typo",
            "duration": "20ms",
            "actionBundle": {
                "actions": [{"type": "agent_prompt", "adapter": "mcp", "target": url, "tool": "remnd", "prompt": "x"}],
                "retryPolicy": {"maxAttempts": 1},
            },
        })
        done = minoots.wait_finished(timer["id"])
        assert done["status"] == "failed"
        letters = minoots.request("GET", "/dead-letters")["deadLetters"]
        assert [l["timerId"] for l in letters] == [timer["id"]]
    finally:
        server.should_exit = True


def test_the_deployment_guides_agent_prompt_reaches_a_registered_agent(start_minoots):
    """The seed's curl, verbatim: an agent_prompt naming its agent ("demo-agent"), not a URL."""
    calls = []
    server, url = start_mcp_server(calls)
    try:
        minoots = start_minoots("--webhook-allow", "127.0.0.1", "--agent", f"demo-agent={url}#remind")
        timer = minoots.request("POST", "/timers", {
            "tenantId": "tenant-local",
            "requestedBy": "agent",
            "duration": 200,
            "actionBundle": {
                "actions": [
                    {
                        "id": "notify-agent",
                        "kind": "agent_prompt",
                        "parameters": {"adapter": "mcp", "target": "demo-agent"},
                    }
                ]
            },
        }, tenant="tenant-local")
        done = minoots.wait_finished(timer["id"], tenant="tenant-local")
        assert done["status"] == "settled", done
        assert done["actionResults"][0]["detail"] == "MCP tool remind called"
        assert [c["timer_id"] for c in calls] == [timer["id"]]

        # An agent this server does not know: the attempt is refused, naming the flag.
        timer = minoots.request("POST", "/timers", {
            "duration": 20,
            "actionBundle": {"actions": [{"kind": "agent_prompt", "parameters": {"adapter": "mcp", "target": "other-agent"}}]},
        }, tenant="tenant-local")
        done = minoots.wait_finished(timer["id"], tenant="tenant-local")
        assert done["status"] == "failed"
        assert "--agent other-agent=URL" in done["actionResults"][0]["detail"], done
    finally:
        server.should_exit = True
