//! The staff pages: static HTML, JS and CSS compiled into the binary (no build
//! step, no CDN). They call the JSON API; the API does all the checking.

use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// Scripts and styles only from this origin; no inline code, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; media-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

macro_rules! page {
    ($ct:literal, $file:literal) => {
        get(|| async { asset($ct, include_str!(concat!("web/", $file))) })
    };
}

/// `/`, `/login`, `/nurse`, `/supervisor`, `/supervisor/reports` and `/web/*` (state-free).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/nurse") }))
        .route("/login", page!("text/html; charset=utf-8", "login.html"))
        .route("/nurse", page!("text/html; charset=utf-8", "nurse.html"))
        .route(
            "/supervisor",
            page!("text/html; charset=utf-8", "supervisor.html"),
        )
        .route(
            "/supervisor/reports",
            page!("text/html; charset=utf-8", "reports.html"),
        )
        .route(
            "/web/reports.js",
            page!("text/javascript; charset=utf-8", "reports.js"),
        )
        // Chart.js 4 (MIT, licence header kept), vendored: no CDN.
        .route(
            "/web/vendor/chart.umd.min.js",
            page!("text/javascript; charset=utf-8", "vendor/chart.umd.min.js"),
        )
        .route("/web/app.css", page!("text/css; charset=utf-8", "app.css"))
        .route(
            "/web/common.js",
            page!("text/javascript; charset=utf-8", "common.js"),
        )
        .route(
            "/web/login.js",
            page!("text/javascript; charset=utf-8", "login.js"),
        )
        .route(
            "/web/nurse.js",
            page!("text/javascript; charset=utf-8", "nurse.js"),
        )
        .route(
            "/web/supervisor.js",
            page!("text/javascript; charset=utf-8", "supervisor.js"),
        )
}
