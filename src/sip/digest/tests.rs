//! Digest: client answers, server challenges, replay and `uri` checks.

use super::*;

// RFC 2617 section 3.5.
const RFC_CHALLENGE: &str = "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
    nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";

#[test]
fn rfc2617_example_response_matches() {
    let ha1 = ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
    let r = response(
        &ha1,
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "GET",
        "/dir/index.html",
        Some(("00000001", "0a4f113b")),
    );
    assert_eq!(r, "6629fae49393a05397450978507c4ef1");
}

#[test]
fn client_answers_rfc2617_challenge_with_qop_auth() {
    let v = authorization(
        RFC_CHALLENGE,
        "GET",
        "/dir/index.html",
        "Mufasa",
        "Circle Of Life",
        "0a4f113b",
        1,
    )
    .unwrap();
    let p = DigestParams::parse(&v).unwrap();
    assert_eq!(p.get("response"), Some("6629fae49393a05397450978507c4ef1"));
    assert_eq!(p.get("qop"), Some("auth"));
    assert_eq!(p.get("nc"), Some("00000001"));
    assert_eq!(p.get("cnonce"), Some("0a4f113b"));
    assert_eq!(p.get("opaque"), Some("5ccc069c403ebaf9f0171e9517f40e41"));
    assert_eq!(p.get("uri"), Some("/dir/index.html"));
}

#[test]
fn client_uses_rfc2069_form_without_qop() {
    let ch = "Digest realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\"";
    let v = authorization(
        ch,
        "GET",
        "/dir/index.html",
        "Mufasa",
        "Circle Of Life",
        "x",
        1,
    )
    .unwrap();
    let p = DigestParams::parse(&v).unwrap();
    assert_eq!(p.get("qop"), None);
    assert_eq!(p.get("cnonce"), None);
    let ha1 = ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
    let ha2 = md5_hex("GET:/dir/index.html");
    assert_eq!(
        p.get("response").unwrap(),
        md5_hex(&format!("{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:{ha2}"))
    );
}

#[test]
fn client_refuses_unsupported_algorithm_and_qop() {
    let sha = "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256";
    assert!(matches!(
        authorization(sha, "REGISTER", "sip:x", "u", "p", "c", 1),
        Err(DigestError::UnsupportedAlgorithm(_))
    ));
    let int = "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"";
    assert!(matches!(
        authorization(int, "REGISTER", "sip:x", "u", "p", "c", 1),
        Err(DigestError::UnsupportedQop(_))
    ));
    assert_eq!(
        authorization("Basic realm=\"r\"", "REGISTER", "sip:x", "u", "p", "c", 1),
        Err(DigestError::NotDigest)
    );
    assert_eq!(
        authorization("Digest realm=\"r\"", "REGISTER", "sip:x", "u", "p", "c", 1),
        Err(DigestError::Missing("nonce"))
    );
}

#[test]
fn md5_challenge_is_picked_among_several() {
    let sha = "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256, qop=\"auth\"";
    let md5 = "Digest realm=\"r\", nonce=\"n\", qop=\"auth\"";
    assert_eq!(pick_challenge([sha, "Basic realm=\"r\"", md5]), Some(md5));
    assert_eq!(pick_challenge([sha]), None);
}

#[test]
fn parser_keeps_commas_and_escapes_inside_quotes() {
    let p = DigestParams::parse(
        "digest  Realm = \"a, b\\\"c\" ,nonce=abc,  qop=\"auth,auth-int\",stale=TRUE",
    )
    .unwrap();
    assert_eq!(p.get("realm"), Some("a, b\"c"));
    assert_eq!(p.get("nonce"), Some("abc"));
    assert_eq!(p.get("qop"), Some("auth,auth-int"));
    assert_eq!(p.get("stale"), Some("TRUE"));
}

#[test]
fn parser_rejects_garbage_without_panicking() {
    for bad in [
        "",
        "Digest realm=\"unterminated",
        "Digest =x",
        "Digest realm",
        "Digest realm=\"x\\",
    ] {
        assert!(DigestParams::parse(bad).is_err(), "{bad:?}");
    }
    for s in ["Digest a=\u{e9}", "Digest ,,,", "Digest  a = b , c=\"\""] {
        let _ = DigestParams::parse(s);
    }
}

fn server(t0: Instant) -> DigestServer {
    DigestServer::new("1177.local", [7; 32], t0, Duration::from_secs(300))
}

#[test]
fn server_challenge_answered_by_client_is_valid() {
    let t0 = Instant::now();
    let s = server(t0);
    let now = t0 + Duration::from_secs(10);
    let ch = s.challenge(now, false);
    assert!(ch.contains("qop=\"auth\"") && ch.contains("algorithm=MD5"));
    assert!(!ch.contains("stale"));
    let auth = authorization(
        &ch,
        "REGISTER",
        "sip:1177.local",
        "anna",
        "hemligt",
        "c1",
        1,
    )
    .unwrap();
    let stored = ha1("anna", "1177.local", "hemligt");
    assert_eq!(
        s.verify(now + Duration::from_secs(1), "REGISTER", &auth, &stored),
        Verdict::Valid
    );
    // The same answer for another method is wrong (HA2 covers the method).
    assert_eq!(
        s.verify(now, "INVITE", &auth, &stored),
        Verdict::Invalid("wrong response")
    );
}

#[test]
fn rfc2069_answer_without_qop_is_valid() {
    let t0 = Instant::now();
    let s = server(t0);
    let nonce = s.nonce(t0);
    let stored = ha1("anna", "1177.local", "hemligt");
    let r = response(&stored, &nonce, "REGISTER", "sip:1177.local", None);
    let auth = format!(
        "Digest username=\"anna\", realm=\"1177.local\", nonce=\"{nonce}\", uri=\"sip:1177.local\", response=\"{r}\""
    );
    assert_eq!(s.verify(t0, "REGISTER", &auth, &stored), Verdict::Valid);
}

#[test]
fn wrong_password_is_invalid() {
    let t0 = Instant::now();
    let s = server(t0);
    let auth = authorization(
        &s.challenge(t0, false),
        "REGISTER",
        "sip:h",
        "anna",
        "fel",
        "c",
        1,
    )
    .unwrap();
    assert_eq!(
        s.verify(t0, "REGISTER", &auth, &ha1("anna", "1177.local", "hemligt")),
        Verdict::Invalid("wrong response")
    );
}

#[test]
fn old_nonce_is_stale_not_invalid() {
    let t0 = Instant::now();
    let s = server(t0);
    let auth = authorization(
        &s.challenge(t0, false),
        "REGISTER",
        "sip:h",
        "anna",
        "pw",
        "c",
        1,
    )
    .unwrap();
    let stored = ha1("anna", "1177.local", "pw");
    let late = t0 + Duration::from_secs(301);
    assert_eq!(s.verify(late, "REGISTER", &auth, &stored), Verdict::Stale);
    assert!(s.challenge(late, true).ends_with("stale=true"));
}

#[test]
fn nonce_from_another_secret_or_forged_time_is_invalid() {
    let t0 = Instant::now();
    let s = server(t0);
    let other = DigestServer::new("1177.local", [8; 32], t0, Duration::from_secs(300));
    let stored = ha1("anna", "1177.local", "pw");
    let auth = authorization(
        &other.challenge(t0, false),
        "REGISTER",
        "sip:h",
        "anna",
        "pw",
        "c",
        1,
    )
    .unwrap();
    assert_eq!(
        s.verify(t0, "REGISTER", &auth, &stored),
        Verdict::Invalid("nonce not issued here")
    );
    // Moving the time part of a real nonce breaks its MAC.
    let nonce = s.nonce(t0 + Duration::from_secs(5));
    let (_, seq_mac) = nonce.split_once('.').unwrap();
    let forged = format!("Digest realm=\"1177.local\", nonce=\"ffff.{seq_mac}\"");
    let auth = authorization(&forged, "REGISTER", "sip:h", "anna", "pw", "c", 1).unwrap();
    assert_eq!(
        s.verify(t0, "REGISTER", &auth, &stored),
        Verdict::Invalid("nonce not issued here")
    );
}

#[test]
fn other_realm_and_unsupported_qop_are_invalid() {
    let t0 = Instant::now();
    let s = server(t0);
    let nonce = s.nonce(t0);
    let stored = ha1("anna", "1177.local", "pw");
    let other = format!(
        "Digest username=\"anna\", realm=\"evil\", nonce=\"{nonce}\", uri=\"sip:h\", response=\"00\""
    );
    assert_eq!(
        s.verify(t0, "REGISTER", &other, &stored),
        Verdict::Invalid("other realm")
    );
    let int = format!(
        "Digest username=\"anna\", realm=\"1177.local\", nonce=\"{nonce}\", uri=\"sip:h\", response=\"00\", qop=auth-int, nc=00000001, cnonce=\"x\""
    );
    assert_eq!(
        s.verify(t0, "REGISTER", &int, &stored),
        Verdict::Invalid("unsupported qop")
    );
    assert_eq!(
        s.verify(t0, "REGISTER", "Digest realm=\"x", &stored),
        Verdict::Invalid("unreadable Authorization header")
    );
}

proptest::proptest! {
    #[test]
    fn parser_never_panics_on_any_input(s in "\\PC{0,80}") {
        let _ = DigestParams::parse(&format!("Digest {s}"));
        let _ = DigestParams::parse(&s);
    }

    #[test]
    fn quoted_values_read_back_unchanged(v in "[ -~]{0,40}") {
        let p = DigestParams::parse(&format!("Digest a={}, b=x", quote(&v))).unwrap();
        proptest::prop_assert_eq!(p.get("a"), Some(v.as_str()));
        proptest::prop_assert_eq!(p.get("b"), Some("x"));
    }
}

#[test]
fn nonces_are_unique_within_a_second() {
    let t0 = Instant::now();
    let s = server(t0);
    assert_ne!(s.nonce(t0), s.nonce(t0));
}

fn answer(s: &DigestServer, now: Instant, uri: &str, nc: u32) -> DigestParams {
    let ch = s.challenge(now, false);
    let v = authorization(&ch, "REGISTER", uri, "anna", "pw", "c1", nc).unwrap();
    DigestParams::parse(&v).unwrap()
}

#[test]
fn a_replayed_nonce_count_is_refused_and_a_higher_one_accepted() {
    let t0 = Instant::now();
    let mut s = server(t0);
    let stored = ha1("anna", "1177.local", "pw");
    let p = answer(&s, t0, "sip:1177.local", 1);
    let verify = |s: &mut DigestServer, p: &DigestParams| {
        s.verify_request(t0, "REGISTER", "sip:1177.local", p, &stored)
    };
    assert_eq!(verify(&mut s, &p), Verdict::Valid);
    assert_eq!(verify(&mut s, &p), Verdict::Replayed);
    // The same nonce with nc=2 (a client reusing its nonce) is fine.
    let nonce = p.get("nonce").unwrap();
    let ch = format!("Digest realm=\"1177.local\", nonce=\"{nonce}\", qop=\"auth\"");
    let v = authorization(&ch, "REGISTER", "sip:1177.local", "anna", "pw", "c1", 2).unwrap();
    let p2 = DigestParams::parse(&v).unwrap();
    assert_eq!(verify(&mut s, &p2), Verdict::Valid);
    assert_eq!(verify(&mut s, &p), Verdict::Replayed);
}

#[test]
fn a_nonce_without_qop_is_good_once() {
    let t0 = Instant::now();
    let mut s = server(t0);
    let stored = ha1("anna", "1177.local", "pw");
    let nonce = s.nonce(t0);
    let r = response(&stored, &nonce, "REGISTER", "sip:1177.local", None);
    let p = DigestParams::parse(&format!(
        "Digest username=\"anna\", realm=\"1177.local\", nonce=\"{nonce}\", uri=\"sip:1177.local\", response=\"{r}\""
    ))
    .unwrap();
    let uri = "sip:1177.local";
    assert_eq!(
        s.verify_request(t0, "REGISTER", uri, &p, &stored),
        Verdict::Valid
    );
    assert_eq!(
        s.verify_request(t0, "REGISTER", uri, &p, &stored),
        Verdict::Replayed
    );
}

#[test]
fn digest_uri_must_be_the_request_uri() {
    let t0 = Instant::now();
    let mut s = server(t0);
    let stored = ha1("anna", "1177.local", "pw");
    let p = answer(&s, t0, "sip:other.example", 1);
    assert_eq!(
        s.verify_request(t0, "REGISTER", "sip:1177.local", &p, &stored),
        Verdict::Invalid("digest uri is not the Request-URI")
    );
    let p = answer(&s, t0, "SIP:1177.LOCAL", 1);
    assert_eq!(
        s.verify_request(t0, "REGISTER", "sip:1177.local", &p, &stored),
        Verdict::Valid
    );
}

#[test]
fn constant_time_compare_agrees_with_eq() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
}

#[test]
fn debug_hides_the_secret() {
    let s = server(Instant::now());
    assert!(!format!("{s:?}").contains("7, 7"));
}
