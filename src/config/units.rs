//! `sip-config/units.toml`: the care units a case can be with (the 1177 nurse
//! line and health centres), the levels each takes and its weekly hours.
//! Exactly one unit is the default: every new case lands there. Without the
//! file there is one default nurse-line unit, `1177`, open around the clock.

use crate::queue::{HoursError, OpeningHours, Priority, WeeklyHours};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Id of the unit used when there is no `units.toml`.
pub const BUILTIN_DEFAULT_ID: &str = "1177";

/// What kind of care a unit gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    NurseLine,
    HealthCentre,
}

/// One care unit, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    /// Short slug used in the API and the CLI, e.g. `vc-markaryd`.
    pub id: String,
    /// Shown to staff, e.g. `Vårdcentralen Markaryd`.
    pub name: String,
    pub kind: UnitKind,
    /// HSA-id, e.g. `SE2321000065-VCMARKARYD` (the listing lookup matches it).
    pub hsa_id: String,
    /// `levels[n - 1]`: whether the unit takes level `n` cases.
    levels: [bool; 5],
    pub hours: OpeningHours,
    pub default: bool,
}

impl Unit {
    /// Whether the unit takes cases of this urgency level.
    pub fn takes(&self, level: Priority) -> bool {
        self.levels
            .get(usize::from(level.level()).saturating_sub(1))
            .copied()
            .unwrap_or(false)
    }

    /// The levels it takes, ascending.
    pub fn levels(&self) -> Vec<u8> {
        (1u8..=5)
            .filter(|n| self.levels.get(usize::from(*n) - 1) == Some(&true))
            .collect()
    }

    /// Whether the unit is open at `at` (its weekly hours).
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.hours.is_open(at)
    }
}

/// The validated list; never empty, exactly one default.
#[derive(Clone, Debug, PartialEq)]
pub struct Units {
    units: Vec<Unit>,
    /// Index of the default unit in `units` (set by `parse` and `default`).
    default: usize,
}

impl Default for Units {
    /// One nurse line, `1177`, all levels, always open, the default.
    fn default() -> Units {
        Units {
            units: vec![Unit {
                id: BUILTIN_DEFAULT_ID.into(),
                name: "1177 Vårdguiden".into(),
                kind: UnitKind::NurseLine,
                hsa_id: String::new(),
                levels: [true; 5],
                hours: OpeningHours::default(),
                default: true,
            }],
            default: 0,
        }
    }
}

/// `units.toml` is not valid TOML or holds a value we cannot use.
#[derive(Debug, thiserror::Error)]
pub enum UnitsError {
    #[error("{path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: `{key}` = {value:?} {problem}; fix: {fix}")]
    Invalid {
        path: PathBuf,
        key: String,
        value: String,
        problem: &'static str,
        fix: &'static str,
    },
    #[error(transparent)]
    Hours(#[from] HoursError),
    #[error(transparent)]
    Read(#[from] super::ReadError),
}

/// Reads and validates `<config_dir>/units.toml`; without that file there is
/// one default nurse-line unit ([`Units::default`]).
pub fn read_units(config_dir: &Path) -> Result<Units, UnitsError> {
    let path = config_dir.join("units.toml");
    match super::read_optional(&path)? {
        Some(text) => Units::parse(&text, &path),
        None => Ok(Units::default()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitsFile {
    #[serde(default = "default_tz")]
    timezone: String,
    #[serde(default)]
    unit: Vec<UnitFile>,
}

fn default_tz() -> String {
    "Europe/Stockholm".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitFile {
    id: String,
    name: String,
    kind: UnitKind,
    hsa_id: String,
    levels: Vec<i64>,
    #[serde(default)]
    default: bool,
    hours: WeeklyHours,
}

/// A slug: 1-32 of `a-z 0-9 -`, starting with a letter or digit.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && !id.starts_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// An HSA-id: `SE` + organisation number, `-`, a local part (A-Z, 0-9, `-`).
fn valid_hsa_id(hsa: &str) -> bool {
    let Some((org, local)) = hsa.split_once('-') else {
        return false;
    };
    hsa.len() <= 64
        && org.len() == 12
        && org.starts_with("SE")
        && org.chars().skip(2).all(|c| c.is_ascii_digit())
        && !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
}

impl Units {
    /// Parses and validates the text of `units.toml`; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Units, UnitsError> {
        let file: UnitsFile = toml::from_str(text).map_err(|e| UnitsError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        let invalid = |key: String, value: String, problem, fix| UnitsError::Invalid {
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
        let mut units: Vec<Unit> = Vec::with_capacity(file.unit.len());
        for (i, u) in file.unit.into_iter().enumerate() {
            let key = |field: &str| format!("unit[{i}].{field}");
            if !valid_id(&u.id) {
                return Err(invalid(
                    key("id"),
                    u.id,
                    "is not a unit id",
                    "use 1-32 characters of a-z, 0-9 and '-', e.g. \"vc-markaryd\"",
                ));
            }
            if units.iter().any(|o| o.id == u.id) {
                return Err(invalid(
                    key("id"),
                    u.id,
                    "is used by an earlier unit",
                    "give every unit its own id",
                ));
            }
            if u.name.trim().is_empty() || u.name.chars().count() > 100 {
                return Err(invalid(
                    key("name"),
                    u.name,
                    "is empty or longer than 100 characters",
                    "name the unit as staff know it, e.g. \"Vårdcentralen Markaryd\"",
                ));
            }
            if !valid_hsa_id(&u.hsa_id) {
                return Err(invalid(
                    key("hsa_id"),
                    u.hsa_id,
                    "is not an HSA-id",
                    "write SE, the 10-digit organisation number, '-' and the unit part, e.g. \"SE2321000065-VCMARKARYD\"",
                ));
            }
            if units.iter().any(|o| o.hsa_id == u.hsa_id) {
                return Err(invalid(
                    key("hsa_id"),
                    u.hsa_id,
                    "is used by an earlier unit",
                    "every unit has its own HSA-id",
                ));
            }
            let mut levels = [false; 5];
            for level in &u.levels {
                let slot = usize::try_from(*level)
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .and_then(|n| levels.get_mut(n));
                match slot {
                    Some(s) => *s = true,
                    None => {
                        return Err(invalid(
                            key("levels"),
                            format!("{:?}", u.levels),
                            "holds a level outside 1-5",
                            "list urgency levels 1 (most urgent) to 5, e.g. [3, 4, 5]",
                        ))
                    }
                }
            }
            if !levels.contains(&true) {
                return Err(invalid(
                    key("levels"),
                    "[]".into(),
                    "is empty",
                    "list the levels the unit takes, e.g. [3, 4, 5]",
                ));
            }
            let hours = OpeningHours::weekly(tz, &u.hours, &key("hours"), path)?;
            units.push(Unit {
                id: u.id,
                name: u.name,
                kind: u.kind,
                hsa_id: u.hsa_id,
                levels,
                hours,
                default: u.default,
            });
        }
        let defaults: Vec<&Unit> = units.iter().filter(|u| u.default).collect();
        let problem = match defaults.as_slice() {
            [one] if one.levels == [true; 5] => None,
            [one] => Some(invalid(
                "unit.levels".into(),
                one.id.clone(),
                "is the default unit but does not take every level",
                "every new case lands in the default unit: give it levels = [1, 2, 3, 4, 5]",
            )),
            [] => Some(invalid(
                "unit.default".into(),
                "none".into(),
                "names no default unit",
                "set default = true on the nurse line, where new cases land",
            )),
            _ => {
                let ids: Vec<&str> = defaults.iter().map(|u| u.id.as_str()).collect();
                Some(invalid(
                    "unit.default".into(),
                    ids.join(", "),
                    "is set on more than one unit",
                    "keep default = true on exactly one unit (the nurse line)",
                ))
            }
        };
        if let Some(e) = problem {
            return Err(e);
        }
        let default = units.iter().position(|u| u.default).unwrap_or(0);
        Ok(Units { units, default })
    }

    /// Every unit, in file order.
    pub fn all(&self) -> &[Unit] {
        &self.units
    }

    /// The unit every new case lands in.
    pub fn default_unit(&self) -> &Unit {
        // In range: `parse` and `default` are the only constructors.
        &self.units[self.default]
    }

    /// The unit with this id.
    pub fn get(&self, id: &str) -> Option<&Unit> {
        self.units.iter().find(|u| u.id == id)
    }

    /// The unit with this HSA-id (what a listing lookup finds).
    pub fn by_hsa_id(&self, hsa_id: &str) -> Option<&Unit> {
        self.units
            .iter()
            .find(|u| !u.hsa_id.is_empty() && u.hsa_id == hsa_id)
    }

    /// The unit with this id, or an error for `field` that lists the ids.
    pub fn require(&self, field: &str, id: &str) -> Result<&Unit, String> {
        self.get(id).ok_or_else(|| {
            let ids: Vec<&str> = self.units.iter().map(|u| u.id.as_str()).collect();
            format!(
                "{field}: unknown unit {:?}: expected one of {} (units.toml)",
                id.chars().take(40).collect::<String>(),
                ids.join(", ")
            )
        })
    }

    /// The stored form of a unit id: the default unit is stored as `None`, so
    /// new cases and accounts without a unit belong to it.
    pub fn stored<'a>(&self, id: &'a str) -> Option<&'a str> {
        (id != self.default_unit().id).then_some(id)
    }

    /// The id of a stored unit (`None` = the default unit).
    pub fn id_of<'a>(&'a self, stored: Option<&'a str>) -> &'a str {
        stored.unwrap_or(&self.default_unit().id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEEK: &str = "[unit.hours]\nmon = [\"08:00-17:00\"]\ntue = [\"08:00-17:00\"]\n\
        wed = [\"08:00-17:00\"]\nthu = [\"08:00-17:00\"]\nfri = [\"08:00-16:00\"]\nsat = []\nsun = []\n";
    const ALL_DAY: &str = "[unit.hours]\nmon = [\"00:00-24:00\"]\ntue = [\"00:00-24:00\"]\n\
        wed = [\"00:00-24:00\"]\nthu = [\"00:00-24:00\"]\nfri = [\"00:00-24:00\"]\n\
        sat = [\"00:00-24:00\"]\nsun = [\"00:00-24:00\"]\n";

    fn nurse_line() -> String {
        format!(
            "[[unit]]\nid = \"1177\"\nname = \"1177\"\nkind = \"nurse_line\"\n\
             hsa_id = \"SE2321000065-1177\"\nlevels = [1, 2, 3, 4, 5]\ndefault = true\n{ALL_DAY}"
        )
    }

    fn centre(id: &str, hsa: &str, levels: &str) -> String {
        format!(
            "[[unit]]\nid = \"{id}\"\nname = \"Vårdcentralen\"\nkind = \"health_centre\"\n\
             hsa_id = \"{hsa}\"\nlevels = {levels}\n{WEEK}"
        )
    }

    fn parse(text: &str) -> Result<Units, String> {
        Units::parse(text, Path::new("units.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn shipped_file_has_the_nurse_line_as_default_and_two_centres() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sip-config/units.toml");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let units = Units::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(units.default_unit().id, "1177");
        assert_eq!(units.default_unit().kind, UnitKind::NurseLine);
        let m = units.get("vc-markaryd").map(|u| (u.kind, u.levels()));
        assert_eq!(m, Some((UnitKind::HealthCentre, vec![3, 4, 5])));
        assert!(units.get("vc-stromsnasbruk").is_some());
        assert_eq!(
            units
                .by_hsa_id("SE2321000065-VCMARKARYD")
                .map(|u| u.id.as_str()),
            Some("vc-markaryd")
        );
    }

    #[test]
    fn a_centre_takes_only_its_levels_and_keeps_its_hours() {
        let units = parse(&(nurse_line() + &centre("vc-a", "SE2321000065-VCA", "[3, 4, 5]")))
            .unwrap_or_else(|e| panic!("{e}"));
        let a = units.get("vc-a").unwrap_or_else(|| panic!("vc-a"));
        let level = |n| Priority::new(n).unwrap_or(Priority::LOWEST);
        assert!(!a.takes(level(2)) && a.takes(level(3)) && a.takes(level(5)));
        // Monday 2025-03-03 09:00 local is 08:00 UTC; Saturday closed.
        let monday = "2025-03-03T08:00:00Z".parse().unwrap_or_default();
        let saturday = "2025-03-08T10:00:00Z".parse().unwrap_or_default();
        assert!(a.is_open(monday));
        assert!(!a.is_open(saturday));
        assert_eq!(units.stored("1177"), None);
        assert_eq!(units.stored("vc-a"), Some("vc-a"));
        assert_eq!(units.id_of(None), "1177");
    }

    #[test]
    fn errors_name_the_key_and_the_fix() {
        let cases = [
            (centre("vc-a", "SE2321000065-VCA", "[3]"), "unit.default"),
            (
                nurse_line() + &centre("VC A", "SE2321000065-VCA", "[3]"),
                "unit[1].id",
            ),
            (
                nurse_line() + &centre("1177", "SE2321000065-VCA", "[3]"),
                "unit[1].id",
            ),
            (
                nurse_line() + &centre("vc-a", "2321000065", "[3]"),
                "unit[1].hsa_id",
            ),
            (
                nurse_line() + &centre("vc-a", "SE2321000065-VCA", "[0, 6]"),
                "unit[1].levels",
            ),
            (
                nurse_line() + &centre("vc-a", "SE2321000065-VCA", "[]"),
                "unit[1].levels",
            ),
            (
                nurse_line()
                    + &nurse_line()
                        .replace("\"1177\"", "\"x\"")
                        .replace("-1177", "-X"),
                "unit.default",
            ),
            (
                nurse_line().replace("levels = [1, 2, 3, 4, 5]", "levels = [1, 2]"),
                "unit.levels",
            ),
            (
                nurse_line()
                    + &centre("vc-a", "SE2321000065-VCA", "[3]")
                        .replace("\"08:00-17:00\"", "\"17:00-08:00\""),
                "unit[1].hours.mon",
            ),
        ];
        for (text, key) in cases {
            let err = parse(&text).err().unwrap_or_default();
            assert!(err.contains(key), "{key}: {err}");
            assert!(err.contains("units.toml"), "{err}");
            assert!(err.contains("fix") || key.contains("hours"), "{err}");
        }
        let unknown = parse("[[unit]]\nid = \"a\"\ncolour = 1\n")
            .err()
            .unwrap_or_default();
        assert!(unknown.contains("colour"), "{unknown}");
    }

    #[test]
    fn without_a_file_there_is_one_default_nurse_line() {
        let units = Units::default();
        assert_eq!(units.all().len(), 1);
        assert_eq!(units.default_unit().id, BUILTIN_DEFAULT_ID);
        assert_eq!(units.default_unit().levels(), vec![1, 2, 3, 4, 5]);
        let err = units.require("unit", "vc-x").err().unwrap_or_default();
        assert!(err.contains("unit") && err.contains("1177"), "{err}");
    }
}
