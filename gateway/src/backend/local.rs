//! The kernel in this process as a [`Backend`]: each call goes straight to the kernel and its
//! error converts to a status once.

use minoots_kernel::Kernel;
use minoots_proto::v1::{
    CancelTimerRequest, DeadLetter, GetTimerRequest, ListDeadLettersRequest, ListTimersRequest,
    ListTimersResponse, PauseTimerRequest, ReplayDeadLettersRequest, ReplayResult,
    ResumeTimerRequest, ScheduleTimerRequest, ScheduleTimerResponse, SelectTimersRequest,
    SelectTimersResponse, StreamTimerEventsRequest, TenantPause, Timer, UpdateTimerRequest,
};
use minoots_proto::v1::{
    CreateScheduleRequest, DeleteScheduleRequest, GetScheduleRequest, ListSchedulesRequest,
    ListSchedulesResponse, PauseScheduleRequest, PreviewScheduleRequest, PreviewScheduleResponse,
    ResumeScheduleRequest, Schedule, UpdateScheduleRequest,
};
use tokio_stream::{StreamExt as _, wrappers::ReceiverStream};
use tonic::Status;

use super::{Backend, Bulk, EventStream, Target, TenantOp};

#[tonic::async_trait]
impl Backend for Kernel {
    async fn schedule(
        &self,
        target: &Target,
        request: ScheduleTimerRequest,
    ) -> Result<ScheduleTimerResponse, Status> {
        Ok(Kernel::schedule(self, &target.tenant, request).await?)
    }

    async fn schedule_many(
        &self,
        target: &Target,
        timers: Vec<ScheduleTimerRequest>,
    ) -> Result<Vec<ScheduleTimerResponse>, Status> {
        Ok(Kernel::schedule_many(self, &target.tenant, timers).await?)
    }

    async fn get(&self, target: &Target, request: GetTimerRequest) -> Result<Timer, Status> {
        Ok(Kernel::get_timer(self, &target.tenant, request).await?)
    }

    async fn cancel(&self, target: &Target, request: CancelTimerRequest) -> Result<Timer, Status> {
        Ok(Kernel::cancel(self, &target.tenant, request).await?)
    }

    async fn update(&self, target: &Target, request: UpdateTimerRequest) -> Result<Timer, Status> {
        Ok(Kernel::update(self, &target.tenant, request).await?)
    }

    async fn pause(&self, target: &Target, request: PauseTimerRequest) -> Result<Timer, Status> {
        Ok(Kernel::pause(self, &target.tenant, request).await?)
    }

    async fn resume(&self, target: &Target, request: ResumeTimerRequest) -> Result<Timer, Status> {
        Ok(Kernel::resume(self, &target.tenant, request).await?)
    }

    async fn bulk(
        &self,
        target: &Target,
        op: Bulk,
        request: SelectTimersRequest,
    ) -> Result<SelectTimersResponse, Status> {
        Ok(Kernel::bulk(self, &target.tenant, op, request).await?)
    }

    async fn tenant_pause(&self, target: &Target, op: TenantOp) -> Result<TenantPause, Status> {
        Ok(match op {
            TenantOp::Pause(request) => Kernel::pause_tenant(self, &target.tenant, request).await?,
            TenantOp::Resume(request) => {
                Kernel::resume_tenant(self, &target.tenant, request).await?
            }
            TenantOp::Get => Kernel::tenant_pause(self, &target.tenant).await?,
        })
    }

    async fn list(
        &self,
        target: &Target,
        request: ListTimersRequest,
    ) -> Result<ListTimersResponse, Status> {
        Ok(Kernel::list(self, &target.tenant, request).await?)
    }

    async fn subscribe(
        &self,
        target: &Target,
        request: StreamTimerEventsRequest,
    ) -> Result<EventStream, Status> {
        let events = Kernel::subscribe(self, &target.tenant, request).await?;
        Ok(Box::pin(
            ReceiverStream::new(events).map(|e| e.map_err(Status::from)),
        ))
    }

    async fn dead_letters(
        &self,
        target: &Target,
        request: ListDeadLettersRequest,
    ) -> Result<Vec<DeadLetter>, Status> {
        Ok(Kernel::dead_letters(self, &target.tenant, &request).await?)
    }

    async fn dead_letter(&self, target: &Target, id: &str) -> Result<DeadLetter, Status> {
        Ok(Kernel::dead_letter(self, &target.tenant, id).await?)
    }

    async fn replay_dead_letter(&self, target: &Target, id: &str) -> Result<ReplayResult, Status> {
        Ok(Kernel::replay_dead_letter(self, &target.tenant, id).await?)
    }

    async fn replay_dead_letters(
        &self,
        target: &Target,
        request: ReplayDeadLettersRequest,
    ) -> Result<Vec<ReplayResult>, Status> {
        let since = request
            .since
            .as_ref()
            .map_or(0, minoots_kernel::clock::from_timestamp);
        Ok(Kernel::replay_dead_letters(self, &target.tenant, since).await?)
    }

    async fn create_schedule(
        &self,
        target: &Target,
        request: CreateScheduleRequest,
    ) -> Result<Schedule, Status> {
        Ok(Kernel::create_schedule(self, &target.tenant, request).await?)
    }

    async fn get_schedule(
        &self,
        target: &Target,
        request: GetScheduleRequest,
    ) -> Result<Schedule, Status> {
        Ok(Kernel::get_schedule(self, &target.tenant, request).await?)
    }

    async fn list_schedules(
        &self,
        target: &Target,
        request: ListSchedulesRequest,
    ) -> Result<ListSchedulesResponse, Status> {
        Ok(Kernel::list_schedules(self, &target.tenant, request).await?)
    }

    async fn update_schedule(
        &self,
        target: &Target,
        request: UpdateScheduleRequest,
    ) -> Result<Schedule, Status> {
        Ok(Kernel::update_schedule(self, &target.tenant, request).await?)
    }

    async fn pause_schedule(
        &self,
        target: &Target,
        request: PauseScheduleRequest,
    ) -> Result<Schedule, Status> {
        Ok(Kernel::pause_schedule(self, &target.tenant, request).await?)
    }

    async fn resume_schedule(
        &self,
        target: &Target,
        request: ResumeScheduleRequest,
    ) -> Result<Schedule, Status> {
        Ok(Kernel::resume_schedule(self, &target.tenant, request).await?)
    }

    async fn delete_schedule(
        &self,
        target: &Target,
        request: DeleteScheduleRequest,
    ) -> Result<Schedule, Status> {
        Ok(Kernel::delete_schedule(self, &target.tenant, request).await?)
    }

    async fn preview_schedule(
        &self,
        target: &Target,
        request: PreviewScheduleRequest,
    ) -> Result<PreviewScheduleResponse, Status> {
        Ok(Kernel::preview_schedule(self, &target.tenant, request).await?)
    }

    fn ready(&self) -> Result<(), Status> {
        Ok(self.ensure_leader()?)
    }
}
