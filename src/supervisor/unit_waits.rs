//! Waits per care unit on the supervisor page: from the store's per-unit
//! counts and `units.toml` (pure). Every configured unit gets a line (zero
//! when nothing waits); cases in a unit no longer configured get one too, so
//! they are not lost from sight.

use crate::config::Units;
use crate::store::UnitWaitCounts;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One unit's line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UnitWaits {
    pub unit: String,
    pub name: String,
    /// Open cases (waiting or holding) in the unit's list.
    pub waiting: u32,
    /// Seconds the oldest of them has waited since it was registered.
    pub oldest_wait_seconds: Option<i64>,
    /// Of them, past their deadline (their level's target).
    pub over_target: u32,
    /// Not in `units.toml` any more: hand these cases on.
    pub unconfigured: bool,
}

/// The lines in `units.toml` order, then unconfigured units by id.
pub fn unit_waits(now: DateTime<Utc>, counts: &[UnitWaitCounts], units: &Units) -> Vec<UnitWaits> {
    let line = |id: &str, name: &str, unconfigured: bool| {
        let c = counts.iter().find(|c| units.id_of(c.unit.as_deref()) == id);
        UnitWaits {
            unit: id.to_string(),
            name: name.to_string(),
            waiting: c.map_or(0, |c| c.waiting),
            oldest_wait_seconds: c
                .and_then(|c| c.oldest)
                .map(|t| (now - t).num_seconds().max(0)),
            over_target: c.map_or(0, |c| c.over_target),
            unconfigured,
        }
    };
    let mut out: Vec<UnitWaits> = units
        .all()
        .iter()
        .map(|u| line(&u.id, &u.name, false))
        .collect();
    let mut stray: Vec<&str> = counts
        .iter()
        .map(|c| units.id_of(c.unit.as_deref()))
        .filter(|id| units.get(id).is_none())
        .collect();
    stray.sort_unstable();
    stray.dedup();
    out.extend(stray.into_iter().map(|id| line(id, id, true)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 3, h, m, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    #[test]
    fn every_configured_unit_has_a_line_and_strays_are_flagged() {
        let counts = vec![
            UnitWaitCounts {
                unit: None,
                waiting: 4,
                oldest: Some(at(9, 0)),
                over_target: 1,
            },
            UnitWaitCounts {
                unit: Some("vc-gone".into()),
                waiting: 2,
                oldest: Some(at(9, 50)),
                over_target: 0,
            },
        ];
        let lines = unit_waits(at(10, 0), &counts, &Units::default());
        assert_eq!(
            lines,
            vec![
                UnitWaits {
                    unit: "1177".into(),
                    name: "1177 Vårdguiden".into(),
                    waiting: 4,
                    oldest_wait_seconds: Some(3600),
                    over_target: 1,
                    unconfigured: false,
                },
                UnitWaits {
                    unit: "vc-gone".into(),
                    name: "vc-gone".into(),
                    waiting: 2,
                    oldest_wait_seconds: Some(600),
                    over_target: 0,
                    unconfigured: true,
                },
            ]
        );
        let empty = unit_waits(at(10, 0), &[], &Units::default());
        assert_eq!(empty.len(), 1);
        assert_eq!((empty[0].waiting, empty[0].oldest_wait_seconds), (0, None));
    }
}
