//! SIP over TLS in a test's copied config: a fresh self-signed certificate
//! for 127.0.0.1 and an ephemeral TLS port.

use std::path::Path;

/// Adds `tls_bind = "127.0.0.1:0"` with a new certificate (`tls.crt`, which
/// a client may trust as its CA, and `tls.key`) to the copied `sip.toml`,
/// and `srtp = "required_on_tls"`.
pub fn enable_tls(dir: &Path) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("cert");
    std::fs::write(dir.join("tls.crt"), ck.cert.pem()).expect("cert");
    std::fs::write(dir.join("tls.key"), ck.signing_key.serialize_pem()).expect("key");
    let path = dir.join("sip.toml");
    let mut text = std::fs::read_to_string(&path).expect("sip.toml");
    text.push_str(
        "\ntls_bind = \"127.0.0.1:0\"\ntls_certificate = \"tls.crt\"\ntls_private_key = \"tls.key\"\n",
    );
    std::fs::write(&path, text).expect("sip.toml");
    super::set_config(dir, "sip.toml", "srtp", "\"required_on_tls\"");
}
