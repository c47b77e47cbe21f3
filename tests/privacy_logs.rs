//! Personal data never reaches the logs or /metrics: the real binary at
//! RUST_LOG=debug takes a call that types a known personnummer from a known
//! caller ID, a digital case with both, and a nurse's worklist and case
//! reads; no log line (stdout or stderr) and no metric may contain either.
//! SQLite and PostgreSQL.

mod common;

use common::caller::{answer_green_questions, decline_sms, press, wait_for_prompt};
use common::copy_config;
use common::node::{binary, Node};
use common::postgres::{drop_postgres_database, postgres_database};
use simulators::caller::{Call, CallConfig, DtmfMethod};
use std::time::Duration;

const TOKEN: &str = "privacy-intake-test-token-0123456789";
const PERSONNUMMER: &str = "199001011239";
const CALLER: &str = "+46709876543";
/// Forms the two may take in text: the number's digits, the personnummer
/// without century, with a dash.
const NEEDLES: [&str; 5] = [
    "9001011239",
    "900101-1239",
    "709876543",
    "70-987 65 43",
    "987 65 43",
];

async fn nothing_personal_in_logs_or_metrics(url: &str, dir: &std::path::Path) {
    let config = copy_config(dir);
    let line = format!(
        "[[client]]\nname = \"1177-direkt\"\ntoken_sha256 = \"{}\"\n",
        phone_entrance::api::auth::sha256_hex(TOKEN)
    );
    std::fs::write(config.join("intake-clients.toml"), line).expect("clients");
    let created = std::process::Command::new(binary())
        .args(["create-user", "--username", "anna", "--role", "nurse"])
        .args(["--database-url", url, "--config"])
        .arg(&config)
        .env("PE_PASSWORD", "correct horse battery staple")
        .env("RUST_LOG", "debug")
        .output()
        .expect("create-user runs");
    assert!(created.status.success(), "{created:?}");
    let node = Node::start_env(
        &config,
        url,
        "44000-44999",
        "127.0.0.1:0",
        &[("RUST_LOG", "debug")],
    );

    // A caller types the personnummer and keeps the caller ID as the number.
    let mut cfg = CallConfig::new(node.sip);
    cfg.from_user = CALLER.into();
    let call = Call::dial(cfg).await.expect("answered");
    let m = DtmfMethod::Rfc4733;
    answer_green_questions(&call, m, &[]).await;
    press(&call, &format!("{PERSONNUMMER}#"), m).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    press(&call, "1", m).await; // the caller ID as callback number
    decline_sms(&call, m).await;
    wait_for_prompt(&call, "callback_registered", Duration::from_secs(20)).await;
    let _ = tokio::time::timeout(Duration::from_secs(30), call.wait_ended()).await;

    // The digital intake posts a case with both.
    let http = |path: &str| format!("http://{}{path}", node.http);
    let body = serde_json::json!({
        "external_ref": "privacy-1",
        "level": 3,
        "answers": [{"question_id": "fever", "question_text": "Har du feber?", "answer": "Ja"}],
        "callback_number": "070-987 65 43",
        "personnummer": "19900101-1239",
        "summary": "Feber",
        "language": "sv"
    });
    let posted = reqwest::Client::new()
        .post(http("/api/v1/cases"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(posted.status(), reqwest::StatusCode::CREATED);

    // A nurse reads the worklist and each case (with the personal data).
    let login = reqwest::Client::new()
        .post(http("/api/v1/login"))
        .json(&serde_json::json!({"username": "anna", "password": "correct horse battery staple"}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), reqwest::StatusCode::OK);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::COOKIE, cookie.parse().expect("header"));
    let nurse = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client");
    let list: serde_json::Value = nurse
        .get(http("/api/v1/worklist"))
        .send()
        .await
        .expect("worklist")
        .json()
        .await
        .expect("json");
    let ids: Vec<String> = list
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 2, "the phone and the digital case: {list}");
    for id in &ids {
        let case = nurse
            .get(http(&format!("/api/v1/cases/{id}")))
            .send()
            .await
            .expect("case")
            .text()
            .await
            .expect("text");
        assert!(
            case.contains(PERSONNUMMER),
            "the data is really there: {case}"
        );
    }
    let metrics = reqwest::get(http("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = node.log();
    assert!(
        log.iter().any(|l| l.contains("DEBUG")),
        "debug logging is on ({} lines)",
        log.len()
    );
    for needle in NEEDLES {
        let leaks: Vec<&String> = log.iter().filter(|l| l.contains(needle)).collect();
        assert!(leaks.is_empty(), "{needle:?} in the log: {leaks:#?}");
        assert!(!metrics.contains(needle), "{needle:?} on /metrics");
    }
}

#[tokio::test]
async fn no_personal_data_in_debug_logs_or_metrics_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("pe.db").display());
    nothing_personal_in_logs_or_metrics(&url, dir.path()).await;
}

#[tokio::test]
async fn no_personal_data_in_debug_logs_or_metrics_postgres() {
    let url = postgres_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    nothing_personal_in_logs_or_metrics(&url, dir.path()).await;
    drop_postgres_database(&url).await;
}
