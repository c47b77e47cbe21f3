//! Answers a trunk's digest challenge (401 WWW-Authenticate / 407
//! Proxy-Authenticate) with the matching Authorization header line.

use crate::sip::digest;

/// The whole header line (`Authorization: ...` or `Proxy-Authorization: ...`),
/// or `None` when the challenge cannot be answered (not MD5 digest, say).
pub fn answer_challenge(
    status: u16,
    challenge: &str,
    method: &str,
    uri: &str,
    user: &str,
    password: &str,
) -> Option<String> {
    let cnonce = format!("{:016x}", rand::random::<u64>());
    let value = digest::authorization(challenge, method, uri, user, password, &cnonce, 1).ok()?;
    let name = if status == 407 {
        "Proxy-Authorization"
    } else {
        "Authorization"
    };
    Some(format!("{name}: {value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_challenge_gets_proxy_authorization_with_the_right_response() {
        let ch = r#"Digest realm="trunk", nonce="abc", algorithm=MD5, qop="auth""#;
        let line = answer_challenge(407, ch, "INVITE", "sip:+46701234567@trunk.test", "u", "p")
            .expect("answered");
        assert!(line.starts_with("Proxy-Authorization: Digest "), "{line}");
        assert!(
            line.contains("username=\"u\"") && line.contains("nonce=\"abc\""),
            "{line}"
        );
        let www = answer_challenge(401, ch, "INVITE", "sip:x@t", "u", "p").expect("answered");
        assert!(www.starts_with("Authorization: "));
        assert!(
            answer_challenge(401, "Basic realm=\"x\"", "INVITE", "sip:x@t", "u", "p").is_none()
        );
    }
}
