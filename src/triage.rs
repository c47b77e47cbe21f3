//! Triage: structured answers -> urgency level 1-5, by rules in
//! `sip-config/triage.toml` owned by the medically responsible physician.
//!
//! One scale with 1177 direkt (DESIGN.md section 3). Phone calls start at a
//! configured default level and rules may only raise urgency (lower the number);
//! the most urgent matching rule wins. The nurse sets the final level.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// The most urgent level: assess immediately, held live, never a callback.
pub const LEVEL_MOST_URGENT: u8 = 1;
/// The least urgent level.
pub const LEVEL_LEAST_URGENT: u8 = 5;

/// A triage configuration error; says which file and key, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    /// The file is not valid TOML or has wrongly typed keys.
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    /// A value is out of range or inconsistent.
    #[error("{file}: {key}: {problem}; fix: {fix}")]
    Invalid {
        file: String,
        key: String,
        problem: String,
        fix: String,
    },
}

/// A caller's structured answers: question id -> answer value (e.g. `about` ->
/// `infant`). `Debug` shows only the question ids: answers are personal data.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Answers {
    map: BTreeMap<String, String>,
}

impl Answers {
    /// No answers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records (or replaces) the answer to one question.
    pub fn insert(&mut self, question: impl Into<String>, value: impl Into<String>) {
        self.map.insert(question.into(), value.into());
    }

    /// The answer to `question`, if given.
    pub fn get(&self, question: &str) -> Option<&str> {
        self.map.get(question).map(String::as_str)
    }

    /// All answers in question-id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of answered questions.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing was answered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl fmt::Debug for Answers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answers")
            .field("questions", &self.map.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Answers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut a = Answers::new();
        for (k, v) in iter {
            a.insert(k, v);
        }
        a
    }
}

/// What one level promises on the phone channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelTarget {
    /// 1 (most urgent) to 5.
    pub level: u8,
    /// The 1177 direkt name (`Omgående`, `Skyndsamt`, ...).
    pub name: String,
    /// Connected (level 1) or called back within this time of registration.
    pub target: Duration,
    /// Whether the caller may be offered a callback (false: held live).
    pub callback: bool,
    /// Share of cases (percent) to reach within `target`: what the staffing
    /// forecast plans for.
    pub target_share_percent: u8,
}

/// One rule: when every listed question has one of the listed values, the case
/// gets at least this level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub level: u8,
    /// question id -> accepted values (any of).
    pub when: BTreeMap<String, Vec<String>>,
}

impl Rule {
    fn matches(&self, answers: &Answers) -> bool {
        when_holds(&self.when, answers)
    }
}

/// Every listed question has one of its listed values.
fn when_holds(when: &BTreeMap<String, Vec<String>>, answers: &Answers) -> bool {
    when.iter().all(|(q, values)| {
        answers
            .get(q)
            .is_some_and(|given| values.iter().any(|v| v == given))
    })
}

/// The result of triage: the level and the names of the rules that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub level: u8,
    pub matched_rules: Vec<String>,
}

/// A self-care route (`[[self_care]]`): when every listed answer holds and the
/// triaged level is `min_level` or less urgent (never a red flag), the caller
/// hears the `advice` prompt and may still ask for a nurse's callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfCareRoute {
    pub name: String,
    /// The most urgent level the route takes (a number: 4 = levels 4 and 5).
    pub min_level: u8,
    /// question id -> accepted values (any of), as in rules.
    pub when: BTreeMap<String, Vec<String>>,
    /// Prompt id of the spoken advice (prompts/manifest.toml).
    pub advice: String,
    /// The advice on 1177.se, for the SMS.
    pub link: String,
}

/// Levels more urgent than this are never sent to self-care (DESIGN.md
/// section 3: levels 1-2 are never refused a callback).
const SELF_CARE_MOST_URGENT: u8 = 3;

/// Validated triage rules.
#[derive(Debug, Clone)]
pub struct Triage {
    default_level: u8,
    levels: Vec<LevelTarget>,
    rules: Vec<Rule>,
    self_care: Vec<SelfCareRoute>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTriage {
    default_level: u8,
    levels: BTreeMap<String, RawLevel>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    self_care: Vec<RawSelfCare>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSelfCare {
    name: String,
    min_level: u8,
    when: BTreeMap<String, OneOrMany>,
    advice: String,
    link: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    name: String,
    target_minutes: u64,
    callback: bool,
    #[serde(default = "default_target_share")]
    target_share_percent: u8,
}

/// Nine in ten within target unless the level says otherwise.
fn default_target_share() -> u8 {
    90
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    level: u8,
    when: BTreeMap<String, OneOrMany>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A `when` table as question -> values; `key` names it in errors.
fn parse_when(
    key: &str,
    raw: BTreeMap<String, OneOrMany>,
    invalid: &dyn Fn(String, String, &str) -> TriageError,
) -> Result<BTreeMap<String, Vec<String>>, TriageError> {
    if raw.is_empty() {
        return Err(invalid(
            format!("{key}.when"),
            "is empty".into(),
            "list at least one question = value, e.g. when = { about = \"infant\" }",
        ));
    }
    let mut when = BTreeMap::new();
    for (q, v) in raw {
        let values = match v {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        };
        if values.is_empty() {
            return Err(invalid(
                format!("{key}.when.{q}"),
                "lists no values".into(),
                "give a value or a list of values",
            ));
        }
        when.insert(q, values);
    }
    Ok(when)
}

/// A self-care link must be an https page on 1177.se (it goes out by SMS).
fn is_1177_link(link: &str) -> bool {
    let Some(rest) = link.strip_prefix("https://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    matches!(host, "1177.se" | "www.1177.se") && link.bytes().all(|b| b.is_ascii_graphic())
}

impl Triage {
    /// Parses and validates triage rules; `file` names the source in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, TriageError> {
        let raw: RawTriage = toml::from_str(text).map_err(|e| TriageError::Parse {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        let invalid = |key: String, problem: String, fix: &str| TriageError::Invalid {
            file: file.to_owned(),
            key,
            problem,
            fix: fix.to_owned(),
        };
        let mut levels = Vec::with_capacity(5);
        for (key, lvl) in &raw.levels {
            let level: u8 = key
                .parse()
                .ok()
                .filter(|l| (LEVEL_MOST_URGENT..=LEVEL_LEAST_URGENT).contains(l))
                .ok_or_else(|| {
                    invalid(
                        format!("levels.{key}"),
                        "is not a level".into(),
                        "use the keys \"1\" to \"5\"",
                    )
                })?;
            if lvl.target_minutes == 0 {
                return Err(invalid(
                    format!("levels.{key}.target_minutes"),
                    "is 0".into(),
                    "give the phone target in minutes, e.g. 30",
                ));
            }
            if !(50..=100).contains(&lvl.target_share_percent) {
                return Err(invalid(
                    format!("levels.{key}.target_share_percent"),
                    format!("is {}", lvl.target_share_percent),
                    "give the percent of cases to reach within target, 50 to 100 (e.g. 90)",
                ));
            }
            levels.push(LevelTarget {
                level,
                name: lvl.name.clone(),
                target: Duration::from_secs(lvl.target_minutes * 60),
                callback: lvl.callback,
                target_share_percent: lvl.target_share_percent,
            });
        }
        levels.sort_by_key(|l| l.level);
        for want in LEVEL_MOST_URGENT..=LEVEL_LEAST_URGENT {
            if !levels.iter().any(|l| l.level == want) {
                return Err(invalid(
                    format!("levels.{want}"),
                    "is missing".into(),
                    "define all five levels 1-5 with name, target_minutes and callback",
                ));
            }
        }
        for pair in levels.windows(2) {
            if let [a, b] = pair {
                if b.target < a.target {
                    return Err(invalid(
                        format!("levels.{}.target_minutes", b.level),
                        format!("is shorter than level {}'s target", a.level),
                        "a less urgent level must not have a shorter target",
                    ));
                }
            }
        }
        if levels.first().is_some_and(|l| l.callback) {
            return Err(invalid(
                "levels.1.callback".into(),
                "is true".into(),
                "level 1 callers are held live for a nurse: set callback = false",
            ));
        }
        if !(LEVEL_MOST_URGENT..=LEVEL_LEAST_URGENT).contains(&raw.default_level) {
            return Err(invalid(
                "default_level".into(),
                format!("is {}", raw.default_level),
                "use a level from 1 to 5 (e.g. 4)",
            ));
        }
        let mut names = BTreeSet::new();
        let mut rules = Vec::with_capacity(raw.rules.len());
        for (i, r) in raw.rules.into_iter().enumerate() {
            let key = format!("rules[{i}] (\"{}\")", r.name);
            if !names.insert(r.name.clone()) {
                return Err(invalid(
                    key,
                    "repeats a rule name".into(),
                    "give each rule a unique name",
                ));
            }
            if !(LEVEL_MOST_URGENT..=LEVEL_LEAST_URGENT).contains(&r.level) {
                return Err(invalid(
                    format!("{key}.level"),
                    format!("is {}", r.level),
                    "use a level from 1 to 5",
                ));
            }
            if r.level > raw.default_level {
                return Err(invalid(
                    format!("{key}.level"),
                    format!(
                        "{} is less urgent than default_level {}",
                        r.level, raw.default_level
                    ),
                    "phone rules may only raise urgency: use a level <= default_level",
                ));
            }
            let when = parse_when(&key, r.when, &invalid)?;
            rules.push(Rule {
                name: r.name,
                level: r.level,
                when,
            });
        }
        let mut names = BTreeSet::new();
        let mut self_care = Vec::with_capacity(raw.self_care.len());
        for (i, r) in raw.self_care.into_iter().enumerate() {
            let key = format!("self_care[{i}] (\"{}\")", r.name);
            if !names.insert(r.name.clone()) {
                return Err(invalid(
                    key,
                    "repeats a self-care route name".into(),
                    "give each route a unique name",
                ));
            }
            if !(SELF_CARE_MOST_URGENT..=LEVEL_LEAST_URGENT).contains(&r.min_level) {
                return Err(invalid(
                    format!("{key}.min_level"),
                    format!("is {}", r.min_level),
                    "use 3, 4 or 5: levels 1-2 are never sent to self-care",
                ));
            }
            let advice_ok = !r.advice.is_empty()
                && r.advice
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !advice_ok {
                return Err(invalid(
                    format!("{key}.advice"),
                    format!("\"{}\" is not a prompt id", r.advice),
                    "name a prompt of prompts/manifest.toml, e.g. advice = \"self_care_ent\"",
                ));
            }
            if !is_1177_link(&r.link) {
                return Err(invalid(
                    format!("{key}.link"),
                    "is not an https link to 1177.se".into(),
                    "use the advice page's address, e.g. link = \"https://www.1177.se/...\"",
                ));
            }
            let when = parse_when(&key, r.when, &invalid)?;
            self_care.push(SelfCareRoute {
                name: r.name,
                min_level: r.min_level,
                when,
                advice: r.advice,
                link: r.link,
            });
        }
        Ok(Triage {
            default_level: raw.default_level,
            levels,
            rules,
            self_care,
        })
    }

    /// Cross-checks every `when` against the questions and values the IVR can
    /// produce, so a typo in either file is caught at start-up.
    pub fn check_answers_known(
        &self,
        file: &str,
        known: &dyn Fn(&str, &str) -> bool,
    ) -> Result<(), TriageError> {
        let whens = self
            .rules
            .iter()
            .map(|r| ("rules", &r.name, &r.when))
            .chain(
                self.self_care
                    .iter()
                    .map(|r| ("self_care", &r.name, &r.when)),
            );
        for (table, name, when) in whens {
            for (q, values) in when {
                for v in values {
                    if !known(q, v) {
                        return Err(TriageError::Invalid {
                            file: file.to_owned(),
                            key: format!("{table} (\"{name}\").when.{q}"),
                            problem: format!("value \"{v}\" is never produced by the IVR flow"),
                            fix: "use a question id and value defined in ivr.toml".into(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Assesses answers: the most urgent matching rule, never less urgent than
    /// the default.
    pub fn assess(&self, answers: &Answers) -> Assessment {
        let mut level = self.default_level;
        let mut matched_rules = Vec::new();
        for r in &self.rules {
            if r.matches(answers) {
                level = level.min(r.level);
                matched_rules.push(r.name.clone());
            }
        }
        Assessment {
            level,
            matched_rules,
        }
    }

    /// The level a phone case starts at before any rule matches.
    pub fn default_level(&self) -> u8 {
        self.default_level
    }

    /// The target for `level`, if 1-5.
    pub fn target(&self, level: u8) -> Option<&LevelTarget> {
        self.levels.iter().find(|l| l.level == level)
    }

    /// All five levels, most urgent first.
    pub fn levels(&self) -> &[LevelTarget] {
        &self.levels
    }

    /// Phone targets for levels 1..=5 in order (for the queue's `LevelTargets`).
    pub fn targets(&self) -> [Duration; 5] {
        let mut out = [Duration::ZERO; 5];
        for (slot, l) in out.iter_mut().zip(&self.levels) {
            *slot = l.target;
        }
        out
    }

    /// Target shares (0-1) for levels 1..=5 in order (for the staffing forecast).
    pub fn target_shares(&self) -> [f64; 5] {
        let mut out = [0.9; 5];
        for (slot, l) in out.iter_mut().zip(&self.levels) {
            *slot = f64::from(l.target_share_percent) / 100.0;
        }
        out
    }

    /// The rules in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The self-care routes in file order.
    pub fn self_care_routes(&self) -> &[SelfCareRoute] {
        &self.self_care
    }

    /// The first self-care route for these answers at `level` (a red flag
    /// never gets one): all its answers hold and `level` is its
    /// `min_level` or less urgent.
    pub fn self_care(
        &self,
        answers: &Answers,
        level: u8,
        red_flag: bool,
    ) -> Option<&SelfCareRoute> {
        if red_flag || level < SELF_CARE_MOST_URGENT {
            return None;
        }
        self.self_care
            .iter()
            .find(|r| level >= r.min_level && when_holds(&r.when, answers))
    }

    /// Whether a caller at `level` may be offered a callback (else held live).
    pub fn callback_allowed(&self, level: u8) -> bool {
        self.target(level).is_some_and(|l| l.callback)
    }
}

/// The shipped `sip-config/triage.toml`, for tests across the crate.
#[cfg(test)]
pub(crate) fn shipped() -> Triage {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sip-config/triage.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    Triage::from_toml(&text, "triage.toml").unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEVELS: &str = r#"
[levels]
1 = { name = "Omgående", target_minutes = 3, callback = false }
2 = { name = "Skyndsamt", target_minutes = 30, callback = true }
3 = { name = "Närmaste dygnet", target_minutes = 120, callback = true }
4 = { name = "Vardag", target_minutes = 480, callback = true }
5 = { name = "Avvakta", target_minutes = 1440, callback = true }
"#;

    fn triage(rules: &str) -> Result<Triage, TriageError> {
        Triage::from_toml(
            &format!("default_level = 4\n{LEVELS}\n{rules}"),
            "triage.toml",
        )
    }

    #[test]
    fn target_shares_default_to_ninety_percent_and_are_bounded() {
        let t = triage("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.target_shares(), [0.9; 5]);
        let text = format!("default_level = 4\n{LEVELS}").replace(
            "target_minutes = 30, callback = true",
            "target_minutes = 30, callback = true, target_share_percent = 95",
        );
        let t = Triage::from_toml(&text, "triage.toml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.target_shares()[1], 0.95);
        let bad = text.replace("target_share_percent = 95", "target_share_percent = 20");
        let err = Triage::from_toml(&bad, "triage.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("levels.2.target_share_percent") && err.contains("50 to 100"),
            "{err}"
        );
    }

    fn answers(pairs: &[(&str, &str)]) -> Answers {
        pairs.iter().copied().collect()
    }

    const RULES: &str = r#"
[[rules]]
name = "infant"
level = 2
when = { about = "infant" }

[[rules]]
name = "breathing"
level = 1
when = { rf_breathing = "yes" }

[[rules]]
name = "fever child worsening"
level = 3
when = { about = ["child", "infant"], worsening = "yes" }
"#;

    #[test]
    fn no_matching_rule_gives_the_default_level() {
        let t = triage(RULES).unwrap();
        let a = t.assess(&answers(&[("about", "adult")]));
        assert_eq!(a.level, 4);
        assert!(a.matched_rules.is_empty());
    }

    #[test]
    fn the_most_urgent_matching_rule_wins() {
        let t = triage(RULES).unwrap();
        let a = t.assess(&answers(&[
            ("about", "infant"),
            ("worsening", "yes"),
            ("rf_breathing", "yes"),
        ]));
        assert_eq!(a.level, 1);
        assert_eq!(
            a.matched_rules,
            ["infant", "breathing", "fever child worsening"]
        );
    }

    #[test]
    fn every_condition_of_a_rule_must_hold() {
        let t = triage(RULES).unwrap();
        let a = t.assess(&answers(&[("about", "child")]));
        assert_eq!(a.level, 4);
        let a = t.assess(&answers(&[("about", "child"), ("worsening", "yes")]));
        assert_eq!(a.level, 3);
    }

    #[test]
    fn rule_less_urgent_than_default_is_refused_at_load() {
        let err = triage("[[rules]]\nname = \"x\"\nlevel = 5\nwhen = { a = \"b\" }\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("triage.toml"), "{err}");
        assert!(err.contains("rules[0]"), "{err}");
        assert!(err.contains("may only raise urgency"), "{err}");
    }

    #[test]
    fn missing_level_and_bad_keys_are_named() {
        let text = "default_level = 4\n[levels]\n1 = { name = \"a\", target_minutes = 3, callback = false }\n";
        let err = Triage::from_toml(text, "t.toml").unwrap_err().to_string();
        assert!(err.contains("levels.2"), "{err}");
        let err = triage("[[rules]]\nname = \"x\"\nlevel = 2\nwhen = {}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("when"), "{err}");
        let err = Triage::from_toml("default_level = \"x\"", "t.toml").unwrap_err();
        assert!(matches!(err, TriageError::Parse { .. }));
    }

    #[test]
    fn level_one_must_not_offer_callback() {
        let text = LEVELS.replace(
            "target_minutes = 3, callback = false",
            "target_minutes = 3, callback = true",
        );
        let err = Triage::from_toml(&format!("default_level = 4\n{text}"), "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("levels.1.callback"), "{err}");
    }

    #[test]
    fn targets_and_callback_flags_follow_the_design() {
        let t = triage("").unwrap();
        assert_eq!(t.target(1).unwrap().target, Duration::from_secs(180));
        assert_eq!(t.target(5).unwrap().target, Duration::from_secs(86_400));
        assert!(!t.callback_allowed(1));
        assert!(t.callback_allowed(2));
        assert!(!t.callback_allowed(9));
        assert_eq!(t.targets()[2], Duration::from_secs(7200));
    }

    #[test]
    fn answers_debug_hides_values() {
        let a = answers(&[("about", "infant")]);
        let d = format!("{a:?}");
        assert!(d.contains("about"));
        assert!(!d.contains("infant"));
    }

    #[test]
    fn unknown_answer_values_are_caught_by_cross_check() {
        let t = triage(RULES).unwrap();
        let known = |q: &str, v: &str| q == "about" || (v == "yes" && q != "worsening");
        let err = t
            .check_answers_known("triage.toml", &known)
            .unwrap_err()
            .to_string();
        assert!(err.contains("worsening"), "{err}");
    }

    const ROUTE: &str = r#"
[[self_care]]
name = "throat"
min_level = 4
when = { symptom = "ear_nose_throat", worsening = "no" }
advice = "self_care_ent"
link = "https://www.1177.se/sjukdomar--besvar/oron-nasa-och-hals/"
"#;

    #[test]
    fn self_care_route_matches_at_its_level_or_less_urgent_never_a_red_flag() {
        let t = triage(ROUTE).unwrap();
        let a = answers(&[("symptom", "ear_nose_throat"), ("worsening", "no")]);
        assert_eq!(
            t.self_care(&a, 4, false).map(|r| r.name.as_str()),
            Some("throat")
        );
        assert_eq!(
            t.self_care(&a, 5, false).map(|r| r.name.as_str()),
            Some("throat")
        );
        assert!(
            t.self_care(&a, 3, false).is_none(),
            "more urgent than min_level"
        );
        assert!(t.self_care(&a, 4, true).is_none(), "red flag");
        let worse = answers(&[("symptom", "ear_nose_throat"), ("worsening", "yes")]);
        assert!(t.self_care(&worse, 4, false).is_none());
    }

    #[test]
    fn self_care_route_errors_name_the_key_and_the_fix() {
        let bad = |from: &str, to: &str| triage(&ROUTE.replace(from, to)).unwrap_err().to_string();
        let err = bad("min_level = 4", "min_level = 2");
        assert!(err.contains("self_care[0] (\"throat\").min_level"), "{err}");
        assert!(err.contains("never sent to self-care"), "{err}");
        let err = bad("https://www.1177.se/", "http://www.1177.se/");
        assert!(
            err.contains(".link: is not an https link to 1177.se"),
            "{err}"
        );
        let err = bad("https://www.1177.se/", "https://www.1177.se.evil.example/");
        assert!(err.contains(".link"), "{err}");
        let err = bad("advice = \"self_care_ent\"", "advice = \"sv:x y\"");
        assert!(err.contains(".advice"), "{err}");
        let err = bad(
            "when = { symptom = \"ear_nose_throat\", worsening = \"no\" }",
            "when = {}",
        );
        assert!(
            err.contains("self_care[0] (\"throat\").when: is empty"),
            "{err}"
        );
        let err = triage(&format!("{ROUTE}{ROUTE}")).unwrap_err().to_string();
        assert!(err.contains("repeats a self-care route name"), "{err}");
        let t = triage(ROUTE).unwrap();
        let err = t
            .check_answers_known("triage.toml", &|q, _| q != "worsening")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("self_care (\"throat\").when.worsening"),
            "{err}"
        );
    }

    #[test]
    fn shipped_triage_toml_is_valid() {
        let t = super::shipped();
        assert!(!t.rules().is_empty());
    }
}
