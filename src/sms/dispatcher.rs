//! The dispatcher: a task beside the call loop (it never blocks a call) that
//! claims due outbox rows under a lease, sends them through the gateway and
//! records the verdict. Every node may run one: the claim gives each row to
//! one node at a time, and per number only the oldest unsent row, so SMS to
//! one number go out strictly in creation order. While the gateway fails the
//! dispatcher pauses with backoff ([`GatewayHealth`]) and the rows wait.

use super::gateway::HttpGateway;
use super::policy::{verdict, GatewayHealth, SendResult, Verdict};
use super::{SmsMetrics, SmsSettings};
use crate::store::sms::OutgoingSms;
use crate::store::Store;
use chrono::{TimeDelta, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rows claimed (and sent concurrently) per round.
const BATCH: u32 = 16;

/// Starts the dispatcher; it runs until `stop`.
pub fn start(
    store: Store,
    settings: &SmsSettings,
    metrics: Arc<SmsMetrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, reqwest::Error> {
    let gateway = HttpGateway::new(settings)?;
    let policy = settings.retry;
    let poll = settings.poll;
    // A node that dies mid-send leaves its rows to others after this.
    let lease = TimeDelta::from_std(settings.timeout * 2 + Duration::from_secs(5))
        .unwrap_or(TimeDelta::seconds(60));
    Ok(tokio::spawn(async move {
        let mut health = GatewayHealth::default();
        loop {
            refresh_backlog(&store, &metrics).await;
            let mut wait = health.wait(Instant::now());
            if wait.is_zero() {
                let now = Utc::now();
                wait = match store.claim_sms(now, now + lease, BATCH).await {
                    Ok(rows) if rows.is_empty() => poll,
                    Ok(rows) => {
                        send_all(&store, &gateway, &policy, &metrics, &mut health, rows).await;
                        Duration::ZERO
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "SMS outbox not read");
                        poll
                    }
                };
            }
            if *stop.borrow() {
                return;
            }
            if !wait.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        }
    }))
}

/// Sends a claimed batch (distinct numbers) at once and records each verdict.
async fn send_all(
    store: &Store,
    gateway: &HttpGateway,
    policy: &super::policy::RetryPolicy,
    metrics: &SmsMetrics,
    health: &mut GatewayHealth,
    rows: Vec<OutgoingSms>,
) {
    let results = futures::future::join_all(rows.iter().map(|row| gateway.send(row))).await;
    let mut failure: Option<Option<Duration>> = None;
    let mut any_sent = false;
    for (row, result) in rows.iter().zip(results) {
        if let SendResult::Transient { retry_after, .. } = &result {
            metrics.gateway_errors.inc();
            failure = Some(failure.flatten().max(*retry_after));
        }
        let now = Utc::now();
        let outcome = match verdict(policy, row.attempts, row.created_at, result, now) {
            Verdict::Sent { gateway_id } => {
                any_sent = true;
                metrics.sent.inc();
                store
                    .sms_sent(row.id, gateway_id.as_deref().unwrap_or(""), now)
                    .await
            }
            Verdict::RetryAt { at, reason } => store.sms_retry(row.id, at, &reason).await,
            Verdict::Failed { reason } => {
                metrics.failed.inc();
                tracing::warn!(sms_id = %row.id, case_id = %row.case_id, kind = %row.kind, %reason, "SMS failed");
                store.sms_failed(row.id, &reason).await
            }
        };
        if let Err(e) = outcome {
            // The lease runs out and the row is tried again.
            tracing::warn!(sms_id = %row.id, error = %e, "SMS outcome not stored");
        }
    }
    let was_failing = health.failing();
    match failure {
        Some(retry_after) => {
            let until = health.failed(policy, Instant::now(), retry_after);
            let pause_ms = until.saturating_duration_since(Instant::now()).as_millis() as u64;
            // Once per outage at warn level; each further pause at debug.
            if was_failing {
                tracing::debug!(pause_ms, "SMS gateway still failing: pausing");
            } else {
                tracing::warn!(pause_ms, "SMS gateway failing: SMS wait in the outbox");
            }
        }
        None if any_sent => {
            if was_failing {
                tracing::info!("SMS gateway answers again");
            }
            health.succeeded();
        }
        None => {}
    }
}

/// Sets the queued count and the oldest queued age on `/metrics`.
async fn refresh_backlog(store: &Store, metrics: &SmsMetrics) {
    match store.sms_backlog().await {
        Ok((n, oldest)) => {
            metrics.queued.set(i64::try_from(n).unwrap_or(i64::MAX));
            let age = oldest
                .map(|t| (Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0)
                .unwrap_or(0.0);
            metrics.oldest_queued_age.set(age);
        }
        Err(e) => tracing::warn!(error = %e, "SMS backlog not read"),
    }
}
