//! A small FHIR R4 population register for tests of the listing look-up:
//! `GET /fhir/Patient?identifier=<system>|<personnummer>` answers a searchset
//! from a fixed table, `GET /fhir/Organization/{id}` the units listed by
//! reference. Switches make it slow (timeouts) or fail with 500. Written with
//! plain JSON, independent of the service's FHIR types.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// HSA-id system of `Organization.identifier`.
pub const HSA_ID_SYSTEM: &str = "urn:oid:1.2.752.29.4.19";
const PERSONNUMMER_SYSTEM: &str = "http://electronichealth.se/identifier/personnummer";

/// How one resident is listed in the register.
#[derive(Clone, Debug)]
pub enum Listed {
    /// `generalPractitioner` carries the unit's HSA-id and name.
    Inline { hsa_id: String, name: String },
    /// `generalPractitioner` is only `Organization/{org_id}`, served beside it.
    ByReference {
        org_id: String,
        hsa_id: String,
        name: String,
    },
    /// In the register, listed nowhere.
    Nowhere,
}

#[derive(Default)]
struct Register {
    table: HashMap<String, Listed>,
    delay_ms: AtomicU64,
    fail: AtomicBool,
    requests: AtomicUsize,
    authorization: Mutex<Option<String>>,
}

/// A running register on 127.0.0.1 (stops when dropped).
pub struct FhirRegister {
    pub addr: SocketAddr,
    register: Arc<Register>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FhirRegister {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FhirRegister {
    /// Serves `table` (personnummer, 12 digits -> listing) on an ephemeral port.
    pub async fn start(table: Vec<(String, Listed)>) -> std::io::Result<FhirRegister> {
        let register = Arc::new(Register {
            table: table.into_iter().collect(),
            ..Register::default()
        });
        let app = Router::new()
            .route("/fhir/Patient", get(patient_search))
            .route("/fhir/Organization/{id}", get(organization))
            .with_state(register.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FhirRegister {
            addr,
            register,
            task,
        })
    }

    /// The FHIR base URL (for `listing.toml`).
    pub fn base_url(&self) -> String {
        format!("http://{}/fhir", self.addr)
    }

    /// Answers only after `delay` from now on.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.register.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Answers 500 to everything while on.
    pub fn set_fail(&self, on: bool) {
        self.register.fail.store(on, Ordering::SeqCst);
    }

    /// Requests served so far.
    pub fn requests(&self) -> usize {
        self.register.requests.load(Ordering::SeqCst)
    }

    /// The last `Authorization` header received.
    pub fn last_authorization(&self) -> Option<String> {
        self.register
            .authorization
            .lock()
            .map(|a| a.clone())
            .unwrap_or(None)
    }
}

fn fhir(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        body.to_string(),
    )
        .into_response()
}

/// Delay, failure switch and bookkeeping shared by every route.
async fn before(register: &Register, headers: &HeaderMap) -> Option<Response> {
    register.requests.fetch_add(1, Ordering::SeqCst);
    if let Ok(mut a) = register.authorization.lock() {
        *a = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
    }
    let delay = register.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    register.fail.load(Ordering::SeqCst).then(|| {
        fhir(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"resourceType": "OperationOutcome",
                   "issue": [{"severity": "error", "code": "exception", "diagnostics": "simulated failure"}]}),
        )
    })
}

async fn patient_search(
    State(register): State<Arc<Register>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(failed) = before(&register, &headers).await {
        return failed;
    }
    let pnr = query
        .get("identifier")
        .and_then(|i| i.strip_prefix(PERSONNUMMER_SYSTEM))
        .and_then(|i| i.strip_prefix('|'));
    let Some(pnr) = pnr else {
        return fhir(
            StatusCode::BAD_REQUEST,
            json!({"resourceType": "OperationOutcome",
                   "issue": [{"severity": "error", "code": "invalid", "diagnostics": "identifier=<personnummer system>|<number> expected"}]}),
        );
    };
    let entries: Vec<Value> = match register.table.get(pnr) {
        None => Vec::new(),
        Some(listed) => {
            let gp = match listed {
                Listed::Inline { hsa_id, name } => json!([{
                    "type": "Organization", "display": name,
                    "identifier": {"system": HSA_ID_SYSTEM, "value": hsa_id}}]),
                Listed::ByReference { org_id, .. } => {
                    json!([{"reference": format!("Organization/{org_id}")}])
                }
                Listed::Nowhere => json!([]),
            };
            vec![json!({"fullUrl": "Patient/p1", "search": {"mode": "match"},
                "resource": {"resourceType": "Patient", "id": "p1",
                    "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": pnr}],
                    "generalPractitioner": gp}})]
        }
    };
    fhir(
        StatusCode::OK,
        json!({"resourceType": "Bundle", "type": "searchset", "total": entries.len(), "entry": entries}),
    )
}

async fn organization(
    State(register): State<Arc<Register>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(failed) = before(&register, &headers).await {
        return failed;
    }
    let found = register.table.values().find_map(|l| match l {
        Listed::ByReference {
            org_id,
            hsa_id,
            name,
        } if *org_id == id => Some((hsa_id.clone(), name.clone())),
        _ => None,
    });
    match found {
        Some((hsa_id, name)) => fhir(
            StatusCode::OK,
            json!({"resourceType": "Organization", "id": id, "name": name,
                   "identifier": [{"system": HSA_ID_SYSTEM, "value": hsa_id}]}),
        ),
        None => fhir(
            StatusCode::NOT_FOUND,
            json!({"resourceType": "OperationOutcome",
                   "issue": [{"severity": "error", "code": "not-found"}]}),
        ),
    }
}
