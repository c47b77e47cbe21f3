//! Where each nurse's SIP phone is: a fixed address from
//! `sip-config/nurse-phones.toml`, or where it last registered (REGISTER with
//! per-nurse digest credentials). A live registration wins.

use super::outbound::Target;
use crate::config::{FixedPhones, LockoutConfig};
use crate::sip::digest::{DigestServer, DEFAULT_NONCE_LIFETIME};
use crate::sip::message::RequestInfo;
use crate::sip::registrations::{LockKey, Registrar, RegistrarConfig};
use crate::sip::{Peer, Transport};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The nurses' phones.
#[derive(Debug)]
pub struct NursePhones {
    fixed: HashMap<String, (String, SocketAddr)>,
    registrations: Mutex<Registrar>,
    ring_timeout: Duration,
}

impl NursePhones {
    /// Fixed phones from the config, and registrations in `realm` from now
    /// on, with wrong digests limited by `limits` (`staff.toml`).
    pub fn new(
        fixed: FixedPhones,
        realm: &str,
        ring_timeout: Duration,
        limits: &LockoutConfig,
    ) -> Self {
        // A fresh secret per start: nonces of an earlier run are simply re-challenged.
        let digest = DigestServer::new(
            realm,
            rand::random(),
            Instant::now(),
            DEFAULT_NONCE_LIFETIME,
        );
        NursePhones {
            fixed: fixed.0,
            registrations: Mutex::new(Registrar::new(
                RegistrarConfig {
                    user_lockout: limits.per_account(),
                    source_lockout: limits.per_address(),
                    ..RegistrarConfig::default()
                },
                digest,
            )),
            ring_timeout,
        }
    }

    /// Answers a REGISTER; `ha1` is the user's stored digest secret.
    pub fn handle_register(
        &self,
        now: Instant,
        request: &rsip::Request,
        info: &RequestInfo,
        peer: Peer,
        ha1: Option<&str>,
    ) -> rsip::Response {
        match self.registrations.lock() {
            Ok(mut r) => {
                r.purge(now);
                r.handle_register(now, request, info, peer, ha1)
            }
            Err(_) => crate::sip::message::response_to(request, 500, None),
        }
    }

    /// User names and addresses locked now after wrong digests (this node).
    pub fn locked(&self, now: Instant) -> Vec<(LockKey, Instant)> {
        self.registrations
            .lock()
            .map(|r| r.locked(now))
            .unwrap_or_default()
    }

    /// Lifts a REGISTER lock on this node; `false` when there was none.
    pub fn lift(&self, key: &LockKey) -> bool {
        self.registrations
            .lock()
            .map(|mut r| r.lift(key))
            .unwrap_or(false)
    }

    /// TCP connections that live registrations use.
    pub fn connections(&self, now: Instant) -> Vec<u64> {
        self.registrations
            .lock()
            .map(|r| r.connections(now).collect())
            .unwrap_or_default()
    }

    /// Where to ring `user` now.
    pub fn target(&self, user: &str, now: Instant) -> Option<Target> {
        let registered = self
            .registrations
            .lock()
            .ok()
            .and_then(|r| r.lookup(user, now));
        let (uri, peer) = match registered {
            Some(b) => (b.contact, b.peer),
            None => {
                let (uri, addr) = self.fixed.get(user)?;
                (
                    uri.clone(),
                    Peer {
                        addr: *addr,
                        transport: Transport::Udp,
                        conn: None,
                    },
                )
            }
        };
        Some(Target {
            uri,
            peer,
            credentials: None,
            ring_timeout: self.ring_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_phone_is_used_without_a_registration() {
        let fixed = FixedPhones::parse(
            "[phones]\nanna = \"sip:anna@127.0.0.1:5090\"\n",
            std::path::Path::new("nurse-phones.toml"),
        )
        .unwrap();
        let limits = LockoutConfig::default();
        let phones = NursePhones::new(fixed, "1177.local", Duration::from_secs(30), &limits);
        let now = Instant::now();
        let t = phones.target("anna", now).unwrap();
        assert_eq!(t.peer.addr, "127.0.0.1:5090".parse::<SocketAddr>().unwrap());
        assert_eq!(t.uri, "sip:anna@127.0.0.1:5090");
        assert!(phones.target("bo", now).is_none());
    }
}
