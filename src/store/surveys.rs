//! Post-contact survey answers, stored anonymously (migration 0019 says
//! why): channel, level, unit, the hour, and the answers; and their summary
//! per channel, level and unit for the reports.

use super::{storable, with_backend, Result, Store, StoredRow};
use crate::case::Channel;
use crate::queue::Priority;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The unit of the case named by `$5` unless `$4` gives one: the case id is
/// only read, never stored.
const INSERT_SQL: &str = "INSERT INTO survey_responses (id, channel, level, unit, hour, answers) \
     VALUES ($1, $2, $3, COALESCE(CAST($4 AS TEXT), (SELECT unit FROM cases WHERE id = CAST($5 AS TEXT))), $6, $7)";

const RANGE_SQL: &str = "SELECT id, channel, level, unit, answers FROM survey_responses \
     WHERE hour >= $1 AND hour < $2";

/// One resident's answers, as stored. Not `Debug`: answers are the resident's.
pub struct NewSurvey {
    pub channel: Channel,
    pub level: Priority,
    /// The care unit (`None`: the default unit, or `unit_of_case`'s).
    pub unit: Option<String>,
    /// Phone surveys: the unit is read from this case as the row is written;
    /// the id itself is not kept.
    pub unit_of_case: Option<Uuid>,
    /// When answered; stored cut to the hour.
    pub at: DateTime<Utc>,
    /// (question id, digit), at least one.
    pub answers: Vec<(String, u8)>,
}

/// One question's figures in a group.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct QuestionSummary {
    pub question: String,
    /// Responses that answered it.
    pub answered: u64,
    /// Mean of the digits pressed.
    pub mean: f64,
    /// Digit pressed -> how many times.
    pub distribution: BTreeMap<String, u64>,
}

/// Figures for one channel, level or unit (or all).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SurveyGroup {
    /// `phone`/`digital`, `1`-`5`, a unit id (`None` for the default unit), or `all`.
    pub key: Option<String>,
    /// Surveys with at least one answer.
    pub responses: u64,
    pub questions: Vec<QuestionSummary>,
}

/// Survey results for a time range (no personal data: counts only).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SurveySummary {
    pub overall: SurveyGroup,
    pub by_channel: Vec<SurveyGroup>,
    pub by_level: Vec<SurveyGroup>,
    /// Unit `None`: the default unit.
    pub by_unit: Vec<SurveyGroup>,
}

/// Sums while reading: per question, count, total and distribution.
#[derive(Default)]
struct Tally {
    responses: u64,
    questions: BTreeMap<String, (u64, u64, BTreeMap<u8, u64>)>,
}

impl Tally {
    fn add(&mut self, answers: &BTreeMap<String, u8>) {
        self.responses += 1;
        for (q, v) in answers {
            let e = self.questions.entry(q.clone()).or_default();
            e.0 += 1;
            e.1 += u64::from(*v);
            *e.2.entry(*v).or_default() += 1;
        }
    }

    fn group(&self, key: Option<String>) -> SurveyGroup {
        SurveyGroup {
            key,
            responses: self.responses,
            questions: self
                .questions
                .iter()
                .map(|(q, (n, sum, dist))| QuestionSummary {
                    question: q.clone(),
                    answered: *n,
                    mean: if *n == 0 {
                        0.0
                    } else {
                        *sum as f64 / *n as f64
                    },
                    distribution: dist.iter().map(|(d, c)| (d.to_string(), *c)).collect(),
                })
                .collect(),
        }
    }
}

fn groups(tallies: BTreeMap<Option<String>, Tally>) -> Vec<SurveyGroup> {
    tallies.into_iter().map(|(k, t)| t.group(k)).collect()
}

impl Store {
    /// Stores one survey's answers (cut to the hour, no link to the case).
    pub async fn insert_survey(&self, survey: &NewSurvey) -> Result<()> {
        let hour = storable(
            "hour",
            survey
                .at
                .duration_trunc(TimeDelta::hours(1))
                .unwrap_or(survey.at),
        )?;
        let answers: BTreeMap<&str, u8> = survey
            .answers
            .iter()
            .map(|(q, v)| (q.as_str(), *v))
            .collect();
        let answers = serde_json::to_string(&answers)
            .map_err(|e| super::StoreError::corrupt("answers", e))?;
        with_backend!(self, |pool, ts| {
            sqlx::query(INSERT_SQL)
                .bind(Uuid::new_v4().to_string())
                .bind(survey.channel.as_str())
                .bind(i16::from(survey.level.level()))
                .bind(survey.unit.clone())
                .bind(survey.unit_of_case.map(|c| c.to_string()))
                .bind(ts(hour))
                .bind(&answers)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Survey results for answers given in `[from, to)` (by their hour):
    /// count, mean and distribution per question, overall and per channel,
    /// level and unit.
    pub async fn survey_summary(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<SurveySummary> {
        let from = storable("from", from)?;
        let to = storable("to", to)?;
        type Row = (String, i64, Option<String>, String);
        let rows: Vec<Row> = with_backend!(self, |pool, ts| {
            sqlx::query(RANGE_SQL)
                .bind(ts(from))
                .bind(ts(to))
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| {
                    r.by_id(|r| {
                        Ok((
                            r.text("channel")?,
                            r.int("level")?,
                            r.opt_text("unit")?,
                            r.text("answers")?,
                        ))
                    })
                })
                .collect::<Result<_>>()?
        });
        let mut overall = Tally::default();
        let mut by_channel: BTreeMap<Option<String>, Tally> = BTreeMap::new();
        let mut by_level: BTreeMap<Option<String>, Tally> = BTreeMap::new();
        let mut by_unit: BTreeMap<Option<String>, Tally> = BTreeMap::new();
        for (channel, level, unit, answers) in rows {
            // The serde error names the problem, never the answers.
            let answers: BTreeMap<String, u8> = serde_json::from_str(&answers)
                .map_err(|e| super::StoreError::corrupt("answers", e))?;
            overall.add(&answers);
            by_channel.entry(Some(channel)).or_default().add(&answers);
            by_level
                .entry(Some(level.to_string()))
                .or_default()
                .add(&answers);
            by_unit.entry(unit).or_default().add(&answers);
        }
        Ok(SurveySummary {
            overall: overall.group(Some("all".into())),
            by_channel: groups(by_channel),
            by_level: groups(by_level),
            by_unit: groups(by_unit),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{on_both_backends, postgres_test_db, sqlite_test_db};
    use chrono::TimeZone;

    fn survey(channel: Channel, level: u8, at: DateTime<Utc>, answers: &[(&str, u8)]) -> NewSurvey {
        NewSurvey {
            channel,
            level: Priority::new(level).unwrap(),
            unit: None,
            unit_of_case: None,
            at,
            answers: answers.iter().map(|(q, v)| (q.to_string(), *v)).collect(),
        }
    }

    async fn summary_counts_means_and_distributions_per_group(store: Store) {
        let day = Utc.with_ymd_and_hms(2030, 3, 4, 9, 41, 7).unwrap();
        let phone = |l, a: &[(&str, u8)]| survey(Channel::Phone, l, day, a);
        for s in [
            phone(3, &[("helped", 5), ("easy", 1)]),
            phone(3, &[("helped", 3), ("easy", 2)]),
            phone(4, &[("helped", 4)]),
            NewSurvey {
                unit: Some("barn".into()),
                ..survey(Channel::Digital, 2, day, &[("helped", 2), ("easy", 1)])
            },
            // Outside the range: the next day.
            survey(
                Channel::Phone,
                3,
                day + TimeDelta::days(1),
                &[("helped", 1)],
            ),
        ] {
            store.insert_survey(&s).await.unwrap();
        }
        let from = Utc.with_ymd_and_hms(2030, 3, 4, 0, 0, 0).unwrap();
        let s = store
            .survey_summary(from, from + TimeDelta::days(1))
            .await
            .unwrap();
        assert_eq!(s.overall.responses, 4);
        let helped = &s
            .overall
            .questions
            .iter()
            .find(|q| q.question == "helped")
            .unwrap();
        assert_eq!(helped.answered, 4);
        assert!((helped.mean - 3.5).abs() < 1e-9, "{helped:?}");
        let easy = s
            .overall
            .questions
            .iter()
            .find(|q| q.question == "easy")
            .unwrap();
        assert_eq!(easy.answered, 3);
        assert_eq!(easy.distribution.get("1"), Some(&2));
        assert_eq!(easy.distribution.get("2"), Some(&1));
        let keys = |g: &[SurveyGroup]| -> Vec<(Option<String>, u64)> {
            g.iter().map(|g| (g.key.clone(), g.responses)).collect()
        };
        assert_eq!(
            keys(&s.by_channel),
            [(Some("digital".into()), 1), (Some("phone".into()), 3)]
        );
        assert_eq!(
            keys(&s.by_level),
            [
                (Some("2".into()), 1),
                (Some("3".into()), 2),
                (Some("4".into()), 1)
            ]
        );
        assert_eq!(keys(&s.by_unit), [(None, 3), (Some("barn".into()), 1)]);
        let level3 = &s.by_level[1].questions;
        assert_eq!(
            level3.iter().find(|q| q.question == "helped").unwrap().mean,
            4.0
        );
    }

    /// The unit is read from the case, but nothing in the row leads back to it.
    async fn phone_survey_takes_the_case_unit_and_keeps_no_link(store: Store) {
        let now = Utc::now();
        let case = crate::case::NewCase {
            channel: Channel::Phone,
            priority: Priority::new(3).unwrap(),
            mode: crate::case::CaseMode::Callback,
            registered_at: now,
            deadline: now,
            estimated_callback_at: None,
            answers: Vec::new(),
            callback_number: Some("+46701234567".into()),
            personnummer: None,
            language: "sv".into(),
            call_id: Some("call-xyz@host".into()),
            external_ref: None,
            summary: String::new(),
            red_flag: false,
        };
        let c = store.insert_case(&case).await.unwrap();
        store
            .execute_raw(&format!(
                "UPDATE cases SET unit = 'barn' WHERE id = '{}'",
                c.id
            ))
            .await
            .unwrap();
        store
            .insert_survey(&NewSurvey {
                unit_of_case: Some(c.id),
                ..survey(Channel::Phone, 3, now, &[("helped", 4)])
            })
            .await
            .unwrap();
        let s = store
            .survey_summary(now - TimeDelta::hours(2), now + TimeDelta::hours(1))
            .await
            .unwrap();
        assert_eq!(s.by_unit.len(), 1);
        assert_eq!(s.by_unit[0].key.as_deref(), Some("barn"));
        let row: Vec<String> = with_backend!(store, |pool, _ts| {
            sqlx::query("SELECT id, channel, CAST(level AS TEXT) AS level, unit, CAST(hour AS TEXT) AS hour, answers FROM survey_responses")
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|r| {
                    ["id", "channel", "level", "unit", "hour", "answers"]
                        .into_iter()
                        .map(|c| r.opt_text(c).unwrap().unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect()
        });
        assert_eq!(row.len(), 1);
        let text = &row[0];
        for personal in [c.id.to_string(), "46701234567".into(), "call-xyz".into()] {
            assert!(!text.contains(&personal), "{text}");
        }
    }

    on_both_backends!(
        summary_counts_means_and_distributions_per_group,
        phone_survey_takes_the_case_unit_and_keeps_no_link,
    );
}
