//! Where the gateway sends a call: one trait, [`Backend`], with two implementations: the kernel
//! in this process ([`local`], `minoots serve`) and remote kernels grouped in regions
//! ([`regions`], `minoots gateway`). Handlers only ever see the trait.

mod local;
pub mod regions;

use std::pin::Pin;

pub use minoots_kernel::Bulk;
use minoots_proto::v1::{
    CancelTimerRequest, DeadLetter, GetTimerRequest, ListDeadLettersRequest, ListTimersRequest,
    ListTimersResponse, PauseTenantRequest, PauseTimerRequest, ReplayDeadLettersRequest,
    ReplayResult, ResumeTenantRequest, ResumeTimerRequest, ScheduleTimerRequest,
    ScheduleTimerResponse, SelectTimersRequest, SelectTimersResponse, StreamTimerEventsRequest,
    TenantPause, Timer, TimerEvent, UpdateTimerRequest,
};
use minoots_proto::v1::{
    CreateScheduleRequest, DeleteScheduleRequest, GetScheduleRequest, ListSchedulesRequest,
    ListSchedulesResponse, PauseScheduleRequest, PreviewScheduleRequest, PreviewScheduleResponse,
    ResumeScheduleRequest, Schedule, UpdateScheduleRequest,
};
use tokio_stream::Stream;
use tonic::Status;

pub use regions::{ALL_REGIONS, REGION_LABEL, Regions, parse_region_targets};

/// What [`Backend::tenant_pause`] does.
#[derive(Debug, Clone)]
pub enum TenantOp {
    Pause(PauseTenantRequest),
    Resume(ResumeTenantRequest),
    Get,
}

pub type EventStream = Pin<Box<dyn Stream<Item = Result<TimerEvent, Status>> + Send>>;

/// Which tenant a call acts for and which region it asked for.
#[derive(Debug, Clone)]
pub struct Target {
    pub tenant: String,
    pub region: Option<String>,
}

/// The timer, schedule and dead-letter calls, for an already authorized [`Target`]. Errors are gRPC
/// statuses: a remote kernel answers with one, and the local kernel's errors convert once.
#[tonic::async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    async fn schedule(
        &self,
        target: &Target,
        request: ScheduleTimerRequest,
    ) -> Result<ScheduleTimerResponse, Status>;

    async fn schedule_many(
        &self,
        target: &Target,
        timers: Vec<ScheduleTimerRequest>,
    ) -> Result<Vec<ScheduleTimerResponse>, Status>;

    /// A timer by id or by idempotency key.
    async fn get(&self, target: &Target, request: GetTimerRequest) -> Result<Timer, Status>;

    async fn cancel(&self, target: &Target, request: CancelTimerRequest) -> Result<Timer, Status>;

    async fn update(&self, target: &Target, request: UpdateTimerRequest) -> Result<Timer, Status>;

    async fn pause(&self, target: &Target, request: PauseTimerRequest) -> Result<Timer, Status>;

    async fn resume(&self, target: &Target, request: ResumeTimerRequest) -> Result<Timer, Status>;

    /// Cancels, pauses or resumes the pending timers a selector matches.
    async fn bulk(
        &self,
        target: &Target,
        op: Bulk,
        request: SelectTimersRequest,
    ) -> Result<SelectTimersResponse, Status>;

    /// Pauses, resumes or reads a tenant's deliveries pause.
    async fn tenant_pause(&self, target: &Target, op: TenantOp) -> Result<TenantPause, Status>;

    async fn list(
        &self,
        target: &Target,
        request: ListTimersRequest,
    ) -> Result<ListTimersResponse, Status>;

    async fn subscribe(
        &self,
        target: &Target,
        request: StreamTimerEventsRequest,
    ) -> Result<EventStream, Status>;

    async fn dead_letters(
        &self,
        target: &Target,
        request: ListDeadLettersRequest,
    ) -> Result<Vec<DeadLetter>, Status>;

    async fn dead_letter(&self, target: &Target, id: &str) -> Result<DeadLetter, Status>;

    async fn replay_dead_letter(&self, target: &Target, id: &str) -> Result<ReplayResult, Status>;

    async fn replay_dead_letters(
        &self,
        target: &Target,
        request: ReplayDeadLettersRequest,
    ) -> Result<Vec<ReplayResult>, Status>;

    async fn create_schedule(
        &self,
        target: &Target,
        request: CreateScheduleRequest,
    ) -> Result<Schedule, Status>;

    /// A schedule by id or by the idempotency key it was created with.
    async fn get_schedule(
        &self,
        target: &Target,
        request: GetScheduleRequest,
    ) -> Result<Schedule, Status>;

    async fn list_schedules(
        &self,
        target: &Target,
        request: ListSchedulesRequest,
    ) -> Result<ListSchedulesResponse, Status>;

    async fn update_schedule(
        &self,
        target: &Target,
        request: UpdateScheduleRequest,
    ) -> Result<Schedule, Status>;

    async fn pause_schedule(
        &self,
        target: &Target,
        request: PauseScheduleRequest,
    ) -> Result<Schedule, Status>;

    async fn resume_schedule(
        &self,
        target: &Target,
        request: ResumeScheduleRequest,
    ) -> Result<Schedule, Status>;

    async fn delete_schedule(
        &self,
        target: &Target,
        request: DeleteScheduleRequest,
    ) -> Result<Schedule, Status>;

    /// The next occurrences of a stored schedule (`id`) or of a spec, creating nothing.
    async fn preview_schedule(
        &self,
        target: &Target,
        request: PreviewScheduleRequest,
    ) -> Result<PreviewScheduleResponse, Status>;

    /// Whether timer calls can be served now (a follower kernel cannot: NOT_LEADER).
    fn ready(&self) -> Result<(), Status>;
}
