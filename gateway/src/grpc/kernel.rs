//! A kernel's own `minoots.v1.TimerService`, `ScheduleService` and `DeadLetterService`
//! (`minoots kernel`), which gateways call: no API keys, the tenant comes from `x-tenant-id`.
//! Handlers only resolve the tenant, call the kernel and convert the error once
//! (`From<KernelError> for Status`).

use std::pin::Pin;

use minoots_proto::v1::{
    CancelTimerRequest, CancelTimerResponse, DeadLetter, GetDeadLetterRequest, GetTimerRequest,
    GetTimerResponse, ListDeadLettersRequest, ListDeadLettersResponse, ListTimersRequest,
    ListTimersResponse, ReplayDeadLetterRequest, ReplayDeadLettersRequest,
    ReplayDeadLettersResponse, ReplayResult, ScheduleTimerRequest, ScheduleTimerResponse,
    ScheduleTimersRequest, ScheduleTimersResponse, StreamTimerEventsRequest, TimerEvent,
    timer_service_server,
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
use tokio_stream::{Stream, StreamExt, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};

use minoots_kernel::{Bulk, Kernel, KernelError};

pub use minoots_proto::v1::timer_service_server::TimerServiceServer;

/// Header naming the tenant. A kernel trusts it (the gateway in front authenticates callers).
pub const TENANT_HEADER: &str = "x-tenant-id";

#[derive(Debug, Clone)]
pub struct TimerService {
    kernel: Kernel,
}

impl TimerService {
    pub fn new(kernel: Kernel) -> Self {
        Self { kernel }
    }

    pub fn into_server(self) -> TimerServiceServer<Self> {
        TimerServiceServer::new(self).max_decoding_message_size(64 * 1024 * 1024)
    }
}

/// The tenant a request acts for: the `x-tenant-id` header, else the request's tenant_id field;
/// a field that disagrees is an error, never silently ignored.
pub fn resolve_tenant<T>(request: &Request<T>, field: &str) -> Result<String, KernelError> {
    let header = request
        .metadata()
        .get(TENANT_HEADER)
        .and_then(|v| v.to_str().ok());
    resolve_tenant_parts(header, field)
}

/// The same rule for any protocol (the gateway applies it for tenant.admin keys): the header,
/// else the field; a field that disagrees with the header is an error.
pub fn resolve_tenant_parts(header: Option<&str>, field: &str) -> Result<String, KernelError> {
    match header {
        Some(tenant) if !field.is_empty() && field != tenant => Err(KernelError::invalid(
            "tenant_id",
            format!(
                "{} does not match the x-tenant-id header",
                minoots_kernel::error::quote(field)
            ),
        )),
        Some(tenant) => Ok(tenant.to_owned()),
        None => Ok(field.to_owned()),
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<TimerEvent, Status>> + Send>>;

#[tonic::async_trait]
impl timer_service_server::TimerService for TimerService {
    async fn schedule_timer(
        &self,
        request: Request<ScheduleTimerRequest>,
    ) -> Result<Response<ScheduleTimerResponse>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        Ok(Response::new(
            self.kernel.schedule(&tenant, request.into_inner()).await?,
        ))
    }

    async fn schedule_timers(
        &self,
        request: Request<ScheduleTimersRequest>,
    ) -> Result<Response<ScheduleTimersResponse>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        let request = request.into_inner();
        let mut results = self.kernel.schedule_many(&tenant, request.timers).await?;
        if request.compact {
            super::compact(&mut results);
        }
        Ok(Response::new(ScheduleTimersResponse { results }))
    }

    async fn get_timer(
        &self,
        request: Request<GetTimerRequest>,
    ) -> Result<Response<GetTimerResponse>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        let timer = self.kernel.get_timer(&tenant, request.into_inner()).await?;
        Ok(Response::new(GetTimerResponse { timer: Some(timer) }))
    }

    async fn list_timers(
        &self,
        request: Request<ListTimersRequest>,
    ) -> Result<Response<ListTimersResponse>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        Ok(Response::new(
            self.kernel.list(&tenant, request.into_inner()).await?,
        ))
    }

    async fn cancel_timer(
        &self,
        request: Request<CancelTimerRequest>,
    ) -> Result<Response<CancelTimerResponse>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        let timer = self.kernel.cancel(&tenant, request.into_inner()).await?;
        Ok(Response::new(CancelTimerResponse { timer: Some(timer) }))
    }

    async fn update_timer(
        &self,
        request: Request<UpdateTimerRequest>,
    ) -> Result<Response<UpdateTimerResponse>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        let timer = self.kernel.update(&tenant, request.into_inner()).await?;
        Ok(Response::new(UpdateTimerResponse { timer: Some(timer) }))
    }

    async fn pause_timer(
        &self,
        request: Request<PauseTimerRequest>,
    ) -> Result<Response<PauseTimerResponse>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        let timer = self.kernel.pause(&tenant, request.into_inner()).await?;
        Ok(Response::new(PauseTimerResponse { timer: Some(timer) }))
    }

    async fn resume_timer(
        &self,
        request: Request<ResumeTimerRequest>,
    ) -> Result<Response<ResumeTimerResponse>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        let timer = self.kernel.resume(&tenant, request.into_inner()).await?;
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
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        Ok(Response::new(
            self.kernel
                .pause_tenant(&tenant, request.into_inner())
                .await?,
        ))
    }

    async fn resume_tenant(
        &self,
        request: Request<ResumeTenantRequest>,
    ) -> Result<Response<TenantPause>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        Ok(Response::new(
            self.kernel
                .resume_tenant(&tenant, request.into_inner())
                .await?,
        ))
    }

    async fn get_tenant_pause(
        &self,
        request: Request<GetTenantPauseRequest>,
    ) -> Result<Response<TenantPause>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        Ok(Response::new(self.kernel.tenant_pause(&tenant).await?))
    }

    type StreamTimerEventsStream = EventStream;

    async fn stream_timer_events(
        &self,
        request: Request<StreamTimerEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        let events = self.kernel.subscribe(&tenant, request.into_inner()).await?;
        let stream = ReceiverStream::new(events).map(|event| event.map_err(Status::from));
        Ok(Response::new(Box::pin(stream)))
    }
}

impl TimerService {
    async fn bulk(
        &self,
        op: Bulk,
        request: Request<SelectTimersRequest>,
    ) -> Result<Response<SelectTimersResponse>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        Ok(Response::new(
            self.kernel.bulk(&tenant, op, request.into_inner()).await?,
        ))
    }
}

/// `minoots.v1.ScheduleService` on a kernel (tenant from `x-tenant-id`, like TimerService).
#[derive(Debug, Clone)]
pub struct ScheduleService {
    kernel: Kernel,
}

impl ScheduleService {
    pub fn new(kernel: Kernel) -> ScheduleServiceServer<Self> {
        ScheduleServiceServer::new(Self { kernel })
    }
}

pub use schedule_service_server::ScheduleServiceServer;

#[tonic::async_trait]
impl schedule_service_server::ScheduleService for ScheduleService {
    async fn create_schedule(
        &self,
        request: Request<CreateScheduleRequest>,
    ) -> Result<Response<Schedule>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        let schedule = self
            .kernel
            .create_schedule(&tenant, request.into_inner())
            .await?;
        Ok(Response::new(schedule))
    }

    async fn get_schedule(
        &self,
        request: Request<GetScheduleRequest>,
    ) -> Result<Response<Schedule>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        let schedule = self
            .kernel
            .get_schedule(&tenant, request.into_inner())
            .await?;
        Ok(Response::new(schedule))
    }

    async fn list_schedules(
        &self,
        request: Request<ListSchedulesRequest>,
    ) -> Result<Response<ListSchedulesResponse>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        let page = self
            .kernel
            .list_schedules(&tenant, request.into_inner())
            .await?;
        Ok(Response::new(page))
    }

    async fn update_schedule(
        &self,
        request: Request<UpdateScheduleRequest>,
    ) -> Result<Response<Schedule>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        let schedule = self
            .kernel
            .update_schedule(&tenant, request.into_inner())
            .await?;
        Ok(Response::new(schedule))
    }

    async fn pause_schedule(
        &self,
        request: Request<PauseScheduleRequest>,
    ) -> Result<Response<Schedule>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        let schedule = self
            .kernel
            .pause_schedule(&tenant, request.into_inner())
            .await?;
        Ok(Response::new(schedule))
    }

    async fn resume_schedule(
        &self,
        request: Request<ResumeScheduleRequest>,
    ) -> Result<Response<Schedule>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        let schedule = self
            .kernel
            .resume_schedule(&tenant, request.into_inner())
            .await?;
        Ok(Response::new(schedule))
    }

    async fn delete_schedule(
        &self,
        request: Request<DeleteScheduleRequest>,
    ) -> Result<Response<Schedule>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        let schedule = self
            .kernel
            .delete_schedule(&tenant, request.into_inner())
            .await?;
        Ok(Response::new(schedule))
    }

    async fn preview_schedule(
        &self,
        request: Request<PreviewScheduleRequest>,
    ) -> Result<Response<PreviewScheduleResponse>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        let preview = self
            .kernel
            .preview_schedule(&tenant, request.into_inner())
            .await?;
        Ok(Response::new(preview))
    }
}

/// `minoots.v1.DeadLetterService` on a kernel (tenant from `x-tenant-id`, like TimerService).
#[derive(Debug, Clone)]
pub struct DeadLetterService {
    kernel: Kernel,
}

impl DeadLetterService {
    pub fn new(kernel: Kernel) -> DeadLetterServiceServer<Self> {
        DeadLetterServiceServer::new(Self { kernel })
    }
}

pub use minoots_proto::v1::dead_letter_service_server::DeadLetterServiceServer;

#[tonic::async_trait]
impl minoots_proto::v1::dead_letter_service_server::DeadLetterService for DeadLetterService {
    async fn list_dead_letters(
        &self,
        request: Request<ListDeadLettersRequest>,
    ) -> Result<Response<ListDeadLettersResponse>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        let dead_letters = self.kernel.dead_letters(&tenant, request.get_ref()).await?;
        Ok(Response::new(ListDeadLettersResponse { dead_letters }))
    }

    async fn get_dead_letter(
        &self,
        request: Request<GetDeadLetterRequest>,
    ) -> Result<Response<DeadLetter>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        Ok(Response::new(
            self.kernel
                .dead_letter(&tenant, &request.get_ref().id)
                .await?,
        ))
    }

    async fn replay_dead_letter(
        &self,
        request: Request<ReplayDeadLetterRequest>,
    ) -> Result<Response<ReplayResult>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        Ok(Response::new(
            self.kernel
                .replay_dead_letter(&tenant, &request.get_ref().id)
                .await?,
        ))
    }

    async fn replay_dead_letters(
        &self,
        request: Request<ReplayDeadLettersRequest>,
    ) -> Result<Response<ReplayDeadLettersResponse>, Status> {
        let tenant = resolve_tenant(&request, &request.get_ref().tenant_id)?;
        let since = request
            .get_ref()
            .since
            .as_ref()
            .map_or(0, minoots_kernel::clock::from_timestamp);
        let results = self.kernel.replay_dead_letters(&tenant, since).await?;
        Ok(Response::new(ReplayDeadLettersResponse { results }))
    }
}
