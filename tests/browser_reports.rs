//! Headless Chromium (`tests/browser/reports.mjs`): a supervisor opens
//! `/supervisor/reports` over a seeded month; the page is in Swedish (then
//! English), axe-core finds nothing in either language, the three charts are
//! drawn with data, the survey section shows the seeded answers, a
//! screenshot goes to `test-artifacts/browser/reports.png`, and the CSV and
//! JSON downloads parse and agree. A missing chromium or node fails the test.

mod common;

use chrono::TimeDelta;
use common::report_seed::{parse_csv, seed_month, utc_day, DEFAULT_UNIT, NURSES, OTHER_UNIT};
use common::{repo_root, TestService};
use phone_entrance::queue::Priority;
use phone_entrance::store::{Channel, NewSurvey, Role, Store};
use serde_json::json;
use std::collections::BTreeMap;

/// (hours after 2026-11-01 00:00 UTC, channel, level, unit, answers): in
/// November as Stockholm counts days, the first at local midnight on 1 Nov.
type Seeded = (
    i64,
    Channel,
    i64,
    Option<&'static str>,
    &'static [(&'static str, u8)],
);
const SURVEYS: [Seeded; 5] = [
    (-1, Channel::Phone, 2, None, &[("easy", 1)]),
    (220, Channel::Phone, 1, None, &[("helped", 5), ("easy", 1)]),
    (230, Channel::Phone, 3, None, &[("helped", 4), ("easy", 1)]),
    (
        300,
        Channel::Digital,
        3,
        Some(OTHER_UNIT),
        &[("helped", 2), ("easy", 2)],
    ),
    (400, Channel::Digital, 5, None, &[("helped", 4)]),
];
/// Outside the page's range: 1 Dec 00:00 and 01:00 in Stockholm (still
/// 30 Nov in UTC for the first: the page asks for local days).
const LATER: [i64; 2] = [29 * 24 + 23, 30 * 24];

fn survey(
    hours: i64,
    channel: Channel,
    level: i64,
    unit: Option<&str>,
    answers: &[(&str, u8)],
) -> NewSurvey {
    NewSurvey {
        channel,
        level: Priority::try_from(level).expect("level"),
        unit: unit.map(str::to_owned),
        unit_of_case: None,
        at: utc_day(2026, 11, 1) + TimeDelta::hours(hours),
        answers: answers.iter().map(|(q, v)| (q.to_string(), *v)).collect(),
    }
}

async fn seed_surveys(store: &Store) {
    for (hours, channel, level, unit, answers) in SURVEYS {
        let s = survey(hours, channel, level, unit, answers);
        store.insert_survey(&s).await.expect("survey stored");
    }
    for hours in LATER {
        let s = survey(
            hours,
            Channel::Phone,
            1,
            None,
            &[("helped", 1), ("easy", 2)],
        );
        store.insert_survey(&s).await.expect("survey stored");
    }
}

/// "3.75" / "4" (at most two decimals, as the page shows a mean).
fn mean_text(sum: u32, n: u32) -> String {
    let text = format!("{:.2}", f64::from(sum) / f64::from(n));
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// What the survey table must show, from `SURVEYS`: one entry per group
/// (`all:all`, `channel:phone`, `level:3`, `unit:1177`, ...) and question.
fn expected_survey_rows() -> serde_json::Value {
    let mut groups: BTreeMap<(String, &str), Vec<u8>> = BTreeMap::new();
    for (_, channel, level, unit, answers) in SURVEYS {
        let channel = channel.as_str();
        let keys = [
            "all:all".to_owned(),
            format!("channel:{channel}"),
            format!("level:{level}"),
            format!("unit:{}", unit.unwrap_or(DEFAULT_UNIT)),
        ];
        for key in keys {
            for (q, v) in answers {
                groups.entry((key.clone(), q)).or_default().push(*v);
            }
        }
    }
    let rows: Vec<_> = groups
        .into_iter()
        .map(|((group, question), values)| {
            let mut dist: BTreeMap<u8, u32> = BTreeMap::new();
            for v in &values {
                *dist.entry(*v).or_default() += 1;
            }
            let sum: u32 = values.iter().map(|v| u32::from(*v)).sum();
            let mean = mean_text(sum, values.len() as u32);
            json!({
                "group": group,
                "question": question,
                "answered": values.len().to_string(),
                "mean_en": mean,
                "mean_sv": mean.replace('.', ","),
                "distribution": dist.iter().map(|(d, c)| format!("{d} × {c}")).collect::<Vec<_>>().join(", "),
            })
        })
        .collect();
    json!({ "responses": SURVEYS.len(), "rows": rows })
}

#[tokio::test]
async fn reports_page_in_swedish_and_english_with_charts_survey_and_exports_in_headless_chromium() {
    let dir = common::browser::ready();
    let artifacts = repo_root().join("test-artifacts/browser");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let svc = TestService::start().await;
    for n in NURSES {
        svc.add_staff(n, "nurse-pw", Role::Nurse).await;
    }
    svc.add_staff("sara", "super-pw-reports", Role::Supervisor)
        .await;
    let store = svc.store().await;
    let month = seed_month(&store, utc_day(2026, 11, 1), 30, 10, 12).await;
    seed_surveys(&store).await;
    let downloads = tempfile::tempdir().expect("downloads dir");
    let profile = tempfile::tempdir().expect("profile dir");
    let mut walk = common::browser::node(&dir, "reports.mjs");
    walk.env("PE_BASE_URL", svc.http_url(""))
        .env("PE_ARTIFACTS", &artifacts)
        .env("PE_DOWNLOADS", downloads.path())
        .env("PE_PROFILE", profile.path())
        .env("PE_SUPERVISOR", "sara:super-pw-reports")
        .env("PE_QUERY", "period=week&from=2026-11-01&to=2026-11-30")
        .env("PE_SURVEY", expected_survey_rows().to_string());
    common::browser::walk(walk).await;
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
