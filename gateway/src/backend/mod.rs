//! Where the gateway sends a call: one trait, [`Backend`], with two implementations: the kernel
//! in this process ([`local`], `minoots serve`) and remote kernels grouped in regions
//! ([`regions`], `minoots gateway`). Handlers only ever see the trait.

mod local;
pub mod regions;

use std::pin::Pin;

use minoots_proto::v1::{
    CancelTimerRequest, DeadLetter, ListDeadLettersRequest, ListTimersRequest, ListTimersResponse,
    ReplayDeadLettersRequest, ReplayResult, ScheduleTimerRequest, ScheduleTimerResponse,
    StreamTimerEventsRequest, Timer, TimerEvent,
};
use tokio_stream::Stream;
use tonic::Status;

pub use regions::{ALL_REGIONS, REGION_LABEL, Regions, parse_region_targets};

pub type EventStream = Pin<Box<dyn Stream<Item = Result<TimerEvent, Status>> + Send>>;

/// Which tenant a call acts for and which region it asked for.
#[derive(Debug, Clone)]
pub struct Target {
    pub tenant: String,
    pub region: Option<String>,
}

/// The timer and dead-letter calls, for an already authorized [`Target`]. Errors are gRPC
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

    async fn get(&self, target: &Target, id: &str) -> Result<Timer, Status>;

    async fn cancel(&self, target: &Target, request: CancelTimerRequest) -> Result<Timer, Status>;

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

    /// Whether timer calls can be served now (a follower kernel cannot: NOT_LEADER).
    fn ready(&self) -> Result<(), Status>;
}
