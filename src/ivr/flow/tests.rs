use super::*;

/// The node named `name` (panics when the flow has none).
fn node<'f>(flow: &'f Flow, name: &str) -> &'f Node {
    flow.nodes()
        .iter()
        .find(|n| n.id == name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

fn err_of(text: &str) -> String {
    Flow::from_toml(text).unwrap_err().to_string()
}

#[test]
fn shipped_flow_loads_with_the_default_contract() {
    let flow = Flow::from_toml(&shipped_text()).unwrap();
    assert_eq!(flow.node(flow.start()).id, "greeting");
    let s = flow.settings();
    assert_eq!(s.default_language, Language::Sv);
    assert_eq!(s.digit_timeout, Duration::from_secs(6));
    assert_eq!(s.inter_digit_timeout, Duration::from_secs(5));
    assert_eq!(s.max_failures, 2);
    match &node(&flow, "symptom").kind {
        NodeKind::Menu { choices, .. } => assert!(choices.len() >= 8),
        other => panic!("symptom is {other:?}"),
    }
    let red_flags = flow
        .nodes()
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::YesNo { red_flag: true, .. }))
        .count();
    assert_eq!(red_flags, 5);
}

#[test]
fn shipped_triage_rules_only_use_answers_the_flow_produces() {
    let flow = Flow::from_toml(&shipped_text()).unwrap();
    let triage = crate::triage::shipped();
    triage
        .check_answers_known("triage.toml", &|q, v| flow.knows_answer(q, v))
        .unwrap();
}

#[test]
fn unknown_next_names_the_file_key_and_fix() {
    let text = shipped_text().replace("next = \"rf_chest_pain\"", "next = \"rf_chest_pian\"");
    let err = err_of(&text);
    assert!(
        err.starts_with("ivr.toml: nodes.rf_breathing.next"),
        "{err}"
    );
    assert!(err.contains("rf_chest_pian"), "{err}");
    assert!(err.contains("fix:"), "{err}");
}

#[test]
fn duplicate_menu_digit_is_refused() {
    let text = shipped_text().replace(
        "{ digit = 2, value = \"child\"",
        "{ digit = 1, value = \"child\"",
    );
    let err = err_of(&text);
    assert!(err.contains("nodes.about.choices[1]"), "{err}");
    assert!(err.contains("used twice"), "{err}");
}

#[test]
fn star_and_hash_cannot_be_menu_digits() {
    let text = shipped_text().replace(
        "{ digit = 3, value = \"adult\"",
        "{ digit = 11, value = \"adult\"",
    );
    assert!(err_of(&text).contains("not a key"));
}

#[test]
fn unknown_placeholder_and_language_prefix_are_refused() {
    let text = shipped_text().replace(
        "\"{estimate_time}\", \"callback_offer_number\"",
        "\"{estimate}\", \"callback_offer_number\"",
    );
    assert!(err_of(&text).contains("unknown placeholder {estimate}"));
    let text = shipped_text().replace("\"en:choose_language\"", "\"de:choose_language\"");
    assert!(err_of(&text).contains("unknown language prefix"));
}

#[test]
fn unknown_kind_or_key_is_a_parse_error() {
    let text = shipped_text().replace("kind = \"goodbye\"", "kind = \"farewell\"");
    assert!(matches!(
        Flow::from_toml(&text),
        Err(FlowError::Parse { .. })
    ));
    let text = shipped_text().replace("wait_s = 10", "wait_s = 10\nwiat = 3");
    assert!(matches!(
        Flow::from_toml(&text),
        Err(FlowError::Parse { .. })
    ));
}

#[test]
fn nurse_node_must_be_a_hold_node() {
    let text = shipped_text().replace("nurse_node = \"nurse\"", "nurse_node = \"goodbye\"");
    assert!(err_of(&text).contains("settings.nurse_node: is not a hold node"));
}

#[test]
fn advice_must_lead_to_a_hold() {
    let text = shipped_text().replace("next = \"red_flag_hold\"", "next = \"goodbye\"");
    assert!(err_of(&text).contains("nodes.advice_112.next"));
}

#[test]
fn validate_reports_a_prompt_missing_from_the_manifest() {
    let flow = Flow::from_toml(&shipped_text()).unwrap();
    let err = flow
        .validate(&|id| id != "ask_rf_stroke")
        .unwrap_err()
        .to_string();
    assert!(err.contains("ask_rf_stroke"), "{err}");
    assert!(err.contains("generate.sh"), "{err}");
    flow.validate(&|_| true).unwrap();
}

#[test]
fn prompt_ids_include_number_and_digit_prompts_for_spoken_values() {
    let flow = Flow::from_toml(&shipped_text()).unwrap();
    let ids = flow.prompt_ids();
    for id in [
        "klockan",
        "n0",
        "n59",
        "d0",
        "d9",
        "hold_music",
        "choose_language",
        "no_input",
    ] {
        assert!(ids.contains(id), "{id}");
    }
    assert!(!ids.iter().any(|i| i.contains(':') || i.starts_with('{')));
}

#[test]
fn knows_answer_covers_menus_and_yes_no() {
    let flow = Flow::from_toml(&shipped_text()).unwrap();
    assert!(flow.knows_answer("about", "infant"));
    assert!(flow.knows_answer("rf_stroke", "yes"));
    assert!(!flow.knows_answer("about", "dog"));
    assert!(!flow.knows_answer("nothing", "yes"));
}

#[test]
fn garbage_toml_never_panics() {
    for text in [
        "",
        "start = 1",
        "[nodes.a]\nkind = \"play\"",
        "\u{0}",
        "start = \"a\"\n[settings]\n",
    ] {
        assert!(Flow::from_toml(text).is_err());
    }
}

#[test]
fn shipped_flow_checks_bookings_after_the_language_and_records_after_registering() {
    let flow = Flow::from_toml(&shipped_text()).unwrap();
    let NodeKind::Language { next, .. } = node(&flow, "language").kind else {
        panic!("language node");
    };
    assert!(matches!(
        flow.node(next).kind,
        NodeKind::BookedCallback { .. }
    ));
    let NodeKind::Register { next, .. } = node(&flow, "register").kind else {
        panic!("register node");
    };
    match &flow.node(next).kind {
        NodeKind::VoiceNote { max, silence, .. } => {
            assert_eq!(*max, Duration::from_secs(30));
            assert_eq!(*silence, Duration::from_secs(5));
        }
        other => panic!("after register: {other:?}"),
    }
    let ids = flow.prompt_ids();
    for id in [
        "voice_note",
        "beep",
        "booked_callback",
        "booked_cancelled",
        "klockan",
    ] {
        assert!(ids.contains(id), "{id}");
    }
}

#[test]
fn voice_note_length_defaults_to_thirty_seconds_and_is_bounded() {
    let text = shipped_text().replace("max_s = 30\n", "");
    let flow = Flow::from_toml(&text).unwrap();
    assert!(matches!(
        node(&flow, "voice_note").kind,
        NodeKind::VoiceNote { max, .. } if max == Duration::from_secs(30)
    ));
    let err = err_of(&shipped_text().replace("max_s = 30", "max_s = 3600"));
    assert!(err.contains("nodes.voice_note.max_s"), "{err}");
    assert!(err.contains("fix:"), "{err}");
    let err = err_of(&shipped_text().replace("silence_s = 5", "silence_s = 0"));
    assert!(err.contains("silence_s"), "{err}");
}

#[test]
fn booked_callback_retriage_must_lead_to_the_questions() {
    let flow = Flow::from_toml(&shipped_text()).unwrap();
    let NodeKind::BookedCallback { retriage, .. } = node(&flow, "booked").kind else {
        panic!("booked node");
    };
    assert!(matches!(flow.node(retriage).kind, NodeKind::Menu { .. }));
    let err = err_of(&shipped_text().replace("retriage = \"about\"", "retriage = \"booked\""));
    assert!(err.contains("nodes.booked.retriage"), "{err}");
    assert!(err.contains("fix:"), "{err}");
}

#[test]
fn self_care_and_closed_advice_must_end_the_call() {
    let text = shipped_text().replace("\nend = \"goodbye\"", "\nend = \"nurse\"");
    let err = err_of(&text);
    assert!(
        err.contains("nodes.self_care.end: is not a goodbye node"),
        "{err}"
    );
    let text = shipped_text().replace("advice_end = \"goodbye\"", "advice_end = \"nurse\"");
    let err = err_of(&text);
    assert!(err.contains("nodes.callback.advice_end"), "{err}");
    let text = shipped_text().replace("advice_end = \"goodbye\"", "advice_end = \"nowhere\"");
    assert!(err_of(&text).contains("unknown node \"nowhere\""));
}

#[test]
fn shipped_flow_asks_sms_consent_right_before_register() {
    let flow = Flow::from_toml(&shipped_text()).unwrap();
    let target = |name: &str| match &node(&flow, name).kind {
        NodeKind::CallbackOffer { next, .. } | NodeKind::NumberEntry { next, .. } => *next,
        other => panic!("{name} is {other:?}"),
    };
    for from in ["callback", "number"] {
        assert_eq!(flow.node(target(from)).id, "sms_consent");
    }
    match &node(&flow, "sms_consent").kind {
        NodeKind::SmsConsent { next, .. } => assert_eq!(flow.node(*next).id, "register"),
        other => panic!("sms_consent is {other:?}"),
    }
    assert!(flow.knows_answer(SMS_CONSENT, "yes"));
}
