//! Cross-site request forgery defence for `/api/v1`, beside SameSite: a
//! state-changing request that a browser could send with the session cookie
//! must come from our own origin (the `Origin` header, else `Referer`) and,
//! when it has a body, say `Content-Type: application/json` (which no HTML
//! form and no "simple" cross-site fetch can send). Bearer-token requests
//! (client systems) carry no cookie authority and are left alone.
//! Every `/api/v1` answer also gets `Cache-Control: no-store`: case JSON
//! must not stay in a shared or browser cache.

use super::{ApiError, ApiState};
use axum::extract::{Request, State};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, REFERER,
    TRANSFER_ENCODING,
};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The middleware: checks, runs the handler, marks the answer uncacheable.
pub async fn guard(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let is_login = request.uri().path().ends_with("/login");
    if let Err(e) = check(
        request.method(),
        request.headers(),
        is_login,
        &state.guard.allowed_origins,
    ) {
        let mut response = e.into_response();
        no_store(&mut response);
        return response;
    }
    let mut response = next.run(request).await;
    no_store(&mut response);
    response
}

fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

/// Whether a request may go on; see the module docs. `is_login` checks the
/// origin of sign-ins too (login CSRF) when the browser names one.
pub fn check(
    method: &Method,
    headers: &HeaderMap,
    is_login: bool,
    allowed: &[String],
) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer "));
    if bearer {
        return Ok(());
    }
    let has_body = headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    if has_body && !is_json(headers) {
        return Err(ApiError::UnsupportedMediaType(
            "send the body as JSON with Content-Type: application/json".into(),
        ));
    }
    let cookie = super::auth::has_session_cookie(headers);
    match request_origin(headers) {
        Some(origin) if same_origin(&origin, headers) || allowed.contains(&origin) => Ok(()),
        Some(_) => Err(ApiError::Forbidden(
            "cross-site request refused: the Origin is not this service".into(),
        )),
        None if cookie && !is_login => Err(ApiError::Forbidden(
            "a signed-in change needs an Origin (or Referer) header of this service".into(),
        )),
        None => Ok(()),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// `scheme://host[:port]`, lower-cased, from `Origin` or else `Referer`.
fn request_origin(headers: &HeaderMap) -> Option<String> {
    if let Some(origin) = headers.get(ORIGIN) {
        // "null" (sandboxed frames, some redirects) is kept: it never matches.
        return Some(
            origin
                .to_str()
                .unwrap_or("null")
                .trim()
                .to_ascii_lowercase(),
        );
    }
    let referer = headers.get(REFERER)?.to_str().ok()?.trim();
    let (scheme, rest) = referer.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// Whether `origin`'s host and port are the `Host` the request was sent to.
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    authority.is_some_and(|a| a.eq_ignore_ascii_case(host.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    const COOKIE: (&str, &str) = ("cookie", "pe_session=ab");
    const HOST_: (&str, &str) = ("host", "127.0.0.1:8080");
    const JSON: [(&str, &str); 2] = [
        ("content-type", "application/json"),
        ("content-length", "2"),
    ];

    fn status(r: Result<(), ApiError>) -> u16 {
        r.err().map(|e| e.status().as_u16()).unwrap_or(200)
    }

    #[test]
    fn foreign_or_missing_origin_with_cookie_is_refused() {
        let post = Method::POST;
        let evil = headers(&[
            COOKIE,
            HOST_,
            ("origin", "http://evil.example"),
            JSON[0],
            JSON[1],
        ]);
        assert_eq!(status(check(&post, &evil, false, &[])), 403);
        let none = headers(&[COOKIE, HOST_]);
        assert_eq!(status(check(&post, &none, false, &[])), 403);
        let ours = headers(&[COOKIE, HOST_, ("origin", "http://127.0.0.1:8080")]);
        assert_eq!(status(check(&post, &ours, false, &[])), 200);
        let referer = headers(&[COOKIE, HOST_, ("referer", "http://127.0.0.1:8080/nurse?x")]);
        assert_eq!(status(check(&post, &referer, false, &[])), 200);
        let null = headers(&[COOKIE, HOST_, ("origin", "null")]);
        assert_eq!(status(check(&post, &null, false, &[])), 403);
        // GETs are not changes.
        assert_eq!(status(check(&Method::GET, &evil, false, &[])), 200);
    }

    #[test]
    fn configured_origins_are_allowed() {
        let proxied = headers(&[
            COOKIE,
            ("host", "10.0.0.5:8080"),
            ("origin", "https://1177.example"),
        ]);
        let allowed = vec!["https://1177.example".to_string()];
        assert_eq!(status(check(&Method::PUT, &proxied, false, &allowed)), 200);
        assert_eq!(status(check(&Method::PUT, &proxied, false, &[])), 403);
    }

    #[test]
    fn a_body_must_be_json() {
        let plain = headers(&[
            COOKIE,
            HOST_,
            ("origin", "http://127.0.0.1:8080"),
            ("content-type", "text/plain"),
            ("content-length", "2"),
        ]);
        assert_eq!(status(check(&Method::POST, &plain, false, &[])), 415);
        let json = headers(&[
            COOKIE,
            HOST_,
            ("origin", "http://127.0.0.1:8080"),
            JSON[0],
            JSON[1],
        ]);
        assert_eq!(status(check(&Method::POST, &json, false, &[])), 200);
        let charset = headers(&[
            COOKIE,
            HOST_,
            ("origin", "http://127.0.0.1:8080"),
            ("content-type", "application/json; charset=utf-8"),
            ("content-length", "2"),
        ]);
        assert_eq!(status(check(&Method::POST, &charset, false, &[])), 200);
    }

    #[test]
    fn bearer_clients_and_cookieless_sign_ins_pass() {
        let bearer = headers(&[
            ("authorization", "Bearer t"),
            ("origin", "http://evil.example"),
        ]);
        assert_eq!(status(check(&Method::POST, &bearer, false, &[])), 200);
        let login = headers(&[HOST_, JSON[0], JSON[1]]);
        assert_eq!(status(check(&Method::POST, &login, true, &[])), 200);
        let forged_login = headers(&[HOST_, ("origin", "http://evil.example"), JSON[0], JSON[1]]);
        assert_eq!(status(check(&Method::POST, &forged_login, true, &[])), 403);
    }
}
