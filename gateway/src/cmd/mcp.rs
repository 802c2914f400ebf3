//! `minoots mcp`: the agent tools (sdk-rust `tools`) as a Model Context Protocol server, over
//! stdio (one JSON-RPC message per line) or streamable HTTP (`--http ADDR`, POST `/mcp`, JSON
//! answers). It is a client of a running MINOOTS server (`--url`, `--api-key`).

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use minoots::{
    Client,
    tools::{call_tool, tool_specs},
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

use super::args::ConnectArgs;

/// Versions of the handshake era this server speaks, newest first.
const PROTOCOL_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

#[derive(Debug, clap::Args)]
pub struct McpArgs {
    /// Serve streamable HTTP on this address (`127.0.0.1:0` picks a port) instead of stdio.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    #[command(flatten)]
    connect: ConnectArgs,
}

fn rpc_error(id: Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// One JSON-RPC message in, its answer out (`None` for notifications).
async fn handle(client: &Client, message: Value) -> Option<Value> {
    let id = message.get("id").cloned()?;
    let method = message["method"].as_str().unwrap_or_default();
    let params = &message["params"];
    let result = match method {
        "initialize" => {
            let asked = params["protocolVersion"].as_str().unwrap_or_default();
            let version = PROTOCOL_VERSIONS
                .into_iter()
                .find(|v| *v == asked)
                .unwrap_or(PROTOCOL_VERSIONS[0]);
            json!({
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": {"name": "minoots", "version": env!("CARGO_PKG_VERSION")},
                "instructions": "Durable timers: schedule_timer fires after a duration or at a time (optionally calling a webhook); get_timer, list_timers, cancel_timer and wait_for_timer follow up. Recurring schedules: create_schedule fires at a cron's wall times in an IANA time zone (\"every Monday 9:00 Paris time\": cron \"0 9 * * MON\", time_zone \"Europe/Paris\") or every interval; preview_schedule shows the next occurrences; list, get, pause, resume and delete_schedule manage them."
            })
        }
        "ping" => json!({}),
        "tools/list" => {
            let tools: Vec<Value> = tool_specs()
                .into_iter()
                .map(|t| json!({"name": t.name, "description": t.description, "inputSchema": t.parameters}))
                .collect();
            json!({ "tools": tools })
        }
        "tools/call" => {
            let name = params["name"].as_str().unwrap_or_default();
            // A tool's failure is a result the model can read, not a protocol error.
            match call_tool(client, name, &params["arguments"]).await {
                Ok(value) => json!({
                    "content": [{"type": "text", "text": value.to_string()}],
                    "structuredContent": value,
                    "isError": false
                }),
                Err(e) => json!({
                    "content": [{"type": "text", "text": format!("{}: {e}", e.code())}],
                    "isError": true
                }),
            }
        }
        _ => return Some(rpc_error(id, -32601, format!("method not found: {method}"))),
    };
    Some(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

/// A message or a batch; answers in the same shape, `None` if there is nothing to answer.
async fn handle_text(client: &Client, text: &str) -> Option<Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(batch)) => {
            let mut answers = Vec::new();
            for message in batch {
                answers.extend(handle(client, message).await);
            }
            (!answers.is_empty()).then_some(Value::Array(answers))
        }
        Ok(message) => handle(client, message).await,
        Err(e) => Some(rpc_error(Value::Null, -32700, format!("parse error: {e}"))),
    }
}

pub async fn run(args: McpArgs) -> anyhow::Result<()> {
    let client = args.connect.client().await?;
    match args.http {
        None => stdio(client).await,
        Some(addr) => http(client, addr).await,
    }
}

async fn stdio(client: Client) -> anyhow::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(answer) = handle_text(&client, &line).await {
            stdout.write_all(format!("{answer}\n").as_bytes()).await?;
            stdout.flush().await?;
        }
    }
    Ok(())
}

async fn post_mcp(State(client): State<Client>, headers: HeaderMap, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    let Some(answer) = handle_text(&client, &text).await else {
        return StatusCode::ACCEPTED.into_response();
    };
    let mut response = axum::Json(answer).into_response();
    // Keep the client's session if it sent one; the server holds no per-session state.
    let session = headers
        .get("mcp-session-id")
        .cloned()
        .or_else(|| HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).ok());
    if let Some(session) = session {
        response.headers_mut().insert("mcp-session-id", session);
    }
    response
}

async fn http(client: Client, addr: SocketAddr) -> anyhow::Result<()> {
    let app = Router::new()
        .route(
            "/mcp",
            post(post_mcp)
                .get(|| async { StatusCode::METHOD_NOT_ALLOWED })
                .delete(|| async { StatusCode::OK }),
        )
        .with_state(client);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    println!(
        "minoots mcp listening on http://{}/mcp",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
