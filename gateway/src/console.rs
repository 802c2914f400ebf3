//! The web console at `/ui`: the page, script and stylesheet built from `console/` (TypeScript,
//! connect-web) and embedded here, so the binary serves it without Node or files on disk. The
//! console is only a client: it calls the same gRPC-web and REST routes, with the user's API key,
//! as any other client, so these routes need no key themselves.
//!
//! Every answer carries a strict Content-Security-Policy: scripts and styles only from this
//! origin (no inline ones), calls only to this origin, no framing.

use axum::{
    Router,
    extract::Path,
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

/// The bundle `npm run build` in `console/` writes; `npm run check` fails when it is stale.
const INDEX: &str = include_str!("../assets/console/index.html");
const SCRIPT: &str = include_str!("../assets/console/console.js");
const STYLE: &str = include_str!("../assets/console/console.css");

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

pub fn router() -> Router {
    Router::new()
        .route("/ui", get(|| async { asset("index.html") }))
        .route("/ui/", get(|| async { asset("index.html") }))
        .route(
            "/ui/{file}",
            get(|Path(file): Path<String>| async move { asset(&file) }),
        )
}

fn asset(file: &str) -> Response {
    let (body, content_type) = match file {
        "index.html" => (INDEX, "text/html; charset=utf-8"),
        "console.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "console.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return with_policy((StatusCode::NOT_FOUND, "not found").into_response()),
    };
    with_policy(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

fn with_policy(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // A new binary may embed a new bundle: revalidate rather than run a stale script.
        (header::CACHE_CONTROL, "no-cache"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
