"""MINOOTS as tools for agents: schedule, get, list, cancel and wait.

The tools themselves (names, descriptions, JSON Schemas, and what they do) live in the Rust SDK,
the same ones ``minoots mcp`` serves; this module hands them to agent frameworks:

- :func:`function_specs`: plain JSON-schema function specs (OpenAI/Anthropic tool format), with
  :class:`Toolkit` to run a call a model asked for;
- :func:`langchain_tools`: LangChain ``StructuredTool`` objects (``pip install "minoots[langchain]"``);
- :func:`llamaindex_tools`: LlamaIndex ``FunctionTool`` objects (``pip install "minoots[llamaindex]"``).

A tool that fails (a bad duration, an unknown id) reports ``"<CODE>: <message>"`` to the model
instead of raising, so the model can correct itself.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from minoots._native import Client, MinootsError, tool_specs

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool
    from llama_index.core.tools import FunctionTool

__all__ = ["Toolkit", "function_specs", "langchain_tools", "llamaindex_tools", "tool_specs"]


def function_specs() -> list[dict[str, Any]]:
    """The tools in the function-calling format: ``{"type": "function", "function": {...}}``."""
    return [
        {"type": "function", "function": {"name": s["name"], "description": s["description"], "parameters": s["parameters"]}}
        for s in tool_specs()
    ]


class Toolkit:
    """Runs tool calls against a client: ``Toolkit(client).call("schedule_timer", name="x", duration="15m")``."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def call(self, tool: str, /, **arguments: Any) -> dict[str, Any]:
        """The tool's JSON result; raises ``MinootsError`` subclasses on failure."""
        return self.client.call_tool(tool, arguments)

    def call_for_model(self, name: str, arguments: dict[str, Any] | str) -> str:
        """A model's tool call in, the text to hand back out (errors included, as text)."""
        if isinstance(arguments, str):
            arguments = json.loads(arguments or "{}")
        try:
            return json.dumps(self.client.call_tool(name, arguments))
        except MinootsError as e:
            return f"{e.code}: {e}"


def langchain_tools(client: Client) -> list[BaseTool]:
    """The tools as LangChain ``StructuredTool`` objects, argument schemas from the specs."""
    try:
        from langchain_core.tools import StructuredTool
    except ImportError as e:  # pragma: no cover - depends on the extra
        raise ImportError('langchain_tools needs langchain-core: pip install "minoots[langchain]"') from e
    toolkit = Toolkit(client)

    def make(spec: dict[str, Any]) -> BaseTool:
        def run(**arguments: Any) -> str:
            return toolkit.call_for_model(spec["name"], {k: v for k, v in arguments.items() if v is not None})

        return StructuredTool.from_function(
            func=run, name=spec["name"], description=spec["description"], args_schema=spec["parameters"]
        )

    return [make(spec) for spec in tool_specs()]


_JSON_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool, "object": dict, "array": list}


def llamaindex_tools(client: Client) -> list[FunctionTool]:
    """The tools as LlamaIndex ``FunctionTool`` objects, argument schemas from the specs."""
    try:
        from llama_index.core.tools import FunctionTool
        from pydantic import Field, create_model
    except ImportError as e:  # pragma: no cover - depends on the extra
        raise ImportError('llamaindex_tools needs llama-index-core: pip install "minoots[llamaindex]"') from e
    toolkit = Toolkit(client)

    def make(spec: dict[str, Any]) -> FunctionTool:
        params = spec["parameters"]
        required = set(params.get("required", []))
        fields = {
            name: (
                _JSON_TYPES.get(prop.get("type"), Any) if name in required else _JSON_TYPES.get(prop.get("type"), Any) | None,
                Field(... if name in required else None, description=prop.get("description")),
            )
            for name, prop in params["properties"].items()
        }
        schema = create_model(spec["name"], **fields)

        def run(**arguments: Any) -> str:
            return toolkit.call_for_model(spec["name"], {k: v for k, v in arguments.items() if v is not None})

        return FunctionTool.from_defaults(fn=run, name=spec["name"], description=spec["description"], fn_schema=schema)

    return [make(spec) for spec in tool_specs()]
