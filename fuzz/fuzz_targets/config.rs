//! The `sip-config/` parsers. The first line names the file (`sip.toml`,
//! `hours.toml`, ...; an unknown name picks one by its first byte), the rest
//! is its text. A file that parses is then used once as the service would,
//! so a value that passes validation but breaks at run time shows up too.
#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use phone_entrance::api::auth::IntakeClients;
use phone_entrance::config::{FixedPhones, SipConfig, SourcesConfig, StaffConfig, TrunkConfig};
use phone_entrance::ivr::{Flow, Manifest};
use phone_entrance::queue::{OpeningHours, Priority, QueueConfig, RetryPolicies};
use phone_entrance::triage::{Answers, Triage};
use std::path::Path;
use std::time::Duration;

const FILES: [&str; 11] = [
    "sip.toml",
    "trunks.toml",
    "trunk.toml",
    "staff.toml",
    "nurse-phones.toml",
    "queue.toml",
    "hours.toml",
    "ivr.toml",
    "triage.toml",
    "manifest.toml",
    "intake-clients.toml",
];

/// The night Sweden moves its clocks forward: a hard case for opening hours.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 29, 0, 30, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn show(e: impl std::fmt::Display) {
    let _ = e.to_string();
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (first, text) = input.split_once('\n').unwrap_or((input, ""));
    let file = FILES
        .iter()
        .copied()
        .find(|f| *f == first.trim())
        .unwrap_or(FILES[usize::from(data.first().copied().unwrap_or(0)) % FILES.len()]);
    let path = Path::new("sip-config").join(file);
    let at = now();
    match file {
        "sip.toml" => {
            if let Err(e) = SipConfig::parse(text, &path) {
                show(format!("{e:#}"));
            }
        }
        "trunks.toml" => {
            if let Err(e) = SourcesConfig::parse(text, &path) {
                show(format!("{e:#}"));
            }
        }
        "trunk.toml" => {
            if let Err(e) = TrunkConfig::parse(text, &path) {
                show(format!("{e:#}"));
            }
        }
        "staff.toml" => {
            if let Err(e) = StaffConfig::parse(text, &path) {
                show(format!("{e:#}"));
            }
        }
        "nurse-phones.toml" => {
            if let Err(e) = FixedPhones::parse(text, &path) {
                show(format!("{e:#}"));
            }
        }
        "queue.toml" => {
            match QueueConfig::parse(text, &path) {
                Ok(q) => {
                    let _ = q.estimate_callback_at(at, 1000);
                }
                Err(e) => show(e),
            }
            match RetryPolicies::parse(text, &path) {
                Ok(r) => {
                    for level in 1..=5u8 {
                        if let Ok(p) = Priority::try_from(level) {
                            let _ = r.after_failure(p, 1, at);
                        }
                    }
                }
                Err(e) => show(e),
            }
        }
        "hours.toml" => match OpeningHours::parse(text, &path) {
            Ok(h) => {
                let _ = (
                    h.is_open(at),
                    h.next_open(at),
                    h.first_opening_after_today(at),
                );
                let _ = h.add_open_time(at, Duration::from_secs(8 * 3600));
            }
            Err(e) => show(e),
        },
        "ivr.toml" => match Flow::from_toml_named(text, file) {
            Ok(flow) => {
                if let Err(e) = flow.validate(&|_| true) {
                    show(e);
                }
                let _ = flow.prompt_ids();
            }
            Err(e) => show(e),
        },
        "triage.toml" => match Triage::from_toml(text, file) {
            Ok(t) => {
                if let Err(e) = t.check_answers_known(file, &|_, _| true) {
                    show(e);
                }
                let _ = (t.assess(&Answers::new()), t.targets());
            }
            Err(e) => show(e),
        },
        "manifest.toml" => {
            if let Err(e) = Manifest::from_toml(text, file) {
                show(e);
            }
        }
        _ => {
            if let Err(e) = IntakeClients::parse(text) {
                show(e);
            }
        }
    }
});
