//! `/dead-letters`: list, get, replay one, replay every one since a time.

use std::str::FromStr;

use axum::{
    Extension, Json,
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::{ApiQuery, RawBody, body_json, error::ApiError, invalid};
use crate::{Gateway, auth::Principal};
use minoots_kernel::json::{action_result_to_json, dead_letter_to_json, timer_to_json};
use minoots_proto::{
    prost_types,
    v1::{ListDeadLettersRequest, ReplayDeadLettersRequest, ReplayResult},
};

use super::timers::TenantQuery;

fn parse_time(field: &str, text: &str) -> Result<prost_types::Timestamp, ApiError> {
    prost_types::Timestamp::from_str(text).map_err(|_| {
        invalid(
            field,
            format!(
                "{} is not an RFC 3339 time",
                minoots_kernel::error::quote(text)
            ),
        )
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeadLetterQuery {
    tenant_id: Option<String>,
    since: Option<String>,
    #[serde(default)]
    include_resolved: bool,
    limit: Option<u32>,
}

fn replay_json(result: &ReplayResult) -> serde_json::Value {
    json!({
        "deadLetter": result.dead_letter.as_ref().map(dead_letter_to_json),
        "result": result.result.as_ref().map(action_result_to_json),
        "timer": result.timer.as_ref().map(timer_to_json),
    })
}

/// `GET /dead-letters?since=&includeResolved=&limit=`
pub(super) async fn list(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<DeadLetterQuery>,
) -> Result<Response, ApiError> {
    let target = principal.target(&headers, query.tenant_id.as_deref().unwrap_or_default())?;
    let request = ListDeadLettersRequest {
        tenant_id: String::new(),
        since: query
            .since
            .as_deref()
            .map(|t| parse_time("since", t))
            .transpose()?,
        include_resolved: query.include_resolved,
        limit: query.limit.unwrap_or_default(),
    };
    let letters = gateway.backend().dead_letters(&target, request).await?;
    let letters: Vec<_> = letters.iter().map(dead_letter_to_json).collect();
    Ok(Json(json!({ "deadLetters": letters })).into_response())
}

pub(super) async fn get(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<TenantQuery>,
) -> Result<Response, ApiError> {
    let target = principal.target(&headers, query.tenant_id.as_deref().unwrap_or_default())?;
    let letter = gateway.backend().dead_letter(&target, &id).await?;
    Ok(Json(dead_letter_to_json(&letter)).into_response())
}

pub(super) async fn replay(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<TenantQuery>,
) -> Result<Response, ApiError> {
    let target = principal.target(&headers, query.tenant_id.as_deref().unwrap_or_default())?;
    let result = gateway.backend().replay_dead_letter(&target, &id).await?;
    Ok(Json(replay_json(&result)).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplayAllBody {
    tenant_id: Option<String>,
    since: Option<String>,
}

/// `POST /dead-letters/replay` `{since}`: every unresolved dead letter created since then.
pub(super) async fn replay_all(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body: ReplayAllBody = body_json(&body)?;
    let target = principal.target(&headers, body.tenant_id.as_deref().unwrap_or_default())?;
    let request = ReplayDeadLettersRequest {
        tenant_id: String::new(),
        since: body
            .since
            .as_deref()
            .map(|t| parse_time("since", t))
            .transpose()?,
    };
    let results = gateway
        .backend()
        .replay_dead_letters(&target, request)
        .await?;
    let results: Vec<_> = results.iter().map(replay_json).collect();
    Ok(Json(json!({ "results": results })).into_response())
}
