//! Where each nurse's SIP phone is: a fixed address from
//! `sip-config/nurse-phones.toml`, or where it last registered (REGISTER with
//! per-nurse digest credentials). A live registration wins: this node's,
//! else one taken by another node of the cluster (shared through the store,
//! [`NursePhones::shared_through`]), else the fixed address.

use super::outbound::Target;
use crate::config::{FixedPhones, LockoutConfig};
use crate::sip::digest::{DigestServer, DEFAULT_NONCE_LIFETIME};
use crate::sip::message::RequestInfo;
use crate::sip::registrations::{LockKey, Registrar, RegistrarConfig};
use crate::sip::{Peer, Transport};
use crate::store::{Store, StoredRegistration};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A lookup in the shared registrations that takes longer is given up.
const LOOKUP_DEADLINE: Duration = Duration::from_secs(2);
/// Registration writes waiting for the store; more are dropped (the phone's
/// next refresh writes again).
const PENDING_WRITES: usize = 1024;

/// The nurses' phones.
#[derive(Debug)]
pub struct NursePhones {
    fixed: HashMap<String, (String, SocketAddr)>,
    registrations: Mutex<Registrar>,
    ring_timeout: Duration,
    shared: Option<Shared>,
    /// `pe_nurse_phone_lookups_total{source}`.
    lookups: Family<SourceLabel, Counter>,
}

/// Registrations shared with the other nodes through the store.
#[derive(Debug)]
struct Shared {
    store: Store,
    node: String,
    /// A user's bindings on this node after each accepted REGISTER, written
    /// in order by one task beside the SIP loop.
    writes: mpsc::Sender<(String, Vec<StoredRegistration>)>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    /// `registered` (this node), `cluster` (another node), `fixed`, `none`.
    source: &'static str,
}

/// The store's name of a transport.
fn transport_text(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
        Transport::Tls => "tls",
    }
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
            shared: None,
            lookups: Family::default(),
        }
    }

    /// Shares registrations with the other nodes on `store`: each accepted
    /// REGISTER writes the user's bindings on this node (named `node`), and
    /// a nurse not registered here is looked up there. Starts the writer task.
    pub fn shared_through(mut self, store: Store, node: &str) -> Self {
        let (tx, mut rx) = mpsc::channel::<(String, Vec<StoredRegistration>)>(PENDING_WRITES);
        let writer = store.clone();
        let me = node.to_string();
        tokio::spawn(async move {
            while let Some((user, bindings)) = rx.recv().await {
                let put = writer.put_nurse_registrations(&user, &me, &bindings, chrono::Utc::now());
                match tokio::time::timeout(LOOKUP_DEADLINE * 5, put).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "nurse registration not shared"),
                    Err(_) => tracing::warn!("nurse registration not shared in time"),
                }
            }
        });
        self.shared = Some(Shared {
            store,
            node: node.to_string(),
            writes: tx,
        });
        self
    }

    /// `pe_nurse_phone_lookups_total{source}` on `/metrics`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        for source in ["registered", "cluster", "fixed", "none"] {
            let _ = self.lookups.get_or_create(&SourceLabel { source });
        }
        registry.register(
            "pe_nurse_phone_lookups",
            "Where a nurse's phone was found for a callback: registered here, registered through another node (cluster), fixed address, or none",
            self.lookups.clone(),
        );
    }

    /// Queues `user`'s bindings on this node for the store.
    fn share(&self, registrar: &Registrar, user: &str, now: Instant) {
        let Some(shared) = &self.shared else {
            return;
        };
        let wall = chrono::Utc::now();
        let bindings = registrar
            .bindings(user, now)
            .into_iter()
            .map(|b| {
                let left = b.expires_at.saturating_duration_since(now);
                StoredRegistration {
                    contact: b.contact,
                    peer: b.peer.addr,
                    transport: transport_text(b.peer.transport).to_string(),
                    node: shared.node.clone(),
                    expires_at: wall + chrono::TimeDelta::from_std(left).unwrap_or_default(),
                }
            })
            .collect();
        if shared
            .writes
            .try_send((user.to_string(), bindings))
            .is_err()
        {
            tracing::warn!("nurse registration writes are backed up; one not shared");
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
                let response = r.handle_register(now, request, info, peer, ha1);
                if response.status_code.code() == 200 {
                    if let Some(user) = Registrar::user_of(info) {
                        self.share(&r, user, now);
                    }
                }
                response
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

    /// Where to ring `user` now, from this node's knowledge only.
    pub fn target(&self, user: &str, now: Instant) -> Option<Target> {
        self.registered(user, now).or_else(|| self.fixed(user))
    }

    /// Where to ring `user` now: registered here, else registered through
    /// another node (over UDP: its TCP/TLS connections are that node's),
    /// else the fixed address. The store is asked with a deadline.
    pub async fn find(&self, user: &str, now: Instant) -> Option<Target> {
        let found = match self.registered(user, now) {
            Some(t) => Some(("registered", t)),
            None => match self.in_cluster(user).await {
                Some(t) => Some(("cluster", t)),
                None => self.fixed(user).map(|t| ("fixed", t)),
            },
        };
        let source = found.as_ref().map_or("none", |(s, _)| s);
        self.lookups.get_or_create(&SourceLabel { source }).inc();
        found.map(|(_, t)| t)
    }

    fn registered(&self, user: &str, now: Instant) -> Option<Target> {
        let b = self
            .registrations
            .lock()
            .ok()
            .and_then(|r| r.lookup(user, now))?;
        Some(self.ring(b.contact, b.peer))
    }

    fn fixed(&self, user: &str) -> Option<Target> {
        let (uri, addr) = self.fixed.get(user)?;
        let peer = Peer {
            addr: *addr,
            transport: Transport::Udp,
            conn: None,
        };
        Some(self.ring(uri.clone(), peer))
    }

    async fn in_cluster(&self, user: &str) -> Option<Target> {
        let shared = self.shared.as_ref()?;
        let read = shared.store.nurse_registrations(user, chrono::Utc::now());
        let rows = match tokio::time::timeout(LOOKUP_DEADLINE, read).await {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "shared nurse registrations not read");
                return None;
            }
            Err(_) => {
                tracing::warn!("shared nurse registrations not read in time");
                return None;
            }
        };
        let r = rows
            .into_iter()
            .find(|r| r.transport == "udp" && r.node != shared.node)?;
        let peer = Peer {
            addr: r.peer,
            transport: Transport::Udp,
            conn: None,
        };
        Some(self.ring(r.contact, peer))
    }

    fn ring(&self, uri: String, peer: Peer) -> Target {
        Target {
            uri,
            peer,
            credentials: None,
            ring_timeout: self.ring_timeout,
        }
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
