//! `minoots.v1.TimerService`, `ScheduleService` and `DeadLetterService` as the gateway serves
//! them. The router puts each method behind its role ([`crate::server`]); a handler only
//! resolves the tenant the request acts for, calls the backend and wraps the answer.

pub mod kernel;
pub mod malformed;

use minoots_proto::v1::{
    CancelTimerRequest, CancelTimerResponse, DeadLetter, GetDeadLetterRequest, GetTimerRequest,
    GetTimerResponse, ListDeadLettersRequest, ListDeadLettersResponse, ListTimersRequest,
    ListTimersResponse, ReplayDeadLetterRequest, ReplayDeadLettersRequest,
    ReplayDeadLettersResponse, ReplayResult, ScheduleTimerRequest, ScheduleTimerResponse,
    ScheduleTimersRequest, ScheduleTimersResponse, StreamTimerEventsRequest, Timer,
    dead_letter_service_server, timer_service_server,
};
use minoots_proto::v1::{
    CreateScheduleRequest, DeleteScheduleRequest, GetScheduleRequest, ListSchedulesRequest,
    ListSchedulesResponse, PauseScheduleRequest, PreviewScheduleRequest, PreviewScheduleResponse,
    ResumeScheduleRequest, Schedule, UpdateScheduleRequest, schedule_service_server,
};
use minoots_proto::v1::{
    GetTenantPauseRequest, PauseTenantRequest, PauseTimerRequest, PauseTimerResponse,
    ResumeTenantRequest, ResumeTimerRequest, ResumeTimerResponse, SelectTimersRequest,
    SelectTimersResponse, TenantPause, UpdateTimerRequest, UpdateTimerResponse,
};
use tonic::{Request, Response, Status};

use crate::{
    Gateway, auth,
    backend::{Bulk, EventStream, Target, TenantOp},
};

/// The admitted request's target (its tenant may be named by `tenant_id`) and its message.
fn target<T>(
    request: Request<T>,
    tenant_id: impl FnOnce(&T) -> &str,
) -> Result<(Target, T), Status> {
    let target = auth::principal(request.extensions())?
        .target(request.metadata().as_ref(), tenant_id(request.get_ref()))?;
    Ok((target, request.into_inner()))
}

/// The answer `ScheduleTimersRequest.compact` asks for: each timer's id, status, fire time and
/// state version, beside `created`.
pub(crate) fn compact(results: &mut [ScheduleTimerResponse]) {
    for result in results {
        if let Some(timer) = result.timer.take() {
            result.timer = Some(Timer {
                id: timer.id,
                status: timer.status,
                fire_at: timer.fire_at,
                state_version: timer.state_version,
                ..Timer::default()
            });
        }
    }
}

pub use timer_service_server::TimerServiceServer;

#[derive(Debug, Clone)]
pub struct TimerService {
    gateway: Gateway,
}

impl TimerService {
    pub fn new(gateway: Gateway) -> TimerServiceServer<Self> {
        TimerServiceServer::new(Self { gateway }).max_decoding_message_size(64 * 1024 * 1024)
    }
}

#[tonic::async_trait]
impl timer_service_server::TimerService for TimerService {
    async fn schedule_timer(
        &self,
        request: Request<ScheduleTimerRequest>,
    ) -> Result<Response<ScheduleTimerResponse>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let response = self.gateway.backend().schedule(&target, request).await?;
        Ok(Response::new(response))
    }

    async fn schedule_timers(
        &self,
        request: Request<ScheduleTimersRequest>,
    ) -> Result<Response<ScheduleTimersResponse>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let mut results = self
            .gateway
            .backend()
            .schedule_many(&target, request.timers)
            .await?;
        if request.compact {
            compact(&mut results);
        }
        Ok(Response::new(ScheduleTimersResponse { results }))
    }

    async fn get_timer(
        &self,
        request: Request<GetTimerRequest>,
    ) -> Result<Response<GetTimerResponse>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let timer = self.gateway.backend().get(&target, request).await?;
        Ok(Response::new(GetTimerResponse { timer: Some(timer) }))
    }

    async fn list_timers(
        &self,
        request: Request<ListTimersRequest>,
    ) -> Result<Response<ListTimersResponse>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let page = self.gateway.backend().list(&target, request).await?;
        Ok(Response::new(page))
    }

    async fn cancel_timer(
        &self,
        request: Request<CancelTimerRequest>,
    ) -> Result<Response<CancelTimerResponse>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let timer = self.gateway.backend().cancel(&target, request).await?;
        Ok(Response::new(CancelTimerResponse { timer: Some(timer) }))
    }

    async fn update_timer(
        &self,
        request: Request<UpdateTimerRequest>,
    ) -> Result<Response<UpdateTimerResponse>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let timer = self.gateway.backend().update(&target, request).await?;
        Ok(Response::new(UpdateTimerResponse { timer: Some(timer) }))
    }

    async fn pause_timer(
        &self,
        request: Request<PauseTimerRequest>,
    ) -> Result<Response<PauseTimerResponse>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let timer = self.gateway.backend().pause(&target, request).await?;
        Ok(Response::new(PauseTimerResponse { timer: Some(timer) }))
    }

    async fn resume_timer(
        &self,
        request: Request<ResumeTimerRequest>,
    ) -> Result<Response<ResumeTimerResponse>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let timer = self.gateway.backend().resume(&target, request).await?;
        Ok(Response::new(ResumeTimerResponse { timer: Some(timer) }))
    }

    async fn cancel_timers(
        &self,
        request: Request<SelectTimersRequest>,
    ) -> Result<Response<SelectTimersResponse>, Status> {
        self.bulk(Bulk::Cancel, request).await
    }

    async fn pause_timers(
        &self,
        request: Request<SelectTimersRequest>,
    ) -> Result<Response<SelectTimersResponse>, Status> {
        self.bulk(Bulk::Pause, request).await
    }

    async fn resume_timers(
        &self,
        request: Request<SelectTimersRequest>,
    ) -> Result<Response<SelectTimersResponse>, Status> {
        self.bulk(Bulk::Resume, request).await
    }

    async fn pause_tenant(
        &self,
        request: Request<PauseTenantRequest>,
    ) -> Result<Response<TenantPause>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let op = TenantOp::Pause(request);
        Ok(Response::new(
            self.gateway.backend().tenant_pause(&target, op).await?,
        ))
    }

    async fn resume_tenant(
        &self,
        request: Request<ResumeTenantRequest>,
    ) -> Result<Response<TenantPause>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let op = TenantOp::Resume(request);
        Ok(Response::new(
            self.gateway.backend().tenant_pause(&target, op).await?,
        ))
    }

    async fn get_tenant_pause(
        &self,
        request: Request<GetTenantPauseRequest>,
    ) -> Result<Response<TenantPause>, Status> {
        let (target, _) = target(request, |r| &r.tenant_id)?;
        Ok(Response::new(
            self.gateway
                .backend()
                .tenant_pause(&target, TenantOp::Get)
                .await?,
        ))
    }

    type StreamTimerEventsStream = EventStream;

    async fn stream_timer_events(
        &self,
        request: Request<StreamTimerEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let principal = auth::principal(request.extensions())?.clone();
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let events = self.gateway.subscribe(&principal, &target, request).await?;
        Ok(Response::new(events))
    }
}

impl TimerService {
    async fn bulk(
        &self,
        op: Bulk,
        request: Request<SelectTimersRequest>,
    ) -> Result<Response<SelectTimersResponse>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        Ok(Response::new(
            self.gateway.backend().bulk(&target, op, request).await?,
        ))
    }
}

pub use schedule_service_server::ScheduleServiceServer;

/// `minoots.v1.ScheduleService` as the gateway serves it: reading and previewing need
/// `timer.read`, creating and changing `timer.write`, deleting `timer.cancel`.
#[derive(Debug, Clone)]
pub struct ScheduleService {
    gateway: Gateway,
}

impl ScheduleService {
    pub fn new(gateway: Gateway) -> ScheduleServiceServer<Self> {
        ScheduleServiceServer::new(Self { gateway })
    }
}

#[tonic::async_trait]
impl schedule_service_server::ScheduleService for ScheduleService {
    async fn create_schedule(
        &self,
        request: Request<CreateScheduleRequest>,
    ) -> Result<Response<Schedule>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let schedule = self
            .gateway
            .backend()
            .create_schedule(&target, request)
            .await?;
        Ok(Response::new(schedule))
    }

    async fn get_schedule(
        &self,
        request: Request<GetScheduleRequest>,
    ) -> Result<Response<Schedule>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let schedule = self
            .gateway
            .backend()
            .get_schedule(&target, request)
            .await?;
        Ok(Response::new(schedule))
    }

    async fn list_schedules(
        &self,
        request: Request<ListSchedulesRequest>,
    ) -> Result<Response<ListSchedulesResponse>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let page = self
            .gateway
            .backend()
            .list_schedules(&target, request)
            .await?;
        Ok(Response::new(page))
    }

    async fn update_schedule(
        &self,
        request: Request<UpdateScheduleRequest>,
    ) -> Result<Response<Schedule>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let schedule = self
            .gateway
            .backend()
            .update_schedule(&target, request)
            .await?;
        Ok(Response::new(schedule))
    }

    async fn pause_schedule(
        &self,
        request: Request<PauseScheduleRequest>,
    ) -> Result<Response<Schedule>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let schedule = self
            .gateway
            .backend()
            .pause_schedule(&target, request)
            .await?;
        Ok(Response::new(schedule))
    }

    async fn resume_schedule(
        &self,
        request: Request<ResumeScheduleRequest>,
    ) -> Result<Response<Schedule>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let schedule = self
            .gateway
            .backend()
            .resume_schedule(&target, request)
            .await?;
        Ok(Response::new(schedule))
    }

    async fn delete_schedule(
        &self,
        request: Request<DeleteScheduleRequest>,
    ) -> Result<Response<Schedule>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let schedule = self
            .gateway
            .backend()
            .delete_schedule(&target, request)
            .await?;
        Ok(Response::new(schedule))
    }

    async fn preview_schedule(
        &self,
        request: Request<PreviewScheduleRequest>,
    ) -> Result<Response<PreviewScheduleResponse>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let preview = self
            .gateway
            .backend()
            .preview_schedule(&target, request)
            .await?;
        Ok(Response::new(preview))
    }
}

/// `minoots.v1.DeadLetterService` as the gateway serves it: reading needs `timer.read`,
/// replaying `timer.write`.
#[derive(Debug, Clone)]
pub struct DeadLetterService {
    gateway: Gateway,
}

impl DeadLetterService {
    pub fn new(gateway: Gateway) -> DeadLetterServiceServer<Self> {
        DeadLetterServiceServer::new(Self { gateway })
    }
}

pub use dead_letter_service_server::DeadLetterServiceServer;

#[tonic::async_trait]
impl dead_letter_service_server::DeadLetterService for DeadLetterService {
    async fn list_dead_letters(
        &self,
        request: Request<ListDeadLettersRequest>,
    ) -> Result<Response<ListDeadLettersResponse>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let dead_letters = self
            .gateway
            .backend()
            .dead_letters(&target, request)
            .await?;
        Ok(Response::new(ListDeadLettersResponse { dead_letters }))
    }

    async fn get_dead_letter(
        &self,
        request: Request<GetDeadLetterRequest>,
    ) -> Result<Response<DeadLetter>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let letter = self
            .gateway
            .backend()
            .dead_letter(&target, &request.id)
            .await?;
        Ok(Response::new(letter))
    }

    async fn replay_dead_letter(
        &self,
        request: Request<ReplayDeadLetterRequest>,
    ) -> Result<Response<ReplayResult>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let result = self
            .gateway
            .backend()
            .replay_dead_letter(&target, &request.id)
            .await?;
        Ok(Response::new(result))
    }

    async fn replay_dead_letters(
        &self,
        request: Request<ReplayDeadLettersRequest>,
    ) -> Result<Response<ReplayDeadLettersResponse>, Status> {
        let (target, request) = target(request, |r| &r.tenant_id)?;
        let results = self
            .gateway
            .backend()
            .replay_dead_letters(&target, request)
            .await?;
        Ok(Response::new(ReplayDeadLettersResponse { results }))
    }
}
