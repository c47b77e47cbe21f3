//! `sip-config/nurse-phones.toml`: nurses' desk phones at fixed addresses
//! (phones that do not REGISTER). Optional: without it, registrations only.

use serde::Deserialize;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    phones: HashMap<String, String>,
}

/// User name -> (contact URI, resolved address).
#[derive(Debug, Clone, Default)]
pub struct FixedPhones(pub HashMap<String, (String, SocketAddr)>);

impl FixedPhones {
    /// Checks the text of `path`; a phone without a reachable address is an error.
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<Self> {
        let file: File =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut fixed = HashMap::new();
        for (user, uri) in file.phones {
            let addr = uri_addr(&uri).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: phones.{user} = \"{uri}\" has no reachable host:port; fix: e.g. \"sip:{user}@192.0.2.5:5060\"",
                    path.display()
                )
            })?;
            fixed.insert(user, (uri, addr));
        }
        Ok(FixedPhones(fixed))
    }
}

/// `sip:user@host:port;params` -> the socket address (port 5060 by default).
/// Also reads `sip.toml`'s `fallback_uri`.
pub(super) fn uri_addr(uri: &str) -> Option<SocketAddr> {
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
    fn a_phone_without_address_is_a_config_error() {
        let e = FixedPhones::parse(
            "[phones]\nanna = \"tel:123\"\n",
            Path::new("nurse-phones.toml"),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("phones.anna"), "{e}");
    }
}
