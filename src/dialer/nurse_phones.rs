//! Where each nurse's SIP phone is: a fixed address from
//! `sip-config/nurse-phones.toml`, or where it last registered (REGISTER with
//! per-nurse digest credentials). A live registration wins.

use super::outbound::Target;
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

/// A registered contact (kept until it expires).
#[derive(Debug, Clone)]
pub struct Binding {
    pub uri: String,
    pub peer: Peer,
    pub expires: Instant,
}

/// The nurses' phones.
pub struct NursePhones {
    fixed: HashMap<String, (String, SocketAddr)>,
    registered: Mutex<HashMap<String, Binding>>,
    ring_timeout: Duration,
}

impl NursePhones {
    /// Reads `path` if it exists (no file: registrations only).
    pub fn load(path: &Path, ring_timeout: Duration) -> anyhow::Result<Self> {
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
        Ok(NursePhones {
            fixed,
            registered: Mutex::new(HashMap::new()),
            ring_timeout,
        })
    }

    /// Records a registration (or its removal with `None`).
    pub fn set_binding(&self, user: &str, binding: Option<Binding>) {
        if let Ok(mut m) = self.registered.lock() {
            match binding {
                Some(b) => m.insert(user.to_string(), b),
                None => m.remove(user),
            };
        }
    }

    /// Where to ring `user` now.
    pub fn target(&self, user: &str, now: Instant) -> Option<Target> {
        let registered = self
            .registered
            .lock()
            .ok()
            .and_then(|m| m.get(user).filter(|b| b.expires > now).cloned());
        let (uri, peer) = match registered {
            Some(b) => (b.uri, b.peer),
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
    fn fixed_phone_is_used_until_a_registration_overrides_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nurse-phones.toml");
        std::fs::write(&path, "[phones]\nanna = \"sip:anna@127.0.0.1:5090\"\n").unwrap();
        let phones = NursePhones::load(&path, Duration::from_secs(30)).unwrap();
        let now = Instant::now();
        let t = phones.target("anna", now).unwrap();
        assert_eq!(t.peer.addr, "127.0.0.1:5090".parse().unwrap());
        assert!(phones.target("bo", now).is_none());
        let peer = Peer {
            addr: "127.0.0.1:6000".parse().unwrap(),
            transport: Transport::Udp,
            conn: None,
        };
        phones.set_binding(
            "anna",
            Some(Binding {
                uri: "sip:anna@127.0.0.1:6000".into(),
                peer,
                expires: now + Duration::from_secs(60),
            }),
        );
        assert_eq!(phones.target("anna", now).unwrap().peer.addr, peer.addr);
        // Expired: back to the fixed address.
        let later = now + Duration::from_secs(61);
        assert_eq!(
            phones.target("anna", later).unwrap().peer.addr,
            "127.0.0.1:5090".parse().unwrap()
        );
    }

    #[test]
    fn a_phone_without_address_is_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nurse-phones.toml");
        std::fs::write(&path, "[phones]\nanna = \"tel:123\"\n").unwrap();
        let e = NursePhones::load(&path, Duration::from_secs(30))
            .err()
            .unwrap();
        assert!(e.to_string().contains("phones.anna"), "{e}");
    }
}
