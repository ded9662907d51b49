//! The console: one static page, its style and its script modules
//! (overview, jobs, findings, fix on demand, rules, audit), embedded in
//! the binary, that work through the HTTP API with the token the person
//! enters. The files hold no data, so they are served without a token;
//! every call the page makes needs one. A strict content security policy
//! lets the page run only its own scripts and talk only to this origin.

use axum::extract::Path;
use axum::http::header;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::Api;

const INDEX: &str = include_str!("console/index.html");
const STYLE: &str = include_str!("console/console.css");
/// The script modules, by file name.
const MODULES: &[(&str, &str)] = &[
    ("console.js", include_str!("console/console.js")),
    ("dom.js", include_str!("console/dom.js")),
    ("jobs.js", include_str!("console/jobs.js")),
    ("findings.js", include_str!("console/findings.js")),
    ("overview.js", include_str!("console/overview.js")),
    ("fix.js", include_str!("console/fix.js")),
    ("rules.js", include_str!("console/rules.js")),
    ("audit.js", include_str!("console/audit.js")),
];

const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub(crate) fn routes() -> Router<Api> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/console/console.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route("/console/{file}", get(module))
}

async fn module(Path(file): Path<String>) -> Response {
    match MODULES.iter().find(|(name, _)| *name == file) {
        Some((_, body)) => asset("text/javascript; charset=utf-8", body),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
