//! FHIR over real HTTP against the real service (tests/common): the
//! transaction Bundle adapted from the specification's examples
//! (tests/fixtures/fhir/README.md) accepted once, re-posts, bad Bundles as
//! OperationOutcome 400, `GET /fhir/Task` and `/fhir/metadata` parsed back as
//! R4 by the fhir-r4 crate, and the listing look-up against the simulated
//! population register (simulators::fhir_register): found inline, found by
//! reference, not listed, a timeout and a 500, each shown on the case.

mod common;

use common::TestService;
use fhir_r4::resources::Resource;
use phone_entrance::api::auth::sha256_hex;
use phone_entrance::store::Role;
use serde_json::{json, Value};
use simulators::fhir_register::{FhirRegister, Listed};
use std::time::Duration;

const TOKEN: &str = "fhir-test-token-0123456789abcdef";
const FIXTURE: &str = include_str!("fixtures/fhir/transaction-bundle.json");
const PASSWORD: &str = "correct horse battery staple";

const LISTED_INLINE: &str = "191212121212";
const LISTED_BY_REFERENCE: &str = "198001012346";
const NOT_LISTED: &str = "198505051238";
const SLOW: &str = "199009093452";
const FAILING: &str = "197503034568";

async fn start(register: &FhirRegister) -> TestService {
    let base = register.base_url();
    TestService::start_with(None, move |dir| {
        std::fs::write(
            dir.join("intake-clients.toml"),
            format!(
                "[[client]]\nname = \"1177-direkt\"\ntoken_sha256 = \"{}\"\n",
                sha256_hex(TOKEN)
            ),
        )
        .expect("intake-clients.toml");
        std::fs::write(
            dir.join("listing.toml"),
            format!("enabled = true\nbase_url = \"{base}\"\ntimeout_ms = 400\npoll_ms = 100\n"),
        )
        .expect("listing.toml");
    })
    .await
}

async fn register() -> FhirRegister {
    FhirRegister::start(vec![
        (
            LISTED_INLINE.into(),
            Listed::Inline {
                hsa_id: "SE2321000065-VCMARKARYD".into(),
                name: "Vårdcentralen Markaryd".into(),
            },
        ),
        (
            LISTED_BY_REFERENCE.into(),
            Listed::ByReference {
                org_id: "vc-stromsnasbruk".into(),
                hsa_id: "SE2321000065-VCSTROMSNAS".into(),
                name: "Vårdcentralen Strömsnäsbruk".into(),
            },
        ),
        (NOT_LISTED.into(), Listed::Nowhere),
        (SLOW.into(), Listed::Nowhere),
        (FAILING.into(), Listed::Nowhere),
    ])
    .await
    .expect("register simulator")
}

struct Reply {
    status: u16,
    content_type: String,
    json: Value,
}

async fn send(req: reqwest::RequestBuilder) -> Reply {
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.text().await.expect("body");
    Reply {
        status,
        content_type,
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

async fn post_bundle(svc: &TestService, bundle: &Value, token: Option<&str>) -> Reply {
    let mut req = reqwest::Client::new()
        .post(svc.http_url("/fhir"))
        .header("content-type", "application/fhir+json")
        .body(bundle.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    send(req).await
}

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("fixture")
}

fn assert_outcome(reply: &Reply, status: u16, code: &str) -> String {
    assert_eq!(reply.status, status, "{}", reply.json);
    assert!(
        reply.content_type.starts_with("application/fhir+json"),
        "{}",
        reply.content_type
    );
    let parsed: Resource = serde_json::from_value(reply.json.clone()).expect("R4 resource");
    assert!(
        matches!(parsed, Resource::OperationOutcome(_)),
        "{}",
        reply.json
    );
    assert_eq!(reply.json["issue"][0]["severity"], "error");
    assert_eq!(reply.json["issue"][0]["code"], code, "{}", reply.json);
    reply.json["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn task_id(reply: &Reply) -> String {
    let location = reply.json["entry"][0]["response"]["location"]
        .as_str()
        .expect("location");
    location.strip_prefix("Task/").expect("Task/").to_string()
}

/// Waits until the case's listing has left `pending`; returns it.
async fn listing_of(staff: &reqwest::Client, svc: &TestService, id: &str) -> Value {
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let case: Value = staff
            .get(svc.http_url(&format!("/api/v1/cases/{id}")))
            .send()
            .await
            .expect("case read")
            .json()
            .await
            .expect("case json");
        let listing = case["listing"].clone();
        let status = listing["status"].as_str().unwrap_or("");
        if !status.is_empty() && status != "pending" {
            return listing;
        }
        assert!(tokio::time::Instant::now() < end, "listing still {listing}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post_json_case(svc: &TestService, reference: &str, personnummer: &str) -> String {
    let body = json!({
        "external_ref": reference, "level": 4, "personnummer": personnummer,
        "callback_number": "0701234567",
        "answers": [{"question_id": "q", "question_text": "Hur mår du?", "answer": "Sådär"}]
    });
    let reply = send(
        reqwest::Client::new()
            .post(svc.http_url("/api/v1/cases"))
            .bearer_auth(TOKEN)
            .json(&body),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    reply.json["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn spec_bundle_is_accepted_once_and_read_back_as_r4_tasks_with_listing() {
    let register = register().await;
    let svc = start(&register).await;

    // Accepted once...
    let first = post_bundle(&svc, &fixture(), Some(TOKEN)).await;
    assert_eq!(first.status, 200, "{}", first.json);
    assert!(first.content_type.starts_with("application/fhir+json"));
    let parsed: Resource = serde_json::from_value(first.json.clone()).expect("R4 Bundle");
    assert!(matches!(parsed, Resource::Bundle(_)));
    assert_eq!(first.json["type"], "transaction-response");
    assert_eq!(first.json["entry"].as_array().map(Vec::len), Some(3));
    assert_eq!(first.json["entry"][0]["response"]["status"], "201 Created");
    let id = task_id(&first);
    // ...an identical re-post is the same case...
    let again = post_bundle(&svc, &fixture(), Some(TOKEN)).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(task_id(&again), id);
    // ...and different content under the same Task.identifier is a conflict.
    let mut changed = fixture();
    changed["entry"][0]["resource"]["priority"] = json!("stat");
    changed["entry"][0]["resource"]["extension"] = json!([]);
    assert_outcome(
        &post_bundle(&svc, &changed, Some(TOKEN)).await,
        409,
        "conflict",
    );

    // The same case the JSON intake makes: level, answers, number, personnummer.
    let case = svc.case(&id).await;
    assert_eq!(case.priority.level(), 3);
    assert_eq!(case.personnummer.as_deref(), Some(LISTED_INLINE));
    assert_eq!(case.callback_number.as_deref(), Some("+46701234567"));
    assert_eq!(case.answers.len(), 6);
    assert_eq!(case.answers[2].value_text, "Ja");

    // GET /fhir/Task parses back as an R4 searchset of Tasks.
    let search = send(
        reqwest::Client::new()
            .get(svc.http_url("/fhir/Task?status=requested&_sort=priority"))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(search.status, 200, "{}", search.json);
    let Resource::Bundle(bundle) = serde_json::from_value(search.json.clone()).expect("R4") else {
        panic!("not a Bundle: {}", search.json);
    };
    assert_eq!(bundle.entry.len(), 1);
    let task: Resource =
        serde_json::from_value(bundle.entry[0].resource.clone().expect("resource"))
            .expect("R4 Task");
    let Resource::Task(task) = task else {
        panic!("not a Task")
    };
    assert_eq!(task.id.as_ref().map(|i| i.0.as_str()), Some(id.as_str()));
    assert_eq!(task.status.code(), "requested");
    assert_eq!(task.contained.len(), 2, "answers and patient");
    let read = send(
        reqwest::Client::new()
            .get(svc.http_url(&format!("/fhir/Task/{id}")))
            .bearer_auth(TOKEN),
    )
    .await;
    assert!(matches!(
        serde_json::from_value::<Resource>(read.json.clone()),
        Ok(Resource::Task(_))
    ));
    let audit = svc
        .store()
        .await
        .audit_rows(None, 200)
        .await
        .expect("audit");
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|a| (a.action.as_str(), a.actor.as_str()))
        .collect();
    for wanted in [
        ("intake.post", "intake:1177-direkt"),
        ("intake.repost", "intake:1177-direkt"),
        ("intake.conflict", "intake:1177-direkt"),
        ("fhir.task.search", "intake:1177-direkt"),
        ("fhir.task.read", "intake:1177-direkt"),
    ] {
        assert!(actions.contains(&wanted), "{wanted:?} not in {actions:?}");
    }
    assert!(audit
        .iter()
        .any(|a| a.action == "fhir.task.search" && a.detail.contains(&id)));

    // Unsupported search parameters and unknown ids are OperationOutcomes.
    let bad = send(
        reqwest::Client::new()
            .get(svc.http_url("/fhir/Task?patient=x"))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_outcome(&bad, 400, "not-supported");
    let missing = send(
        reqwest::Client::new()
            .get(svc.http_url(&format!("/fhir/Task/{}", uuid::Uuid::new_v4())))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_outcome(&missing, 404, "not-found");
    let anonymous = send(reqwest::Client::new().get(svc.http_url("/fhir/Task"))).await;
    assert_outcome(&anonymous, 401, "login");

    // The metadata is an R4 CapabilityStatement.
    let meta = send(reqwest::Client::new().get(svc.http_url("/fhir/metadata"))).await;
    assert_eq!(meta.status, 200);
    assert!(matches!(
        serde_json::from_value::<Resource>(meta.json.clone()),
        Ok(Resource::CapabilityStatement(_))
    ));
    assert_eq!(meta.json["fhirVersion"], "4.0.1");

    // The listing, looked up in the background, is on the case.
    svc.add_staff("anna", PASSWORD, Role::Nurse).await;
    let staff = svc.login("anna", PASSWORD).await;
    let listing = listing_of(&staff, &svc, &id).await;
    assert_eq!(
        listing,
        json!({"status": "found", "hsa_id": "SE2321000065-VCMARKARYD", "name": "Vårdcentralen Markaryd", "unit": "vc-markaryd"})
    );
    svc.stop().await;
}

#[tokio::test]
async fn bad_bundles_get_an_operation_outcome_400() {
    let register = register().await;
    let svc = start(&register).await;
    let mut wrong_type = fixture();
    wrong_type["resourceType"] = json!("Patient");
    let mut no_identifier = fixture();
    no_identifier["entry"][0]["resource"]
        .as_object_mut()
        .map(|t| t.remove("identifier"));
    let mut bad_personnummer = fixture();
    bad_personnummer["entry"][2]["resource"]["identifier"][0]["value"] = json!("191212121213");
    let mut batch = fixture();
    batch["type"] = json!("batch");
    for (name, bundle, code, names) in [
        ("wrong resourceType", wrong_type, "structure", "Bundle"),
        (
            "no Task.identifier",
            no_identifier,
            "invalid",
            "Task.identifier",
        ),
        (
            "bad personnummer",
            bad_personnummer,
            "invalid",
            "personnummer",
        ),
        ("not a transaction", batch, "invalid", "transaction"),
    ] {
        let reply = post_bundle(&svc, &bundle, Some(TOKEN)).await;
        let diagnostics = assert_outcome(&reply, 400, code);
        assert!(diagnostics.contains(names), "{name}: {diagnostics}");
        assert!(!diagnostics.contains("1213"), "{name}: {diagnostics}");
    }
    let unauthenticated = post_bundle(&svc, &fixture(), None).await;
    assert_outcome(&unauthenticated, 401, "login");
    assert!(svc.worklist().await.is_empty(), "nothing was registered");
    svc.stop().await;
}

#[tokio::test]
async fn listing_lookups_show_found_none_and_unknown_on_the_case() {
    let register = register().await;
    let svc = start(&register).await;
    svc.add_staff("anna", PASSWORD, Role::Nurse).await;
    let staff = svc.login("anna", PASSWORD).await;

    let by_reference = post_json_case(&svc, "ref-1", LISTED_BY_REFERENCE).await;
    assert_eq!(
        listing_of(&staff, &svc, &by_reference).await,
        json!({"status": "found", "hsa_id": "SE2321000065-VCSTROMSNAS", "name": "Vårdcentralen Strömsnäsbruk", "unit": "vc-stromsnasbruk"})
    );
    // One click on the nurse page: claim, then hand to the listed unit.
    let url = |path: &str| svc.http_url(&format!("/api/v1/cases/{by_reference}{path}"));
    let claim = staff.post(url("/claim")).send().await.expect("claim");
    assert_eq!(claim.status(), 200);
    let handoff = staff
        .post(url("/handoff"))
        .json(&json!({"unit": "vc-stromsnasbruk", "note": "Listad här"}))
        .send()
        .await
        .expect("handoff");
    assert_eq!(handoff.status(), 200);
    let case: Value = staff
        .get(url(""))
        .send()
        .await
        .expect("case")
        .json()
        .await
        .expect("json");
    assert_eq!(case["unit"], "vc-stromsnasbruk");

    let nowhere = post_json_case(&svc, "ref-2", NOT_LISTED).await;
    assert_eq!(listing_of(&staff, &svc, &nowhere).await["status"], "none");

    // Slower than timeout_ms (400): unknown.
    register.set_delay(Duration::from_millis(1500));
    let slow = post_json_case(&svc, "ref-3", SLOW).await;
    assert_eq!(
        listing_of(&staff, &svc, &slow).await,
        json!({"status": "unknown", "hsa_id": null, "name": null, "unit": null})
    );
    register.set_delay(Duration::ZERO);

    // The register answers 500: unknown.
    register.set_fail(true);
    let failing = post_json_case(&svc, "ref-4", FAILING).await;
    assert_eq!(
        listing_of(&staff, &svc, &failing).await["status"],
        "unknown"
    );
    register.set_fail(false);

    let metrics = svc.metrics().await;
    for line in [
        "pe_listing_lookups_total{result=\"found\"} 1",
        "pe_listing_lookups_total{result=\"none\"} 1",
        "pe_listing_lookups_total{result=\"unknown\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} not in metrics");
    }
    svc.stop().await;
}
