//! The simulator's own HTTP Digest client (RFC 2617, MD5, `qop=auth` or the
//! RFC 2069 form), so the mini UAS can answer a registrar's 401 as an
//! independent peer: it shares no code with the service it tests.

use md5::{Digest as _, Md5};

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("challenge is not Digest or is malformed")]
    Malformed,
    #[error("challenge has no {0}")]
    Missing(&'static str),
    #[error("challenge asks for algorithm {0:?}; only MD5 is implemented")]
    Algorithm(String),
    #[error("challenge offers qop {0:?} without auth")]
    Qop(String),
}

/// `name=value` pairs of a `Digest ...` challenge, names lower-cased.
pub fn parse_challenge(value: &str) -> Result<Vec<(String, String)>, DigestError> {
    let value = value.trim();
    let rest = value
        .get(..6)
        .filter(|s| s.eq_ignore_ascii_case("digest"))
        .and_then(|_| value.get(6..))
        .ok_or(DigestError::Malformed)?;
    let mut out = Vec::new();
    let mut it = rest.chars().peekable();
    loop {
        while it.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            it.next();
        }
        if it.peek().is_none() {
            return Ok(out);
        }
        let name: String = std::iter::from_fn(|| it.next_if(|c| *c != '=')).collect();
        if it.next() != Some('=') {
            return Err(DigestError::Malformed);
        }
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        let mut v = String::new();
        if it.next_if_eq(&'"').is_some() {
            loop {
                match it.next() {
                    Some('"') => break,
                    Some('\\') => v.push(it.next().ok_or(DigestError::Malformed)?),
                    Some(c) => v.push(c),
                    None => return Err(DigestError::Malformed),
                }
            }
        } else {
            v = std::iter::from_fn(|| it.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_string();
        }
        out.push((name.trim().to_ascii_lowercase(), v));
    }
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The Authorization / Proxy-Authorization value answering `challenge` for
/// `method uri` with nonce count `nc` and client nonce `cnonce`.
pub fn answer(
    challenge: &str,
    method: &str,
    uri: &str,
    user: &str,
    password: &str,
    cnonce: &str,
    nc: u32,
) -> Result<String, DigestError> {
    let p = parse_challenge(challenge)?;
    let get = |n: &str| p.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    if let Some(a) = get("algorithm") {
        if !a.eq_ignore_ascii_case("md5") {
            return Err(DigestError::Algorithm(a.to_string()));
        }
    }
    let realm = get("realm").ok_or(DigestError::Missing("realm"))?;
    let nonce = get("nonce").ok_or(DigestError::Missing("nonce"))?;
    let auth = match get("qop") {
        None => false,
        Some(q) if q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")) => true,
        Some(q) => return Err(DigestError::Qop(q.to_string())),
    };
    let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let nc = format!("{nc:08x}");
    let response = if auth {
        md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
    } else {
        md5_hex(&format!("{ha1}:{nonce}:{ha2}"))
    };
    let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut v = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm=MD5",
        q(user),
        q(realm),
        q(nonce),
        q(uri)
    );
    if auth {
        v.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{}\"", q(cnonce)));
    }
    if let Some(o) = get("opaque") {
        v.push_str(&format!(", opaque=\"{}\"", q(o)));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_is_answered() {
        let ch = "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
                  nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
        let v = answer(
            ch,
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle Of Life",
            "0a4f113b",
            1,
        )
        .unwrap();
        assert!(
            v.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{v}"
        );
        assert!(
            v.contains("nc=00000001") && v.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"")
        );
    }

    #[test]
    fn quoted_commas_and_bad_challenges() {
        let p = parse_challenge("Digest realm=\"a,b\", nonce=n1").unwrap();
        assert_eq!(p[0], ("realm".into(), "a,b".into()));
        assert_eq!(p[1], ("nonce".into(), "n1".into()));
        assert!(parse_challenge("Basic realm=x").is_err());
        assert!(parse_challenge("Digest realm=\"x").is_err());
        assert!(matches!(
            answer(
                "Digest realm=r, nonce=n, algorithm=SHA-256",
                "R",
                "u",
                "a",
                "b",
                "c",
                1
            ),
            Err(DigestError::Algorithm(_))
        ));
    }
}
