//! `minoots.v1.TimerService` as the gateway serves it: every call is authorized (key, role,
//! tenant, rate limit) and then sent to the backend. Handlers hold no other logic.

use minoots_proto::v1::{
    CancelTimerRequest, CancelTimerResponse, GetTimerRequest, GetTimerResponse, ListTimersRequest,
    ListTimersResponse, ScheduleTimerRequest, ScheduleTimerResponse, ScheduleTimersRequest,
    ScheduleTimersResponse, StreamTimerEventsRequest, timer_service_server,
};
use tonic::{Request, Response, Status};

use crate::{Gateway, auth::Role, backend::EventStream};

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
        let target = self
            .gateway
            .authorize(
                request.metadata().as_ref(),
                Role::TimerWrite,
                &request.get_ref().tenant_id,
            )
            .await?;
        let response = self
            .gateway
            .backend()
            .schedule(&target, request.into_inner())
            .await?;
        Ok(Response::new(response))
    }

    async fn schedule_timers(
        &self,
        request: Request<ScheduleTimersRequest>,
    ) -> Result<Response<ScheduleTimersResponse>, Status> {
        let target = self
            .gateway
            .authorize(
                request.metadata().as_ref(),
                Role::TimerWrite,
                &request.get_ref().tenant_id,
            )
            .await?;
        let timers = request.into_inner().timers;
        let results = self
            .gateway
            .backend()
            .schedule_many(&target, timers)
            .await?;
        Ok(Response::new(ScheduleTimersResponse { results }))
    }

    async fn get_timer(
        &self,
        request: Request<GetTimerRequest>,
    ) -> Result<Response<GetTimerResponse>, Status> {
        let target = self
            .gateway
            .authorize(
                request.metadata().as_ref(),
                Role::TimerRead,
                &request.get_ref().tenant_id,
            )
            .await?;
        let timer = self
            .gateway
            .backend()
            .get(&target, &request.get_ref().id)
            .await?;
        Ok(Response::new(GetTimerResponse { timer: Some(timer) }))
    }

    async fn list_timers(
        &self,
        request: Request<ListTimersRequest>,
    ) -> Result<Response<ListTimersResponse>, Status> {
        let target = self
            .gateway
            .authorize(
                request.metadata().as_ref(),
                Role::TimerRead,
                &request.get_ref().tenant_id,
            )
            .await?;
        let page = self
            .gateway
            .backend()
            .list(&target, request.into_inner())
            .await?;
        Ok(Response::new(page))
    }

    async fn cancel_timer(
        &self,
        request: Request<CancelTimerRequest>,
    ) -> Result<Response<CancelTimerResponse>, Status> {
        let target = self
            .gateway
            .authorize(
                request.metadata().as_ref(),
                Role::TimerCancel,
                &request.get_ref().tenant_id,
            )
            .await?;
        let timer = self
            .gateway
            .backend()
            .cancel(&target, request.into_inner())
            .await?;
        Ok(Response::new(CancelTimerResponse { timer: Some(timer) }))
    }

    type StreamTimerEventsStream = EventStream;

    async fn stream_timer_events(
        &self,
        request: Request<StreamTimerEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let target = self
            .gateway
            .authorize(
                request.metadata().as_ref(),
                Role::TimerRead,
                &request.get_ref().tenant_id,
            )
            .await?;
        let events = self
            .gateway
            .subscribe(&target, request.into_inner())
            .await?;
        Ok(Response::new(events))
    }
}
