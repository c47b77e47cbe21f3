//! The look-up itself: `GET {base}/Patient?identifier=<personnummer system>|<pnr>`,
//! then the first `Patient.generalPractitioner` that is an Organization: its
//! HSA-id (`identifier`) and name (`display`) when the reference carries them,
//! else `GET {base}/Organization/{id}` within the same timeout. Reading the
//! answers is sans-IO ([`read_search`], [`read_organization`]).

use super::{Listing, ListingConfig, ListingStatus};
use chrono::Utc;
use fhir_r4::resources::{Organization, Resource};
use fhir_r4::types::Reference;
use std::time::Duration;

/// Swedish personal identity number (`Patient.identifier.system`).
pub const PERSONNUMMER_SYSTEM: &str = "http://electronichealth.se/identifier/personnummer";
/// HSA-id of a care unit (`Organization.identifier.system`).
pub const HSA_ID_SYSTEM: &str = "urn:oid:1.2.752.29.4.19";

/// Most bytes read from one answer.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// What one answer says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Listed at this unit.
    Found {
        hsa_id: Option<String>,
        name: Option<String>,
    },
    /// Not listed (or not in the register).
    None,
    /// Listed; the unit is at this path below the base (`Organization/{id}`).
    Follow { path: String, name: Option<String> },
}

/// The answer was not what FHIR promised (not a Bundle, not JSON...).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadAnswer(pub &'static str);

fn parse(body: &[u8]) -> Result<Resource, BadAnswer> {
    serde_json::from_slice(body).map_err(|_| BadAnswer("not a FHIR R4 resource"))
}

fn hsa_of(identifiers: &[fhir_r4::types::Identifier]) -> Option<String> {
    let hsa = identifiers
        .iter()
        .find(|i| i.system.as_ref().is_some_and(|s| s.0 == HSA_ID_SYSTEM))
        .or_else(|| identifiers.iter().find(|i| i.system.is_none()));
    hsa.and_then(|i| i.value.as_ref()).map(|v| v.0.clone())
}

/// Whether a generalPractitioner reference is to an Organization.
fn is_organization(r: &Reference) -> bool {
    let typed = r.r#type.as_ref().map(|t| t.0.as_str());
    let path = r.reference.as_ref().map(|s| s.0.as_str()).unwrap_or("");
    typed == Some("Organization")
        || path.starts_with("Organization/")
        || path.contains("/Organization/")
        || (typed.is_none() && path.is_empty() && r.identifier.is_some())
}

/// Reads the Patient search (a searchset Bundle).
pub fn read_search(body: &[u8], base: &str) -> Result<Step, BadAnswer> {
    let Resource::Bundle(bundle) = parse(body)? else {
        return Err(BadAnswer("the Patient search did not answer a Bundle"));
    };
    let patient = bundle
        .entry
        .into_iter()
        .filter_map(|e| e.resource)
        .find_map(|r| match serde_json::from_value::<Resource>(r) {
            Ok(Resource::Patient(p)) => Some(Ok(p)),
            Ok(_) => None,
            Err(_) => Some(Err(BadAnswer("a Bundle entry is not FHIR R4"))),
        });
    let Some(patient) = patient.transpose()? else {
        return Ok(Step::None);
    };
    let Some(gp) = patient
        .general_practitioner
        .iter()
        .find(|r| is_organization(r))
    else {
        return Ok(Step::None);
    };
    let name = gp.display.as_ref().map(|d| d.0.clone());
    let hsa_id = gp
        .identifier
        .as_ref()
        .and_then(|i| hsa_of(std::slice::from_ref(i)));
    if hsa_id.is_some() {
        return Ok(Step::Found { hsa_id, name });
    }
    let path = gp.reference.as_ref().map(|r| r.0.as_str()).unwrap_or("");
    let below_base = path
        .strip_prefix(base)
        .map(|p| p.trim_start_matches('/'))
        .unwrap_or(path);
    if below_base.starts_with("Organization/") && !below_base.contains("..") {
        return Ok(Step::Follow {
            path: below_base.to_string(),
            name,
        });
    }
    // A reference elsewhere (another server) is not followed with our token.
    match name {
        Some(name) => Ok(Step::Found {
            hsa_id: None,
            name: Some(name),
        }),
        None => Err(BadAnswer("generalPractitioner names no unit we can read")),
    }
}

/// Reads `GET Organization/{id}`.
pub fn read_organization(body: &[u8], display: Option<String>) -> Result<Step, BadAnswer> {
    let Resource::Organization(org) = parse(body)? else {
        return Err(BadAnswer("the reference did not answer an Organization"));
    };
    let Organization {
        identifier, name, ..
    } = *org;
    Ok(Step::Found {
        hsa_id: hsa_of(&identifier),
        name: name.map(|n| n.0).or(display),
    })
}

/// An HTTP client for the register. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ListingClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    timeout: Duration,
}

impl ListingClient {
    pub fn new(config: &ListingConfig) -> ListingClient {
        ListingClient {
            http: reqwest::Client::new(),
            base: config.base_url.clone(),
            token: config.token().map(str::to_string),
            timeout: config.timeout(),
        }
    }

    async fn get(&self, url: &str, query: Option<(&str, String)>) -> Result<Vec<u8>, BadAnswer> {
        let mut request = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/fhir+json");
        if let Some(q) = query {
            request = request.query(&[q]);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|_| BadAnswer("no answer"))?;
        if !response.status().is_success() {
            return Err(BadAnswer("HTTP error status"));
        }
        if response.content_length().unwrap_or(0) > MAX_ANSWER_BYTES as u64 {
            return Err(BadAnswer("answer too large"));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|_| BadAnswer("answer cut off"))?;
        if bytes.len() > MAX_ANSWER_BYTES {
            return Err(BadAnswer("answer too large"));
        }
        Ok(bytes.to_vec())
    }

    async fn steps(&self, personnummer: &str) -> Result<Step, BadAnswer> {
        let search = self
            .get(
                &format!("{}/Patient", self.base),
                Some((
                    "identifier",
                    format!("{PERSONNUMMER_SYSTEM}|{personnummer}"),
                )),
            )
            .await?;
        match read_search(&search, &self.base)? {
            Step::Follow { path, name } => {
                let org = self.get(&format!("{}/{path}", self.base), None).await?;
                read_organization(&org, name)
            }
            done => Ok(done),
        }
    }

    /// Looks one personnummer up; every failure (timeout included) is
    /// `unknown`. Never logs the personnummer.
    pub async fn lookup(&self, personnummer: &str) -> Listing {
        let step = tokio::time::timeout(self.timeout, self.steps(personnummer)).await;
        let (status, hsa_id, name) = match step {
            Ok(Ok(Step::Found { hsa_id, name })) => (ListingStatus::Found, hsa_id, name),
            Ok(Ok(Step::None)) => (ListingStatus::None, None, None),
            Ok(Ok(Step::Follow { .. })) => (ListingStatus::Unknown, None, None),
            Ok(Err(e)) => {
                tracing::info!(why = %e, "listing look-up failed");
                (ListingStatus::Unknown, None, None)
            }
            Err(_) => {
                tracing::info!(
                    timeout_ms = self.timeout.as_millis() as u64,
                    "listing look-up timed out"
                );
                (ListingStatus::Unknown, None, None)
            }
        };
        Listing {
            status,
            hsa_id,
            name,
            checked_at: Some(Utc::now()),
        }
    }
}

#[cfg(test)]
mod tests;
