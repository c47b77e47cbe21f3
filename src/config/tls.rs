//! `sip.toml`'s TLS keys: the certificate chain and private key (PEM files)
//! for SIP over TLS, read and checked once at start-up so that a bad file
//! stops `check-config`, not the first phone's handshake.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A relative `path` in `sip.toml` is relative to the config directory.
pub fn resolve(sip_toml: &Path, path: &Path) -> PathBuf {
    match sip_toml.parent() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

/// The TLS server configuration from a PEM certificate chain (server
/// certificate first) and a PEM private key; errors name `sip_toml`, the key
/// and the fix.
pub fn server_config(
    sip_toml: &Path,
    certificate: &Path,
    private_key: &Path,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let file = sip_toml.display();
    let cert_path = resolve(sip_toml, certificate);
    let key_path = resolve(sip_toml, private_key);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            anyhow::anyhow!(
                "{file}: tls_certificate {}: cannot read it ({e}); fix: name a PEM file with the server certificate first, then its chain",
                cert_path.display()
            )
        })?;
    if certs.is_empty() {
        anyhow::bail!(
            "{file}: tls_certificate {} holds no \"BEGIN CERTIFICATE\" block; fix: name a PEM file with the server certificate first, then its chain",
            cert_path.display()
        );
    }
    // The key's own error text could quote the file: say only what is wrong.
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::Io(e) => e.to_string(),
            _ => "no PEM private key in it".to_string(),
        };
        anyhow::anyhow!(
            "{file}: tls_private_key {}: {why}; fix: name the PEM private key (PKCS#8, RSA or EC) of the certificate",
            key_path.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("{file}: TLS set-up failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            anyhow::anyhow!(
                "{file}: tls_certificate {} and tls_private_key {} do not make a usable pair ({e}); fix: use the key the certificate was issued for",
                cert_path.display(),
                key_path.display()
            )
        })?;
    Ok(Arc::new(config))
}
