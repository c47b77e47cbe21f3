//! STUB (LIVE helper's branch only): the AUTH helper owns this file and its real
//! version (argon2 accounts in the database, DB sessions, audit) replaces this
//! one at merge. Same names as the contract: `Role`, `Staff`, `Staff::require`,
//! `POST /login`, `POST /logout`, `GET /me`, cookie `pe_session`.
//!
//! Accounts here come from `PE_STUB_STAFF="name:password:role,..."` and sessions
//! live in memory: enough for the pages and browser tests until the merge.

use super::{ApiError, ApiState};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, OnceLock};

/// Staff roles; a supervisor can do everything a nurse can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Nurse,
    Supervisor,
}

/// A signed-in staff member (from the session cookie).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staff {
    pub username: String,
    pub role: Role,
    pub ip: Option<IpAddr>,
}

impl Staff {
    /// 403 unless this staff member has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the {} role",
                match role {
                    Role::Nurse => "nurse",
                    Role::Supervisor => "supervisor",
                }
            )))
        }
    }
}

fn sessions() -> &'static Mutex<HashMap<String, (String, Role)>> {
    static S: OnceLock<Mutex<HashMap<String, (String, Role)>>> = OnceLock::new();
    S.get_or_init(|| Mutex::new(HashMap::new()))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

impl FromRequestParts<ApiState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &ApiState) -> Result<Staff, ApiError> {
        let token = cookie(&parts.headers, "pe_session")
            .ok_or_else(|| ApiError::Unauthorized("sign in first".to_string()))?;
        let found = sessions()
            .lock()
            .ok()
            .and_then(|s| s.get(&token).cloned())
            .ok_or_else(|| ApiError::Unauthorized("session expired: sign in again".to_string()))?;
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Staff {
            username: found.0,
            role: found.1,
            ip,
        })
    }
}

#[derive(Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize)]
pub struct Me {
    pub username: String,
    pub role: Role,
}

fn stub_account(username: &str, password: &str) -> Option<Role> {
    let spec = std::env::var("PE_STUB_STAFF").ok()?;
    spec.split(',').find_map(|entry| {
        let mut it = entry.splitn(3, ':');
        let (u, p, r) = (it.next()?, it.next()?, it.next()?);
        if u == username && p == password {
            match r {
                "nurse" => Some(Role::Nurse),
                "supervisor" => Some(Role::Supervisor),
                _ => None,
            }
        } else {
            None
        }
    })
}

/// `POST /api/v1/login`.
pub async fn login(
    State(_): State<ApiState>,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let role = stub_account(&req.username, &req.password)
        .ok_or_else(|| ApiError::Unauthorized("wrong user name or password".to_string()))?;
    let token = uuid::Uuid::new_v4().simple().to_string();
    if let Ok(mut s) = sessions().lock() {
        s.insert(token.clone(), (req.username.clone(), role));
    }
    let set = format!("pe_session={token}; HttpOnly; SameSite=Strict; Path=/");
    Ok((
        [(header::SET_COOKIE, set)],
        Json(Me {
            username: req.username,
            role,
        }),
    )
        .into_response())
}

/// `POST /api/v1/logout`.
pub async fn logout(headers: HeaderMap) -> StatusCode {
    if let Some(t) = cookie(&headers, "pe_session") {
        if let Ok(mut s) = sessions().lock() {
            s.remove(&t);
        }
    }
    StatusCode::NO_CONTENT
}

/// `GET /api/v1/me`.
pub async fn me(staff: Staff) -> Json<Me> {
    Json(Me {
        username: staff.username,
        role: staff.role,
    })
}
