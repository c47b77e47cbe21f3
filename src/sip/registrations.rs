//! The registrar for nurse SIP phones (RFC 3261 section 10.3), sans-IO: a
//! table of bindings keyed by user, fed parsed REGISTER requests and the time,
//! answering with the response to send. Credentials come in as the looked-up
//! HA1 (see [`super::digest::ha1`]), so the table never touches the store.
//!
//! A binding remembers the transport and socket address the REGISTER came
//! from ([`Peer`]): calls to the phone go there, which works through NAT
//! where the Contact (a private address) would not.
//!
//! Guessing is limited: wrong answers are counted per user name and per
//! source address ([`crate::lockout`]); a locked user or address gets the
//! same 403 as a wrong password, whatever it sends. Every refusal reads the
//! same (no telling which users have SIP accounts). The counts are this
//! node's: phones register with one node, and its bindings are in memory too.

use super::digest::{DigestParams, DigestServer, Verdict};
use super::message::{self, header_uri, uri_user, RequestInfo};
use super::transaction::Peer;
use crate::lockout::{Policy, Tracker};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Limits on registration lifetimes and table size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shorter requested lifetimes get 423 Interval Too Brief (RFC 3261 10.3 step 7).
    pub min_expires: u32,
    /// Longer requested lifetimes are shortened to this.
    pub max_expires: u32,
    /// Used when the request names no lifetime.
    pub default_expires: u32,
    /// Contacts one user may have at once; more get 403.
    pub max_contacts_per_user: usize,
    /// Wrong digests per user name before it is locked.
    pub user_lockout: Policy,
    /// Wrong digests per source address before it is locked.
    pub source_lockout: Policy,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts_per_user: 5,
            user_lockout: Policy::PER_ACCOUNT,
            source_lockout: Policy::PER_ADDRESS,
        }
    }
}

/// One registered contact of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI as registered (without `<>` and header parameters).
    pub contact: String,
    /// Where the REGISTER came from: send requests for this contact here.
    pub peer: Peer,
    /// When the binding lapses unless refreshed.
    pub expires_at: Instant,
    /// Call-ID and CSeq of the REGISTER that last refreshed it (RFC 3261 10.3 step 7).
    pub call_id: String,
    pub cseq: u32,
    /// When it was last refreshed: the newest binding is tried first.
    pub updated_at: Instant,
}

impl Binding {
    /// Seconds left, rounded down, zero when lapsed.
    pub fn remaining(&self, now: Instant) -> u64 {
        self.expires_at.saturating_duration_since(now).as_secs()
    }
}

/// The registrar table. See the module docs.
#[derive(Debug)]
pub struct Registrar {
    cfg: RegistrarConfig,
    digest: DigestServer,
    users: HashMap<String, Vec<Binding>>,
    user_locks: Tracker<String>,
    source_locks: Tracker<IpAddr>,
}

/// User names and addresses whose failures are remembered at most.
const MAX_TRACKED: usize = 10_000;

/// What every refused REGISTER says, whatever the reason.
const REFUSED: &str = "not allowed";

/// A key the registrar counts failures under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockKey {
    User(String),
    Source(IpAddr),
}

/// One parsed Contact entry of a REGISTER.
enum ContactSpec {
    Star,
    Uri { uri: String, expires: Option<u32> },
}

impl Registrar {
    pub fn new(cfg: RegistrarConfig, digest: DigestServer) -> Self {
        Registrar {
            user_locks: Tracker::new(cfg.user_lockout, MAX_TRACKED),
            source_locks: Tracker::new(cfg.source_lockout, MAX_TRACKED),
            cfg,
            digest,
            users: HashMap::new(),
        }
    }

    /// Keys locked now, with the end of the lock.
    pub fn locked(&self, now: Instant) -> Vec<(LockKey, Instant)> {
        let users = self.user_locks.locked(now).into_iter();
        let sources = self.source_locks.locked(now).into_iter();
        users
            .map(|(u, t)| (LockKey::User(u), t))
            .chain(sources.map(|(a, t)| (LockKey::Source(a), t)))
            .collect()
    }

    /// Lifts a lock by hand; `false` when the key had none.
    pub fn lift(&mut self, key: &LockKey) -> bool {
        match key {
            LockKey::User(u) => self.user_locks.lift(u),
            LockKey::Source(a) => self.source_locks.lift(a),
        }
    }

    /// Whether a REGISTER for `user` from `source` is refused unheard. A user
    /// lock does not hold against the address the user's live binding came
    /// from: someone guessing elsewhere must not knock the nurse's phone out.
    fn is_locked(&self, user: &str, source: IpAddr, now: Instant) -> bool {
        if self.source_locks.locked_until(&source, now).is_some() {
            return true;
        }
        self.user_locks
            .locked_until(&user.to_string(), now)
            .is_some()
            && !self
                .bindings(user, now)
                .iter()
                .any(|b| b.peer.addr.ip() == source)
    }

    /// A wrong answer: counted, then the uniform 403.
    fn refuse(
        &mut self,
        user: &str,
        source: IpAddr,
        now: Instant,
        resp: rsip::Response,
    ) -> rsip::Response {
        self.user_locks.fail(&user.to_string(), now);
        self.source_locks.fail(&source, now);
        with_warning(resp, REFUSED)
    }

    /// The realm of challenges (and of the stored HA1 values).
    pub fn realm(&self) -> &str {
        self.digest.realm()
    }

    /// The user a REGISTER is for (the To URI's user part): look its HA1 up
    /// before calling [`Registrar::handle_register`].
    pub fn user_of(info: &RequestInfo) -> Option<&str> {
        uri_user(&info.to_uri).filter(|u| !u.is_empty())
    }

    /// Answers a REGISTER: 401 with a challenge when unauthenticated (or the
    /// nonce is stale, not ours, or its count was seen before), 403 alike when
    /// the credentials name another user, the user has no SIP password (`ha1`
    /// None), the password is wrong, the digest `uri` is not the Request-URI,
    /// or the user or source address is locked after failures; 423 below
    /// the minimum lifetime, 400 for an unreadable Contact/Expires, otherwise
    /// 200 listing every current contact with its `expires`. A `Contact: *`
    /// with `Expires: 0` removes all of the user's bindings.
    ///
    /// `ha1` is the stored HA1 of [`Registrar::user_of`]`(info)`.
    pub fn handle_register(
        &mut self,
        now: Instant,
        request: &rsip::Request,
        info: &RequestInfo,
        peer: Peer,
        ha1: Option<&str>,
    ) -> rsip::Response {
        let tag = to_tag(&info.call_id);
        let reply = |status: u16| message::response_to(request, status, Some(&tag));
        let Some(user) = Self::user_of(info).map(str::to_string) else {
            return with_warning(reply(400), "To has no user part");
        };
        let auths: Vec<DigestParams> = message::header_values(&request.headers, "authorization")
            .filter_map(|v| DigestParams::parse(&v).ok())
            .filter(|p| p.get("realm") == Some(self.realm()))
            .collect();
        let Some(auth) = auths.first() else {
            return self.challenge(reply(401), now, false);
        };
        let source = peer.addr.ip();
        if self.is_locked(&user, source, now) {
            return with_warning(reply(403), REFUSED);
        }
        if auth.get("username") != Some(user.as_str()) {
            return self.refuse(&user, source, now, reply(403));
        }
        // No SIP account: checked against a throwaway HA1, so the answer (and
        // the work) is the same as for a wrong password.
        let ha1 = ha1.unwrap_or("00000000000000000000000000000000");
        let has_account = ha1 != "00000000000000000000000000000000";
        let method = info.method.to_string();
        match self
            .digest
            .verify_request(now, &method, &info.uri, auth, ha1)
        {
            Verdict::Valid if has_account => {}
            Verdict::Stale => return self.challenge(reply(401), now, true),
            Verdict::Invalid("nonce not issued here") | Verdict::Replayed => {
                // A nonce from before a restart (or another node), or an answer
                // seen before (a replay): ask again; a replay cannot answer.
                return self.challenge(reply(401), now, false);
            }
            Verdict::Valid | Verdict::Invalid(_) => {
                return self.refuse(&user, source, now, reply(403))
            }
        }
        // The count starts over, but a running lock stays (the registered
        // phone got through it; whoever caused it may still be guessing).
        if self.user_locks.locked_until(&user, now).is_none() {
            self.user_locks.succeed(&user);
        }
        self.apply(now, request, info, peer, &user, reply)
    }

    /// [`Registrar::handle_register`] with a lookup function instead of the
    /// looked-up value (for callers whose credentials are at hand).
    pub fn handle_register_with(
        &mut self,
        now: Instant,
        request: &rsip::Request,
        info: &RequestInfo,
        peer: Peer,
        lookup: impl FnOnce(&str) -> Option<String>,
    ) -> rsip::Response {
        let ha1 = Self::user_of(info).and_then(lookup);
        self.handle_register(now, request, info, peer, ha1.as_deref())
    }

    fn challenge(&self, mut resp: rsip::Response, now: Instant, stale: bool) -> rsip::Response {
        message::add_header(
            &mut resp.headers,
            "WWW-Authenticate",
            self.digest.challenge(now, stale),
        );
        resp
    }

    /// The authenticated part: add, refresh or remove bindings.
    fn apply(
        &mut self,
        now: Instant,
        request: &rsip::Request,
        info: &RequestInfo,
        peer: Peer,
        user: &str,
        reply: impl Fn(u16) -> rsip::Response,
    ) -> rsip::Response {
        let header_expires = match message::header_values(&request.headers, "expires").next() {
            None => None,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => return with_warning(reply(400), "Expires is not a number"),
            },
        };
        let mut specs = Vec::new();
        for value in message::header_values(&request.headers, "contact") {
            for part in split_contacts(&value) {
                if part == "*" {
                    specs.push(ContactSpec::Star);
                    continue;
                }
                let uri = header_uri(&part).to_string();
                if uri.is_empty() || !uri.to_ascii_lowercase().starts_with("sip") {
                    return with_warning(reply(400), "Contact is not a SIP URI");
                }
                let expires = match message::header_param(&part, "expires") {
                    None => None,
                    Some(v) => match v.trim_matches('"').parse::<u32>() {
                        Ok(n) => Some(n),
                        Err(_) => {
                            return with_warning(reply(400), "Contact expires is not a number")
                        }
                    },
                };
                specs.push(ContactSpec::Uri { uri, expires });
            }
        }
        self.purge_user(user, now);
        if specs.iter().any(|s| matches!(s, ContactSpec::Star)) {
            if specs.len() != 1 || header_expires != Some(0) {
                return with_warning(
                    reply(400),
                    "Contact: * needs Expires: 0 and no other contact",
                );
            }
            if let Some(list) = self.users.get(user) {
                if list
                    .iter()
                    .any(|b| b.call_id == info.call_id && b.cseq >= info.cseq)
                {
                    return with_warning(reply(500), "REGISTER out of order");
                }
            }
            self.users.remove(user);
            return self.ok(reply(200), user, now);
        }
        // Check every contact before changing anything (the request is atomic).
        let mut changes = Vec::new();
        for spec in specs {
            let ContactSpec::Uri { uri, expires } = spec else {
                continue;
            };
            let asked = expires
                .or(header_expires)
                .unwrap_or(self.cfg.default_expires);
            if asked != 0 && asked < self.cfg.min_expires {
                let mut resp = reply(423);
                message::add_header(
                    &mut resp.headers,
                    "Min-Expires",
                    self.cfg.min_expires.to_string(),
                );
                return resp;
            }
            if let Some(old) = self
                .users
                .get(user)
                .and_then(|l| l.iter().find(|b| same_contact(&b.contact, &uri)))
            {
                if old.call_id == info.call_id && old.cseq >= info.cseq {
                    return with_warning(reply(500), "REGISTER out of order");
                }
            }
            changes.push((uri, asked.min(self.cfg.max_expires)));
        }
        let list = self.users.entry(user.to_string()).or_default();
        for (uri, secs) in changes {
            list.retain(|b| !same_contact(&b.contact, &uri));
            if secs > 0 {
                list.push(Binding {
                    contact: uri,
                    peer,
                    expires_at: now + Duration::from_secs(u64::from(secs)),
                    call_id: info.call_id.clone(),
                    cseq: info.cseq,
                    updated_at: now,
                });
            }
        }
        if list.len() > self.cfg.max_contacts_per_user {
            // Drop the oldest rather than refuse: a phone that lost its
            // bindings (reboot, new port) must always get back in.
            list.sort_by_key(|b| std::cmp::Reverse(b.updated_at));
            list.truncate(self.cfg.max_contacts_per_user);
        }
        if list.is_empty() {
            self.users.remove(user);
        }
        self.ok(reply(200), user, now)
    }

    fn ok(&self, mut resp: rsip::Response, user: &str, now: Instant) -> rsip::Response {
        for b in self.bindings(user, now) {
            message::add_header(
                &mut resp.headers,
                "Contact",
                format!("<{}>;expires={}", b.contact, b.remaining(now)),
            );
        }
        resp
    }

    /// The binding to call `user` at: the most recently refreshed live one.
    pub fn lookup(&self, user: &str, now: Instant) -> Option<Binding> {
        self.bindings(user, now).into_iter().next()
    }

    /// All live bindings of `user`, most recently refreshed first.
    pub fn bindings(&self, user: &str, now: Instant) -> Vec<Binding> {
        let mut list: Vec<Binding> = self
            .users
            .get(user)
            .map(|l| l.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default();
        list.sort_by_key(|b| std::cmp::Reverse(b.updated_at));
        list
    }

    /// Forgets lapsed bindings (call now and then to bound memory).
    pub fn purge(&mut self, now: Instant) {
        self.users.retain(|_, l| {
            l.retain(|b| b.expires_at > now);
            !l.is_empty()
        });
    }

    fn purge_user(&mut self, user: &str, now: Instant) {
        if let Some(l) = self.users.get_mut(user) {
            l.retain(|b| b.expires_at > now);
            if l.is_empty() {
                self.users.remove(user);
            }
        }
    }

    /// When the next binding lapses (for a driver that wants to purge on time).
    pub fn next_expiry(&self) -> Option<Instant> {
        self.users.values().flatten().map(|b| b.expires_at).min()
    }

    /// TCP connections live bindings were registered over (we call those
    /// phones on them, so they must stay open).
    pub fn connections(&self, now: Instant) -> impl Iterator<Item = u64> + '_ {
        self.users
            .values()
            .flatten()
            .filter(move |b| b.expires_at > now)
            .filter_map(|b| b.peer.conn)
    }

    /// Users with at least one live binding.
    pub fn registered_users(&self, now: Instant) -> usize {
        self.users
            .values()
            .filter(|l| l.iter().any(|b| b.expires_at > now))
            .count()
    }
}

/// RFC 3261 19.1.4-ish: scheme and host compare case-insensitively; we compare
/// the whole URI that way, which is what phones re-send verbatim anyway.
fn same_contact(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// A stable To tag for the responses of one registration (Call-ID based, so
/// retransmissions and refreshes get the same one).
fn to_tag(call_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(call_id.as_bytes());
    format!("reg{}", hex::encode(&h[..6]))
}

fn with_warning(resp: rsip::Response, why: &str) -> rsip::Response {
    super::stateless::with_reason(resp, why)
}

/// Splits a Contact value at commas outside quotes and `<...>`.
fn split_contacts(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut cur, mut quoted, mut angle) = (String::new(), false, false);
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            escaped = false;
            cur.push(c);
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur.trim().to_string());
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests;
