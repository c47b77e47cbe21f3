//! Who is calling: staff by session cookie (argon2-hashed passwords, role nurse
//! or supervisor), client systems by bearer token (`sip-config/intake-clients.toml`).
//!
//! Session tokens are 256 random bits; only their SHA-256 is stored, so reading the
//! database does not let anyone log in. Bearer tokens are configured the same way.
//! Every login, logout and failed login is audited with the client address.

use super::staff_guard::StaffGuard;
use super::{ApiError, ApiState};
use crate::store::{Actor, AuditRecord, LockKind, StaffUser};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::Utc;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use uuid::Uuid;

pub use crate::store::Role;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "pe_session";
/// A session lasts one long shift.
pub const SESSION_HOURS: i64 = 12;
/// Marks a request the page made by itself (not counted as activity for the
/// session idle timeout).
pub const BACKGROUND_HEADER: &str = "x-pe-background";
/// Shortest password `create-user` accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Password hashing failed (bad parameters; not a wrong password).
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

/// Argon2id PHC string with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let mut salt_bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| HashError(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the PHC `hash`; a malformed hash never matches.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Checks a new user name: 1-64 of `a-z 0-9 . _ -` (it appears in the audit log).
pub fn validate_username(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || name.len() > 64 || !ok_chars {
        return Err("user name must be 1-64 characters of a-z, 0-9, '.', '_' or '-'".to_string());
    }
    Ok(())
}

/// Lowercase hex SHA-256, how tokens are stored and configured.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A new random token: 64 hex characters (256 bits).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A logged-in staff member, extracted from the session cookie (401 without one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staff {
    pub username: String,
    pub role: Role,
    /// Where the request came from, for the audit log.
    pub ip: Option<IpAddr>,
}

impl Staff {
    /// `403` unless this staff member's role includes `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role.includes(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the {role} role; you are signed in as {}",
                self.role
            )))
        }
    }

    /// The store's view of this user for claims.
    pub fn actor(&self) -> Actor<'_> {
        Actor {
            username: &self.username,
            ip: self.ip.map(|ip| ip.to_string()),
            may_override: self.role.includes(Role::Supervisor),
        }
    }

    /// An audit row by this user, now.
    pub fn audit(
        &self,
        action: &str,
        case_id: Option<Uuid>,
        detail: impl Into<String>,
    ) -> AuditRecord {
        AuditRecord::new(
            Utc::now(),
            &self.username,
            action,
            case_id,
            detail,
            self.ip.map(|ip| ip.to_string()),
        )
    }
}

/// The client address, when the server was started with connect info.
pub fn client_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The client address as an extractor (never rejects).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ClientIp, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}

impl ClientIp {
    fn text(self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

/// The session token from the request's cookies, if well-formed.
fn session_token(jar: &CookieJar) -> Option<String> {
    jar.get(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `pe_session` cookie: script cannot read it, other sites never send it,
/// only HTTPS carries it when `secure`, and it lasts `max_age` (zero clears it).
fn session_cookie(value: String, max_age: time::Duration, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, value))
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(max_age)
        .build()
}

/// Whether the request carries a session cookie (then the origin checks apply).
pub fn has_session_cookie(headers: &axum::http::HeaderMap) -> bool {
    CookieJar::from_headers(headers)
        .get(SESSION_COOKIE)
        .is_some()
}

impl FromRequestParts<ApiState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Staff, ApiError> {
        let unauthorized = || ApiError::Unauthorized("sign in first: no valid session".into());
        let token =
            session_token(&CookieJar::from_headers(&parts.headers)).ok_or_else(unauthorized)?;
        // A page's own refreshes (timers, live events) say so: they do not
        // keep an unattended session alive.
        let used = !parts.headers.contains_key(BACKGROUND_HEADER);
        let user = state
            .store
            .touch_session(
                &sha256_hex(&token),
                Utc::now(),
                state.guard.session_idle,
                used,
            )
            .await?
            .ok_or_else(unauthorized)?;
        Ok(Staff {
            username: user.username,
            role: user.role,
            ip: client_ip(parts),
        })
    }
}

/// A client system of the digital intake, by `Authorization: Bearer <token>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntakeClient {
    pub name: String,
    pub ip: Option<IpAddr>,
}

impl IntakeClient {
    /// The audit actor name: `intake:<client>`.
    pub fn actor(&self) -> String {
        format!("intake:{}", self.name)
    }
}

/// 401 with `WWW-Authenticate: Bearer`, as RFC 6750 asks.
pub struct BearerRejection(pub ApiError);

impl IntoResponse for BearerRejection {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        if response.status() == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl FromRequestParts<ApiState> for IntakeClient {
    type Rejection = BearerRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<IntakeClient, BearerRejection> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                BearerRejection(ApiError::Unauthorized(
                    "missing bearer token: send Authorization: Bearer <token>".into(),
                ))
            })?;
        let name = state.intake_clients.authenticate(token).ok_or_else(|| {
            BearerRejection(ApiError::Unauthorized("unknown bearer token".into()))
        })?;
        Ok(IntakeClient {
            name: name.to_string(),
            ip: client_ip(parts),
        })
    }
}

/// Client systems allowed to post cases, from `intake-clients.toml`:
/// `[[client]] name = "1177-direkt"  token_sha256 = "<64 hex>"`.
#[derive(Clone, Default)]
pub struct IntakeClients {
    clients: Vec<(String, [u8; 32])>,
}

impl fmt::Debug for IntakeClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.clients.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("IntakeClients")
            .field("names", &names)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientsFile {
    #[serde(default)]
    client: Vec<ClientEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    name: String,
    token_sha256: String,
}

impl IntakeClients {
    /// Parses the TOML text; names must be unique, hashes 64 hex digits.
    pub fn parse(text: &str) -> Result<IntakeClients, String> {
        let file: ClientsFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut clients = IntakeClients::default();
        for entry in file.client {
            clients.add(&entry.name, &entry.token_sha256)?;
        }
        Ok(clients)
    }

    /// Adds a client by the SHA-256 hex of its token.
    pub fn add(&mut self, name: &str, token_sha256: &str) -> Result<(), String> {
        validate_username(name).map_err(|_| {
            format!("client name {name:?} must be 1-64 characters of a-z, 0-9, '.', '_' or '-'")
        })?;
        if self.clients.iter().any(|(n, _)| n == name) {
            return Err(format!("client {name:?} is listed twice"));
        }
        let mut hash = [0u8; 32];
        hex::decode_to_slice(token_sha256.trim().to_ascii_lowercase(), &mut hash).map_err(
            |_| {
                format!(
                    "client {name:?}: token_sha256 must be 64 hex digits (sha256sum of the token)"
                )
            },
        )?;
        self.clients.push((name.to_string(), hash));
        Ok(())
    }

    /// The client whose token this is. Compares digests in constant time.
    pub fn authenticate(&self, token: &str) -> Option<&str> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (name, hash) in &self.clients {
            if bool::from(hash[..].ct_eq(&digest[..])) {
                found = Some(name.as_str());
            }
        }
        found
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

/// `POST /api/v1/login` body.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// Who is signed in.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct Me {
    pub username: String,
    #[schema(value_type = String, example = "nurse")]
    pub role: Role,
    /// The care unit the user works in (`GET /units` id).
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub unit_name: String,
}

/// A PHC hash of a random password, verified when the user name is unknown so a
/// failed login takes as long either way (no user enumeration by timing).
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&new_token()).unwrap_or_default())
}

/// Signs in; sets the `pe_session` cookie.
#[utoipa::path(post, path = "/api/v1/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = Me, description = "signed in; Set-Cookie pe_session"),
              (status = 401, description = "wrong user name or password"),
              (status = 429, description = "account or address locked after failed sign-ins; Retry-After"),
              (status = 503, description = "too many sign-ins at once; Retry-After")))]
pub async fn login(
    State(state): State<ApiState>,
    client_ip: ClientIp,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let ip = client_ip.text();
    let request: LoginRequest = serde_json::from_slice(&body).map_err(|_| {
        ApiError::BadRequest("expected JSON {\"username\": \"...\", \"password\": \"...\"}".into())
    })?;
    let guard = &state.guard;
    let user: Option<StaffUser> = if request.username.len() <= 64 {
        state.store.find_user(&request.username).await?
    } else {
        None
    };
    let keys = StaffGuard::keys(&request.username, user.is_some(), client_ip.0);
    let key_refs: Vec<(LockKind, &str)> = keys.iter().map(|(k, n)| (*k, n.as_str())).collect();
    // A locked account or address is refused before any argon2 work, with
    // the same answer whether the password would have been right or not.
    if let Some(until) = state
        .store
        .login_locked_until(&key_refs, Utc::now())
        .await?
    {
        guard.metrics.locked.inc();
        let retry_after = u64::try_from((until - Utc::now()).num_seconds()).unwrap_or(0) + 1;
        return Err(ApiError::TooManyRequests {
            message: format!(
                "too many failed sign-ins: try again in {} min or ask a supervisor to lift the lock",
                retry_after.div_ceil(60)
            ),
            retry_after,
        });
    }
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let password = request.password;
    // Argon2 takes tens of milliseconds of CPU: a few at a time, off the async
    // workers (the dummy hash too: it is made on first use).
    let matches = guard
        .verify(move || verify_password(hash.as_deref().unwrap_or(dummy_hash()), &password))
        .await
        .map_err(|_| ApiError::Busy {
            message: "too many sign-ins at once: try again in a moment".into(),
            retry_after: 1,
        })?;
    let now = Utc::now();
    let user = match user {
        Some(u) if matches && !u.disabled => u,
        other => {
            // The typed name is only recorded when it is an account: people
            // sometimes type their password into the user name field.
            let (actor, detail) = match &other {
                Some(u) if u.disabled => (u.username.as_str(), "account disabled"),
                Some(u) => (u.username.as_str(), "wrong password"),
                None => ("unknown", "unknown user name"),
            };
            state
                .store
                .audit(&AuditRecord::new(
                    now,
                    actor,
                    "auth.login_failed",
                    None,
                    detail,
                    ip.clone(),
                ))
                .await?;
            for (kind, name) in &keys {
                let policy = guard.policy(*kind);
                if let Some(until) = state.store.login_failed(*kind, name, now, policy).await? {
                    guard.metrics.lockouts.inc();
                    let detail = format!("{}={name} until={}", kind.as_str(), until.to_rfc3339());
                    state
                        .store
                        .audit(&AuditRecord::new(
                            now,
                            actor,
                            "auth.locked",
                            None,
                            detail,
                            ip.clone(),
                        ))
                        .await?;
                }
            }
            return Err(ApiError::Unauthorized("wrong user name or password".into()));
        }
    };
    // The account's count starts over; the address's does not (one valid
    // account must not reset the guessing budget of a whole address).
    state
        .store
        .clear_login_failures(LockKind::Account, &user.username)
        .await?;
    let token = new_token();
    let expires = now + chrono::TimeDelta::hours(SESSION_HOURS);
    state
        .store
        .create_session(&sha256_hex(&token), &user.username, now, expires)
        .await?;
    state
        .store
        .audit(&AuditRecord::new(
            now,
            &user.username,
            "auth.login",
            None,
            format!("role={}", user.role),
            ip,
        ))
        .await?;
    let cookie = session_cookie(
        token,
        time::Duration::hours(SESSION_HOURS),
        guard.cookie_secure,
    );
    let stored = state.store.user_unit(&user.username).await?.flatten();
    let unit = state.units.id_of(stored.as_deref()).to_string();
    let unit_name = super::handoff::name_of(&state, &unit);
    let me = Json(Me {
        username: user.username,
        role: user.role,
        unit,
        unit_name,
    });
    Ok((CookieJar::new().add(cookie), me).into_response())
}

/// Signs out: ends the session and clears the cookie. Always `204`.
#[utoipa::path(post, path = "/api/v1/logout", tag = "auth",
    responses((status = 204, description = "signed out")))]
pub async fn logout(
    State(state): State<ApiState>,
    client_ip: ClientIp,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    if let Some(token) = session_token(&jar) {
        let hash = sha256_hex(&token);
        if let Some(user) = state.store.session_user(&hash, Utc::now()).await? {
            state.store.delete_session(&hash).await?;
            let ip = client_ip.text();
            state
                .store
                .audit(&AuditRecord::new(
                    Utc::now(),
                    &user.username,
                    "auth.logout",
                    None,
                    "",
                    ip,
                ))
                .await?;
        }
    }
    let clear = session_cookie(
        String::new(),
        time::Duration::ZERO,
        state.guard.cookie_secure,
    );
    Ok((jar.add(clear), StatusCode::NO_CONTENT).into_response())
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, description = "not signed in")))]
pub async fn me(State(state): State<ApiState>, staff: Staff) -> Result<Json<Me>, ApiError> {
    let unit = super::handoff::staff_unit(&state, &staff).await?;
    let unit_name = super::handoff::name_of(&state, &unit);
    Ok(Json(Me {
        username: staff.username,
        role: staff.role,
        unit,
        unit_name,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_verifies_only_the_same_password() {
        let hash = hash_password("correct horse battery").unwrap_or_default();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse batterY"));
        assert!(!verify_password("not a hash", "correct horse battery"));
    }

    #[test]
    fn supervisor_includes_nurse_but_not_the_reverse() {
        assert!(Role::Supervisor.includes(Role::Nurse));
        assert!(Role::Nurse.includes(Role::Nurse));
        assert!(!Role::Nurse.includes(Role::Supervisor));
    }

    #[test]
    fn session_cookie_is_found_among_others_and_must_be_hex() {
        use axum::http::header::COOKIE;
        use axum::http::HeaderMap;
        let token = new_token();
        let mut headers = HeaderMap::new();
        let cookie = format!("a=b; {SESSION_COOKIE}={token}; c=d");
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static("")),
        );
        assert_eq!(
            session_token(&CookieJar::from_headers(&headers)),
            Some(token)
        );
        let mut bad = HeaderMap::new();
        bad.insert(COOKIE, HeaderValue::from_static("pe_session=../../etc"));
        assert_eq!(session_token(&CookieJar::from_headers(&bad)), None);
    }

    #[test]
    fn session_cookie_keeps_its_attributes() {
        let set = session_cookie("ab12".into(), time::Duration::hours(SESSION_HOURS), false);
        assert_eq!(
            set.encoded().to_string(),
            format!("{SESSION_COOKIE}=ab12; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200")
        );
        let secure = session_cookie("ab12".into(), time::Duration::ZERO, true);
        assert!(secure.encoded().to_string().contains("; Secure"));
        let clear = session_cookie(String::new(), time::Duration::ZERO, false);
        assert_eq!(
            clear.encoded().to_string(),
            format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
        );
    }

    #[test]
    fn intake_clients_match_by_token_hash() {
        let text = format!(
            "[[client]]\nname = \"1177-direkt\"\ntoken_sha256 = \"{}\"\n",
            sha256_hex("s3cret")
        );
        let clients = IntakeClients::parse(&text).unwrap_or_default();
        assert_eq!(clients.authenticate("s3cret"), Some("1177-direkt"));
        assert_eq!(clients.authenticate("s3cre"), None);
        assert!(IntakeClients::parse("[[client]]\nname = \"x\"\ntoken_sha256 = \"zz\"\n").is_err());
        let twice = format!("{text}{text}");
        assert!(IntakeClients::parse(&twice).is_err());
    }

    #[test]
    fn usernames_are_restricted_to_log_safe_characters() {
        assert!(validate_username("anna.nurse-1").is_ok());
        assert!(validate_username("").is_err());
        assert!(validate_username("Anna Nurse").is_err());
        assert!(validate_username("a\nb").is_err());
    }
}
