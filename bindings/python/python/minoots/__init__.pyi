import datetime
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Literal, TypedDict

JSON = dict[str, Any]
Duration = str | datetime.timedelta | float | int
Status = Literal["scheduled", "armed", "paused", "fired", "settled", "failed", "cancelled"]
KeyPolicy = Literal["reject", "replace", "keep"]
LatePolicy = Literal["fire", "reject"]
Since = str | datetime.datetime
Time = str | datetime.datetime
ScheduleState = Literal["active", "paused", "completed", "deleted"]
OverlapPolicy = Literal["skip", "buffer_one", "allow_all"]
CatchUpPolicy = Literal["none", "latest", "all"]

class TimerArgs(TypedDict, total=False):
    """One timer of ``schedule_many``: ``schedule``'s arguments as keys (``name`` required)."""

    name: str
    duration: Duration
    fire_at: str | datetime.datetime
    labels: Mapping[str, str]
    metadata: JSON
    action_bundle: JSON
    webhook: str
    idempotency_key: str
    requested_by: str
    key_policy: KeyPolicy
    late_policy: LatePolicy

class Occurrence(TypedDict):
    """One entry of ``preview_schedule``: the instant (RFC 3339, UTC) and the wall time in the
    schedule's zone (``2026-03-30T09:00:00+02:00[Europe/Paris]``)."""

    fire_at: str
    local_time: str | None

class Selected(TypedDict):
    """What ``cancel_timers``, ``pause_timers`` and ``resume_timers`` return."""

    matched: int
    changed: int

EventType = Literal[
    "timer.scheduled",
    "timer.armed",
    "timer.fired",
    "timer.settled",
    "timer.failed",
    "timer.cancelled",
    "timer.updated",
    "timer.paused",
    "timer.resumed",
]

class MinootsError(Exception):
    code: str
    retry_after: float | None

class InvalidArgumentError(MinootsError):
    field: str

class NotFoundError(MinootsError): ...
class AlreadyExistsError(MinootsError): ...
class FailedPreconditionError(MinootsError): ...
class AbortedError(MinootsError): ...
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

class TenantPause:
    @property
    def tenant_id(self) -> str: ...
    @property
    def paused(self) -> bool: ...
    @property
    def paused_at(self) -> str | None: ...
    @property
    def paused_by(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def changed(self) -> int: ...

class Schedule:
    """A recurring schedule; each occurrence is an ordinary ``Timer``. Lengths in seconds."""

    @property
    def id(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def state(self) -> ScheduleState: ...
    @property
    def cron(self) -> str | None: ...
    @property
    def interval(self) -> float | None: ...
    @property
    def time_zone(self) -> str: ...
    @property
    def start_at(self) -> str | None: ...
    @property
    def end_at(self) -> str | None: ...
    @property
    def max_runs(self) -> int | None: ...
    @property
    def jitter(self) -> float | None: ...
    @property
    def overlap_policy(self) -> OverlapPolicy: ...
    @property
    def catch_up_policy(self) -> CatchUpPolicy: ...
    @property
    def catch_up_window(self) -> float | None: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def metadata(self) -> JSON | None: ...
    @property
    def idempotency_key(self) -> str: ...
    @property
    def requested_by(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def created_at(self) -> str | None: ...
    @property
    def updated_at(self) -> str | None: ...
    @property
    def next_fire_at(self) -> str | None: ...
    @property
    def runs(self) -> int: ...
    @property
    def skipped(self) -> int: ...
    @property
    def last_fire_at(self) -> str | None: ...
    @property
    def last_timer_id(self) -> str | None: ...
    @property
    def paused_at(self) -> str | None: ...
    @property
    def pause_reason(self) -> str: ...
    def to_dict(self) -> JSON: ...

class DeadLetter:
    @property
    def id(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def timer_id(self) -> str: ...
    @property
    def action_index(self) -> int: ...
    @property
    def action(self) -> JSON | None: ...
    @property
    def idempotency_key(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def last_error(self) -> str: ...
    @property
    def created_at(self) -> str | None: ...
    @property
    def resolved_at(self) -> str | None: ...
    @property
    def replays(self) -> int: ...
    def to_dict(self) -> JSON: ...

class ActionResult:
    @property
    def index(self) -> int: ...
    @property
    def action_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def attempts(self) -> int: ...
    @property
    def detail(self) -> str: ...
    @property
    def output(self) -> str: ...
    @property
    def finished_at(self) -> str | None: ...
    def to_dict(self) -> JSON: ...

class ReplayResult:
    @property
    def dead_letter(self) -> DeadLetter | None: ...
    @property
    def result(self) -> ActionResult | None: ...
    @property
    def timer(self) -> Timer | None: ...

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
        url: str | None = None,
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
        duration: Duration | None = None,
        *,
        fire_at: str | datetime.datetime | None = None,
        labels: Mapping[str, str] | None = None,
        metadata: JSON | None = None,
        action_bundle: JSON | None = None,
        webhook: str | None = None,
        idempotency_key: str | None = None,
        requested_by: str | None = None,
        key_policy: KeyPolicy | None = None,
        late_policy: LatePolicy | None = None,
    ) -> Timer: ...
    def schedule_many(self, timers: Sequence[TimerArgs]) -> list[Timer]: ...
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
    def update(
        self,
        id: str | None = None,
        *,
        idempotency_key: str | None = None,
        duration: Duration | None = None,
        fire_at: str | datetime.datetime | None = None,
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
        metadata: JSON | None = None,
        webhook: str | None = None,
        action_bundle: JSON | None = None,
        expected_state_version: int | None = None,
        late_policy: LatePolicy | None = None,
        requested_by: str | None = None,
    ) -> Timer: ...
    def get_by_key(self, idempotency_key: str) -> Timer: ...
    def cancel_by_key(self, idempotency_key: str, reason: str = "") -> Timer: ...
    def pause(self, id: str, reason: str = "") -> Timer: ...
    def resume(self, id: str) -> Timer: ...
    def cancel_timers(
        self,
        label_selector: str | None = None,
        *,
        all: bool = False,
        name_prefix: str | None = None,
        dry_run: bool = False,
        reason: str = "",
    ) -> Selected: ...
    def pause_timers(
        self,
        label_selector: str | None = None,
        *,
        all: bool = False,
        name_prefix: str | None = None,
        dry_run: bool = False,
        reason: str = "",
    ) -> Selected: ...
    def resume_timers(
        self,
        label_selector: str | None = None,
        *,
        all: bool = False,
        name_prefix: str | None = None,
        dry_run: bool = False,
        reason: str = "",
    ) -> Selected: ...
    def pause_tenant(self, reason: str = "") -> TenantPause: ...
    def resume_tenant(self) -> TenantPause: ...
    def tenant_pause(self) -> TenantPause: ...
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
    def dead_letters(self, *, since: Since | None = None, include_resolved: bool = False) -> list[DeadLetter]: ...
    def dead_letter(self, id: str) -> DeadLetter: ...
    def replay_dead_letter(self, id: str) -> ReplayResult: ...
    def replay_dead_letters(self, *, since: Since | None = None) -> list[ReplayResult]: ...
    def create_schedule(
        self,
        name: str,
        cron: str | None = None,
        *,
        interval: Duration | None = None,
        time_zone: str | None = None,
        start_at: Time | None = None,
        end_at: Time | None = None,
        max_runs: int | None = None,
        jitter: Duration | None = None,
        overlap_policy: OverlapPolicy | None = None,
        catch_up_policy: CatchUpPolicy | None = None,
        catch_up_window: Duration | None = None,
        labels: Mapping[str, str] | None = None,
        metadata: JSON | None = None,
        action_bundle: JSON | None = None,
        webhook: str | None = None,
        agent_binding: JSON | None = None,
        idempotency_key: str | None = None,
        requested_by: str | None = None,
        paused: bool = False,
    ) -> Schedule: ...
    def get_schedule(self, id: str) -> Schedule: ...
    def get_schedule_by_key(self, idempotency_key: str) -> Schedule: ...
    def list_schedules(
        self,
        *,
        states: Sequence[ScheduleState] | None = None,
        label_selector: str | None = None,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> list[Schedule]: ...
    def update_schedule(
        self,
        id: str,
        *,
        name: str | None = None,
        cron: str | None = None,
        interval: Duration | None = None,
        time_zone: str | None = None,
        start_at: Time | None = None,
        end_at: Time | None = None,
        max_runs: int | None = None,
        jitter: Duration | None = None,
        overlap_policy: OverlapPolicy | None = None,
        catch_up_policy: CatchUpPolicy | None = None,
        catch_up_window: Duration | None = None,
        labels: Mapping[str, str] | None = None,
        metadata: JSON | None = None,
        action_bundle: JSON | None = None,
        webhook: str | None = None,
        agent_binding: JSON | None = None,
        expected_version: int | None = None,
        requested_by: str | None = None,
    ) -> Schedule: ...
    def pause_schedule(self, id: str, reason: str = "") -> Schedule: ...
    def resume_schedule(self, id: str) -> Schedule: ...
    def delete_schedule(self, id: str) -> Schedule: ...
    def preview_schedule(
        self,
        id: str | None = None,
        *,
        cron: str | None = None,
        interval: Duration | None = None,
        time_zone: str | None = None,
        start_at: Time | None = None,
        end_at: Time | None = None,
        max_runs: int | None = None,
        jitter: Duration | None = None,
        overlap_policy: OverlapPolicy | None = None,
        catch_up_policy: CatchUpPolicy | None = None,
        catch_up_window: Duration | None = None,
        count: int | None = None,
        after: Time | None = None,
    ) -> list[Occurrence]: ...
    def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None) -> Any: ...

class AsyncClient:
    @staticmethod
    async def connect(
        url: str | None = None,
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
        duration: Duration | None = None,
        *,
        fire_at: str | datetime.datetime | None = None,
        labels: Mapping[str, str] | None = None,
        metadata: JSON | None = None,
        action_bundle: JSON | None = None,
        webhook: str | None = None,
        idempotency_key: str | None = None,
        requested_by: str | None = None,
        key_policy: KeyPolicy | None = None,
        late_policy: LatePolicy | None = None,
    ) -> Timer: ...
    async def schedule_many(self, timers: Sequence[TimerArgs]) -> list[Timer]: ...
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
    async def update(
        self,
        id: str | None = None,
        *,
        idempotency_key: str | None = None,
        duration: Duration | None = None,
        fire_at: str | datetime.datetime | None = None,
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
        metadata: JSON | None = None,
        webhook: str | None = None,
        action_bundle: JSON | None = None,
        expected_state_version: int | None = None,
        late_policy: LatePolicy | None = None,
        requested_by: str | None = None,
    ) -> Timer: ...
    async def get_by_key(self, idempotency_key: str) -> Timer: ...
    async def cancel_by_key(self, idempotency_key: str, reason: str = "") -> Timer: ...
    async def pause(self, id: str, reason: str = "") -> Timer: ...
    async def resume(self, id: str) -> Timer: ...
    async def cancel_timers(
        self,
        label_selector: str | None = None,
        *,
        all: bool = False,
        name_prefix: str | None = None,
        dry_run: bool = False,
        reason: str = "",
    ) -> Selected: ...
    async def pause_timers(
        self,
        label_selector: str | None = None,
        *,
        all: bool = False,
        name_prefix: str | None = None,
        dry_run: bool = False,
        reason: str = "",
    ) -> Selected: ...
    async def resume_timers(
        self,
        label_selector: str | None = None,
        *,
        all: bool = False,
        name_prefix: str | None = None,
        dry_run: bool = False,
        reason: str = "",
    ) -> Selected: ...
    async def pause_tenant(self, reason: str = "") -> TenantPause: ...
    async def resume_tenant(self) -> TenantPause: ...
    async def tenant_pause(self) -> TenantPause: ...
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
    async def dead_letters(
        self, *, since: Since | None = None, include_resolved: bool = False
    ) -> list[DeadLetter]: ...
    async def dead_letter(self, id: str) -> DeadLetter: ...
    async def replay_dead_letter(self, id: str) -> ReplayResult: ...
    async def replay_dead_letters(self, *, since: Since | None = None) -> list[ReplayResult]: ...
    async def create_schedule(
        self,
        name: str,
        cron: str | None = None,
        *,
        interval: Duration | None = None,
        time_zone: str | None = None,
        start_at: Time | None = None,
        end_at: Time | None = None,
        max_runs: int | None = None,
        jitter: Duration | None = None,
        overlap_policy: OverlapPolicy | None = None,
        catch_up_policy: CatchUpPolicy | None = None,
        catch_up_window: Duration | None = None,
        labels: Mapping[str, str] | None = None,
        metadata: JSON | None = None,
        action_bundle: JSON | None = None,
        webhook: str | None = None,
        agent_binding: JSON | None = None,
        idempotency_key: str | None = None,
        requested_by: str | None = None,
        paused: bool = False,
    ) -> Schedule: ...
    async def get_schedule(self, id: str) -> Schedule: ...
    async def get_schedule_by_key(self, idempotency_key: str) -> Schedule: ...
    async def list_schedules(
        self,
        *,
        states: Sequence[ScheduleState] | None = None,
        label_selector: str | None = None,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> list[Schedule]: ...
    async def update_schedule(
        self,
        id: str,
        *,
        name: str | None = None,
        cron: str | None = None,
        interval: Duration | None = None,
        time_zone: str | None = None,
        start_at: Time | None = None,
        end_at: Time | None = None,
        max_runs: int | None = None,
        jitter: Duration | None = None,
        overlap_policy: OverlapPolicy | None = None,
        catch_up_policy: CatchUpPolicy | None = None,
        catch_up_window: Duration | None = None,
        labels: Mapping[str, str] | None = None,
        metadata: JSON | None = None,
        action_bundle: JSON | None = None,
        webhook: str | None = None,
        agent_binding: JSON | None = None,
        expected_version: int | None = None,
        requested_by: str | None = None,
    ) -> Schedule: ...
    async def pause_schedule(self, id: str, reason: str = "") -> Schedule: ...
    async def resume_schedule(self, id: str) -> Schedule: ...
    async def delete_schedule(self, id: str) -> Schedule: ...
    async def preview_schedule(
        self,
        id: str | None = None,
        *,
        cron: str | None = None,
        interval: Duration | None = None,
        time_zone: str | None = None,
        start_at: Time | None = None,
        end_at: Time | None = None,
        max_runs: int | None = None,
        jitter: Duration | None = None,
        overlap_policy: OverlapPolicy | None = None,
        catch_up_policy: CatchUpPolicy | None = None,
        catch_up_window: Duration | None = None,
        count: int | None = None,
        after: Time | None = None,
    ) -> list[Occurrence]: ...
    async def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None) -> Any: ...

def verify_webhook(
    secrets: str | Sequence[str], headers: Mapping[str, str], body: bytes | str
) -> None: ...
def parse_duration(text: str) -> float: ...
def parse_labels(text: str) -> dict[str, str]: ...
def tool_specs() -> list[dict[str, Any]]: ...

from minoots.compat import AtoTimerTool as AtoTimerTool
from minoots.compat import MinootsClient as MinootsClient
from minoots.compat import build_llamaindex_timer_tool as build_llamaindex_timer_tool
