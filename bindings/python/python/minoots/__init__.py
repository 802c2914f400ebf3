"""MINOOTS: durable timers for AI agents and automation.

``Client`` blocks, ``AsyncClient`` is for asyncio; both wrap the one Rust SDK, so retries,
duration parsing, paging, stream resume and webhook verification behave as in every other
language.
"""

from minoots._native import (
    AlreadyExistsError,
    AsyncClient,
    AsyncEventStream,
    Client,
    DeadlineExceededError,
    EventStream,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    InvalidSignatureError,
    MinootsError,
    NotFoundError,
    OutOfRangeError,
    PermissionDeniedError,
    QuotaExceededError,
    Timer,
    TimerEvent,
    TransportError,
    UnauthenticatedError,
    UnavailableError,
    parse_duration,
    tool_specs,
    verify_webhook,
)

__all__ = [
    "AlreadyExistsError",
    "AsyncClient",
    "AsyncEventStream",
    "Client",
    "DeadlineExceededError",
    "EventStream",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidSignatureError",
    "MinootsError",
    "NotFoundError",
    "OutOfRangeError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "Timer",
    "TimerEvent",
    "TransportError",
    "UnauthenticatedError",
    "UnavailableError",
    "parse_duration",
    "tool_specs",
    "verify_webhook",
]
