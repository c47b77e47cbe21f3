//! Opening hours of the callback service (`sip-config/hours.toml`): weekly hours,
//! holidays and ad-hoc closures, plus what the IVR offers when callbacks are
//! closed or the day's capacity is used up.
//!
//! Pure: every question takes the time as an argument. Hours are local times in
//! the configured zone (Europe/Stockholm); daylight-saving gaps and overlaps are
//! resolved to the earliest valid instant.

use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How far ahead [`OpeningHours::next_open`] looks before calling it "never".
const HORIZON_DAYS: i64 = 400;

/// What the IVR does when a callback cannot be offered today.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedRoute {
    /// Offer a callback at the next opening (after-hours and over-capacity only).
    NextOpening,
    /// Play the closed message and let the caller hold for a nurse.
    Hold,
    /// Play advice about another route (1177.se, health centre, 112) and end the call.
    Advice,
}

/// One open interval of a day, local times; `end` 24:00 means midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayInterval {
    start: NaiveTime,
    /// `None` = midnight at the end of the day.
    end: Option<NaiveTime>,
}

/// An ad-hoc closure, e.g. a system change or staff meeting.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Closure {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[serde(default)]
    pub reason: String,
}

/// The validated calendar and the offer policy.
#[derive(Clone, Debug, PartialEq)]
pub struct OpeningHours {
    tz: Tz,
    /// Monday = 0.
    weekly: [Vec<DayInterval>; 7],
    holidays: BTreeMap<NaiveDate, Vec<DayInterval>>,
    closures: Vec<Closure>,
    /// Callbacks registered per local day before the offer closes (0 = no limit).
    pub daily_capacity: u32,
    /// After hours or over capacity.
    pub when_closed: ClosedRoute,
    /// When the supervisor has closed the callback offer.
    pub when_offer_closed: ClosedRoute,
    /// Cached [`OpeningHours::is_always_open`].
    always_open: bool,
}

impl Default for OpeningHours {
    /// Open around the clock, no capacity limit, next opening when closed.
    fn default() -> OpeningHours {
        let all_day = vec![DayInterval {
            start: NaiveTime::MIN,
            end: None,
        }];
        OpeningHours {
            tz: chrono_tz::Europe::Stockholm,
            weekly: std::array::from_fn(|_| all_day.clone()),
            holidays: BTreeMap::new(),
            closures: Vec::new(),
            daily_capacity: 0,
            when_closed: ClosedRoute::NextOpening,
            when_offer_closed: ClosedRoute::Hold,
            always_open: true,
        }
    }
}

/// `hours.toml` is not valid TOML or holds a value we cannot use.
#[derive(Debug, thiserror::Error)]
pub enum HoursError {
    #[error("{path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: `{key}` = {value:?} {problem}: {fix}")]
    Invalid {
        path: PathBuf,
        key: String,
        value: String,
        problem: &'static str,
        fix: &'static str,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoursFile {
    #[serde(default = "default_tz")]
    timezone: String,
    #[serde(default)]
    daily_callback_capacity: u32,
    #[serde(default = "default_when_closed")]
    when_closed: ClosedRoute,
    #[serde(default = "default_when_offer_closed")]
    when_offer_closed: ClosedRoute,
    weekly: WeeklyHours,
    #[serde(default)]
    holidays: Vec<HolidayFile>,
    #[serde(default)]
    closures: Vec<Closure>,
}

fn default_tz() -> String {
    "Europe/Stockholm".into()
}
fn default_when_closed() -> ClosedRoute {
    ClosedRoute::NextOpening
}
fn default_when_offer_closed() -> ClosedRoute {
    ClosedRoute::Hold
}

/// A week of `"HH:MM-HH:MM"` intervals per day as written in a file
/// (`hours.toml` `[weekly]`, a unit's `hours` in `units.toml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    pub mon: Vec<String>,
    pub tue: Vec<String>,
    pub wed: Vec<String>,
    pub thu: Vec<String>,
    pub fri: Vec<String>,
    pub sat: Vec<String>,
    pub sun: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayFile {
    date: NaiveDate,
    #[serde(default)]
    hours: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    name: String,
}

impl OpeningHours {
    /// Parses and validates the TOML text of `hours.toml` (read by
    /// the shell's config module, which uses [`OpeningHours::default`] when there is no
    /// such file); `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<OpeningHours, HoursError> {
        let file: HoursFile = toml::from_str(text).map_err(|e| HoursError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        let invalid = |key: String, value: String, problem, fix| HoursError::Invalid {
            path: path.to_path_buf(),
            key,
            value,
            problem,
            fix,
        };
        let tz: Tz = file.timezone.parse().map_err(|_| {
            invalid(
                "timezone".into(),
                file.timezone.clone(),
                "is not a known time zone",
                "use an IANA name such as \"Europe/Stockholm\"",
            )
        })?;
        let day = |key: &str, list: &[String]| parse_day(path, key, list);
        let weekly = parse_weekly(path, "weekly", &file.weekly)?;
        let mut holidays = BTreeMap::new();
        for h in &file.holidays {
            holidays.insert(h.date, day(&format!("holidays.{}", h.date), &h.hours)?);
        }
        for c in &file.closures {
            if c.to <= c.from {
                return Err(invalid(
                    "closures".into(),
                    format!("{} - {}", c.from, c.to),
                    "ends before it starts",
                    "set `to` after `from` (RFC 3339 times)",
                ));
            }
        }
        let mut hours = OpeningHours {
            tz,
            weekly,
            holidays,
            closures: file.closures,
            daily_capacity: file.daily_callback_capacity,
            when_closed: file.when_closed,
            when_offer_closed: file.when_offer_closed,
            always_open: false,
        };
        hours.always_open = hours.is_always_open();
        Ok(hours)
    }

    /// Just weekly hours in zone `tz` (no holidays, closures or capacity): a
    /// care unit's hours in `units.toml`. `key` names the table in errors.
    pub fn weekly(
        tz: Tz,
        weekly: &WeeklyHours,
        key: &str,
        path: &Path,
    ) -> Result<OpeningHours, HoursError> {
        let mut hours = OpeningHours {
            tz,
            weekly: parse_weekly(path, key, weekly)?,
            ..OpeningHours::default()
        };
        hours.always_open = hours.is_always_open();
        Ok(hours)
    }

    /// The same calendar with `closures` (e.g. the supervisor's) added.
    pub fn with_closures(&self, closures: &[Closure]) -> OpeningHours {
        let mut out = self.clone();
        out.closures
            .extend(closures.iter().filter(|c| c.to > c.from).cloned());
        out.always_open = out.is_always_open();
        out
    }

    /// The time zone the hours are written in.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The local calendar date of `at`.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// Local midnight that starts the day of `at`, in UTC.
    pub fn start_of_day(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        self.local_instant(self.local_date(at), NaiveTime::MIN)
    }

    /// Open around the clock every day, no holidays or closures: time arithmetic
    /// needs no calendar (the shipped configuration; keeps replays cheap).
    pub fn is_always_open(&self) -> bool {
        let all_day = |d: &Vec<DayInterval>| {
            d.first()
                .is_some_and(|iv| iv.start == NaiveTime::MIN && iv.end.is_none())
        };
        self.closures.is_empty()
            && self.weekly.iter().all(all_day)
            && self.holidays.values().all(all_day)
    }

    /// Whether callbacks are worked at `at`.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.next_open(at).is_some_and(|(start, _)| start == at)
    }

    /// The open interval containing `at`, or the next one after it, clipped to
    /// start no earlier than `at`. An interval ends at local midnight at the latest,
    /// even when the next day opens at midnight again. `None` when closed for the
    /// whole horizon (400 days).
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let first = self.local_date(at).pred_opt()?;
        for offset in 0..HORIZON_DAYS {
            let date = first.checked_add_signed(ChronoDuration::days(offset))?;
            for (start, end) in self.intervals_on(date) {
                if end > at {
                    return Some((start.max(at), end));
                }
            }
        }
        None
    }

    /// The first opening at or after `at`.
    pub fn open_at_or_after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.always_open {
            return Some(at);
        }
        self.next_open(at).map(|(start, _)| start)
    }

    /// The first opening on a later local day than `at`'s (for a full day's capacity).
    pub fn first_opening_after_today(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let tomorrow = self.local_date(at).succ_opt()?;
        self.open_at_or_after(self.local_instant(tomorrow, NaiveTime::MIN))
    }

    /// When `work` of open time, started at `start`, is done: time only runs
    /// while open. `None` if the calendar closes for good first.
    pub fn add_open_time(&self, start: DateTime<Utc>, work: Duration) -> Option<DateTime<Utc>> {
        let mut left = ChronoDuration::from_std(work).ok()?;
        if self.always_open {
            return start.checked_add_signed(left);
        }
        let mut at = start;
        loop {
            let (open, close) = self.next_open(at)?;
            let span = close - open;
            if left <= span {
                return open.checked_add_signed(left);
            }
            left -= span;
            at = close;
        }
    }

    /// Open intervals of one local date in UTC, closures cut out, in order.
    fn intervals_on(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let day = self.holidays.get(&date).or_else(|| {
            self.weekly
                .get(date.weekday().num_days_from_monday() as usize)
        });
        let Some(day) = day else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(day.len());
        for iv in day {
            let start = self.local_instant(date, iv.start);
            let end = match iv.end {
                Some(t) => self.local_instant(date, t),
                None => match date.succ_opt() {
                    Some(next) => self.local_instant(next, NaiveTime::MIN),
                    None => continue,
                },
            };
            if end > start {
                cut(&mut out, start, end, &self.closures);
            }
        }
        out
    }

    /// A local date and time as UTC; DST gaps move forward, overlaps take the earlier.
    fn local_instant(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let naive = date.and_time(time);
        let mut probe = naive;
        for _ in 0..4 {
            if let Some(t) = self.tz.from_local_datetime(&probe).earliest() {
                return t.with_timezone(&Utc);
            }
            probe += ChronoDuration::minutes(30);
        }
        Utc.from_utc_datetime(&naive)
    }
}

/// One day's intervals, sorted; an error names `key` in `path`.
fn parse_day(path: &Path, key: &str, list: &[String]) -> Result<Vec<DayInterval>, HoursError> {
    let mut out = Vec::with_capacity(list.len());
    for text in list {
        let iv = parse_interval(text).ok_or_else(|| HoursError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            value: text.clone(),
            problem: "is not an interval",
            fix: "write \"HH:MM-HH:MM\" with start before end, e.g. \"08:00-20:00\" or \"00:00-24:00\"",
        })?;
        out.push(iv);
    }
    out.sort_by_key(|iv| iv.start);
    Ok(out)
}

/// Monday to Sunday of a `[weekly]` table named `key`.
fn parse_weekly(
    path: &Path,
    key: &str,
    w: &WeeklyHours,
) -> Result<[Vec<DayInterval>; 7], HoursError> {
    let day = |name: &str, list: &[String]| parse_day(path, &format!("{key}.{name}"), list);
    Ok([
        day("mon", &w.mon)?,
        day("tue", &w.tue)?,
        day("wed", &w.wed)?,
        day("thu", &w.thu)?,
        day("fri", &w.fri)?,
        day("sat", &w.sat)?,
        day("sun", &w.sun)?,
    ])
}

/// Pushes `[start, end)` minus every closure onto `out`.
fn cut(
    out: &mut Vec<(DateTime<Utc>, DateTime<Utc>)>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    closures: &[Closure],
) {
    let mut pieces = vec![(start, end)];
    for c in closures {
        let mut next = Vec::with_capacity(pieces.len() + 1);
        for (s, e) in pieces {
            if c.to <= s || c.from >= e {
                next.push((s, e));
                continue;
            }
            if c.from > s {
                next.push((s, c.from));
            }
            if c.to < e {
                next.push((c.to, e));
            }
        }
        pieces = next;
    }
    pieces.sort();
    out.extend(pieces);
}

/// `"08:00-20:00"`; `24:00` is accepted as the end of the day.
fn parse_interval(text: &str) -> Option<DayInterval> {
    let (a, b) = text.trim().split_once('-')?;
    let start = NaiveTime::parse_from_str(a.trim(), "%H:%M").ok()?;
    let end = match b.trim() {
        "24:00" => None,
        other => Some(NaiveTime::parse_from_str(other, "%H:%M").ok()?),
    };
    match end {
        Some(e) if e <= start => None,
        _ => Some(DayInterval { start, end }),
    }
}

/// Minutes as a [`Duration`] (helper for callers and tests).
pub fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

#[cfg(test)]
mod tests;
