//! Headless Chromium (`tests/browser/reports.mjs`): a supervisor opens
//! `/supervisor/reports` over a seeded month; the three charts are drawn
//! with data, a screenshot goes to `test-artifacts/browser/reports.png`, and
//! the CSV and JSON downloads parse and agree. Without chromium or node the
//! test is skipped, unless `CI` is set.

mod common;

use common::report_seed::{parse_csv, seed_month, utc_day, NURSES};
use common::{repo_root, TestService};
use phone_entrance::store::Role;
use std::time::Duration;

#[tokio::test]
async fn reports_page_draws_three_charts_and_exports_in_headless_chromium() {
    let Some(dir) = common::browser::ready() else {
        return;
    };
    let artifacts = repo_root().join("test-artifacts/browser");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let svc = TestService::start().await;
    for n in NURSES {
        svc.add_staff(n, "nurse-pw", Role::Nurse).await;
    }
    svc.add_staff("sara", "super-pw-reports", Role::Supervisor)
        .await;
    let month = seed_month(&svc.store().await, utc_day(2026, 11, 1), 30, 10, 12).await;
    let downloads = tempfile::tempdir().expect("downloads dir");
    let profile = tempfile::tempdir().expect("profile dir");
    let run = tokio::process::Command::new("node")
        .arg("reports.mjs")
        .current_dir(&dir)
        .env("PE_BASE_URL", svc.http_url(""))
        .env("PE_ARTIFACTS", &artifacts)
        .env("PE_DOWNLOADS", downloads.path())
        .env("PE_PROFILE", profile.path())
        .env("PE_SUPERVISOR", "sara:super-pw-reports")
        .env("PE_QUERY", "period=week&from=2026-11-01&to=2026-11-30")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the browser walk finishes in time")
        .expect("node runs");
    let log = String::from_utf8_lossy(&out.stdout);
    eprintln!("{log}");
    assert!(
        out.status.success() && log.lines().any(|l| l == "DONE"),
        "browser walk failed:\n{log}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(downloads.path().join("report.json")).expect("JSON download"),
    )
    .expect("JSON parses");
    let rows = json["rows"].as_array().expect("rows");
    let contacts: u64 = rows
        .iter()
        .map(|r| r["contacts"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(contacts as usize, month.cases.len());
    let csv = std::fs::read_to_string(downloads.path().join("report.csv")).expect("CSV download");
    let (header, cells) = parse_csv(&csv);
    assert!(header.iter().any(|h| h == "within_target_share"));
    let abandoned = json["abandoned"].as_array().map_or(0, Vec::len);
    assert_eq!(cells.len(), rows.len() + abandoned);
    let csv_contacts: u64 = cells
        .iter()
        .map(|c| c["contacts"].parse::<u64>().unwrap_or(0))
        .sum();
    assert_eq!(csv_contacts, contacts);
    assert!(artifacts.join("reports.png").exists());
    svc.stop().await;
}
