//! Remote kernels grouped in regions, as a [`Backend`] (`minoots gateway`).
//!
//! A call goes to the region named by the timer's (or schedule's) `minoots.io/region` label, else
//! the `x-minoots-region` header, else the primary region; scheduling stamps the label with the
//! region that accepted the timer or schedule. A call fails over to the next target, then the
//! next region, when a kernel is unavailable, times out or is not the leader. Get and cancel, and
//! every call about one schedule, look in every region (an id does not say where it lives).
//! `x-minoots-region: *` makes list and stream span every region.

use std::time::Duration;

use minoots_kernel::KernelError;

use crate::grpc::kernel::TENANT_HEADER;
use minoots_proto::v1::{
    CancelTimerRequest, DeadLetter, GetDeadLetterRequest, GetTenantPauseRequest, GetTimerRequest,
    ListDeadLettersRequest, ListTimersRequest, ListTimersResponse, PauseTimerRequest,
    ReplayDeadLetterRequest, ReplayDeadLettersRequest, ReplayResult, ResumeTimerRequest,
    ScheduleTimerRequest, ScheduleTimerResponse, ScheduleTimersRequest, SelectTimersRequest,
    SelectTimersResponse, StreamTimerEventsRequest, TenantPause, Timer, UpdateTimerRequest,
    dead_letter_service_client::DeadLetterServiceClient, timer_service_client::TimerServiceClient,
};
use minoots_proto::v1::{
    CreateScheduleRequest, DeleteScheduleRequest, GetScheduleRequest, ListSchedulesRequest,
    ListSchedulesResponse, PauseScheduleRequest, PreviewScheduleRequest, PreviewScheduleResponse,
    ResumeScheduleRequest, Schedule, UpdateScheduleRequest,
    schedule_service_client::ScheduleServiceClient,
};
use tokio_stream::{StreamExt, StreamMap};
use tonic::{Code, Request, Status, transport::Channel};

use super::{Backend, Bulk, EventStream, Target, TenantOp};

pub const REGION_LABEL: &str = "minoots.io/region";
/// `x-minoots-region` value that makes list and stream span every region.
pub const ALL_REGIONS: &str = "*";

pub struct Region {
    pub name: String,
    targets: Vec<KernelClient>,
}

/// The services of one remote kernel, over one connection.
#[derive(Clone)]
pub struct KernelClient {
    timers: TimerServiceClient<Channel>,
    schedules: ScheduleServiceClient<Channel>,
    dead_letters: DeadLetterServiceClient<Channel>,
}

pub struct Regions {
    regions: Vec<Region>,
    primary: usize,
}

impl std::fmt::Debug for Regions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Regions").field(&self.names()).finish()
    }
}

/// Parses `us-east=http://a:7070,eu-west=http://b:7070` (a region named twice gets several
/// targets, tried in order).
pub fn parse_region_targets(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (name, url) = entry
                .split_once('=')
                .ok_or_else(|| format!("region target {entry:?}: expected REGION=URL"))?;
            let name = name.trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            {
                return Err(format!(
                    "region target {entry:?}: a region name uses letters, digits, '-', '_' and '.'"
                ));
            }
            Ok((name.to_owned(), url.trim().to_owned()))
        })
        .collect()
}

impl Regions {
    /// Lazily connected clients for every (region, url); `primary` must be one of the regions.
    pub fn new(
        targets: &[(String, String)],
        primary: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let mut regions: Vec<Region> = Vec::new();
        for (name, url) in targets {
            let endpoint = Channel::from_shared(url.clone())
                .map_err(|e| format!("kernel URL {url:?} of region {name}: {e}"))?
                .connect_timeout(timeout)
                .timeout(timeout)
                .tcp_nodelay(true);
            let channel = endpoint.connect_lazy();
            let client = KernelClient {
                timers: TimerServiceClient::new(channel.clone())
                    .max_decoding_message_size(64 * 1024 * 1024),
                schedules: ScheduleServiceClient::new(channel.clone()),
                dead_letters: DeadLetterServiceClient::new(channel),
            };
            match regions.iter_mut().find(|r| r.name == *name) {
                Some(region) => region.targets.push(client),
                None => regions.push(Region {
                    name: name.clone(),
                    targets: vec![client],
                }),
            }
        }
        if regions.is_empty() {
            return Err("no kernel targets given".to_owned());
        }
        let primary = match primary {
            None => 0,
            Some(name) => regions.iter().position(|r| r.name == name).ok_or_else(|| {
                format!(
                    "the primary region {name:?} has no kernel target (regions: {})",
                    regions
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?,
        };
        Ok(Self { regions, primary })
    }

    pub fn names(&self) -> Vec<&str> {
        self.regions.iter().map(|r| r.name.as_str()).collect()
    }

    /// The region names, the primary (where unlabelled calls go) first.
    pub fn names_primary_first(&self) -> Vec<String> {
        let mut names: Vec<String> = self.regions.iter().map(|r| r.name.clone()).collect();
        names[..=self.primary].rotate_right(1);
        names
    }

    fn index(&self, name: Option<&str>, field: &str) -> Result<usize, Status> {
        match name {
            None => Ok(self.primary),
            Some(name) => self
                .regions
                .iter()
                .position(|r| r.name == name)
                .ok_or_else(|| {
                    KernelError::invalid(
                        field,
                        format!(
                            "unknown region {} (regions: {})",
                            minoots_kernel::error::quote(name),
                            self.names().join(", ")
                        ),
                    )
                    .into()
                }),
        }
    }

    /// Region indexes starting at `first`, then the others in configured order.
    fn order(&self, first: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(first).chain((0..self.regions.len()).filter(move |&i| i != first))
    }

    /// Calls `call` on each target of each region in failover order until one answers with
    /// something other than a failover error (or, with `not_found_moves_on`, NOT_FOUND).
    async fn call<T, F, Fut>(
        &self,
        first: usize,
        not_found_moves_on: bool,
        mut call: F,
    ) -> Result<(usize, T), Status>
    where
        F: FnMut(KernelClient, &str) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut last: Option<Status> = None;
        for index in self.order(first) {
            let region = &self.regions[index];
            for client in &region.targets {
                match call(client.clone(), &region.name).await {
                    Ok(value) => return Ok((index, value)),
                    Err(status) if fails_over(&status) => {
                        tracing::warn!(region = %region.name, code = ?status.code(), message = status.message(), "kernel call failed; trying the next target");
                        if last.as_ref().is_none_or(|l| l.code() == Code::NotFound) {
                            last = Some(status);
                        }
                    }
                    Err(status) if not_found_moves_on && status.code() == Code::NotFound => {
                        last.get_or_insert(status);
                    }
                    Err(status) => return Err(status),
                }
            }
        }
        Err(last.map_or_else(|| Status::unavailable("no kernel target"), unavailable_hint))
    }
    /// A call about one timer or dead letter: the requested region first, then every other
    /// (an id does not say where it lives), moving on past NOT_FOUND.
    async fn find<T, F, Fut>(&self, target: &Target, call: F) -> Result<T, Status>
    where
        F: FnMut(KernelClient, &str) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let first = self.index(
            target.region.as_deref().filter(|r| *r != ALL_REGIONS),
            "x-minoots-region",
        )?;
        Ok(self.call(first, true, call).await?.1)
    }

    /// A call to the requested region, or to every region with `*`, each with failover.
    async fn each<T, F, Fut>(&self, target: &Target, mut call: F) -> Result<Vec<T>, Status>
    where
        F: FnMut(KernelClient, &str) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let indexes: Vec<usize> = if is_all(target.region.as_deref()) {
            (0..self.regions.len()).collect()
        } else {
            vec![self.index(target.region.as_deref(), "x-minoots-region")?]
        };
        let mut answers = Vec::with_capacity(indexes.len());
        for first in indexes {
            answers.push(self.call(first, false, &mut call).await?.1);
        }
        Ok(answers)
    }
}

impl Regions {
    /// A list call: the requested region with failover, or with `*` every region, each paging
    /// on its own behind one combined token (`region:token,...`).
    async fn list_pages<T, F, Fut>(
        &self,
        target: &Target,
        page_token: &str,
        mut page: F,
    ) -> Result<(Vec<T>, String), Status>
    where
        F: FnMut(KernelClient, String) -> Fut,
        Fut: Future<Output = Result<(Vec<T>, String), Status>>,
    {
        if !is_all(target.region.as_deref()) {
            let first = self.index(target.region.as_deref(), "x-minoots-region")?;
            let (_, answer) = self
                .call(first, false, |client, _| {
                    page(client, page_token.to_owned())
                })
                .await?;
            return Ok(answer);
        }
        let pages: Vec<(usize, String)> = if page_token.is_empty() {
            (0..self.regions.len())
                .map(|i| (i, String::new()))
                .collect()
        } else {
            split_page_token(page_token)?
                .into_iter()
                .map(|(name, token)| Ok((self.index(Some(&name), "page_token")?, token)))
                .collect::<Result<_, Status>>()?
        };
        let mut merged = Vec::new();
        let mut next = Vec::new();
        for (index, token) in pages {
            let region = &self.regions[index];
            let mut last = None;
            let mut answer = None;
            for client in &region.targets {
                match page(client.clone(), token.clone()).await {
                    Ok(one) => {
                        answer = Some(one);
                        break;
                    }
                    Err(status) if fails_over(&status) => last = Some(status),
                    Err(status) => return Err(status),
                }
            }
            let (items, token) = answer.ok_or_else(|| {
                unavailable_hint(last.unwrap_or_else(|| Status::unavailable("no kernel target")))
            })?;
            if !token.is_empty() {
                next.push(format!("{}:{token}", region.name));
            }
            merged.extend(items);
        }
        Ok((merged, next.join(",")))
    }
}

/// Errors after which another kernel may succeed: unreachable, too slow, not the leader, or a
/// connection that broke before the kernel answered (a status made locally from a transport
/// error carries that error as its source; a kernel's own answer has none).
fn fails_over(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded => true,
        Code::FailedPrecondition => status.metadata().contains_key("retry-after-ms"),
        Code::Unknown | Code::Cancelled | Code::Internal => {
            std::error::Error::source(status).is_some()
        }
        _ => false,
    }
}

/// Every target failed: answer UNAVAILABLE with a retry hint (503 `retryAfterMs` over REST).
fn unavailable_hint(status: Status) -> Status {
    if !fails_over(&status) {
        return status;
    }
    let retry = status
        .metadata()
        .get("retry-after-ms")
        .cloned()
        .unwrap_or_else(|| 1_000u64.into());
    let mut unavailable = Status::unavailable(format!(
        "no kernel could serve the call: {}",
        status.message()
    ));
    unavailable.metadata_mut().insert("retry-after-ms", retry);
    unavailable
}

fn with_tenant<T>(message: T, tenant: &str) -> Result<Request<T>, Status> {
    let mut request = Request::new(message);
    let value = tenant.parse().map_err(|_| {
        Status::from(KernelError::invalid(
            "tenant_id",
            "is not a valid header value",
        ))
    })?;
    request.metadata_mut().insert(TENANT_HEADER, value);
    // The kernel continues this call's trace.
    if let Some(traceparent) = minoots_kernel::trace::current_traceparent()
        && let Ok(value) = traceparent.parse()
    {
        request.metadata_mut().insert("traceparent", value);
    }
    Ok(request)
}

fn is_all(region: Option<&str>) -> bool {
    region == Some(ALL_REGIONS)
}

/// The page token of a list spanning regions: `region:token` pairs joined by commas (kernel
/// tokens are hex; region names have no ':' or ',').
fn split_page_token(token: &str) -> Result<Vec<(String, String)>, Status> {
    token
        .split(',')
        .map(|pair| {
            pair.split_once(':')
                .map(|(r, t)| (r.to_owned(), t.to_owned()))
                .ok_or_else(|| {
                    KernelError::invalid("page_token", "is not a token this server issued").into()
                })
        })
        .collect()
}

#[tonic::async_trait]
impl Backend for Regions {
    async fn schedule(
        &self,
        target: &Target,
        request: ScheduleTimerRequest,
    ) -> Result<ScheduleTimerResponse, Status> {
        let regions = self;
        {
            {
                let first = match request.labels.get(REGION_LABEL) {
                    Some(label) => regions.index(Some(label), "labels")?,
                    None => regions.index(target.region.as_deref(), "x-minoots-region")?,
                };
                let (_, response) = regions
                    .call(first, false, |mut client, region| {
                        let mut request = request.clone();
                        request
                            .labels
                            .insert(REGION_LABEL.to_owned(), region.to_owned());
                        let tenant = target.tenant.clone();
                        async move {
                            client
                                .timers
                                .schedule_timer(with_tenant(request, &tenant)?)
                                .await
                                .map(tonic::Response::into_inner)
                        }
                    })
                    .await?;
                Ok(response)
            }
        }
    }

    /// A batch goes to one region: every timer in it must name the same region (or none).
    async fn schedule_many(
        &self,
        target: &Target,
        timers: Vec<ScheduleTimerRequest>,
    ) -> Result<Vec<ScheduleTimerResponse>, Status> {
        let regions = self;
        {
            {
                let mut named = None;
                for (i, timer) in timers.iter().enumerate() {
                    if let Some(label) = timer.labels.get(REGION_LABEL) {
                        let field = format!("timers[{i}].labels");
                        let index = regions.index(Some(label), &field)?;
                        if named.is_some_and(|n| n != index) {
                            return Err(KernelError::invalid(
                                field,
                                "every timer of a batch must name the same region",
                            )
                            .into());
                        }
                        named = Some(index);
                    }
                }
                let first = match named {
                    Some(index) => index,
                    None => regions.index(target.region.as_deref(), "x-minoots-region")?,
                };
                let (_, response) = regions
                    .call(first, false, |mut client, region| {
                        let mut timers = timers.clone();
                        for timer in &mut timers {
                            timer
                                .labels
                                .insert(REGION_LABEL.to_owned(), region.to_owned());
                        }
                        let request = ScheduleTimersRequest {
                            tenant_id: String::new(),
                            timers,
                            compact: false,
                        };
                        let tenant = target.tenant.clone();
                        async move {
                            client
                                .timers
                                .schedule_timers(with_tenant(request, &tenant)?)
                                .await
                                .map(tonic::Response::into_inner)
                        }
                    })
                    .await?;
                Ok(response.results)
            }
        }
    }

    async fn get(&self, target: &Target, request: GetTimerRequest) -> Result<Timer, Status> {
        let regions = self;
        let response = regions
            .find(target, |mut client, _| {
                let request = with_tenant(request.clone(), &target.tenant);
                async move { Ok(client.timers.get_timer(request?).await?.into_inner()) }
            })
            .await?;
        response
            .timer
            .ok_or_else(|| Status::internal("the kernel answered without a timer"))
    }

    async fn cancel(&self, target: &Target, request: CancelTimerRequest) -> Result<Timer, Status> {
        let regions = self;
        let response = regions
            .find(target, |mut client, _| {
                let request = with_tenant(request.clone(), &target.tenant);
                async move { Ok(client.timers.cancel_timer(request?).await?.into_inner()) }
            })
            .await?;
        response
            .timer
            .ok_or_else(|| Status::internal("the kernel answered without a timer"))
    }

    async fn update(&self, target: &Target, request: UpdateTimerRequest) -> Result<Timer, Status> {
        let response = self
            .find(target, |mut client, _| {
                let request = with_tenant(request.clone(), &target.tenant);
                async move { Ok(client.timers.update_timer(request?).await?.into_inner()) }
            })
            .await?;
        response
            .timer
            .ok_or_else(|| Status::internal("the kernel answered without a timer"))
    }

    async fn pause(&self, target: &Target, request: PauseTimerRequest) -> Result<Timer, Status> {
        let response = self
            .find(target, |mut client, _| {
                let request = with_tenant(request.clone(), &target.tenant);
                async move { Ok(client.timers.pause_timer(request?).await?.into_inner()) }
            })
            .await?;
        response
            .timer
            .ok_or_else(|| Status::internal("the kernel answered without a timer"))
    }

    async fn resume(&self, target: &Target, request: ResumeTimerRequest) -> Result<Timer, Status> {
        let response = self
            .find(target, |mut client, _| {
                let request = with_tenant(request.clone(), &target.tenant);
                async move { Ok(client.timers.resume_timer(request?).await?.into_inner()) }
            })
            .await?;
        response
            .timer
            .ok_or_else(|| Status::internal("the kernel answered without a timer"))
    }

    /// In the requested region, or every region with `*`; the counts add up.
    async fn bulk(
        &self,
        target: &Target,
        op: Bulk,
        request: SelectTimersRequest,
    ) -> Result<SelectTimersResponse, Status> {
        let answers = self
            .each(target, |mut client, _| {
                let request = with_tenant(request.clone(), &target.tenant);
                async move {
                    let request = request?;
                    Ok(match op {
                        Bulk::Cancel => client.timers.cancel_timers(request).await?,
                        Bulk::Pause => client.timers.pause_timers(request).await?,
                        Bulk::Resume => client.timers.resume_timers(request).await?,
                    }
                    .into_inner())
                }
            })
            .await?;
        Ok(answers
            .into_iter()
            .fold(SelectTimersResponse::default(), |sum, one| {
                SelectTimersResponse {
                    matched: sum.matched + one.matched,
                    changed: sum.changed + one.changed,
                }
            }))
    }

    /// In the requested region, or every region with `*` (paused if any region is).
    async fn tenant_pause(&self, target: &Target, op: TenantOp) -> Result<TenantPause, Status> {
        let answers = self
            .each(target, |mut client, _| {
                let op = op.clone();
                let tenant = target.tenant.clone();
                async move {
                    Ok(match op {
                        TenantOp::Pause(request) => {
                            client
                                .timers
                                .pause_tenant(with_tenant(request, &tenant)?)
                                .await?
                        }
                        TenantOp::Resume(request) => {
                            client
                                .timers
                                .resume_tenant(with_tenant(request, &tenant)?)
                                .await?
                        }
                        TenantOp::Get => {
                            client
                                .timers
                                .get_tenant_pause(with_tenant(
                                    GetTenantPauseRequest::default(),
                                    &tenant,
                                )?)
                                .await?
                        }
                    }
                    .into_inner())
                }
            })
            .await?;
        let mut answers = answers.into_iter();
        let mut sum = answers
            .next()
            .ok_or_else(|| Status::internal("no region answered"))?;
        for one in answers {
            sum.changed += one.changed;
            if one.paused && !sum.paused {
                let changed = sum.changed;
                sum = TenantPause { changed, ..one };
            }
        }
        Ok(sum)
    }

    async fn list(
        &self,
        target: &Target,
        request: ListTimersRequest,
    ) -> Result<ListTimersResponse, Status> {
        let token = request.page_token.clone();
        let (timers, next_page_token) = self
            .list_pages(target, &token, |client, token| {
                let mut request = request.clone();
                request.page_token = token;
                let tenant = target.tenant.clone();
                async move {
                    let page = list_one(client, request, tenant).await?;
                    Ok((page.timers, page.next_page_token))
                }
            })
            .await?;
        Ok(ListTimersResponse {
            timers,
            next_page_token,
        })
    }

    async fn subscribe(
        &self,
        target: &Target,
        request: StreamTimerEventsRequest,
    ) -> Result<EventStream, Status> {
        let regions = self;
        if !is_all(target.region.as_deref()) {
            let first = regions.index(target.region.as_deref(), "x-minoots-region")?;
            let (_, stream) = regions
                .call(first, false, |client, _| {
                    stream_one(client, request.clone(), target.tenant.clone())
                })
                .await?;
            return Ok(stream);
        }
        if request.after_sequence.is_some_and(|after| after > 0) {
            return Err(KernelError::invalid(
                "after_sequence",
                "sequences are per region: resume one region at a time (x-minoots-region)",
            )
            .into());
        }
        let mut merged = StreamMap::new();
        for region in &regions.regions {
            let mut opened = None;
            for client in &region.targets {
                if let Ok(stream) =
                    stream_one(client.clone(), request.clone(), target.tenant.clone()).await
                {
                    opened = Some(stream);
                    break;
                }
            }
            match opened {
                Some(stream) => {
                    merged.insert(region.name.clone(), stream);
                }
                None => {
                    tracing::warn!(region = %region.name, "no kernel of this region could stream; streaming the others")
                }
            }
        }
        if merged.is_empty() {
            return Err(unavailable_hint(Status::unavailable(
                "no region could open an event stream",
            )));
        }
        Ok(Box::pin(merged.map(|(_, event)| event)))
    }

    /// Dead letters of the chosen region (or every region with `*`).
    async fn dead_letters(
        &self,
        target: &Target,
        request: ListDeadLettersRequest,
    ) -> Result<Vec<DeadLetter>, Status> {
        let regions = self;
        let pages = regions
            .each(target, |mut client, _| {
                let request = with_tenant(request.clone(), &target.tenant);
                async move {
                    let page = client.dead_letters.list_dead_letters(request?).await?;
                    Ok(page.into_inner().dead_letters)
                }
            })
            .await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// A dead letter by id, wherever it lives.
    async fn dead_letter(&self, target: &Target, id: &str) -> Result<DeadLetter, Status> {
        let regions = self;
        let request = GetDeadLetterRequest {
            tenant_id: String::new(),
            id: id.to_owned(),
        };
        regions
            .find(target, |mut client, _| {
                let request = with_tenant(request.clone(), &target.tenant);
                async move {
                    Ok(client
                        .dead_letters
                        .get_dead_letter(request?)
                        .await?
                        .into_inner())
                }
            })
            .await
    }

    async fn replay_dead_letter(&self, target: &Target, id: &str) -> Result<ReplayResult, Status> {
        let regions = self;
        let request = ReplayDeadLetterRequest {
            tenant_id: String::new(),
            id: id.to_owned(),
        };
        regions
            .find(target, |mut client, _| {
                let request = with_tenant(request.clone(), &target.tenant);
                async move {
                    Ok(client
                        .dead_letters
                        .replay_dead_letter(request?)
                        .await?
                        .into_inner())
                }
            })
            .await
    }

    async fn replay_dead_letters(
        &self,
        target: &Target,
        request: ReplayDeadLettersRequest,
    ) -> Result<Vec<ReplayResult>, Status> {
        let regions = self;
        let replayed = regions
            .each(target, |mut client, _| {
                let request = with_tenant(request.clone(), &target.tenant);
                async move {
                    let replayed = client.dead_letters.replay_dead_letters(request?).await?;
                    Ok(replayed.into_inner().results)
                }
            })
            .await?;
        Ok(replayed.into_iter().flatten().collect())
    }

    /// In the region its `minoots.io/region` label names, else the requested one; the label is
    /// stamped with the region that accepted it (and so is every occurrence).
    async fn create_schedule(
        &self,
        target: &Target,
        request: CreateScheduleRequest,
    ) -> Result<Schedule, Status> {
        let first = match request.labels.get(REGION_LABEL) {
            Some(label) => self.index(Some(label), "labels")?,
            None => self.index(target.region.as_deref(), "x-minoots-region")?,
        };
        let (_, schedule) = self
            .call(first, false, |mut client, region| {
                let mut request = request.clone();
                request
                    .labels
                    .insert(REGION_LABEL.to_owned(), region.to_owned());
                let request = with_tenant(request, &target.tenant);
                async move {
                    Ok(client
                        .schedules
                        .create_schedule(request?)
                        .await?
                        .into_inner())
                }
            })
            .await?;
        Ok(schedule)
    }

    async fn get_schedule(
        &self,
        target: &Target,
        request: GetScheduleRequest,
    ) -> Result<Schedule, Status> {
        self.find(target, |mut client, _| {
            let request = with_tenant(request.clone(), &target.tenant);
            async move { Ok(client.schedules.get_schedule(request?).await?.into_inner()) }
        })
        .await
    }

    async fn list_schedules(
        &self,
        target: &Target,
        request: ListSchedulesRequest,
    ) -> Result<ListSchedulesResponse, Status> {
        let token = request.page_token.clone();
        let (schedules, next_page_token) = self
            .list_pages(target, &token, |mut client, token| {
                let mut request = request.clone();
                request.page_token = token;
                let request = with_tenant(request, &target.tenant);
                async move {
                    let page = client
                        .schedules
                        .list_schedules(request?)
                        .await?
                        .into_inner();
                    Ok((page.schedules, page.next_page_token))
                }
            })
            .await?;
        Ok(ListSchedulesResponse {
            schedules,
            next_page_token,
        })
    }

    async fn update_schedule(
        &self,
        target: &Target,
        request: UpdateScheduleRequest,
    ) -> Result<Schedule, Status> {
        self.find(target, |mut client, _| {
            let request = with_tenant(request.clone(), &target.tenant);
            async move {
                Ok(client
                    .schedules
                    .update_schedule(request?)
                    .await?
                    .into_inner())
            }
        })
        .await
    }

    async fn pause_schedule(
        &self,
        target: &Target,
        request: PauseScheduleRequest,
    ) -> Result<Schedule, Status> {
        self.find(target, |mut client, _| {
            let request = with_tenant(request.clone(), &target.tenant);
            async move {
                Ok(client
                    .schedules
                    .pause_schedule(request?)
                    .await?
                    .into_inner())
            }
        })
        .await
    }

    async fn resume_schedule(
        &self,
        target: &Target,
        request: ResumeScheduleRequest,
    ) -> Result<Schedule, Status> {
        self.find(target, |mut client, _| {
            let request = with_tenant(request.clone(), &target.tenant);
            async move {
                Ok(client
                    .schedules
                    .resume_schedule(request?)
                    .await?
                    .into_inner())
            }
        })
        .await
    }

    async fn delete_schedule(
        &self,
        target: &Target,
        request: DeleteScheduleRequest,
    ) -> Result<Schedule, Status> {
        self.find(target, |mut client, _| {
            let request = with_tenant(request.clone(), &target.tenant);
            async move {
                Ok(client
                    .schedules
                    .delete_schedule(request?)
                    .await?
                    .into_inner())
            }
        })
        .await
    }

    /// A stored schedule's preview wherever it lives; a spec's in the requested region.
    async fn preview_schedule(
        &self,
        target: &Target,
        request: PreviewScheduleRequest,
    ) -> Result<PreviewScheduleResponse, Status> {
        let call = |mut client: KernelClient, _: &str| {
            let request = with_tenant(request.clone(), &target.tenant);
            async move {
                Ok(client
                    .schedules
                    .preview_schedule(request?)
                    .await?
                    .into_inner())
            }
        };
        if request.id.is_empty() {
            let first = self.index(
                target.region.as_deref().filter(|r| *r != ALL_REGIONS),
                "x-minoots-region",
            )?;
            Ok(self.call(first, false, call).await?.1)
        } else {
            self.find(target, call).await
        }
    }

    fn ready(&self) -> Result<(), Status> {
        // Each call finds a serving kernel or answers 503 itself.
        Ok(())
    }
}

async fn list_one(
    mut client: KernelClient,
    request: ListTimersRequest,
    tenant: String,
) -> Result<ListTimersResponse, Status> {
    Ok(client
        .timers
        .list_timers(with_tenant(request, &tenant)?)
        .await?
        .into_inner())
}

async fn stream_one(
    mut client: KernelClient,
    request: StreamTimerEventsRequest,
    tenant: String,
) -> Result<EventStream, Status> {
    let stream = client
        .timers
        .stream_timer_events(with_tenant(request, &tenant)?)
        .await?
        .into_inner();
    Ok(Box::pin(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_targets_parse_and_bad_ones_are_named() {
        assert_eq!(
            parse_region_targets("us-east=http://a:1, eu-west=http://b:2,us-east=http://c:3")
                .unwrap(),
            vec![
                ("us-east".to_owned(), "http://a:1".to_owned()),
                ("eu-west".to_owned(), "http://b:2".to_owned()),
                ("us-east".to_owned(), "http://c:3".to_owned()),
            ]
        );
        assert!(
            parse_region_targets("http://a:1")
                .unwrap_err()
                .contains("REGION=URL")
        );
        assert!(
            parse_region_targets("a b=http://x")
                .unwrap_err()
                .contains("region name")
        );
    }

    #[tokio::test]
    async fn the_primary_must_be_a_known_region() {
        let targets = parse_region_targets("us-east=http://127.0.0.1:1").unwrap();
        let error = Regions::new(&targets, Some("mars"), Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(
            error.contains("mars") && error.contains("us-east"),
            "{error}"
        );
        let regions = Regions::new(&targets, None, Duration::from_secs(1)).unwrap();
        assert_eq!(regions.names(), ["us-east"]);
    }
}
