//! Headless Chromium (`tests/browser/units_handoff.mjs`): a 1177 nurse hands
//! a case to Vårdcentralen Markaryd in the nurse page, a Markaryd nurse sees
//! it in her list and closes it, the 1177 list no longer shows it, and the
//! audit log has every step. Without chromium or node the test is skipped,
//! unless `CI` is set.

mod common;

use common::{repo_root, TestService};
use phone_entrance::store::{Answer, CaseMode, Channel, NewCase, Role};

#[tokio::test]
async fn a_markaryd_nurse_closes_a_handed_off_case_in_headless_chromium() {
    let dir = common::browser::ready();
    let artifacts = repo_root().join("test-artifacts/browser");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let svc = TestService::start().await;
    svc.add_staff("anna", "nurse-pw-1177", Role::Nurse).await;
    svc.add_staff("mia", "nurse-pw-markaryd", Role::Nurse).await;
    svc.add_staff("sara", "super-pw-units", Role::Supervisor)
        .await;
    let store = svc.store().await;
    assert!(matches!(
        store.set_user_unit("mia", Some("vc-markaryd")).await,
        Ok(true)
    ));
    let at = chrono::Utc::now() - chrono::TimeDelta::minutes(15);
    let case = store
        .insert_case(&NewCase {
            channel: Channel::Phone,
            priority: phone_entrance::queue::Priority::new(3).expect("level"),
            mode: CaseMode::Callback,
            registered_at: at,
            deadline: at + chrono::TimeDelta::hours(2),
            estimated_callback_at: None,
            answers: vec![Answer {
                question_id: "symptom".into(),
                question_text: "Huvudsakligt besvär".into(),
                value: "rash".into(),
                value_text: "Utslag".into(),
            }],
            callback_number: Some("+46701234567".into()),
            personnummer: None,
            language: "sv".into(),
            call_id: None,
            external_ref: None,
            summary: String::new(),
            red_flag: false,
        })
        .await
        .expect("case");

    let profile = tempfile::tempdir().expect("profile dir");
    let mut walk = common::browser::node(&dir, "units_handoff.mjs");
    walk.env("PE_BASE_URL", svc.http_url(""))
        .env("PE_ARTIFACTS", &artifacts)
        .env("PE_PROFILE", profile.path())
        .env("PE_NURSE", "anna:nurse-pw-1177")
        .env("PE_UNIT_NURSE", "mia:nurse-pw-markaryd")
        .env("PE_SUPERVISOR", "sara:super-pw-units");
    common::browser::walk(walk).await;

    let closed = svc.case(&case.id.to_string()).await;
    assert_eq!(closed.status, phone_entrance::store::CaseStatus::Done);
    let info = store
        .claim_info(case.id)
        .await
        .expect("claim info")
        .expect("case");
    assert_eq!(
        info.outcome,
        Some(phone_entrance::store::Outcome::HealthCentre)
    );
    let trail = store.audit_rows(Some(case.id), 100).await.expect("audit");
    let steps: Vec<(&str, &str)> = trail
        .iter()
        .filter(|r| r.action.starts_with("case.") && r.action != "case.read")
        .map(|r| (r.action.as_str(), r.actor.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("case.created", "ivr"),
            ("case.claim", "anna"),
            ("case.handoff", "anna"),
            ("case.claim", "mia"),
            ("case.outcome", "mia"),
        ]
    );
    let handoffs = store.handoffs(case.id).await.expect("handoffs");
    assert_eq!(handoffs.len(), 1);
    assert_eq!(handoffs[0].note, "Behöver läkarbesök inom en vecka");
    svc.stop().await;
}
