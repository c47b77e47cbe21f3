//! The SMS outbox: every SMS is a row before it is sent, written in the same
//! transaction as what caused it (a case with consent, a failed callback
//! attempt), so a gateway outage or a crash loses nothing. The dispatcher
//! (`crate::sms`) claims rows with a lease, per recipient strictly in creation
//! order (a later SMS to a number never overtakes an earlier one), and records
//! what the gateway said. The body is rendered here, through the
//! [`SmsTexts`] the service sets once ([`Store::with_sms`]); without it (no
//! `sms.toml`) nothing is queued. Nothing here logs a number or a body.

use super::{storable, with_backend, DialectRow, Result, Store, StoreError, StoredRow};
use crate::case::{text_enum, Answer, CaseMode, CaseRecord, CaseStatus, UnknownValue};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use uuid::Uuid;

/// The question id under which a resident's SMS consent is kept with the
/// answers (value `yes` or `no`), by the IVR and the digital intake alike.
pub const SMS_CONSENT: &str = "sms_consent";

/// Longest link a self-care SMS takes.
pub const MAX_LINK_CHARS: usize = 200;

text_enum!(
    /// What an SMS is for; each has its template per language in `sms.toml`.
    SmsKind, "sms kind" {
        /// A callback was booked: when we expect to call.
        CallbackConfirmation => "callback_confirmation",
        /// A callback attempt found nobody.
        CallbackMissed => "callback_missed",
        /// Self-care advice, with its 1177.se link.
        SelfCareAdvice => "self_care_advice",
    }
);

text_enum!(
    /// Where an outbox row is.
    SmsStatus, "sms status" {
        /// Waiting for its turn (or for the gateway to come back).
        Queued => "queued",
        /// A node is sending it (under a lease).
        Sending => "sending",
        /// The gateway took it.
        Sent => "sent",
        /// The gateway reported it delivered to the phone.
        Delivered => "delivered",
        /// Refused, undeliverable, or given up on.
        Failed => "failed",
    }
);

/// What a template may say beside its fixed text.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmsFacts<'a> {
    /// The booked or estimated callback time.
    pub callback_at: Option<DateTime<Utc>>,
    /// The self-care advice page.
    pub link: Option<&'a str>,
}

/// Renders SMS bodies (the templates of `sms.toml` in the local time zone).
pub trait SmsTexts: Send + Sync {
    /// The body of a `kind` SMS in `language`, or `None` when a fact the
    /// template needs is missing.
    fn body(&self, kind: SmsKind, language: &str, facts: &SmsFacts<'_>) -> Option<String>;
    /// The 1177.se link of self-care route `route` (triage.toml), if any.
    fn advice_link(&self, _route: &str) -> Option<&str> {
        None
    }
}

/// An SMS to queue. Not `Debug` with its number or body.
#[derive(Clone, PartialEq, Eq)]
pub struct NewSms {
    pub id: Uuid,
    pub case_id: Uuid,
    pub kind: SmsKind,
    /// One SMS per case and key (`confirmation`, `missed:<attempt>`, `self_care`).
    pub dedup_key: String,
    /// E.164.
    pub to_number: String,
    pub language: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for NewSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSms")
            .field("id", &self.id)
            .field("case_id", &self.case_id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A row claimed for sending. Not `Debug` with its number or body.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingSms {
    pub id: Uuid,
    /// Creation order.
    pub seq: i64,
    pub case_id: Uuid,
    pub kind: SmsKind,
    pub to_number: String,
    pub language: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    /// Sends tried, this one included.
    pub attempts: u32,
}

impl fmt::Debug for OutgoingSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingSms")
            .field("id", &self.id)
            .field("seq", &self.seq)
            .field("kind", &self.kind)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// An SMS as the nurse's page lists it: no number, no body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsSummary {
    pub id: Uuid,
    pub kind: SmsKind,
    pub status: SmsStatus,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Why it failed or is being retried (no personal data).
    pub last_error: Option<String>,
}

/// What a delivery report changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportResult {
    /// The row is now delivered (or failed).
    Updated,
    /// Known, already final: a repeated report.
    AlreadyFinal,
    /// No row has this gateway id.
    Unknown,
}

/// Whether the answers say yes to SMS (the last `sms_consent` answer counts).
pub fn has_sms_consent(answers: &[Answer]) -> bool {
    answers
        .iter()
        .rev()
        .find(|a| a.question_id == SMS_CONSENT)
        .is_some_and(|a| a.value == "yes")
}

/// A link a self-care SMS may carry: https, printable, short.
pub fn valid_link(link: &str) -> bool {
    link.starts_with("https://")
        && link.len() > "https://".len()
        && link.chars().count() <= MAX_LINK_CHARS
        && !link.chars().any(|c| c.is_whitespace() || c.is_control())
}

pub(crate) const INSERT_SMS_SQL: &str = "INSERT INTO sms_outbox (id, case_id, kind, dedup_key, \
     to_number, language, body, created_at, status, attempts, next_attempt_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', 0, $8) \
     ON CONFLICT (case_id, dedup_key) DO NOTHING";

/// The next row of each number that is due and not leased, oldest first.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE sms_outbox SET status = 'sending', lease_until = $2, attempts = attempts + 1 \
             WHERE seq IN (SELECT o.seq FROM sms_outbox o \
               WHERE o.status IN ('queued', 'sending') AND o.next_attempt_at <= $1 \
               AND (o.status = 'queued' OR o.lease_until IS NULL OR o.lease_until < $1) \
               AND NOT EXISTS (SELECT 1 FROM sms_outbox e WHERE e.to_number = o.to_number \
                    AND e.status IN ('queued', 'sending') AND e.seq < o.seq) \
               ORDER BY o.seq LIMIT $3",
            $lock,
            ") RETURNING id, seq, case_id, kind, to_number, language, body, created_at, \
             CAST(attempts AS BIGINT) AS attempts"
        )
    };
}

const SENT_SQL: &str = "UPDATE sms_outbox SET status = 'sent', gateway_message_id = $2, \
     sent_at = $3, lease_until = NULL, last_error = NULL WHERE id = $1 AND status = 'sending'";

const RETRY_SQL: &str = "UPDATE sms_outbox SET status = 'queued', next_attempt_at = $2, \
     last_error = $3, lease_until = NULL WHERE id = $1 AND status = 'sending'";

const FAILED_SQL: &str = "UPDATE sms_outbox SET status = 'failed', last_error = $2, \
     lease_until = NULL WHERE id = $1 AND status = 'sending'";

const DELIVERED_SQL: &str = "UPDATE sms_outbox SET status = 'delivered', delivered_at = $2 \
     WHERE gateway_message_id = $1 AND status = 'sent'";

const UNDELIVERED_SQL: &str = "UPDATE sms_outbox SET status = 'failed', last_error = $2 \
     WHERE gateway_message_id = $1 AND status = 'sent'";

const KNOWN_SQL: &str = "SELECT COUNT(*) FROM sms_outbox WHERE gateway_message_id = $1";

const BACKLOG_SQL: &str = "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM sms_outbox \
     WHERE status IN ('queued', 'sending')";

const FOR_CASE_SQL: &str = "SELECT id, kind, status, created_at, \
     CAST(attempts AS BIGINT) AS attempts, sent_at, delivered_at, last_error \
     FROM sms_outbox WHERE case_id = $1 ORDER BY seq";

/// Retention: the number and the text go; a row still pending is given up.
pub(crate) const REDACT_SMS_SQL: &str = "UPDATE sms_outbox SET to_number = '', body = '', \
     last_error = CASE WHEN status IN ('queued', 'sending') THEN 'redacted before sending' \
                       ELSE last_error END, \
     status = CASE WHEN status IN ('queued', 'sending') THEN 'failed' ELSE status END \
     WHERE case_id = $1";

/// Inserts a [`NewSms`] in the open transaction `$tx` (skipped when the case
/// already has one under its key).
macro_rules! enqueue_sms {
    ($tx:expr, $ts:ident, $sms:expr) => {{
        let sms: &$crate::store::sms::NewSms = $sms;
        sqlx::query($crate::store::sms::INSERT_SMS_SQL)
            .bind(sms.id.to_string())
            .bind(sms.case_id.to_string())
            .bind(sms.kind.as_str())
            .bind(&sms.dedup_key)
            .bind(&sms.to_number)
            .bind(&sms.language)
            .bind(&sms.body)
            .bind($ts(sms.created_at))
            .execute(&mut *$tx)
            .await?
            .rows_affected()
            > 0
    }};
}
pub(crate) use enqueue_sms;

impl Store {
    /// The same database, queuing SMS rendered by `texts` (`sms.toml`; set
    /// once at start-up). Without it no SMS is ever queued.
    pub fn with_sms(mut self, texts: Arc<dyn SmsTexts>) -> Store {
        self.sms = Some(texts);
        self
    }

    /// Whether SMS are configured.
    pub fn sms_enabled(&self) -> bool {
        self.sms.is_some()
    }

    /// The `kind` SMS for `case` under `dedup_key`, when SMS are configured,
    /// the resident consented (answer `sms_consent` = `yes`), the case has a
    /// number and the template has its facts; `None` otherwise. Pure: queue
    /// it with `enqueue_sms!` in a transaction, or [`Store::enqueue_sms`].
    pub fn sms_for(
        &self,
        case: &CaseRecord,
        kind: SmsKind,
        dedup_key: &str,
        facts: &SmsFacts<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<NewSms>> {
        let Some(texts) = &self.sms else {
            return Ok(None);
        };
        let Some(number) = case.callback_number.as_ref() else {
            return Ok(None);
        };
        if !has_sms_consent(&case.answers) {
            return Ok(None);
        }
        let language = if case.language == "en" { "en" } else { "sv" };
        let Some(body) = texts.body(kind, language, facts) else {
            return Ok(None);
        };
        Ok(Some(NewSms {
            id: Uuid::new_v4(),
            case_id: case.id,
            kind,
            dedup_key: dedup_key.to_string(),
            to_number: number.clone(),
            language: language.to_string(),
            body,
            created_at: storable("created_at", now)?,
        }))
    }

    /// The confirmation of a newly registered callback (with its estimated
    /// time), if it gets one: a waiting callback with consent.
    pub(super) fn confirmation_for(&self, case: &CaseRecord) -> Result<Option<NewSms>> {
        if case.mode != CaseMode::Callback || case.status != CaseStatus::Waiting {
            return Ok(None);
        }
        let facts = SmsFacts {
            callback_at: case.estimated_callback_at,
            link: None,
        };
        self.sms_for(
            case,
            SmsKind::CallbackConfirmation,
            "confirmation",
            &facts,
            case.registered_at,
        )
    }

    /// What a new case queues in its own transaction (the caller's consent
    /// given): the self-care advice's link when the IVR gave advice, then
    /// the callback confirmation.
    pub(super) fn sms_on_insert(&self, case: &CaseRecord) -> Result<Vec<NewSms>> {
        let mut out = Vec::new();
        out.extend(self.self_care_advice_for(case)?);
        out.extend(self.confirmation_for(case)?);
        Ok(out)
    }

    fn self_care_advice_for(&self, case: &CaseRecord) -> Result<Option<NewSms>> {
        let Some(texts) = &self.sms else {
            return Ok(None);
        };
        let route = case
            .answers
            .iter()
            .find(|a| a.question_id == crate::ivr::flow::SELF_CARE_ADVICE);
        let Some(link) = route.and_then(|r| texts.advice_link(&r.value)) else {
            return Ok(None);
        };
        if !valid_link(link) {
            return Ok(None);
        }
        let facts = SmsFacts {
            callback_at: None,
            link: Some(link),
        };
        self.sms_for(
            case,
            SmsKind::SelfCareAdvice,
            "self_care",
            &facts,
            case.registered_at,
        )
    }

    /// Queues one SMS on its own; whether it was new (not already queued
    /// for its case and key).
    pub async fn enqueue_sms(&self, sms: &NewSms) -> Result<bool> {
        let inserted = with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            let inserted = enqueue_sms!(tx, ts, sms);
            tx.commit().await?;
            inserted
        });
        Ok(inserted)
    }

    /// Queues the self-care advice SMS with `link` for case `id`, if the
    /// resident consented and SMS are configured; whether one was queued
    /// (once per case). `SmsLink` for a link that is not a short https URL.
    pub async fn enqueue_self_care_advice(
        &self,
        id: Uuid,
        link: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        if !valid_link(link) {
            return Err(StoreError::SmsLink);
        }
        let case = self.get_case(id).await?.ok_or(StoreError::NotFound(id))?;
        let facts = SmsFacts {
            callback_at: None,
            link: Some(link),
        };
        match self.sms_for(&case, SmsKind::SelfCareAdvice, "self_care", &facts, now)? {
            Some(sms) => self.enqueue_sms(&sms).await,
            None => Ok(false),
        }
    }

    /// Claims up to `limit` due rows for sending until `lease_until`: per
    /// number only the oldest unsent row, so numbers are served strictly in
    /// creation order; a row another node holds under a live lease is left
    /// alone (PostgreSQL: `FOR UPDATE SKIP LOCKED`). Oldest first.
    pub async fn claim_sms(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutgoingSms>> {
        let now = storable("now", now)?;
        let lease_until = storable("lease_until", lease_until)?;
        let sql = self.sql(claim_sql!(""), claim_sql!(" FOR UPDATE SKIP LOCKED"));
        let mut rows = with_backend!(self, |pool, ts| {
            let rows = sqlx::query(sql)
                .bind(ts(now))
                .bind(ts(lease_until))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
            rows.iter().map(read_outgoing).collect::<Result<Vec<_>>>()?
        });
        rows.sort_by_key(|r| r.seq);
        Ok(rows)
    }

    /// The gateway took row `id` as `gateway_id`.
    pub async fn sms_sent(&self, id: Uuid, gateway_id: &str, now: DateTime<Utc>) -> Result<()> {
        let now = storable("now", now)?;
        with_backend!(self, |pool, ts| {
            sqlx::query(SENT_SQL)
                .bind(id.to_string())
                .bind(gateway_id)
                .bind(ts(now))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Row `id` goes back to the queue until `next_attempt_at`; `reason`
    /// holds no personal data.
    pub async fn sms_retry(
        &self,
        id: Uuid,
        next_attempt_at: DateTime<Utc>,
        reason: &str,
    ) -> Result<()> {
        let next = storable("next_attempt_at", next_attempt_at)?;
        with_backend!(self, |pool, ts| {
            sqlx::query(RETRY_SQL)
                .bind(id.to_string())
                .bind(ts(next))
                .bind(reason)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Row `id` failed for good; `reason` holds no personal data.
    pub async fn sms_failed(&self, id: Uuid, reason: &str) -> Result<()> {
        with_backend!(self, |pool, _ts| {
            sqlx::query(FAILED_SQL)
                .bind(id.to_string())
                .bind(reason)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// A delivery report for the gateway's `gateway_id`: delivered, or
    /// failed with `reason` (no personal data).
    pub async fn sms_delivery_report(
        &self,
        gateway_id: &str,
        delivered: Option<DateTime<Utc>>,
        reason: &str,
    ) -> Result<ReportResult> {
        let at = delivered.map(|t| storable("delivered_at", t)).transpose()?;
        let (changed, known) = with_backend!(self, |pool, ts| {
            let changed = match at {
                Some(at) => sqlx::query(DELIVERED_SQL)
                    .bind(gateway_id)
                    .bind(ts(at))
                    .execute(pool)
                    .await?
                    .rows_affected(),
                None => sqlx::query(UNDELIVERED_SQL)
                    .bind(gateway_id)
                    .bind(reason)
                    .execute(pool)
                    .await?
                    .rows_affected(),
            };
            let known: i64 = if changed > 0 {
                1
            } else {
                sqlx::query_scalar(KNOWN_SQL)
                    .bind(gateway_id)
                    .fetch_one(pool)
                    .await?
            };
            (changed, known)
        });
        Ok(match (changed, known) {
            (n, _) if n > 0 => ReportResult::Updated,
            (_, k) if k > 0 => ReportResult::AlreadyFinal,
            _ => ReportResult::Unknown,
        })
    }

    /// Rows not yet sent, and when the oldest of them was created.
    pub async fn sms_backlog(&self) -> Result<(u64, Option<DateTime<Utc>>)> {
        with_backend!(self, |pool, _ts| {
            let row = sqlx::query(BACKLOG_SQL).fetch_one(pool).await?;
            let n = u64::try_from(row.int("n")?).unwrap_or(0);
            Ok((n, row.opt_time("oldest")?))
        })
    }

    /// The SMS of case `id`, oldest first (no numbers, no bodies).
    pub async fn sms_for_case(&self, id: Uuid) -> Result<Vec<SmsSummary>> {
        let text_id = id.to_string();
        with_backend!(self, |pool, _ts| {
            let rows = sqlx::query(FOR_CASE_SQL)
                .bind(&text_id)
                .fetch_all(pool)
                .await?;
            rows.iter().map(read_summary).collect()
        })
    }
}

/// Reads a claimed row, checking every value.
fn read_outgoing(row: &impl StoredRow) -> Result<OutgoingSms> {
    row.by_id(|row| {
        Ok(OutgoingSms {
            id: row.parsed("id")?,
            seq: row.int("seq")?,
            case_id: row.parsed("case_id")?,
            kind: row.parsed("kind")?,
            to_number: row.text("to_number")?,
            language: row.text("language")?,
            body: row.text("body")?,
            created_at: row.time("created_at")?,
            attempts: row.int_as("attempts")?,
        })
    })
}

fn read_summary(row: &impl StoredRow) -> Result<SmsSummary> {
    row.by_id(|row| {
        Ok(SmsSummary {
            id: row.parsed("id")?,
            kind: row.parsed("kind")?,
            status: row.parsed("status")?,
            created_at: row.time("created_at")?,
            attempts: row.int_as("attempts")?,
            sent_at: row.opt_time("sent_at")?,
            delivered_at: row.opt_time("delivered_at")?,
            last_error: row.opt_text("last_error")?,
        })
    })
}

#[cfg(test)]
mod tests;
