use super::*;
use chrono::TimeDelta;

const WEEK: &str = "[weekly]\nmon = [\"08:00-12:00\", \"13:00-20:00\"]\ntue = [\"08:00-20:00\"]\n\
    wed = [\"08:00-20:00\"]\nthu = [\"08:00-20:00\"]\nfri = [\"08:00-17:00\"]\nsat = []\nsun = [\"00:00-24:00\"]\n";

fn hours(extra: &str) -> OpeningHours {
    match OpeningHours::parse(&format!("{extra}\n{WEEK}"), Path::new("hours.toml")) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    }
}

/// Local Stockholm time on a day of March 2025 (3 = Monday; UTC+1).
fn local(day: u32, h: u32, m: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Stockholm
        .with_ymd_and_hms(2025, 3, day, h, m, 0)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[test]
fn open_inside_intervals_and_closed_in_the_lunch_gap() {
    let h = hours("");
    assert!(h.is_open(local(3, 8, 0)));
    assert!(h.is_open(local(3, 11, 59)));
    assert!(!h.is_open(local(3, 12, 30)));
    assert!(!h.is_open(local(3, 20, 0)));
    assert!(!h.is_open(local(8, 10, 0)), "Saturday is closed");
    assert!(h.is_open(local(9, 3, 0)), "Sunday is open all day");
}

#[test]
fn next_opening_skips_gaps_nights_and_closed_days() {
    let h = hours("");
    assert_eq!(h.open_at_or_after(local(3, 12, 30)), Some(local(3, 13, 0)));
    assert_eq!(h.open_at_or_after(local(3, 21, 0)), Some(local(4, 8, 0)));
    // Friday evening -> Sunday midnight (Saturday closed).
    assert_eq!(h.open_at_or_after(local(7, 18, 0)), Some(local(9, 0, 0)));
    assert_eq!(
        h.first_opening_after_today(local(3, 9, 0)),
        Some(local(4, 8, 0))
    );
}

#[test]
fn work_only_counts_open_time() {
    let h = hours("");
    // 11:30 + 60 min of work: 30 before lunch, 30 after.
    assert_eq!(
        h.add_open_time(local(3, 11, 30), minutes(60)),
        Some(local(3, 13, 30))
    );
    // 19:50 + 20 min: 10 today, 10 from Tuesday's opening.
    assert_eq!(
        h.add_open_time(local(3, 19, 50), minutes(20)),
        Some(local(4, 8, 10))
    );
    // Sunday across midnight into Monday 08:00 (Sunday ends at 24:00, Monday opens 08:00).
    assert_eq!(
        h.add_open_time(local(9, 23, 50), minutes(20)),
        Some(local(10, 8, 10))
    );
}

#[test]
fn holidays_replace_the_weekday_and_closures_cut_out() {
    let h = hours(
        "[[holidays]]\ndate = \"2025-03-04\"\nname = \"test\"\n\n[[holidays]]\ndate = \"2025-03-05\"\nhours = [\"10:00-14:00\"]\n\n\
         [[closures]]\nfrom = \"2025-03-03T09:00:00Z\"\nto = \"2025-03-03T10:00:00Z\"\nreason = \"system upgrade\"\n",
    );
    assert!(
        !h.is_open(local(4, 10, 0)),
        "holiday without hours is closed"
    );
    assert_eq!(h.open_at_or_after(local(3, 21, 0)), Some(local(5, 10, 0)));
    // 10:00-11:00 local is closed by the closure (09-10 UTC).
    assert!(h.is_open(local(3, 9, 59)));
    assert!(!h.is_open(local(3, 10, 30)));
    assert_eq!(h.open_at_or_after(local(3, 10, 0)), Some(local(3, 11, 0)));
    // Closures can also be added at run time (the supervisor's).
    let extra = Closure {
        from: local(3, 13, 0),
        to: local(3, 14, 0),
        reason: String::new(),
    };
    let h2 = h.with_closures(&[extra]);
    assert!(!h2.is_open(local(3, 13, 30)) && h.is_open(local(3, 13, 30)));
}

#[test]
fn daylight_saving_day_keeps_local_hours() {
    // 30 March 2025: clocks go 02:00 -> 03:00 in Stockholm (a Sunday, open all day).
    let h = hours("");
    let sun = local(30, 0, 0);
    let mon = local(31, 0, 0);
    let open = h.next_open(sun).map(|(s, e)| e - s);
    assert_eq!(open, Some(TimeDelta::hours(23)));
    assert_eq!(
        h.open_at_or_after(local(30, 23, 0) + TimeDelta::hours(1)),
        Some(local(31, 8, 0))
    );
    assert!(mon > sun);
}

#[test]
fn never_open_is_none_not_a_hang() {
    let text = "[weekly]\nmon = []\ntue = []\nwed = []\nthu = []\nfri = []\nsat = []\nsun = []\n";
    let h = match OpeningHours::parse(text, Path::new("hours.toml")) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(h.open_at_or_after(local(3, 9, 0)), None);
    assert_eq!(h.add_open_time(local(3, 9, 0), minutes(1)), None);
}

#[test]
fn errors_name_the_file_key_and_fix() {
    let bad = WEEK.replace("08:00-17:00", "17:00-08:00");
    let e = OpeningHours::parse(&bad, Path::new("sip-config/hours.toml"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("sip-config/hours.toml") && e.contains("weekly.fri") && e.contains("HH:MM"),
        "{e}"
    );
    let e = OpeningHours::parse(
        &format!("timezone = \"Mars/Base\"\n{WEEK}"),
        Path::new("hours.toml"),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        e.contains("timezone") && e.contains("Europe/Stockholm"),
        "{e}"
    );
    let e = OpeningHours::parse(
        &format!("when_closed = \"later\"\n{WEEK}"),
        Path::new("hours.toml"),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(e.contains("hours.toml"), "{e}");
}

#[test]
fn hours_file_in_repo_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sip-config/hours.toml");
    let h = OpeningHours::parse(&std::fs::read_to_string(&path).unwrap(), &path);
    assert!(h.is_ok(), "{h:?}");
}

#[test]
fn the_default_is_always_open() {
    let h = OpeningHours::default();
    assert!(h.is_open(local(8, 3, 0)), "{h:?}");
}
