//! An HTTP SMS gateway simulator: takes `POST /v1/messages` JSON
//! (`from`, `to`, `message`, `reference`), records it and answers
//! `{"id": "..."}`; can be switched to fail on purpose (an HTTP status, a
//! slow answer, or stopped altogether so connections are refused) and back,
//! and posts delivery reports back to the service. For tests and the
//! `pe-sms-sim` binary. `GET /control/messages` lists what it took and
//! `POST /control/mode` switches it over HTTP.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// One message the simulator took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedSms {
    /// The id it answered with.
    pub id: String,
    pub from: String,
    pub to: String,
    pub message: String,
    /// The service's outbox row id.
    pub reference: String,
}

/// How the simulator answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Mode {
    /// 200 with an id.
    Accept,
    /// This status (e.g. 503, 400) with `{"error": ...}`; 429 carries `Retry-After: 1`.
    Fail { status: u16 },
    /// Waits this long, then accepts.
    Slow { delay_ms: u64 },
}

#[derive(Debug)]
struct Inner {
    mode: Mode,
    token: Option<String>,
    received: Vec<ReceivedSms>,
    /// Requests answered with anything but 200.
    refused: u64,
    next_id: u64,
    /// Distinguishes ids across simulator runs.
    run: u32,
}

#[derive(Deserialize)]
struct Message {
    from: String,
    to: String,
    message: String,
    #[serde(default)]
    reference: String,
}

/// A running (or stopped) simulator on one address.
pub struct SmsGatewaySim {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    server: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl SmsGatewaySim {
    /// Starts on an ephemeral port of `ip`, accepting.
    pub async fn start(ip: IpAddr) -> std::io::Result<SmsGatewaySim> {
        SmsGatewaySim::start_on(SocketAddr::new(ip, 0)).await
    }

    /// Starts on `addr`, accepting.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<SmsGatewaySim> {
        let inner = Arc::new(Mutex::new(Inner {
            mode: Mode::Accept,
            token: None,
            received: Vec::new(),
            refused: 0,
            next_id: 1,
            run: rand::random(),
        }));
        let mut sim = SmsGatewaySim {
            addr,
            inner,
            server: None,
        };
        sim.serve().await?;
        Ok(sim)
    }

    async fn serve(&mut self) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(self.addr).await?;
        self.addr = listener.local_addr()?;
        let app = Router::new()
            .route("/v1/messages", post(take))
            .route("/control/messages", get(list))
            .route("/control/mode", post(switch))
            .with_state(self.inner.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        self.server = Some((stop, task));
        Ok(())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to put in `sms.toml`.
    pub fn url(&self) -> String {
        format!("http://{}/v1/messages", self.addr)
    }

    /// Answers 401 unless requests carry `Authorization: Bearer <token>`.
    pub fn require_token(&self, token: &str) {
        self.lock().token = Some(token.to_string());
    }

    pub fn set_mode(&self, mode: Mode) {
        self.lock().mode = mode;
    }

    /// The messages taken so far, in arrival order.
    pub fn received(&self) -> Vec<ReceivedSms> {
        self.lock().received.clone()
    }

    /// Requests answered with a failure so far.
    pub fn refused(&self) -> u64 {
        self.lock().refused
    }

    /// Stops listening: connections are refused until [`SmsGatewaySim::resume`].
    pub async fn stop(&mut self) {
        if let Some((stop, task)) = self.server.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
    }

    /// Listens again on the same address, keeping what it recorded.
    pub async fn resume(&mut self) -> std::io::Result<()> {
        if self.server.is_none() {
            self.serve().await?;
        }
        Ok(())
    }

    /// Posts a delivery report for `id` (`delivered`, `failed`, ...) to
    /// `url` with `token`; the HTTP status the service answered.
    pub async fn report(
        &self,
        url: &str,
        token: &str,
        id: &str,
        status: &str,
    ) -> Result<u16, reqwest::Error> {
        let r = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(&serde_json::json!({ "id": id, "status": status }))
            .send()
            .await?;
        Ok(r.status().as_u16())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Shared = Arc<Mutex<Inner>>;

fn lock(inner: &Shared) -> std::sync::MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

fn error(status: StatusCode, text: &str) -> (StatusCode, HeaderMap, Json<serde_json::Value>) {
    let mut headers = HeaderMap::new();
    if status == StatusCode::TOO_MANY_REQUESTS {
        headers.insert("retry-after", axum::http::HeaderValue::from_static("1"));
    }
    (status, headers, Json(serde_json::json!({ "error": text })))
}

async fn take(
    State(inner): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, HeaderMap, Json<serde_json::Value>) {
    let (mode, token) = {
        let i = lock(&inner);
        (i.mode, i.token.clone())
    };
    if let Mode::Slow { delay_ms } = mode {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    let refuse = |status: StatusCode, text: &str| {
        lock(&inner).refused += 1;
        error(status, text)
    };
    if let Some(token) = token {
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return refuse(StatusCode::UNAUTHORIZED, "bad token");
        }
    }
    if let Mode::Fail { status } = mode {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return refuse(status, "failing on purpose");
    }
    let Ok(m) = serde_json::from_slice::<Message>(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "expected JSON from, to, message");
    };
    let e164 = m.to.starts_with('+')
        && (9..=16).contains(&m.to.len())
        && m.to[1..].chars().all(|c| c.is_ascii_digit());
    if !e164 || m.message.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid recipient or empty message",
        );
    }
    let mut i = lock(&inner);
    let id = format!("sim-{:08x}-{}", i.run, i.next_id);
    i.next_id += 1;
    i.received.push(ReceivedSms {
        id: id.clone(),
        from: m.from,
        to: m.to,
        message: m.message,
        reference: m.reference,
    });
    (
        StatusCode::OK,
        HeaderMap::new(),
        Json(serde_json::json!({ "id": id })),
    )
}

async fn list(State(inner): State<Shared>) -> Json<Vec<ReceivedSms>> {
    Json(lock(&inner).received.clone())
}

async fn switch(State(inner): State<Shared>, Json(mode): Json<Mode>) -> StatusCode {
    lock(&inner).mode = mode;
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    async fn post(sim: &SmsGatewaySim, to: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(sim.url())
            .json(
                &serde_json::json!({"from": "1177", "to": to, "message": "hej", "reference": "r1"}),
            )
            .send()
            .await
            .expect("post")
    }

    #[tokio::test]
    async fn records_fails_on_purpose_and_refuses_connections_when_stopped() {
        let mut sim = SmsGatewaySim::start(IpAddr::V4(Ipv4Addr::LOCALHOST))
            .await
            .expect("start");
        let r = post(&sim, "+46701234567").await;
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["id"], sim.received()[0].id.as_str());
        assert_eq!(post(&sim, "0701234567").await.status(), 400);
        sim.set_mode(Mode::Fail { status: 503 });
        assert_eq!(post(&sim, "+46701234567").await.status(), 503);
        sim.set_mode(Mode::Fail { status: 429 });
        let r = post(&sim, "+46701234567").await;
        assert_eq!(r.headers()["retry-after"], "1");
        sim.stop().await;
        let refused = reqwest::Client::new().post(sim.url()).send().await;
        assert!(refused.is_err_and(|e| e.is_connect()));
        sim.resume().await.expect("resume");
        sim.set_mode(Mode::Accept);
        assert_eq!(post(&sim, "+46701234567").await.status(), 200);
        assert_eq!(sim.received().len(), 2);
        assert_eq!(sim.refused(), 3);
    }
}
