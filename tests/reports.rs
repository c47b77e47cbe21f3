//! Follow-up reports (issue 12) over real HTTP: a seeded simulated month in
//! SQLite and in PostgreSQL, the figures computed here from the generated
//! plan (not from the database) and compared with `GET /api/v1/reports`;
//! the CSV export parsed and compared with the JSON; bad parameters get 400.

mod common;

use chrono::{DateTime, NaiveDate, Utc};
use common::postgres::{drop_postgres_database, postgres_database};
use common::report_seed::{
    local_date, local_week, parse_csv, seed_month, utc_day, Month, DEFAULT_UNIT, NURSES, OTHER_UNIT,
};
use common::{repo_root, TestService};
use phone_entrance::store::{Channel, Role};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};

/// Minutes of each level's target, from the shipped triage.toml.
fn targets() -> [i64; 5] {
    let text = std::fs::read_to_string(repo_root().join("sip-config/triage.toml")).expect("triage");
    let doc: toml::Value = toml::from_str(&text).expect("toml");
    let mut out = [0; 5];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = doc["levels"][(i + 1).to_string()]["target_minutes"]
            .as_integer()
            .expect("target_minutes");
    }
    out
}

fn rank(mut v: Vec<i64>, p: usize) -> Option<i64> {
    v.sort();
    if v.is_empty() {
        return None;
    }
    let idx = ((v.len() * p) as f64 / 100.0).ceil() as usize;
    Some(v[idx.max(1) - 1])
}

fn mins(s: Option<i64>) -> Value {
    s.map_or(Value::Null, |s| json!(s as f64 / 60.0))
}

fn ratio(a: u32, b: u32) -> Value {
    if b == 0 {
        Value::Null
    } else {
        json!(f64::from(a) / f64::from(b))
    }
}

#[derive(Default)]
struct Expect {
    contacts: u32,
    needing: u32,
    within: u32,
    first: u32,
    unreachable: u32,
    self_care: u32,
    handoffs: u32,
    waits: Vec<i64>,
    errors: Vec<i64>,
}

type Key = (NaiveDate, &'static str, u8, &'static str);

/// The week report's rows, from the plan.
fn expected_rows(month: &Month) -> Vec<Value> {
    let targets = targets();
    let mut rows: BTreeMap<Key, Expect> = BTreeMap::new();
    for c in &month.cases {
        let channel = if c.channel == Channel::Phone {
            "phone"
        } else {
            "digital"
        };
        let week = local_week(c.registered);
        let unit = if c.handed_off {
            OTHER_UNIT
        } else {
            DEFAULT_UNIT
        };
        let e = rows.entry((week, channel, c.level, unit)).or_default();
        e.contacts += 1;
        let wait = c.answer.map(|(t, _)| (t - c.registered).num_seconds());
        if let Some(w) = wait {
            e.waits.push(w);
            if w <= targets[usize::from(c.level) - 1] * 60 {
                e.within += 1;
            }
        }
        if c.answer.is_some() || !c.self_care {
            e.needing += 1;
        }
        if matches!(c.answer, Some((_, true))) && c.failed_before == 0 {
            e.first += 1;
        }
        e.unreachable += u32::from(c.unreachable);
        e.self_care += u32::from(c.self_care);
        if let (Some((t, _)), Some(told)) = (c.answer, c.told) {
            e.errors.push((t - told).num_seconds().abs());
        }
        if c.handed_off {
            rows.entry((week, channel, c.level, DEFAULT_UNIT))
                .or_default()
                .handoffs += 1;
        }
    }
    rows.into_iter()
        .map(|((week, channel, level, unit), e)| {
            json!({
                "period_start": week.to_string(), "channel": channel, "level": level, "unit": unit,
                "contacts": e.contacts, "needing_nurse": e.needing, "answered": e.waits.len(),
                "wait_p50_min": mins(rank(e.waits.clone(), 50)),
                "wait_p90_min": mins(rank(e.waits.clone(), 90)),
                "wait_max_min": mins(e.waits.iter().max().copied()),
                "within_target": e.within, "within_target_share": ratio(e.within, e.needing),
                "first_attempt_reached": e.first, "unreachable": e.unreachable,
                "self_care": e.self_care, "handoffs_out": e.handoffs,
                "estimates_compared": e.errors.len(),
                "estimate_error_p50_min": mins(rank(e.errors.clone(), 50)),
                "estimate_error_p90_min": mins(rank(e.errors.clone(), 90)),
            })
        })
        .collect()
}

fn expected_abandoned(month: &Month) -> Vec<Value> {
    let mut counts: BTreeMap<(NaiveDate, &str), u32> = BTreeMap::new();
    for (node, at) in &month.abandoned {
        *counts.entry((local_week(*at), node.as_str())).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((w, node), n)| json!({"period_start": w.to_string(), "node": node, "count": n}))
        .collect()
}

/// Arrivals and nurses on duty per local hour, averaged over `days`.
fn expected_hours(
    month: &Month,
    days: f64,
    in_range: impl Fn(DateTime<Utc>) -> bool,
) -> (Vec<f64>, Vec<f64>) {
    use chrono::Timelike;
    let hour = |t: DateTime<Utc>| t.with_timezone(&chrono_tz::Europe::Stockholm).hour() as usize;
    let mut arrivals = vec![0u32; 24];
    for c in &month.cases {
        arrivals[hour(c.registered)] += 1;
    }
    let on_duty: HashSet<(NaiveDate, usize, &str)> = month
        .nurse_actions
        .iter()
        .filter(|(_, t)| in_range(*t))
        .map(|(n, t)| (local_date(*t), hour(*t), n.as_str()))
        .collect();
    let mut nurses = vec![0u32; 24];
    for (_, h, _) in on_duty {
        nurses[h] += 1;
    }
    let avg = |v: Vec<u32>| v.into_iter().map(|n| f64::from(n) / days).collect();
    (avg(arrivals), avg(nurses))
}

/// A JSON value and a CSV cell say the same (numbers compared as numbers).
fn same_value(json: &Value, cell: &str) -> bool {
    match json {
        Value::Null => cell.is_empty(),
        Value::String(s) => s == cell,
        Value::Number(n) => cell.parse::<f64>().ok() == n.as_f64(),
        _ => false,
    }
}

async fn month_report_matches_the_seeded_rows(svc: TestService) {
    for n in NURSES {
        svc.add_staff(n, "nurse-pw", Role::Nurse).await;
    }
    svc.add_staff("sara", "super-pw", Role::Supervisor).await;
    let store = svc.store().await;
    let month = seed_month(&store, utc_day(2026, 11, 1), 30, 12, 1177).await;
    assert!(month.cases.len() > 300 && !month.abandoned.is_empty());
    let sara = svc.login("sara", "super-pw").await;
    let url = svc.http_url("/api/v1/reports?period=week&from=2026-11-01&to=2026-11-30");
    let r = sara.get(&url).send().await.expect("report");
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.expect("json");
    let mut got = report["rows"].as_array().expect("rows").clone();
    let key = |v: &Value| {
        format!(
            "{} {} {} {}",
            v["period_start"], v["channel"], v["level"], v["unit"]
        )
    };
    got.sort_by_key(key);
    let mut want = expected_rows(&month);
    want.sort_by_key(key);
    assert_eq!(got.len(), want.len(), "rows");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "row {}", key(w));
    }
    assert_eq!(
        report["abandoned"],
        Value::Array(expected_abandoned(&month))
    );
    // No personal data: nothing that looks like a case id or a user name.
    let text = report.to_string();
    assert!(!text.contains("nina") && !text.contains("+46"));

    // Charts: arrivals and nurses per hour, share within target per week.
    let (start, end) = (
        utc_day(2026, 10, 31) + chrono::TimeDelta::hours(23),
        utc_day(2026, 11, 30) + chrono::TimeDelta::hours(23),
    );
    let (arrivals, nurses) = expected_hours(&month, 30.0, |t| t >= start && t < end);
    assert_eq!(report["charts"]["arrivals_by_hour"], json!(arrivals));
    assert_eq!(report["charts"]["nurses_by_hour"], json!(nurses));
    let weeks = report["charts"]["within_target_by_week"]
        .as_array()
        .expect("weeks");
    for w in weeks {
        let (within, needing) = want
            .iter()
            .filter(|r| r["period_start"] == w["week_start"])
            .fold((0, 0), |(a, b), r| {
                (
                    a + r["within_target"].as_u64().unwrap(),
                    b + r["needing_nurse"].as_u64().unwrap(),
                )
            });
        assert_eq!(
            w["all"],
            json!(within as f64 / needing as f64),
            "week {}",
            w["week_start"]
        );
    }
    assert_eq!(
        report["charts"]["waits_by_hour"].as_array().map(Vec::len),
        Some(5)
    );

    // The CSV: a header, one row per JSON row, then the abandonments; same values.
    let r = sara
        .get(format!("{url}&format=csv"))
        .send()
        .await
        .expect("csv");
    assert_eq!(r.status(), 200);
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    let (header, rows) = parse_csv(&r.text().await.expect("text"));
    assert_eq!(header.first().map(String::as_str), Some("period_start"));
    assert_eq!(
        rows.len(),
        got.len() + report["abandoned"].as_array().unwrap().len()
    );
    for (cells, json_row) in rows.iter().zip(&got) {
        for (k, v) in json_row.as_object().expect("row") {
            assert!(
                same_value(v, &cells[k]),
                "CSV {k} {} vs JSON {v} of {}",
                cells[k],
                key(json_row)
            );
        }
    }
    for (cells, a) in rows[got.len()..]
        .iter()
        .zip(report["abandoned"].as_array().unwrap())
    {
        assert_eq!(cells["ivr_node"], a["node"].as_str().unwrap());
        assert_eq!(cells["abandoned_in_ivr"], a["count"].to_string());
    }

    // Month and day periods add up to the same contacts.
    for period in ["month", "day"] {
        let r: Value = sara
            .get(svc.http_url(&format!(
                "/api/v1/reports?period={period}&from=2026-11-01&to=2026-11-30"
            )))
            .send()
            .await
            .expect("report")
            .json()
            .await
            .expect("json");
        let total: u64 = r["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["contacts"].as_u64().unwrap())
            .sum();
        assert_eq!(total as usize, month.cases.len(), "{period}");
    }
    svc.stop().await;
}

#[tokio::test]
async fn month_report_matches_the_seeded_rows_sqlite() {
    month_report_matches_the_seeded_rows(TestService::start().await).await;
}

#[tokio::test]
async fn month_report_matches_the_seeded_rows_postgres() {
    let url = postgres_database().await;
    month_report_matches_the_seeded_rows(TestService::start_with(Some(url.clone()), |_| {}).await)
        .await;
    drop_postgres_database(&url).await;
}

#[tokio::test]
async fn reports_refuse_bad_parameters_and_non_supervisors() {
    let svc = TestService::start().await;
    svc.add_staff("nina", "nurse-pw", Role::Nurse).await;
    svc.add_staff("sara", "super-pw", Role::Supervisor).await;
    let sara = svc.login("sara", "super-pw").await;
    for (query, says) in [
        (
            "period=year&from=2026-11-01&to=2026-11-30",
            "day, week or month",
        ),
        ("period=week&from=2026-11-31&to=2026-12-01", "YYYY-MM-DD"),
        ("period=week&from=2026-12-01&to=2026-11-01", "before"),
        ("period=week&to=2026-11-01", "from is missing"),
        (
            "period=week&from=2026-11-01&to=2026-11-30&format=xlsx",
            "json or csv",
        ),
    ] {
        let r = sara
            .get(svc.http_url(&format!("/api/v1/reports?{query}")))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = r.json().await.expect("json");
        assert!(
            body["error"].as_str().unwrap_or_default().contains(says),
            "{query}: {body}"
        );
    }
    let nina = svc.login("nina", "nurse-pw").await;
    let r = nina
        .get(svc.http_url("/api/v1/reports?period=week&from=2026-11-01&to=2026-11-30"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 403);
    let r = reqwest::get(svc.http_url("/api/v1/reports?period=week&from=2026-11-01&to=2026-11-30"))
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    // Described in the OpenAPI document.
    let doc: Value = reqwest::get(svc.http_url("/openapi.json"))
        .await
        .expect("doc")
        .json()
        .await
        .expect("json");
    assert!(doc["paths"]["/api/v1/reports"]["get"].is_object());
    // The page and Chart.js come from this server, under the same CSP.
    for path in [
        "/supervisor/reports",
        "/web/reports.js",
        "/web/vendor/chart.umd.min.js",
    ] {
        let r = reqwest::get(svc.http_url(path)).await.expect("page");
        assert_eq!(r.status(), 200, "{path}");
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
        let body = r.text().await.expect("body");
        if path.ends_with("chart.umd.min.js") {
            assert!(body.starts_with("/*!\n * Chart.js v4") && body.contains("MIT License"));
        }
    }
    // A read is audited (refusals are not reads).
    let r = sara
        .get(svc.http_url("/api/v1/reports?period=day&from=2026-11-01&to=2026-11-02"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let audit = svc
        .store()
        .await
        .audit_rows(None, 1000)
        .await
        .expect("audit");
    assert!(audit
        .iter()
        .any(|a| a.action == "reports.read" && a.actor == "sara"));
    svc.stop().await;
}
