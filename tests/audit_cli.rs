//! `phone-entrance audit verify` against a real database: intact after
//! concurrent writers, and naming the row an owner edited behind the
//! triggers' back. SQLite and PostgreSQL.

mod common;

use common::node::binary;
use common::postgres::{drop_postgres_database, postgres_database};
use phone_entrance::store::{AuditRecord, Store};
use std::process::Command;

fn verify(url: &str) -> (bool, String) {
    let out = Command::new(binary())
        .args(["audit", "verify", "--database-url", url])
        .env("RUST_LOG", "warn")
        .output()
        .expect("phone-entrance runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn audit_verify_names_the_edited_row(url: &str) {
    let store = Store::connect(url).await.expect("store");
    let writers: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let r = AuditRecord::new(
                    chrono::Utc::now(),
                    "anna",
                    "case.read",
                    None,
                    format!("n={i}"),
                    Some("127.0.0.1".into()),
                );
                store.audit(&r).await
            })
        })
        .collect();
    for w in writers {
        assert!(matches!(w.await, Ok(Ok(()))));
    }
    let (ok, text) = verify(url);
    assert!(ok, "{text}");
    assert!(text.contains("10 rows verified"), "{text}");

    // The table's owner switches the append-only trigger off and edits row 4.
    let edit = "UPDATE audit_log SET actor = 'mallory' WHERE seq = 4";
    let (id,): (i64,) = if url.starts_with("postgres") {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(url).await.expect("pg");
        for sql in [
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change",
            edit,
            "ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change",
        ] {
            sqlx::query(sql).execute(&mut c).await.expect(sql);
        }
        sqlx::query_as("SELECT id FROM audit_log WHERE seq = 4")
            .fetch_one(&mut c)
            .await
            .expect("id")
    } else {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(url).await.expect("sqlite");
        for sql in ["DROP TRIGGER audit_log_no_update", edit] {
            sqlx::query(sql).execute(&mut c).await.expect(sql);
        }
        sqlx::query_as("SELECT id FROM audit_log WHERE seq = 4")
            .fetch_one(&mut c)
            .await
            .expect("id")
    };
    let (ok, text) = verify(url);
    assert!(!ok, "verify must fail: {text}");
    assert!(
        text.contains(&format!("row id {id} (seq 4)")),
        "names the row: {text}"
    );
    store.close().await;
}

#[tokio::test]
async fn audit_verify_detects_an_edited_row_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("pe.db").display());
    audit_verify_names_the_edited_row(&url).await;
}

#[tokio::test]
async fn audit_verify_detects_an_edited_row_postgres() {
    let url = postgres_database().await;
    audit_verify_names_the_edited_row(&url).await;
    drop_postgres_database(&url).await;
}
