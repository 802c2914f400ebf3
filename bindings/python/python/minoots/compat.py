"""The original toolkit's names (``minoots_agent_tools``), kept so code written for it runs.

Each is a thin alias over today's API, nothing more:

- :class:`MinootsClient` — ``MinootsClient(base_url, tenant_id, default_region)`` with
  ``schedule_timer`` / ``schedule_timer_async``: a :class:`minoots.Client` (and, for the async
  call, a :class:`minoots.AsyncClient`) with the constructor's original argument names;
- :func:`AtoTimerTool` — the LangChain ``schedule_timer`` tool (:func:`minoots.agents.langchain_tools`);
- :func:`build_llamaindex_timer_tool` — the LlamaIndex ``schedule_timer`` tool
  (:func:`minoots.agents.llamaindex_tools`).

New code should use :class:`minoots.Client` and :mod:`minoots.agents` directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from minoots._native import AsyncClient, Client, Timer
from minoots.agents import langchain_tools, llamaindex_tools

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool
    from llama_index.core.tools import FunctionTool

__all__ = ["AtoTimerTool", "MinootsClient", "build_llamaindex_timer_tool"]


class MinootsClient:
    """``MinootsClient(base_url, tenant_id, default_region, api_key=...)``.

    ``base_url`` and ``api_key`` default to ``MINOOTS_URL`` or ``MINOOTS_API_URL`` (the
    original toolkit's name) and ``MINOOTS_API_KEY``, as every client reads them. ``schedule_timer`` takes
    :meth:`minoots.Client.schedule`'s arguments (``name``, ``duration`` or ``fire_at``,
    ``labels``, ``metadata``, ``action_bundle``, ``webhook``, ...) and returns the
    :class:`minoots.Timer`.
    """

    def __init__(
        self,
        base_url: str | None = None,
        tenant_id: str | None = None,
        default_region: str | None = None,
        *,
        api_key: str | None = None,
        **options: Any,
    ) -> None:
        self._connect = dict(api_key=api_key, tenant=tenant_id, region=default_region, **options)
        self._url = base_url
        self.client = Client(base_url, **self._connect)
        self._async: AsyncClient | None = None

    def schedule_timer(self, name: str, duration: Any = None, **arguments: Any) -> Timer:
        return self.client.schedule(name, duration, **arguments)

    async def schedule_timer_async(self, name: str, duration: Any = None, **arguments: Any) -> Timer:
        if self._async is None:
            self._async = await AsyncClient.connect(self._url, **self._connect)
        return await self._async.schedule(name, duration, **arguments)


def AtoTimerTool(client: Client | MinootsClient | None = None) -> BaseTool:  # noqa: N802 - the original name
    """The LangChain tool that schedules a timer (``schedule_timer``); a client from the
    environment when none is given."""
    return next(tool for tool in langchain_tools(_client(client)) if tool.name == "schedule_timer")


def build_llamaindex_timer_tool(client: Client | MinootsClient | None = None) -> FunctionTool:
    """The LlamaIndex tool that schedules a timer (``schedule_timer``); a client from the
    environment when none is given."""
    return next(tool for tool in llamaindex_tools(_client(client)) if tool.metadata.name == "schedule_timer")


def _client(client: Client | MinootsClient | None) -> Client:
    if client is None:
        return Client()
    if isinstance(client, MinootsClient):
        return client.client
    return client
