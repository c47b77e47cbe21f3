//! HTTP Digest authentication for SIP (RFC 2617 as used by RFC 3261 section 22),
//! MD5 only, `qop=auth` or the RFC 2069 form without qop.
//!
//! Server side: [`DigestServer`] makes challenges whose nonce carries its own
//! issue time, a sequence number and an HMAC over both, so an old nonce is
//! told apart from a forged one (`stale=true` lets the phone retry silently).
//! [`DigestServer::verify_request`] also holds replays off (RFC 7616 3.4.6,
//! RFC 2617 3.2.2.5): the digest `uri` must be the Request-URI, and each
//! nonce's count (`nc`) must grow (without qop: a nonce is good once); the
//! counts are remembered per nonce for the nonce's lifetime.
//! Client side: [`authorization`] answers a 401/407 challenge.
//!
//! Pure: the time comes in as an `Instant` argument, the randomness (nonce
//! secret, client nonce) as arguments too.

use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Why a challenge or an Authorization header could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The value does not start with the `Digest` scheme.
    #[error("not a Digest header: expected `Digest realm=\"...\", nonce=\"...\"`")]
    NotDigest,
    /// A `name=value` list we cannot read (unterminated quote, missing `=`).
    #[error("malformed Digest parameters: {0}")]
    Malformed(&'static str),
    /// A mandatory parameter is absent.
    #[error("Digest parameter {0} is missing")]
    Missing(&'static str),
    /// An algorithm other than MD5 (e.g. SHA-256, MD5-sess).
    #[error("unsupported Digest algorithm {0:?}: only MD5 is supported")]
    UnsupportedAlgorithm(String),
    /// A qop other than `auth` (e.g. only `auth-int`).
    #[error("unsupported Digest qop {0:?}: only auth is supported")]
    UnsupportedQop(String),
}

/// The parameters of a `Digest` header, names lower-cased, values unquoted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestParams {
    params: Vec<(String, String)>,
}

impl DigestParams {
    /// Reads `Digest name=value, name="quoted, value", ...`. Quoted strings may
    /// contain commas and backslash escapes; the scheme name is case-insensitive.
    pub fn parse(value: &str) -> Result<DigestParams, DigestError> {
        let value = value.trim();
        let (scheme, rest) = value
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("digest") {
            return Err(DigestError::NotDigest);
        }
        let mut params = Vec::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars
                .peek()
                .is_some_and(|c| c.is_ascii_whitespace() || *c == ',')
            {
                chars.next();
            }
            if chars.peek().is_none() {
                break;
            }
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c == '=' || c == ',' || c.is_ascii_whitespace() {
                    break;
                }
                name.push(c);
                chars.next();
            }
            while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                chars.next();
            }
            if chars.next() != Some('=') || name.is_empty() {
                return Err(DigestError::Malformed("expected name=value"));
            }
            while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                chars.next();
            }
            let mut val = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some(e) => val.push(e),
                            None => break,
                        },
                        '"' => {
                            closed = true;
                            break;
                        }
                        _ => val.push(c),
                    }
                }
                if !closed {
                    return Err(DigestError::Malformed("unterminated quoted string"));
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    val.push(c);
                    chars.next();
                }
                val = val.trim_end().to_string();
            }
            params.push((name.to_ascii_lowercase(), val));
            if params.len() > 32 {
                return Err(DigestError::Malformed("too many parameters"));
            }
        }
        Ok(DigestParams { params })
    }

    /// The value of parameter `name` (lower-case), if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn require(&self, name: &'static str) -> Result<&str, DigestError> {
        self.get(name).ok_or(DigestError::Missing(name))
    }
}

/// Lower-case hex MD5 of `data`.
fn md5_hex(data: &str) -> String {
    hex::encode(Md5::digest(data.as_bytes()))
}

/// HA1 = MD5(username:realm:password), lower-case hex: what the store keeps
/// instead of the SIP password.
pub fn ha1(username: &str, realm: &str, password: &str) -> String {
    md5_hex(&format!("{username}:{realm}:{password}"))
}

/// The `response` value for `qop=auth` (with `nc`, `cnonce`) or, when `qop` is
/// `None`, the RFC 2069 form MD5(HA1:nonce:HA2).
pub fn response(
    ha1: &str,
    nonce: &str,
    method: &str,
    uri: &str,
    qop: Option<(&str, &str)>,
) -> String {
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce)) => md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
        None => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// Compares in time independent of where the inputs differ (`subtle`).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

fn check_algorithm(p: &DigestParams) -> Result<(), DigestError> {
    match p.get("algorithm") {
        None => Ok(()),
        Some(a) if a.eq_ignore_ascii_case("md5") => Ok(()),
        Some(a) => Err(DigestError::UnsupportedAlgorithm(short(a))),
    }
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Quotes a value for a header (escapes `"` and `\`).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        if c != '\r' && c != '\n' {
            out.push(c);
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------- client side

/// The Authorization (for a 401) or Proxy-Authorization (for a 407) header
/// value answering `challenge` (the WWW-Authenticate / Proxy-Authenticate
/// value) for a request `method uri`. Uses `qop=auth` with `cnonce` and
/// nonce count `nc` when the challenge offers it, the RFC 2069 form when the
/// challenge has no qop. `cnonce` should be fresh random text per request.
pub fn authorization(
    challenge: &str,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
    cnonce: &str,
    nc: u32,
) -> Result<String, DigestError> {
    let p = DigestParams::parse(challenge)?;
    check_algorithm(&p)?;
    let realm = p.require("realm")?;
    let nonce = p.require("nonce")?;
    let qop_auth = match p.get("qop") {
        None => false,
        Some(q) => {
            if q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")) {
                true
            } else {
                return Err(DigestError::UnsupportedQop(short(q)));
            }
        }
    };
    let ha1 = ha1(username, realm, password);
    let nc = format!("{nc:08x}");
    let resp = response(
        &ha1,
        nonce,
        method,
        uri,
        qop_auth.then_some((nc.as_str(), cnonce)),
    );
    let mut out = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response=\"{resp}\", algorithm=MD5",
        quote(username),
        quote(realm),
        quote(nonce),
        quote(uri)
    );
    if qop_auth {
        out.push_str(&format!(", cnonce={}, qop=auth, nc={nc}", quote(cnonce)));
    }
    if let Some(opaque) = p.get("opaque") {
        out.push_str(&format!(", opaque={}", quote(opaque)));
    }
    Ok(out)
}

/// The first challenge among several WWW-Authenticate / Proxy-Authenticate
/// values (e.g. a SHA-256 one and an MD5 one) that [`authorization`] can answer.
pub fn pick_challenge<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    values.into_iter().find(|v| {
        DigestParams::parse(v).is_ok_and(|p| {
            check_algorithm(&p).is_ok()
                && p.get("realm").is_some()
                && p.get("nonce").is_some()
                && p.get("qop")
                    .is_none_or(|q| q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")))
        })
    })
}

// ---------------------------------------------------------------- server side

/// Whether a digest `uri` names the Request-URI: the same text, or the same
/// after rsip's parse and print (case of scheme and host aside).
fn same_uri(digest_uri: &str, request_uri: &str) -> bool {
    let (a, b) = (digest_uri.trim(), request_uri.trim());
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    match (rsip::Uri::try_from(a), rsip::Uri::try_from(b)) {
        (Ok(x), Ok(y)) => x.to_string().eq_ignore_ascii_case(&y.to_string()),
        _ => false,
    }
}

/// The highest nonce count accepted per nonce, while the nonce lives.
#[derive(Debug, Default)]
struct NonceCounts {
    seen: HashMap<String, (u32, Instant)>,
}

/// Remembered nonces at most: only valid answers are remembered, so this is
/// many phones' worth; beyond it the oldest go (their phones re-challenge).
const MAX_REMEMBERED_NONCES: usize = 50_000;

impl NonceCounts {
    /// Whether `nc` (None: no qop, count as 1) is above the last accepted
    /// count of `nonce`; if so it becomes the last.
    fn accept(&mut self, nonce: &str, nc: Option<u32>, now: Instant, lifetime: Duration) -> bool {
        let nc = nc.unwrap_or(1);
        if let Some((last, _)) = self.seen.get(nonce) {
            if nc <= *last {
                return false;
            }
        }
        if self.seen.len() >= MAX_REMEMBERED_NONCES {
            // A nonce older than its lifetime is stale anyway: forget those first.
            self.seen
                .retain(|_, (_, first)| now.saturating_duration_since(*first) <= lifetime);
            if self.seen.len() >= MAX_REMEMBERED_NONCES {
                let oldest = self
                    .seen
                    .iter()
                    .min_by_key(|(_, (_, t))| *t)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    self.seen.remove(&k);
                }
            }
        }
        let first = self.seen.get(nonce).map(|(_, t)| *t).unwrap_or(now);
        self.seen.insert(nonce.to_string(), (nc, first));
        true
    }
}

/// The outcome of checking an Authorization header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The response matches the stored HA1 and the nonce is ours and fresh.
    Valid,
    /// The response would match but the nonce is ours and too old: challenge
    /// again with `stale=true` (the phone retries without asking its user).
    Stale,
    /// Wrong password, a nonce we did not issue, a realm that is not ours, or
    /// parameters we do not support; the text says which (never the secret).
    Invalid(&'static str),
    /// A right answer seen before (the nonce count did not grow): a replay,
    /// or a client that lost count. Challenge again; not a password guess.
    Replayed,
}

/// Makes and checks challenges for one realm. The nonce is
/// `hex(seconds since epoch) . hex(sequence) . hex(HMAC-SHA256(secret,
/// seconds:sequence:realm))`, so a nonce is good on the node (and process)
/// that issued it and for `lifetime`, and no two challenges share one.
pub struct DigestServer {
    realm: String,
    secret: [u8; 32],
    epoch: Instant,
    lifetime: Duration,
    sequence: AtomicU64,
    counts: NonceCounts,
}

impl fmt::Debug for DigestServer {
    /// Leaves the secret out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestServer")
            .field("realm", &self.realm)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// Default nonce lifetime: long enough for a slow phone, short enough to limit replay.
pub const DEFAULT_NONCE_LIFETIME: Duration = Duration::from_secs(300);

impl DigestServer {
    /// `secret` should be random per process (e.g. `rand::random()`); `epoch`
    /// is any instant not after the first `now` passed in (the start time).
    pub fn new(
        realm: impl Into<String>,
        secret: [u8; 32],
        epoch: Instant,
        lifetime: Duration,
    ) -> Self {
        DigestServer {
            realm: realm.into(),
            secret,
            epoch,
            lifetime,
            sequence: AtomicU64::new(0),
            counts: NonceCounts::default(),
        }
    }

    /// The realm put in challenges and expected in answers.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn mac(&self, secs: u64, seq: u64) -> String {
        // new_from_slice never fails for HMAC (any key length is fine).
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
            return String::new();
        };
        mac.update(format!("{secs}:{seq}:{}", self.realm).as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    fn secs(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs()
    }

    /// A fresh nonce for `now`.
    pub fn nonce(&self, now: Instant) -> String {
        let secs = self.secs(now);
        let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
        format!("{secs:x}.{seq:x}.{}", self.mac(secs, seq))
    }

    /// The WWW-Authenticate (or Proxy-Authenticate) value for a 401 (407):
    /// realm, a fresh nonce, `algorithm=MD5`, `qop="auth"`, and `stale=true`
    /// when the client's last nonce was only too old.
    pub fn challenge(&self, now: Instant, stale: bool) -> String {
        let mut v = format!(
            "Digest realm={}, nonce=\"{}\", algorithm=MD5, qop=\"auth\"",
            quote(&self.realm),
            self.nonce(now)
        );
        if stale {
            v.push_str(", stale=true");
        }
        v
    }

    /// Whether `nonce` is ours: `Some(issued seconds)`, `None` if forged or
    /// from another process.
    fn nonce_issued(&self, nonce: &str) -> Option<u64> {
        let mut parts = nonce.splitn(3, '.');
        let (secs, seq, mac) = (parts.next()?, parts.next()?, parts.next()?);
        let hex_u64 = |t: &str| {
            (!t.is_empty() && t.len() <= 16)
                .then(|| u64::from_str_radix(t, 16).ok())
                .flatten()
        };
        let (secs, seq) = (hex_u64(secs)?, hex_u64(seq)?);
        constant_time_eq(mac.as_bytes(), self.mac(secs, seq).as_bytes()).then_some(secs)
    }

    /// [`DigestServer::verify_params`] for a request whose Request-URI is
    /// `request_uri`, plus the replay checks of the module docs. Remembers
    /// the nonce count of a valid answer.
    pub fn verify_request(
        &mut self,
        now: Instant,
        method: &str,
        request_uri: &str,
        p: &DigestParams,
        ha1: &str,
    ) -> Verdict {
        let verdict = self.verify_params(now, method, p, ha1);
        if verdict != Verdict::Valid {
            return verdict;
        }
        if !same_uri(p.get("uri").unwrap_or_default(), request_uri) {
            return Verdict::Invalid("digest uri is not the Request-URI");
        }
        let nc = p.get("nc").and_then(|nc| u32::from_str_radix(nc, 16).ok());
        let nonce = p.get("nonce").unwrap_or_default();
        if self.counts.accept(nonce, nc, now, self.lifetime) {
            Verdict::Valid
        } else {
            Verdict::Replayed
        }
    }

    /// Checks an Authorization value from a `method` request against the
    /// stored `ha1` of the user it names. The caller checks that the
    /// `username` (see [`DigestParams`]) is the user it looked `ha1` up for.
    pub fn verify(&self, now: Instant, method: &str, authorization: &str, ha1: &str) -> Verdict {
        let Ok(p) = DigestParams::parse(authorization) else {
            return Verdict::Invalid("unreadable Authorization header");
        };
        self.verify_params(now, method, &p, ha1)
    }

    /// [`DigestServer::verify`] for already parsed parameters.
    pub fn verify_params(
        &self,
        now: Instant,
        method: &str,
        p: &DigestParams,
        ha1: &str,
    ) -> Verdict {
        if check_algorithm(p).is_err() {
            return Verdict::Invalid("unsupported algorithm");
        }
        let (Some(realm), Some(nonce), Some(uri), Some(given)) = (
            p.get("realm"),
            p.get("nonce"),
            p.get("uri"),
            p.get("response"),
        ) else {
            return Verdict::Invalid("missing Digest parameter");
        };
        if realm != self.realm {
            return Verdict::Invalid("other realm");
        }
        let Some(issued) = self.nonce_issued(nonce) else {
            return Verdict::Invalid("nonce not issued here");
        };
        let qop = match (p.get("qop"), p.get("nc"), p.get("cnonce")) {
            (None, _, _) => None,
            (Some(q), Some(nc), Some(cnonce)) if q.eq_ignore_ascii_case("auth") => {
                if nc.len() != 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Verdict::Invalid("bad nonce count");
                }
                Some((nc, cnonce))
            }
            (Some(q), _, _) if q.eq_ignore_ascii_case("auth") => {
                return Verdict::Invalid("qop=auth without nc or cnonce")
            }
            _ => return Verdict::Invalid("unsupported qop"),
        };
        let expected = response(&ha1.to_ascii_lowercase(), nonce, method, uri, qop);
        if !constant_time_eq(expected.as_bytes(), given.to_ascii_lowercase().as_bytes()) {
            return Verdict::Invalid("wrong response");
        }
        let now_secs = self.secs(now);
        if issued > now_secs {
            return Verdict::Invalid("nonce from the future");
        }
        if Duration::from_secs(now_secs - issued) > self.lifetime {
            return Verdict::Stale;
        }
        Verdict::Valid
    }
}

#[cfg(test)]
mod tests;
