//! The audit log as one hash chain: row `seq` carries the hash of row
//! `seq - 1` and its own hash, SHA-256 over that previous hash and its content.
//! Changing, removing or reordering a row breaks the chain from there on;
//! [`Store::verify_audit_chain`] recomputes it and names the first broken row.
//!
//! Appending goes through `append_audit!` inside the transaction of the change
//! it records: it first moves the one-row `audit_chain_head` forward (an
//! `UPDATE`, so SQLite's write lock or PostgreSQL's row lock is held until
//! commit), so concurrent writers on any node append one after the other.

use super::{with_backend, Result, Store, StoredRow};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The hash before the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Takes the chain's head (locking it until commit): the new row's seq and
/// the hash of the row before it.
pub(super) const ADVANCE_HEAD_SQL: &str =
    "UPDATE audit_chain_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash";
/// The head's hash once the row is in.
pub(super) const SET_HEAD_HASH_SQL: &str = "UPDATE audit_chain_head SET hash = $1 WHERE id = 1";

const HEAD_SQL: &str = "SELECT seq, hash FROM audit_chain_head WHERE id = 1";
const CHAIN_PAGE_SQL: &str =
    "SELECT id, seq, prev_hash, hash, at, actor, action, case_id, detail, ip \
     FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2";
const UNCHAINED_SQL: &str = "SELECT CAST(COUNT(*) AS BIGINT) AS n, \
     CAST(MAX(id) AS BIGINT) AS max_id FROM audit_log WHERE seq IS NULL";
const PAGE: i64 = 1000;

/// A row's content as stored, which its hash covers.
#[derive(Clone, Copy, Debug)]
pub struct ChainedContent<'a> {
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub case_id: Option<&'a str>,
    pub detail: &'a str,
    pub ip: Option<&'a str>,
}

/// The hash of row `seq` after `prev` with `content`. Each field is written
/// with its length, so no two different rows hash the same text.
pub fn chain_hash(prev: &str, seq: i64, content: &ChainedContent<'_>) -> String {
    let mut h = Sha256::new();
    let mut field = |value: Option<&str>| match value {
        Some(v) => h.update(format!("{}:{v};", v.len())),
        None => h.update("-;"),
    };
    let at = content.at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    field(Some(prev));
    field(Some(&seq.to_string()));
    field(Some(&at));
    field(Some(content.actor));
    field(Some(content.action));
    field(content.case_id);
    field(Some(content.detail));
    field(content.ip);
    hex::encode(h.finalize())
}

/// Inserts `$record` (an [`AuditRecord`](super::AuditRecord)) as the next
/// row of the chain, on the open transaction `$tx` (`$ts` encodes times for
/// the backend). Run it after the change's other writes: it holds the chain
/// head until commit, and every transaction takes row locks before the head.
macro_rules! append_audit {
    ($tx:expr, $ts:ident, $record:expr) => {{
        let record: &$crate::store::AuditRecord = $record;
        let at = $crate::store::storable("at", record.at)?;
        let (seq, prev): (i64, String) =
            sqlx::query_as($crate::store::audit_chain::ADVANCE_HEAD_SQL)
                .fetch_one(&mut *$tx)
                .await?;
        let case_id = record.case_id.map(|id| id.to_string());
        let hash = $crate::store::audit_chain::chain_hash(
            &prev,
            seq,
            &$crate::store::audit_chain::ChainedContent {
                at,
                actor: &record.actor,
                action: &record.action,
                case_id: case_id.as_deref(),
                detail: &record.detail,
                ip: record.ip.as_deref(),
            },
        );
        $crate::store::audit::insert_audit($ts(at), record, seq, &prev, &hash)
            .execute(&mut *$tx)
            .await?;
        sqlx::query($crate::store::audit_chain::SET_HEAD_HASH_SQL)
            .bind(&hash)
            .execute(&mut *$tx)
            .await?;
    }};
}
pub(crate) use append_audit;

/// What `audit verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainReport {
    /// Rows checked in the chain.
    pub chained: u64,
    /// Rows written before the chain existed (migration 0012), not covered.
    pub before_chain: u64,
    /// The first row that does not fit, if any.
    pub broken: Option<BrokenLink>,
}

/// The first place the chain does not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenLink {
    /// The row's `id` in `audit_log` (0 when a row is missing at the end).
    pub id: i64,
    /// Its place in the chain.
    pub seq: i64,
    pub reason: String,
}

impl std::fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row id {} (seq {}): {}", self.id, self.seq, self.reason)
    }
}

struct Link {
    id: i64,
    seq: i64,
    prev: Option<String>,
    hash: Option<String>,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    case_id: Option<String>,
    detail: String,
    ip: Option<String>,
}

fn read_link(row: &impl StoredRow) -> Result<Link> {
    Ok(Link {
        id: row.int("id")?,
        seq: row.int("seq")?,
        prev: row.opt_text("prev_hash")?,
        hash: row.opt_text("hash")?,
        at: row.time("at")?,
        actor: row.text("actor")?,
        action: row.text("action")?,
        case_id: row.opt_text("case_id")?,
        detail: row.text("detail")?,
        ip: row.opt_text("ip")?,
    })
}

/// Why `link` does not follow a row with hash `prev` at `expected_seq`.
fn check_link(link: &Link, expected_seq: i64, prev: &str) -> Option<String> {
    if link.seq != expected_seq {
        return Some(format!(
            "expected seq {expected_seq}: rows before it are missing"
        ));
    }
    if link.prev.as_deref() != Some(prev) {
        return Some("its previous-row hash does not match the row before it".into());
    }
    let content = ChainedContent {
        at: link.at,
        actor: &link.actor,
        action: &link.action,
        case_id: link.case_id.as_deref(),
        detail: &link.detail,
        ip: link.ip.as_deref(),
    };
    if link.hash.as_deref() != Some(chain_hash(prev, link.seq, &content).as_str()) {
        return Some("its content does not match its hash (changed after it was written)".into());
    }
    None
}

impl Store {
    /// Recomputes the audit chain from its first row and compares the end
    /// with the chain head; names the first row that does not fit. Read-only.
    pub async fn verify_audit_chain(&self) -> Result<ChainReport> {
        let (head_seq, head_hash): (i64, String) =
            with_backend!(self, |pool, _ts| sqlx::query_as(HEAD_SQL)
                .fetch_one(pool)
                .await?);
        let (before_chain, max_unchained): (i64, Option<i64>) =
            with_backend!(self, |pool, _ts| sqlx::query_as(UNCHAINED_SQL)
                .fetch_one(pool)
                .await?);
        let mut report = ChainReport {
            chained: 0,
            before_chain: u64::try_from(before_chain).unwrap_or(0),
            broken: None,
        };
        let (mut seq, mut prev) = (0_i64, GENESIS.to_string());
        loop {
            let page: Vec<Link> = with_backend!(self, |pool, _ts| {
                sqlx::query(CHAIN_PAGE_SQL)
                    .bind(seq)
                    .bind(PAGE)
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(read_link)
                    .collect::<Result<Vec<_>>>()?
            });
            if page.is_empty() {
                break;
            }
            for link in &page {
                if seq == 0 {
                    // Rows from before the chain must all come before it.
                    if let Some(max) = max_unchained.filter(|m| *m > link.id) {
                        report.broken = Some(BrokenLink {
                            id: max,
                            seq: 0,
                            reason: "a row after the chain began has no chain link".into(),
                        });
                        return Ok(report);
                    }
                }
                if let Some(reason) = check_link(link, seq + 1, &prev) {
                    report.broken = Some(BrokenLink {
                        id: link.id,
                        seq: link.seq,
                        reason,
                    });
                    return Ok(report);
                }
                report.chained += 1;
                seq = link.seq;
                prev = link.hash.clone().unwrap_or_default();
            }
        }
        if seq != head_seq || prev != head_hash {
            report.broken = Some(BrokenLink {
                id: 0,
                seq: seq + 1,
                reason: format!(
                    "the chain ends at seq {seq} but its head says {head_seq}: rows at the end are missing or the head was changed"
                ),
            });
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{on_both_backends, postgres_test_db, sqlite_test_db};
    use crate::store::AuditRecord;
    use chrono::TimeZone;

    on_both_backends!(
        concurrent_writers_make_one_valid_chain,
        an_edited_row_is_named_by_verify,
        audit_log_cannot_be_truncated_or_its_head_rewound,
    );

    fn record(i: usize) -> AuditRecord {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        AuditRecord::new(at, "anna", "case.read", None, format!("n={i}"), None)
    }

    async fn concurrent_writers_make_one_valid_chain(store: Store) {
        let tasks: Vec<_> = (0..24)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.audit(&record(i)).await })
            })
            .collect();
        for t in tasks {
            assert!(matches!(t.await, Ok(Ok(()))));
        }
        let report = store.verify_audit_chain().await.unwrap();
        assert_eq!(report.broken, None);
        assert_eq!(report.chained, 24);
    }

    /// Bypasses the append-only triggers as only the table's owner could.
    async fn tamper(store: &Store, sql: &str) {
        let (off, on) = match store.backend_name() {
            "sqlite" => (
                "DROP TRIGGER audit_log_no_update".to_string(),
                "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log \
                 BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
                    .to_string(),
            ),
            _ => (
                "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change".to_string(),
                "ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change".to_string(),
            ),
        };
        store.execute_raw(&off).await.unwrap();
        store.execute_raw(sql).await.unwrap();
        store.execute_raw(&on).await.unwrap();
    }

    async fn an_edited_row_is_named_by_verify(store: Store) {
        for i in 0..5 {
            store.audit(&record(i)).await.unwrap();
        }
        tamper(&store, "UPDATE audit_log SET detail = 'n=9' WHERE seq = 3").await;
        let report = store.verify_audit_chain().await.unwrap();
        let broken = report.broken.unwrap();
        assert_eq!((broken.seq, report.chained), (3, 2), "{broken}");
        assert!(broken.reason.contains("content"), "{broken}");
    }

    async fn audit_log_cannot_be_truncated_or_its_head_rewound(store: Store) {
        store.audit(&record(0)).await.unwrap();
        assert!(store.execute_raw("TRUNCATE audit_log").await.is_err());
        assert!(store.execute_raw("DELETE FROM audit_log").await.is_err());
        let rewind = "UPDATE audit_chain_head SET seq = 0";
        assert!(store.execute_raw(rewind).await.is_err());
        assert!(store
            .execute_raw("DELETE FROM audit_chain_head")
            .await
            .is_err());
        assert_eq!(store.verify_audit_chain().await.unwrap().chained, 1);
    }

    fn content(detail: &str) -> ChainedContent<'_> {
        ChainedContent {
            at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            actor: "anna",
            action: "case.read",
            case_id: None,
            detail,
            ip: Some("127.0.0.1"),
        }
    }

    #[test]
    fn hash_covers_every_field_and_the_previous_hash() {
        let base = chain_hash(GENESIS, 1, &content("a"));
        assert_eq!(base.len(), 64);
        assert_ne!(base, chain_hash(GENESIS, 1, &content("b")));
        assert_ne!(base, chain_hash(GENESIS, 2, &content("a")));
        assert_ne!(base, chain_hash(&base, 1, &content("a")));
        let mut moved = content("a");
        moved.ip = None;
        assert_ne!(base, chain_hash(GENESIS, 1, &moved));
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        let mut a = content("x");
        a.actor = "ab";
        a.action = "c";
        let mut b = content("x");
        b.actor = "a";
        b.action = "bc";
        assert_ne!(chain_hash(GENESIS, 1, &a), chain_hash(GENESIS, 1, &b));
    }
}
