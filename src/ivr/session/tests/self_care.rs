//! Self-care advice after the questions (triage.toml `[[self_care]]`), the
//! closed-hours advice route, and the SMS consent of the callback path.

use super::*;

/// Swedish; adult; five red flags "no"; ear/nose/throat; days; not worsening:
/// the shipped route "ear, nose or throat for days, not worsening".
const TO_ADVICE: &str = "answer done done 1 3 2 2 2 2 2 6 2 2";
const ENT: &str = "ear, nose or throat for days, not worsening";

fn answer<'a>(d: &'a CaseDraft, q: &str) -> Option<&'a str> {
    d.answers
        .iter()
        .find(|a| a.question_id == q)
        .map(|a| a.value.as_str())
}

fn registered_any(h: &Harness) -> bool {
    h.log
        .iter()
        .any(|a| matches!(a, IvrAction::RegisterCase(_)))
}

#[test]
fn self_care_caller_hears_the_advice_and_ending_records_a_closed_contact() {
    let mut h = Harness::new(Some(CALLER));
    h.run(TO_ADVICE);
    assert_eq!(h.played().last().map(String::as_str), Some("self_care_ent"));
    // The advice is heard whole: a key during it is no answer.
    h.run("1 done");
    assert_eq!(
        h.played().last().map(String::as_str),
        Some("self_care_sms_keys")
    );
    h.run("1");
    assert_eq!(
        h.played().last().map(String::as_str),
        Some("self_care_choice_keys")
    );
    assert!(h.contact().is_none());
    h.run("2");
    let d = h.contact().expect("contact recorded").clone();
    assert_eq!(answer(&d, "self_care_advice"), Some(ENT));
    assert_eq!(answer(&d, "sms_consent"), Some("yes"));
    assert_eq!(answer(&d, "self_care_choice"), Some("end"));
    assert_eq!(answer(&d, "symptom"), Some("ear_nose_throat"));
    assert_eq!(d.level, 4);
    // The SMS needs the number; nothing else personal is kept.
    assert_eq!(
        d.callback_number.as_ref().map(|n| n.e164()),
        Some("+46701234567")
    );
    assert!(d.personnummer.is_none());
    h.run("done");
    assert_eq!(h.log.last(), Some(&IvrAction::Hangup));
    assert_eq!(
        h.outcome(),
        Some(&CallOutcome::SelfCare {
            closed_offer: false
        })
    );
    let p = h.played();
    assert_eq!(p.last().map(String::as_str), Some("goodbye"));
    assert!(!p.contains(&"ask_personnummer".to_owned()), "{p:?}");
    assert!(!registered_any(&h), "no case to work");
}

#[test]
fn no_sms_consent_keeps_no_number() {
    let mut h = Harness::new(Some(CALLER));
    h.run(&format!("{TO_ADVICE} done 2 2 done"));
    let d = h.contact().expect("contact recorded");
    assert_eq!(answer(d, "sms_consent"), Some("no"));
    assert!(d.callback_number.is_none());
}

#[test]
fn a_withheld_caller_is_not_asked_about_an_sms() {
    let mut h = Harness::new(None);
    h.run(&format!("{TO_ADVICE} done"));
    assert_eq!(
        h.played().last().map(String::as_str),
        Some("self_care_choice_keys")
    );
    h.run("2 done");
    let d = h.contact().expect("contact recorded");
    assert_eq!(answer(d, "sms_consent"), None);
    assert!(d.callback_number.is_none());
}

#[test]
fn pressing_one_after_the_advice_books_a_normal_callback_that_keeps_the_advice() {
    let mut h = Harness::new(Some(CALLER));
    h.run(&format!("{TO_ADVICE} done 1 1"));
    assert_eq!(
        h.played().last().map(String::as_str),
        Some("ask_personnummer")
    );
    // SMS consent was answered already: not asked again before register.
    h.run("# est=14:30 1 stored=c1@14:35 done done # done");
    assert_eq!(h.outcome(), registered("c1").as_ref());
    let d = h.draft().expect("callback case");
    assert_eq!(d.mode, CaseMode::Callback);
    assert_eq!(d.level, 4, "the triaged level: the IVR never lowers it");
    assert_eq!(answer(d, "self_care_advice"), Some(ENT));
    assert_eq!(answer(d, "self_care_choice"), Some("callback"));
    assert_eq!(answer(d, "sms_consent"), Some("yes"));
    assert!(h.contact().is_none(), "a case, not a closed contact");
    let asked = h.played().iter().filter(|p| *p == "sms_consent").count();
    assert_eq!(asked, 0);
}

#[test]
fn hanging_up_after_the_advice_still_records_the_contact() {
    let mut h = Harness::new(Some(CALLER));
    h.run(&format!("{TO_ADVICE} done hangup"));
    let d = h.contact().expect("contact recorded");
    assert_eq!(answer(d, "self_care_advice"), Some(ENT));
    assert!(d.callback_number.is_none(), "no SMS consent given");
    assert_eq!(
        h.outcome(),
        Some(&CallOutcome::SelfCare {
            closed_offer: false
        })
    );
    // Hanging up mid-advice counts too; before the advice nothing is kept.
    let mut h = Harness::new(Some(CALLER));
    h.run(&format!("{TO_ADVICE} hangup"));
    assert!(h.contact().is_some());
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1 3 2 2 2 2 2 6 2 hangup");
    assert!(h.contact().is_none());
}

#[test]
fn a_caller_who_chose_a_callback_then_hangs_up_is_still_a_contact() {
    let mut h = Harness::new(Some(CALLER));
    h.run(&format!("{TO_ADVICE} done 2 1 hangup"));
    let d = h.contact().expect("contact recorded");
    assert_eq!(answer(d, "self_care_choice"), Some("callback"));
    assert!(!registered_any(&h));
}

#[test]
fn no_answer_after_the_advice_is_re_asked_then_goes_to_the_nurse() {
    let mut h = Harness::new(Some(CALLER));
    h.run(&format!(
        "{TO_ADVICE} done 1 done wait=6 done 7 done wait=6"
    ));
    let p = h.played();
    let asked = p.iter().filter(|id| *id == "self_care_choice_keys").count();
    assert_eq!(asked, 3, "{p:?}");
    let d = h.draft().expect("hold case for the nurse");
    assert_eq!(d.mode, CaseMode::Hold);
    assert_eq!(answer(d, "self_care_advice"), Some(ENT));
    assert!(h.contact().is_none());
}

#[test]
fn other_answers_and_red_flags_get_no_self_care_advice() {
    for script in [
        // Pain is no self-care route.
        TO_PNR,
        // A child with ear trouble: the route is for adults.
        "answer done done 1 2 2 2 2 2 2 6 2 2",
        // Worsening.
        "answer done done 1 3 2 2 2 2 2 6 2 1",
    ] {
        let mut h = Harness::new(Some(CALLER));
        h.run(script);
        let p = h.played();
        assert!(
            !p.iter().any(|id| id.starts_with("self_care")),
            "{script}: {p:?}"
        );
        assert_eq!(
            p.last().map(String::as_str),
            Some("ask_personnummer"),
            "{script}"
        );
    }
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1 3 1 done wait=10");
    assert!(!h.played().iter().any(|id| id.starts_with("self_care")));
}

#[test]
fn closed_hours_advice_route_says_where_to_go_records_the_contact_and_ends() {
    let mut h = Harness::new(Some(CALLER));
    h.run(&format!("{TO_PNR} # advise"));
    let p = h.played();
    assert_eq!(p.last().map(String::as_str), Some("closed_advice"), "{p:?}");
    let d = h.contact().expect("contact recorded").clone();
    assert_eq!(answer(&d, "offer_closed"), Some("advice"));
    assert_eq!(answer(&d, "self_care_advice"), None, "pain has no route");
    assert!(d.callback_number.is_none());
    h.run("done done");
    assert_eq!(h.played().last().map(String::as_str), Some("goodbye"));
    assert_eq!(h.log.last(), Some(&IvrAction::Hangup));
    assert_eq!(
        h.outcome(),
        Some(&CallOutcome::SelfCare { closed_offer: true })
    );
    assert!(!registered_any(&h));
}

#[test]
fn closed_hours_advice_adds_the_routes_advice_unless_already_heard() {
    // Heard after the questions, chose a callback, then the offer is closed.
    let mut h = Harness::new(Some(CALLER));
    h.run(&format!("{TO_ADVICE} done 1 1 # advise"));
    let p = h.played();
    assert_eq!(p.iter().filter(|id| *id == "self_care_ent").count(), 1);
    assert_eq!(p.last().map(String::as_str), Some("closed_advice"));
    let d = h.contact().expect("contact recorded");
    assert_eq!(answer(d, "sms_consent"), Some("yes"));
    assert_eq!(
        d.callback_number.as_ref().map(|n| n.e164()),
        Some("+46701234567")
    );
}

#[test]
fn a_closed_estimate_without_advice_still_holds() {
    let mut h = Harness::new(Some(CALLER));
    h.run(&format!("{TO_PNR} # est=none"));
    assert_eq!(
        h.played().last().map(String::as_str),
        Some("callback_closed")
    );
    assert!(h.contact().is_none());
}

#[test]
fn sms_consent_is_asked_before_register_and_kept_in_the_case() {
    let mut h = Harness::new(Some(CALLER));
    h.run(&format!("{TO_PNR} # est=14:30 1"));
    assert_eq!(h.played().last().map(String::as_str), Some("sms_consent"));
    assert!(h.draft().is_none(), "not registered before the answer");
    h.run("1");
    assert_eq!(
        answer(h.draft().expect("registered"), "sms_consent"),
        Some("yes")
    );
    // A typed number is asked about too, after its read-back.
    let mut h = Harness::new(None);
    h.run(&format!("{TO_PNR} # est=14:30 done 0701234567# 1"));
    assert_eq!(h.played().last().map(String::as_str), Some("sms_consent"));
    h.run("2");
    assert_eq!(
        answer(h.draft().expect("registered"), "sms_consent"),
        Some("no")
    );
}

#[test]
fn silence_or_nonsense_at_sms_consent_is_no_consent_never_the_nurse() {
    let mut h = Harness::new(Some(CALLER));
    h.run(&format!("{TO_PNR} # est=14:30 1 done wait=6"));
    let d = h.draft().expect("registered without an answer");
    assert_eq!(d.mode, CaseMode::Callback);
    assert_eq!(answer(d, "sms_consent"), None);
    let mut h = Harness::new(Some(CALLER));
    h.run(&format!("{TO_PNR} # est=14:30 1 7 7 7"));
    let d = h.draft().expect("registered after the re-asks");
    assert_eq!(d.mode, CaseMode::Callback);
    assert_eq!(answer(d, "sms_consent"), None);
    let asked = h.played().iter().filter(|p| *p == "sms_consent").count();
    assert_eq!(asked, 3);
}

#[test]
fn hanging_up_at_the_sms_question_keeps_the_confirmed_callback() {
    // Level 4 is above register_dropped_up_to_level (2): only the
    // confirmation makes this a case.
    let mut h = Harness::new(Some(CALLER));
    h.run(&format!("{TO_PNR} # est=14:30 1"));
    assert_eq!(h.played().last().map(String::as_str), Some("sms_consent"));
    h.run("hangup");
    let d = h.draft().expect("the confirmed callback is registered");
    assert_eq!(d.mode, CaseMode::Callback);
    assert!(!d.dropped_in_ivr, "confirmed, not dropped");
    assert_eq!(answer(d, "sms_consent"), None, "no consent given");
}
