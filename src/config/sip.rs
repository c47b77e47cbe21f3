//! `sip-config/sip.toml`: the SIP side of the service (entrance numbers,
//! capacity, timers). Validated once at start-up.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// When calls get SRTP (RFC 3711) with SDES keys (RFC 4568, `a=crypto`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SrtpPolicy {
    /// Plain RTP only: `a=crypto` lines are ignored, RTP/SAVP offers get 488.
    Off,
    /// SRTP when the offer carries a usable `a=crypto`, plain RTP otherwise.
    #[default]
    WhenOffered,
    /// As `when_offered`, but an offer over TLS without a usable `a=crypto`
    /// gets 488: encrypted signalling never carries plain media.
    RequiredOnTls,
}

/// The SIP settings, with defaults for everything but the entrance numbers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// Request-URI / To users that reach the IVR (e.g. "1177").
    pub entrance_numbers: Vec<String>,
    /// Concurrent calls before new INVITEs get 503 with Retry-After.
    #[serde(default = "default_max_calls")]
    pub max_concurrent_calls: usize,
    /// Seconds in the Retry-After of an overload 503.
    #[serde(default = "default_retry_after")]
    pub retry_after_seconds: u32,
    /// No RTP from the caller for this long (after answer, not on hold) ends the call.
    #[serde(default = "default_rtp_timeout")]
    pub rtp_timeout_seconds: u64,
    /// Media worker threads (default: one per listed `[media] cpu_affinity`
    /// CPU, else one per core, at most 16); see `thread_counts`.
    #[serde(default)]
    pub media_workers: Option<usize>,
    /// Tokio runtime worker threads (SIP, HTTP, calls; default: one per core,
    /// at most 16); see `thread_counts`.
    #[serde(default)]
    pub runtime_workers: Option<usize>,
    /// Address put in SDP and Contact when the bind address is 0.0.0.0.
    #[serde(default)]
    pub advertise_ip: Option<std::net::IpAddr>,
    /// Ring this long (180 Ringing) before answering; 0 answers at once.
    #[serde(default)]
    pub ring_ms: u64,
    /// A caller holding in the queue hears their place and wait this often (0: never).
    #[serde(default = "default_hold_announcement")]
    pub hold_announcement_seconds: u64,
    /// On SIGTERM, callers still in the IVR get this long to finish before
    /// they are hung up (held callers become callbacks at once).
    #[serde(default = "default_drain_seconds")]
    pub drain_seconds: u64,
    /// The Server / User-Agent header.
    #[serde(default = "default_user_agent")]
    pub user_agent: String,
    /// Digest realm for nurse phones registering here. The stored SIP
    /// credentials (HA1) depend on it: changing it means setting every SIP
    /// password again (`create-user --update --sip-password`).
    #[serde(default = "default_sip_realm")]
    pub sip_realm: String,
    /// Where callers go when their case cannot be stored (a hold the database
    /// refused, or a call while the database is down), e.g. the contact
    /// centre's plain phone queue `sip:queue@pbx.example`: they hear a short
    /// message and are bridged there (UDP). None: they are told to call
    /// again (or 112), and while the database is down INVITEs get 503.
    #[serde(default)]
    pub fallback_uri: Option<String>,
    /// Give up on an unanswered fallback after this long (the caller then
    /// hears the call-again message).
    #[serde(default = "default_fallback_ring")]
    pub fallback_ring_seconds: u64,
    /// SIP over TLS listens here (its own port, e.g. 0.0.0.0:5061); absent: no TLS.
    #[serde(default)]
    pub tls_bind: Option<SocketAddr>,
    /// PEM certificate chain for TLS (server certificate first); relative to the config dir.
    #[serde(default)]
    pub tls_certificate: Option<PathBuf>,
    /// PEM private key of `tls_certificate`; relative to the config dir.
    #[serde(default)]
    pub tls_private_key: Option<PathBuf>,
    /// SRTP with SDES keys: `off`, `when_offered` (default) or `required_on_tls`.
    #[serde(default)]
    pub srtp: SrtpPolicy,
    /// Media worker scheduling and sending (`[media]`).
    #[serde(default)]
    pub media: super::media::MediaSettings,
    /// `fallback_uri`'s host and port, resolved once at load time.
    #[serde(skip)]
    fallback_addr: Option<SocketAddr>,
    /// The TLS server set-up from the two PEM files, built at load time.
    #[serde(skip)]
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// `--rtp-ports` when not given: 8192 even ports, above the default call cap.
pub const DEFAULT_RTP_PORTS: &str = "16384-32767";

/// Upper bound for `media_workers` / `runtime_workers`.
const MAX_THREADS: usize = 64;
/// The per-core defaults stop here (more threads than this only add switching).
const DEFAULT_THREADS_CAP: usize = 16;

/// Even ports in `low..=high` (RTP uses even ports, RTCP the odd one above).
pub fn even_ports(low: u16, high: u16) -> usize {
    let first = u32::from(low) + u32::from(low % 2);
    let high = u32::from(high);
    if low == 0 || first > high {
        return 0;
    }
    ((high - first) / 2 + 1) as usize
}

fn default_max_calls() -> usize {
    6000
}
fn default_retry_after() -> u32 {
    10
}
fn default_rtp_timeout() -> u64 {
    30
}
fn default_hold_announcement() -> u64 {
    45
}
fn default_drain_seconds() -> u64 {
    30
}
fn default_fallback_ring() -> u64 {
    20
}
fn default_sip_realm() -> String {
    "1177.local".to_string()
}
fn default_user_agent() -> String {
    format!("phone-entrance/{}", env!("CARGO_PKG_VERSION"))
}

impl SipConfig {
    /// Checks the text of `path`; errors name the file and the fix.
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<Self> {
        let mut s: SipConfig =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if s.entrance_numbers.is_empty() || s.entrance_numbers.iter().any(|n| n.trim().is_empty()) {
            anyhow::bail!(
                "{}: entrance_numbers must list at least one number, e.g. [\"1177\"]",
                path.display()
            );
        }
        if s.max_concurrent_calls == 0 {
            anyhow::bail!(
                "{}: max_concurrent_calls must be at least 1",
                path.display()
            );
        }
        if s.rtp_timeout_seconds < 5 {
            anyhow::bail!(
                "{}: rtp_timeout_seconds must be at least 5 (phones pause RTP briefly)",
                path.display()
            );
        }
        if s.sip_realm.trim().is_empty()
            || s.sip_realm
                .chars()
                .any(|c| c == '"' || c == '\\' || c.is_control())
        {
            anyhow::bail!(
                "{}: sip_realm must be a non-empty name without quotes or backslashes, e.g. \"1177.local\"",
                path.display()
            );
        }
        if let Some(uri) = &s.fallback_uri {
            s.fallback_addr = Some(super::nurse_phones::uri_addr(uri).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: fallback_uri \"{uri}\" has no reachable host:port; fix: e.g. fallback_uri = \"sip:queue@192.0.2.30:5060\"",
                    path.display()
                )
            })?);
        }
        if !(5..=120).contains(&s.fallback_ring_seconds) {
            anyhow::bail!("{}: fallback_ring_seconds must be 5-120", path.display());
        }
        for (key, v) in [
            ("media_workers", s.media_workers),
            ("runtime_workers", s.runtime_workers),
        ] {
            if v.is_some_and(|n| !(1..=MAX_THREADS).contains(&n)) {
                anyhow::bail!(
                    "{}: {key} must be 1-{MAX_THREADS}; fix: remove it (one per core) or set e.g. 2",
                    path.display()
                );
            }
        }
        s.media.validate(path, &super::media::usable_cpus())?;
        s.tls = s.load_tls(path)?;
        Ok(s)
    }

    /// Media workers and tokio runtime workers, sized together: each
    /// defaults to one per core (media: one per `cpu_affinity` CPU when set),
    /// at most 16, so neither pool outgrows the box. 2 cores: 2 and 2.
    pub fn thread_counts(&self, cores: usize) -> (usize, usize) {
        let per_core = cores.clamp(1, DEFAULT_THREADS_CAP);
        let media_default = match self.media.cpu_affinity.len() {
            0 => per_core,
            n => n.min(DEFAULT_THREADS_CAP),
        };
        (
            self.media_workers.unwrap_or(media_default),
            self.runtime_workers.unwrap_or(per_core),
        )
    }

    /// Every call takes at least one even RTP port: a cap above the number of
    /// even ports in `rtp_ports` (`--rtp-ports`) lets calls in that then fail
    /// for want of a port instead of getting 503. Err names both and the fix.
    pub fn check_rtp_ports(&self, path: &Path, (low, high): (u16, u16)) -> anyhow::Result<()> {
        let ports = even_ports(low, high);
        if self.max_concurrent_calls > ports {
            anyhow::bail!(
                "{}: max_concurrent_calls = {} is more than the {ports} even RTP ports of --rtp-ports / PE_RTP_PORTS {low}-{high} (one per call, two for a bridged call); fix: widen --rtp-ports (e.g. 16384-32767 gives 8192) or lower max_concurrent_calls to at most {ports}",
                path.display(),
                self.max_concurrent_calls
            );
        }
        Ok(())
    }

    fn load_tls(&self, path: &Path) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
        let file = path.display();
        match (&self.tls_bind, &self.tls_certificate, &self.tls_private_key) {
            (None, None, None) => Ok(None),
            (Some(_), Some(cert), Some(key)) => {
                super::tls::server_config(path, cert, key).map(Some)
            }
            (Some(_), _, _) => anyhow::bail!(
                "{file}: tls_bind needs tls_certificate and tls_private_key (PEM files); fix: set both, or remove tls_bind"
            ),
            (None, _, _) => anyhow::bail!(
                "{file}: tls_certificate / tls_private_key are set but tls_bind is not; fix: add tls_bind = \"0.0.0.0:5061\", or remove them"
            ),
        }
    }

    /// The TLS listener's address and set-up, when `tls_bind` is set.
    pub fn tls(&self) -> Option<(SocketAddr, Arc<rustls::ServerConfig>)> {
        Some((self.tls_bind?, self.tls.clone()?))
    }

    /// The fallback destination: its URI and where its INVITE goes.
    pub fn fallback(&self) -> Option<(&str, SocketAddr)> {
        Some((self.fallback_uri.as_deref()?, self.fallback_addr?))
    }

    pub fn fallback_ring(&self) -> Duration {
        Duration::from_secs(self.fallback_ring_seconds)
    }

    pub fn drain_time(&self) -> Duration {
        Duration::from_secs(self.drain_seconds)
    }

    pub fn rtp_timeout(&self) -> Duration {
        Duration::from_secs(self.rtp_timeout_seconds)
    }

    /// Whether a Request-URI or To user reaches the IVR.
    pub fn is_entrance(&self, user: &str) -> bool {
        self.entrance_numbers.iter().any(|n| n == user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_empty_numbers_are_refused() {
        let p = Path::new("sip.toml");
        let s = SipConfig::parse("entrance_numbers = [\"1177\"]", p).unwrap();
        assert!(s.is_entrance("1177") && !s.is_entrance("112"));
        assert_eq!(s.max_concurrent_calls, 6000);
        let e = SipConfig::parse("entrance_numbers = []", p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sip.toml") && e.contains("entrance_numbers"),
            "{e}"
        );
        assert!(SipConfig::parse("entrance_numbers = [\"1177\"]\nbogus = 1", p).is_err());
        assert_eq!(s.sip_realm, "1177.local");
        let e = SipConfig::parse("entrance_numbers = [\"1177\"]\nsip_realm = \"a\\\"b\"", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("sip_realm"), "{e}");
    }

    /// A self-signed certificate and its key as PEM files in `dir`.
    fn write_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        (cert, key)
    }

    #[test]
    fn tls_loads_relative_to_the_config_dir_and_bad_settings_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sip.toml");
        let (cert, key) = write_cert(dir.path(), "a");
        let (_, other_key) = write_cert(dir.path(), "b");
        let base = "entrance_numbers = [\"1177\"]\n";
        let tls = |bind: &str, c: &str, k: &str| {
            let mut t = base.to_string();
            for (name, v) in [
                ("tls_bind", bind),
                ("tls_certificate", c),
                ("tls_private_key", k),
            ] {
                if !v.is_empty() {
                    t.push_str(&format!("{name} = \"{v}\"\n"));
                }
            }
            SipConfig::parse(&t, &p)
        };
        let s = tls("127.0.0.1:5061", "a.crt", "a.key").unwrap();
        let (addr, _) = s.tls().expect("tls set up");
        assert_eq!(addr.port(), 5061);
        assert_eq!(s.srtp, SrtpPolicy::WhenOffered);
        assert!(SipConfig::parse(base, &p).unwrap().tls().is_none());
        let abs = tls(
            "127.0.0.1:5061",
            &cert.display().to_string(),
            &key.display().to_string(),
        );
        assert!(abs.unwrap().tls().is_some());
        let err = |r: anyhow::Result<SipConfig>| r.unwrap_err().to_string();
        let e = err(tls("127.0.0.1:5061", "a.crt", ""));
        assert!(
            e.contains("sip.toml") && e.contains("tls_private_key"),
            "{e}"
        );
        let e = err(tls("", "a.crt", "a.key"));
        assert!(e.contains("tls_bind"), "{e}");
        let e = err(tls("127.0.0.1:5061", "missing.crt", "a.key"));
        assert!(
            e.contains("tls_certificate") && e.contains("missing.crt"),
            "{e}"
        );
        let e = err(tls("127.0.0.1:5061", "a.key", "a.key"));
        assert!(
            e.contains("tls_certificate") && e.contains("CERTIFICATE"),
            "{e}"
        );
        let e = err(tls("127.0.0.1:5061", "a.crt", "a.crt"));
        assert!(
            e.contains("tls_private_key") && e.contains("no PEM private key"),
            "{e}"
        );
        let e = err(tls("127.0.0.1:5061", "a.crt", other_key.to_str().unwrap()));
        assert!(e.contains("do not make a usable pair"), "{e}");
        let e = err(SipConfig::parse(&format!("{base}srtp = \"always\"\n"), &p));
        assert!(e.contains("srtp"), "{e}");
        let s = SipConfig::parse(&format!("{base}srtp = \"required_on_tls\"\n"), &p).unwrap();
        assert_eq!(s.srtp, SrtpPolicy::RequiredOnTls);
    }

    #[test]
    fn a_call_cap_above_the_even_rtp_ports_is_refused_naming_both() {
        let p = Path::new("sip.toml");
        assert_eq!(even_ports(20000, 30000), 5001);
        assert_eq!(even_ports(16384, 32767), 8192);
        assert_eq!(even_ports(20001, 20001), 0);
        assert_eq!(even_ports(0, 10), 0);
        let s = SipConfig::parse("entrance_numbers = [\"1177\"]", p).unwrap();
        let e = s
            .check_rtp_ports(p, (20000, 30000))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sip.toml")
                && e.contains("max_concurrent_calls = 6000")
                && e.contains("--rtp-ports")
                && e.contains("5001")
                && e.contains("fix"),
            "{e}"
        );
        s.check_rtp_ports(p, (16384, 32767)).unwrap();
        let s = SipConfig::parse(
            "entrance_numbers = [\"1177\"]\nmax_concurrent_calls = 5001",
            p,
        )
        .unwrap();
        s.check_rtp_ports(p, (20000, 30000)).unwrap();
    }

    #[test]
    fn the_shipped_sip_toml_fits_the_default_rtp_ports() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sip-config/sip.toml");
        let s = SipConfig::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
        let (low, high) = DEFAULT_RTP_PORTS.split_once('-').unwrap();
        s.check_rtp_ports(&path, (low.parse().unwrap(), high.parse().unwrap()))
            .unwrap();
        assert_eq!(
            s.media.priority,
            super::super::media::ThreadPriority::Realtime
        );
    }

    #[test]
    fn media_and_runtime_threads_are_sized_together_and_bounded() {
        let p = Path::new("sip.toml");
        let s = SipConfig::parse("entrance_numbers = [\"1177\"]", p).unwrap();
        assert_eq!(s.thread_counts(2), (2, 2));
        assert_eq!(s.thread_counts(0), (1, 1));
        assert_eq!(s.thread_counts(96), (16, 16));
        let s = SipConfig::parse(
            "entrance_numbers = [\"1177\"]\n[media]\ncpu_affinity = [0]\npriority = \"nice\"",
            p,
        )
        .unwrap();
        assert_eq!(s.thread_counts(2), (1, 2));
        assert_eq!(s.media.priority, super::super::media::ThreadPriority::Nice);
        let s = SipConfig::parse(
            "entrance_numbers = [\"1177\"]\nmedia_workers = 3\nruntime_workers = 4",
            p,
        )
        .unwrap();
        assert_eq!(s.thread_counts(2), (3, 4));
        let e = SipConfig::parse("entrance_numbers = [\"1177\"]\nruntime_workers = 0", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("runtime_workers") && e.contains("fix"), "{e}");
        let e = SipConfig::parse("entrance_numbers = [\"1177\"]\n[media]\nnice = 40", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("[media] nice"), "{e}");
    }

    #[test]
    fn the_fallback_is_resolved_at_load_and_an_unreachable_one_is_refused() {
        let p = Path::new("sip.toml");
        let s = SipConfig::parse("entrance_numbers = [\"1177\"]", p).unwrap();
        assert!(s.fallback().is_none());
        let s = SipConfig::parse(
            "entrance_numbers = [\"1177\"]\nfallback_uri = \"sip:queue@127.0.0.1:5099\"",
            p,
        )
        .unwrap();
        let (uri, addr) = s.fallback().unwrap();
        assert_eq!(uri, "sip:queue@127.0.0.1:5099");
        assert_eq!(addr, SocketAddr::from(([127, 0, 0, 1], 5099)));
        let e = SipConfig::parse(
            "entrance_numbers = [\"1177\"]\nfallback_uri = \"tel:112\"",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("fallback_uri"), "{e}");
    }
}
