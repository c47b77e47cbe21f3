//! What the IVR may offer a caller: a callback at the estimated time, a callback
//! at the next opening, or (closed) hold for a nurse or advice about another
//! route. Levels 1-2 are never refused (DESIGN.md section 3).

use super::hours::{ClosedRoute, OpeningHours};
use super::Priority;
use chrono::{DateTime, Utc};

/// The supervisor's live switches (start-up values until the settings land).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferSwitches {
    /// `false`: the supervisor has closed the callback offer.
    pub callback_offer_open: bool,
    /// Overrides `hours.toml`'s `daily_callback_capacity` when set (0 = no limit).
    pub callback_capacity: Option<u32>,
}

impl Default for OfferSwitches {
    fn default() -> Self {
        OfferSwitches {
            callback_offer_open: true,
            callback_capacity: None,
        }
    }
}

/// Why no callback is offered today.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosedReason {
    /// The supervisor closed the offer.
    OfferClosed,
    /// The day's callbacks are all taken.
    OverCapacity,
    /// The estimate falls after today's closing (or the service is closed now).
    AfterHours,
}

/// The decision for one caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// Offer a callback at about `at`; `next_opening` when it is not today.
    Callback {
        at: DateTime<Utc>,
        next_opening: bool,
    },
    /// Play the closed message and hold for a nurse.
    Hold(ClosedReason),
    /// Advise another route and end the call.
    Advice(ClosedReason),
}

/// The situation the decision is made in; the estimates come from the replay.
#[derive(Clone, Debug)]
pub struct OfferInput {
    pub now: DateTime<Utc>,
    pub priority: Priority,
    /// Callbacks already registered today (local day of `now`).
    pub registered_today: u32,
    /// Expected start if registered now; `None`: the calendar never opens again.
    pub estimate: Option<DateTime<Utc>>,
}

/// Whether the day's capacity is used up.
pub fn over_capacity(
    hours: &OpeningHours,
    switches: &OfferSwitches,
    registered_today: u32,
) -> bool {
    let capacity = switches.callback_capacity.unwrap_or(hours.daily_capacity);
    capacity > 0 && registered_today >= capacity
}

/// Decides the offer. `estimate_from(t)` re-runs the estimate with no callback
/// before `t` (used when today's capacity is full and the route is the next opening).
pub fn decide(
    input: &OfferInput,
    hours: &OpeningHours,
    switches: &OfferSwitches,
    estimate_from: impl FnOnce(DateTime<Utc>) -> Option<DateTime<Utc>>,
) -> Offer {
    let urgent = input.priority.level() <= 2;
    let today = hours.local_date(input.now);
    if urgent {
        // Never refused: the best time we have, or now when the calendar is empty.
        let at = input.estimate.unwrap_or(input.now);
        return Offer::Callback {
            at,
            next_opening: hours.local_date(at) != today,
        };
    }
    let route = |reason: ClosedReason, route: ClosedRoute| match route {
        ClosedRoute::Advice => Offer::Advice(reason),
        ClosedRoute::Hold | ClosedRoute::NextOpening => Offer::Hold(reason),
    };
    if !switches.callback_offer_open {
        return route(ClosedReason::OfferClosed, hours.when_offer_closed);
    }
    let full = over_capacity(hours, switches, input.registered_today);
    let (reason, at) = if full {
        let at = hours
            .first_opening_after_today(input.now)
            .and_then(estimate_from);
        (ClosedReason::OverCapacity, at)
    } else {
        match input.estimate {
            Some(at) if hours.local_date(at) == today => {
                return Offer::Callback {
                    at,
                    next_opening: false,
                }
            }
            other => (ClosedReason::AfterHours, other),
        }
    };
    match (hours.when_closed, at) {
        (ClosedRoute::NextOpening, Some(at)) => Offer::Callback {
            at,
            next_opening: true,
        },
        // Nothing to offer at all: hold rather than leave the caller with nothing.
        (ClosedRoute::NextOpening, None) => Offer::Hold(reason),
        (other, _) => route(reason, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};
    use std::path::Path;

    fn hours(extra: &str) -> OpeningHours {
        let text = format!(
            "daily_callback_capacity = 10\n{extra}\n[weekly]\nmon = [\"08:00-20:00\"]\ntue = [\"08:00-20:00\"]\n\
             wed = [\"08:00-20:00\"]\nthu = [\"08:00-20:00\"]\nfri = [\"08:00-20:00\"]\nsat = []\nsun = []\n"
        );
        match OpeningHours::parse(&text, Path::new("hours.toml")) {
            Ok(h) => h,
            Err(e) => panic!("{e}"),
        }
    }

    /// Monday 3 March 2025, local time (UTC+1).
    fn monday(h: u32, m: u32) -> DateTime<Utc> {
        chrono_tz::Europe::Stockholm
            .with_ymd_and_hms(2025, 3, 3, h, m, 0)
            .single()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    fn input(level: u8, now: DateTime<Utc>, est: Option<DateTime<Utc>>, today: u32) -> OfferInput {
        OfferInput {
            now,
            priority: Priority::new(level).unwrap_or(Priority::LOWEST),
            registered_today: today,
            estimate: est,
        }
    }

    #[test]
    fn estimate_today_is_offered_as_is() {
        let h = hours("");
        let at = monday(11, 0);
        let offer = decide(
            &input(4, monday(10, 0), Some(at), 0),
            &h,
            &OfferSwitches::default(),
            |_| None,
        );
        assert_eq!(
            offer,
            Offer::Callback {
                at,
                next_opening: false
            }
        );
    }

    #[test]
    fn estimate_after_closing_offers_next_opening_when_configured() {
        let h = hours("");
        let tomorrow = monday(8, 30) + TimeDelta::days(1);
        let offer = decide(
            &input(4, monday(19, 50), Some(tomorrow), 0),
            &h,
            &OfferSwitches::default(),
            |_| None,
        );
        assert_eq!(
            offer,
            Offer::Callback {
                at: tomorrow,
                next_opening: true
            }
        );
    }

    #[test]
    fn estimate_after_closing_advises_when_configured() {
        let h = hours("when_closed = \"advice\"");
        let tomorrow = monday(8, 30) + TimeDelta::days(1);
        let offer = decide(
            &input(3, monday(19, 50), Some(tomorrow), 0),
            &h,
            &OfferSwitches::default(),
            |_| None,
        );
        assert_eq!(offer, Offer::Advice(ClosedReason::AfterHours));
        let h = hours("when_closed = \"hold\"");
        let offer = decide(
            &input(3, monday(19, 50), Some(tomorrow), 0),
            &h,
            &OfferSwitches::default(),
            |_| None,
        );
        assert_eq!(offer, Offer::Hold(ClosedReason::AfterHours));
    }

    #[test]
    fn full_day_moves_the_callback_to_the_next_day() {
        let h = hours("");
        let mut asked = None;
        let offer = decide(
            &input(4, monday(10, 0), Some(monday(10, 30)), 10),
            &h,
            &OfferSwitches::default(),
            |from| {
                asked = Some(from);
                Some(from + TimeDelta::minutes(12))
            },
        );
        let tue_open = monday(8, 0) + TimeDelta::days(1);
        assert_eq!(asked, Some(tue_open));
        assert_eq!(
            offer,
            Offer::Callback {
                at: tue_open + TimeDelta::minutes(12),
                next_opening: true
            }
        );
        // The supervisor's capacity overrides the file.
        let more = OfferSwitches {
            callback_offer_open: true,
            callback_capacity: Some(20),
        };
        let offer = decide(
            &input(4, monday(10, 0), Some(monday(10, 30)), 10),
            &h,
            &more,
            |_| None,
        );
        assert_eq!(
            offer,
            Offer::Callback {
                at: monday(10, 30),
                next_opening: false
            }
        );
    }

    #[test]
    fn closed_offer_routes_as_configured() {
        let closed = OfferSwitches {
            callback_offer_open: false,
            callback_capacity: None,
        };
        let h = hours("");
        let offer = decide(
            &input(4, monday(10, 0), Some(monday(10, 30)), 0),
            &h,
            &closed,
            |_| None,
        );
        assert_eq!(offer, Offer::Hold(ClosedReason::OfferClosed));
        let h = hours("when_offer_closed = \"advice\"");
        let offer = decide(
            &input(5, monday(10, 0), Some(monday(10, 30)), 0),
            &h,
            &closed,
            |_| None,
        );
        assert_eq!(offer, Offer::Advice(ClosedReason::OfferClosed));
    }

    #[test]
    fn level_two_is_never_refused() {
        let closed = OfferSwitches {
            callback_offer_open: false,
            callback_capacity: Some(1),
        };
        let h = hours("when_closed = \"advice\"\nwhen_offer_closed = \"advice\"");
        let late = monday(8, 10) + TimeDelta::days(1);
        let offer = decide(
            &input(2, monday(21, 0), Some(late), 99),
            &h,
            &closed,
            |_| None,
        );
        assert_eq!(
            offer,
            Offer::Callback {
                at: late,
                next_opening: true
            }
        );
    }
}
