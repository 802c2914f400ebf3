//! Recurring schedules (work in progress).
use minoots_proto::v1::{
    CreateScheduleRequest, DeleteScheduleRequest, GetScheduleRequest, ListSchedulesRequest,
    ListSchedulesResponse, PauseScheduleRequest, PreviewScheduleRequest, PreviewScheduleResponse,
    ResumeScheduleRequest, Schedule, UpdateScheduleRequest,
};

use crate::{Inner, KernelError, Result};

fn todo() -> KernelError {
    KernelError::Internal("schedules are being built".into())
}

pub(crate) async fn create(_: &Inner, _: &str, _: CreateScheduleRequest) -> Result<Schedule> {
    Err(todo())
}
pub(crate) async fn get(_: &Inner, _: &str, _: GetScheduleRequest) -> Result<Schedule> {
    Err(todo())
}
pub(crate) async fn list(_: &Inner, _: &str, _: ListSchedulesRequest) -> Result<ListSchedulesResponse> {
    Err(todo())
}
pub(crate) async fn update(_: &Inner, _: &str, _: UpdateScheduleRequest) -> Result<Schedule> {
    Err(todo())
}
pub(crate) async fn pause(_: &Inner, _: &str, _: PauseScheduleRequest) -> Result<Schedule> {
    Err(todo())
}
pub(crate) async fn resume(_: &Inner, _: &str, _: ResumeScheduleRequest) -> Result<Schedule> {
    Err(todo())
}
pub(crate) async fn delete(_: &Inner, _: &str, _: DeleteScheduleRequest) -> Result<Schedule> {
    Err(todo())
}
pub(crate) async fn preview(_: &Inner, _: &str, _: PreviewScheduleRequest) -> Result<PreviewScheduleResponse> {
    Err(todo())
}
