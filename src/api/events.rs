//! `GET /api/v1/events`: Server-Sent Events for the worklist. Event `queue`
//! with `{"version": n}` at connect and whenever any case changes on any node
//! (PostgreSQL LISTEN/NOTIFY, SQLite change counters; see `store::notify`).

use super::auth::Staff;
use super::{ApiError, ApiState};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{self, Stream};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

fn queue_event(version: u64) -> Event {
    Event::default()
        .event("queue")
        .data(serde_json::json!({ "version": version }).to_string())
}

/// The stream: the current version first, then every change. A client that
/// falls behind gets the latest version (it reloads the list anyway).
#[utoipa::path(get, path = "/api/v1/events", tag = "cases", security(("session" = [])),
    responses((status = 200, content_type = "text/event-stream",
               description = "event `queue` with data {\"version\": n} on every case change on any node"),
              (status = 401, description = "not signed in")))]
pub async fn events(
    State(state): State<ApiState>,
    _staff: Staff,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let rx = state.live.subscribe();
    let first = state.live.queue_version();
    let live = state.live.clone();
    let rest = stream::unfold((rx, live), |(mut rx, live)| async move {
        let v = match rx.recv().await {
            Ok(v) => v,
            Err(RecvError::Lagged(_)) => live.queue_version(),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(queue_event(v)), (rx, live)))
    });
    let closing = state.live.closing();
    let all = futures::StreamExt::chain(stream::once(async move { Ok(queue_event(first)) }), rest);
    let all = futures::StreamExt::take_until(all, closing.cancelled_owned());
    Ok(Sse::new(all).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
