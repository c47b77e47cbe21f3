//! Where each nurse's SIP phone is: a fixed address from
//! `sip-config/nurse-phones.toml`, or where it last registered (REGISTER with
//! per-nurse digest credentials). A live registration wins.

use super::outbound::Target;
use crate::sip::digest::{DigestServer, DEFAULT_NONCE_LIFETIME};
use crate::sip::message::RequestInfo;
use crate::sip::registrations::{Registrar, RegistrarConfig};
use crate::sip::{Peer, Transport};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    phones: HashMap<String, String>,
}

/// The nurses' phones.
pub struct NursePhones {
    fixed: HashMap<String, (String, SocketAddr)>,
    registrations: Mutex<Registrar>,
    ring_timeout: Duration,
}

impl NursePhones {
    /// Reads `path` if it exists (no file: registrations only).
    pub fn load(path: &Path, realm: &str, ring_timeout: Duration) -> anyhow::Result<Self> {
        let mut fixed = HashMap::new();
        if path.exists() {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
            let file: File =
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            for (user, uri) in file.phones {
                let addr = uri_addr(&uri).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: phones.{user} = \"{uri}\" has no reachable host:port; fix: e.g. \"sip:{user}@192.0.2.5:5060\"",
                        path.display()
                    )
                })?;
                fixed.insert(user, (uri, addr));
            }
        }
        // A fresh secret per start: nonces of an earlier run are simply re-challenged.
        let digest = DigestServer::new(
            realm,
            rand::random(),
            Instant::now(),
            DEFAULT_NONCE_LIFETIME,
        );
        Ok(NursePhones {
            fixed,
            registrations: Mutex::new(Registrar::new(RegistrarConfig::default(), digest)),
            ring_timeout,
        })
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

/// `sip:user@host:port;params` -> the socket address (port 5060 by default).
fn uri_addr(uri: &str) -> Option<SocketAddr> {
    let rest = uri.strip_prefix("sip:")?;
    let host = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    let host = host.split(';').next()?;
    let with_port = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:5060")
    };
    with_port.to_socket_addrs().ok()?.next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_phone_is_used_without_a_registration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nurse-phones.toml");
        std::fs::write(&path, "[phones]\nanna = \"sip:anna@127.0.0.1:5090\"\n").unwrap();
        let phones = NursePhones::load(&path, "1177.local", Duration::from_secs(30)).unwrap();
        let now = Instant::now();
        let t = phones.target("anna", now).unwrap();
        assert_eq!(t.peer.addr, "127.0.0.1:5090".parse::<SocketAddr>().unwrap());
        assert_eq!(t.uri, "sip:anna@127.0.0.1:5090");
        assert!(phones.target("bo", now).is_none());
    }

    #[test]
    fn a_phone_without_address_is_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nurse-phones.toml");
        std::fs::write(&path, "[phones]\nanna = \"tel:123\"\n").unwrap();
        let e = NursePhones::load(&path, "1177.local", Duration::from_secs(30))
            .err()
            .unwrap();
        assert!(e.to_string().contains("phones.anna"), "{e}");
    }
}
