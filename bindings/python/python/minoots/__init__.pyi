import datetime
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Literal

JSON = dict[str, Any]
After = str | datetime.timedelta | float | int
Status = Literal["scheduled", "armed", "fired", "settled", "failed", "cancelled"]
EventType = Literal[
    "timer.scheduled", "timer.armed", "timer.fired", "timer.settled", "timer.failed", "timer.cancelled"
]

class MinootsError(Exception):
    code: str
    retry_after: float | None

class InvalidArgumentError(MinootsError):
    field: str

class NotFoundError(MinootsError): ...
class AlreadyExistsError(MinootsError): ...
class FailedPreconditionError(MinootsError): ...
class OutOfRangeError(MinootsError): ...
class UnauthenticatedError(MinootsError): ...
class PermissionDeniedError(MinootsError): ...

class QuotaExceededError(MinootsError):
    limit_type: str

class UnavailableError(MinootsError): ...
class TransportError(MinootsError): ...
class DeadlineExceededError(MinootsError): ...

class InvalidSignatureError(MinootsError):
    part: str

class InternalError(MinootsError): ...

class Timer:
    @property
    def id(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def status(self) -> Status: ...
    @property
    def requested_by(self) -> str: ...
    @property
    def created_at(self) -> str | None: ...
    @property
    def fire_at(self) -> str | None: ...
    @property
    def fired_at(self) -> str | None: ...
    @property
    def settled_at(self) -> str | None: ...
    @property
    def cancelled_at(self) -> str | None: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def metadata(self) -> JSON | None: ...
    @property
    def cancel_reason(self) -> str: ...
    @property
    def failure_reason(self) -> str: ...
    @property
    def state_version(self) -> int: ...
    @property
    def jitter_ms(self) -> float | None: ...
    def to_dict(self) -> JSON: ...

class TimerEvent:
    @property
    def sequence(self) -> int: ...
    @property
    def event_type(self) -> EventType: ...
    @property
    def timer_id(self) -> str: ...
    @property
    def occurred_at(self) -> str | None: ...
    @property
    def dedupe_key(self) -> str: ...
    @property
    def trace_id(self) -> str: ...
    @property
    def timer(self) -> Timer | None: ...
    @property
    def payload(self) -> JSON: ...

class EventStream(Iterator[TimerEvent]):
    def __iter__(self) -> EventStream: ...
    def __next__(self) -> TimerEvent: ...
    def close(self) -> None: ...
    def __enter__(self) -> EventStream: ...
    def __exit__(self, *args: object) -> None: ...

class AsyncEventStream(AsyncIterator[TimerEvent]):
    def __aiter__(self) -> AsyncEventStream: ...
    async def __anext__(self) -> TimerEvent: ...
    async def aclose(self) -> None: ...

class Client:
    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        tenant: str | None = None,
        region: str | None = None,
        ca_certificate: bytes | None = None,
        connect_timeout: float = 10.0,
    ) -> None: ...
    def schedule(
        self,
        name: str,
        after: After | None = None,
        *,
        fire_at: str | datetime.datetime | None = None,
        labels: Mapping[str, str] | None = None,
        metadata: JSON | None = None,
        action_bundle: JSON | None = None,
        webhook: str | None = None,
        idempotency_key: str | None = None,
        requested_by: str | None = None,
    ) -> Timer: ...
    def get(self, id: str) -> Timer: ...
    def list(
        self,
        *,
        statuses: Sequence[Status] | None = None,
        label_selector: str | None = None,
        name_prefix: str | None = None,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> list[Timer]: ...
    def cancel(self, id: str, reason: str = "") -> Timer: ...
    def wait_for(
        self, id: str, *, until: Literal["fired", "done"] = "fired", timeout: float | None = None
    ) -> Timer: ...
    def stream(
        self,
        *,
        after_sequence: int | None = None,
        event_types: Sequence[str] | None = None,
        label_selector: str | None = None,
    ) -> EventStream: ...

class AsyncClient:
    @staticmethod
    async def connect(
        url: str,
        *,
        api_key: str | None = None,
        tenant: str | None = None,
        region: str | None = None,
        ca_certificate: bytes | None = None,
        connect_timeout: float = 10.0,
    ) -> AsyncClient: ...
    async def schedule(
        self,
        name: str,
        after: After | None = None,
        *,
        fire_at: str | datetime.datetime | None = None,
        labels: Mapping[str, str] | None = None,
        metadata: JSON | None = None,
        action_bundle: JSON | None = None,
        webhook: str | None = None,
        idempotency_key: str | None = None,
        requested_by: str | None = None,
    ) -> Timer: ...
    async def get(self, id: str) -> Timer: ...
    async def list(
        self,
        *,
        statuses: Sequence[Status] | None = None,
        label_selector: str | None = None,
        name_prefix: str | None = None,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> list[Timer]: ...
    async def cancel(self, id: str, reason: str = "") -> Timer: ...
    async def wait_for(
        self, id: str, *, until: Literal["fired", "done"] = "fired", timeout: float | None = None
    ) -> Timer: ...
    def stream(
        self,
        *,
        after_sequence: int | None = None,
        event_types: Sequence[str] | None = None,
        label_selector: str | None = None,
    ) -> AsyncEventStream: ...

def verify_webhook(
    secrets: str | Sequence[str], headers: Mapping[str, str], body: bytes | str
) -> None: ...
def parse_duration(text: str) -> float: ...
