//! SMS texts: one template per message kind and language (`[templates]` of
//! `sms.toml`), with `{placeholders}` checked once at start-up: an unknown one,
//! or one the kind needs but lacks, fails the load naming the key. Rendered
//! with the callback time in the local time zone of `hours.toml`.

use crate::store::sms::{SmsFacts, SmsKind, SmsTexts};
use chrono_tz::Tz;
use std::collections::{BTreeMap, HashMap};

/// The languages every kind needs a template in.
pub const LANGUAGES: [&str; 2] = ["sv", "en"];

/// Longest template text: with a link it still fits a few SMS parts.
pub const MAX_TEMPLATE_CHARS: usize = 480;

/// A value a template can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Var {
    /// `{time}`: the callback time, `HH:MM` local.
    Time,
    /// `{date}`: the callback date, `YYYY-MM-DD` local.
    Date,
    /// `{link}`: the self-care advice page.
    Link,
}

impl Var {
    fn parse(name: &str) -> Option<Var> {
        match name {
            "time" => Some(Var::Time),
            "date" => Some(Var::Date),
            "link" => Some(Var::Link),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Var::Time => "time",
            Var::Date => "date",
            Var::Link => "link",
        }
    }
}

/// What a kind's template may name, and what it must name.
fn vars_for(kind: SmsKind) -> (&'static [Var], &'static [Var]) {
    match kind {
        SmsKind::CallbackConfirmation => (&[Var::Time, Var::Date], &[Var::Time]),
        SmsKind::CallbackMissed => (&[], &[]),
        SmsKind::SelfCareAdvice => (&[Var::Link], &[Var::Link]),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Text(String),
    Var(Var),
}

/// One parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

impl Template {
    /// Parses `text`: `{name}` is a placeholder, any other brace an error.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut segments = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            let (before, from) = rest.split_at(open);
            if from.starts_with('}') {
                return Err("has a '}' without its '{'".into());
            }
            let close = from
                .find('}')
                .ok_or_else(|| "has a '{' without its '}'".to_string())?;
            let name = &from[1..close];
            let var = Var::parse(name).ok_or_else(|| {
                format!("names an unknown placeholder {{{name}}}: the known ones are {{time}}, {{date}} and {{link}}")
            })?;
            if !before.is_empty() {
                segments.push(Segment::Text(before.to_string()));
            }
            segments.push(Segment::Var(var));
            rest = &from[close + 1..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Text(rest.to_string()));
        }
        Ok(Template { segments })
    }

    fn names(&self, var: Var) -> bool {
        self.segments.contains(&Segment::Var(var))
    }

    fn render(&self, value: impl Fn(Var) -> Option<String>) -> Option<String> {
        let mut out = String::new();
        for s in &self.segments {
            match s {
                Segment::Text(t) => out.push_str(t),
                Segment::Var(v) => out.push_str(&value(*v)?),
            }
        }
        Some(out)
    }
}

/// Every kind's template in every language, checked.
#[derive(Clone, Debug)]
pub struct Templates {
    by: HashMap<(SmsKind, &'static str), Template>,
}

impl Templates {
    /// Checks `[templates]` (kind -> language -> text): every kind in every
    /// language of [`LANGUAGES`], nothing else, placeholders as the kind
    /// allows and needs. The error names the key and the fix.
    pub fn new(texts: &BTreeMap<String, BTreeMap<String, String>>) -> Result<Templates, String> {
        for (kind, langs) in texts {
            if kind.parse::<SmsKind>().is_err() {
                return Err(format!(
                    "templates.{kind}: unknown message kind; fix: use callback_confirmation, callback_missed or self_care_advice"
                ));
            }
            if let Some(lang) = langs.keys().find(|l| !LANGUAGES.contains(&l.as_str())) {
                return Err(format!(
                    "templates.{kind}.{lang}: unknown language; fix: use sv or en"
                ));
            }
        }
        let mut by = HashMap::new();
        for kind in SmsKind::ALL {
            let (allowed, needed) = vars_for(*kind);
            for lang in LANGUAGES {
                let key = format!("templates.{kind}.{lang}");
                let text = texts
                    .get(kind.as_str())
                    .and_then(|l| l.get(lang))
                    .ok_or_else(|| format!("{key} is missing; fix: add the {lang} text"))?;
                if text.trim().is_empty() || text.chars().count() > MAX_TEMPLATE_CHARS {
                    return Err(format!(
                        "{key} must be 1 to {MAX_TEMPLATE_CHARS} characters"
                    ));
                }
                let template = Template::parse(text).map_err(|e| format!("{key} {e}"))?;
                for var in [Var::Time, Var::Date, Var::Link] {
                    if template.names(var) && !allowed.contains(&var) {
                        return Err(format!(
                            "{key} names {{{}}}, which a {kind} SMS does not have; fix: remove it",
                            var.name()
                        ));
                    }
                    if needed.contains(&var) && !template.names(var) {
                        return Err(format!(
                            "{key} must name {{{}}}; fix: add it to the text",
                            var.name()
                        ));
                    }
                }
                by.insert((*kind, lang), template);
            }
        }
        Ok(Templates { by })
    }

    /// The `kind` text in `language` (Swedish for any other) with `facts`
    /// filled in, times in `tz`; `None` when a fact it names is missing.
    pub fn render(
        &self,
        kind: SmsKind,
        language: &str,
        facts: &SmsFacts<'_>,
        tz: Tz,
    ) -> Option<String> {
        let lang = if language == "en" { "en" } else { "sv" };
        let template = self.by.get(&(kind, lang))?;
        let local = facts.callback_at.map(|t| t.with_timezone(&tz));
        template.render(|var| match var {
            Var::Time => local.map(|t| t.format("%H:%M").to_string()),
            Var::Date => local.map(|t| t.format("%Y-%m-%d").to_string()),
            Var::Link => facts.link.map(str::to_string),
        })
    }
}

/// The templates with the local time zone: what the store renders SMS with.
#[derive(Clone, Debug)]
pub struct SmsComposer {
    templates: Templates,
    tz: Tz,
    advice_links: HashMap<String, String>,
}

impl SmsComposer {
    /// `advice_links`: self-care route name -> its 1177.se link (triage.toml).
    pub fn new(templates: Templates, tz: Tz, advice_links: HashMap<String, String>) -> SmsComposer {
        SmsComposer {
            templates,
            tz,
            advice_links,
        }
    }
}

impl SmsTexts for SmsComposer {
    fn body(&self, kind: SmsKind, language: &str, facts: &SmsFacts<'_>) -> Option<String> {
        self.templates.render(kind, language, facts, self.tz)
    }

    fn advice_link(&self, route: &str) -> Option<&str> {
        self.advice_links.get(route).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn texts(confirmation_sv: &str) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut t = BTreeMap::new();
        let mut add = |kind: &str, sv: &str, en: &str| {
            t.insert(
                kind.to_string(),
                BTreeMap::from([
                    ("sv".to_string(), sv.to_string()),
                    ("en".to_string(), en.to_string()),
                ]),
            );
        };
        add(
            "callback_confirmation",
            confirmation_sv,
            "We call you at {time}.",
        );
        add("callback_missed", "Vi sökte dig.", "We tried to call you.");
        add("self_care_advice", "Råd: {link}", "Advice: {link}");
        t
    }

    #[test]
    fn confirmation_shows_the_local_time_in_the_callers_language() {
        let t = Templates::new(&texts(
            "Vi ringer {date} kl {time}. Ring 112 om det blir värre.",
        ))
        .expect("valid");
        // 13:05 UTC is 14:05 in Stockholm in winter.
        let at = chrono::Utc.with_ymd_and_hms(2026, 1, 15, 13, 5, 0).single();
        let facts = SmsFacts {
            callback_at: at,
            link: None,
        };
        let tz: Tz = "Europe/Stockholm".parse().expect("tz");
        let sv = t.render(SmsKind::CallbackConfirmation, "sv", &facts, tz);
        assert_eq!(
            sv.as_deref(),
            Some("Vi ringer 2026-01-15 kl 14:05. Ring 112 om det blir värre.")
        );
        let en = t.render(SmsKind::CallbackConfirmation, "en", &facts, tz);
        assert_eq!(en.as_deref(), Some("We call you at 14:05."));
        // Without a time there is nothing to confirm.
        let none = t.render(
            SmsKind::CallbackConfirmation,
            "sv",
            &SmsFacts::default(),
            tz,
        );
        assert_eq!(none, None);
    }

    #[test]
    fn unknown_or_missing_placeholders_fail_naming_the_key() {
        let e = Templates::new(&texts("Vi ringer {tid}"))
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("templates.callback_confirmation.sv") && e.contains("{tid}"),
            "{e}"
        );
        let e = Templates::new(&texts("Vi ringer snart"))
            .err()
            .unwrap_or_default();
        assert!(e.contains("must name {time}"), "{e}");
        let e = Templates::new(&texts("Vi ringer {time} {link}"))
            .err()
            .unwrap_or_default();
        assert!(e.contains("{link}"), "{e}");
        let e = Templates::new(&texts("Vi ringer {time"))
            .err()
            .unwrap_or_default();
        assert!(e.contains("without its '}'"), "{e}");
        let mut t = texts("{time}");
        t.remove("callback_missed");
        let e = Templates::new(&t).err().unwrap_or_default();
        assert!(e.contains("templates.callback_missed.sv is missing"), "{e}");
        let mut t = texts("{time}");
        t.insert("birthday".into(), BTreeMap::new());
        let e = Templates::new(&t).err().unwrap_or_default();
        assert!(e.contains("unknown message kind"), "{e}");
    }

    #[test]
    fn self_care_link_is_filled_in() {
        let t = Templates::new(&texts("{time}")).expect("valid");
        let facts = SmsFacts {
            callback_at: None,
            link: Some("https://www.1177.se/x"),
        };
        let body = t.render(SmsKind::SelfCareAdvice, "de", &facts, Tz::UTC);
        assert_eq!(body.as_deref(), Some("Råd: https://www.1177.se/x"));
    }
}
