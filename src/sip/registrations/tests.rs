//! Registrar tests: REGISTER requests built as text, a fake clock, and the
//! responses and bindings they lead to.

use super::*;
use crate::sip::digest::{authorization, ha1};
use crate::sip::Transport;
use rsip::SipMessage;

const REALM: &str = "1177.local";

fn registrar(t0: Instant) -> Registrar {
    Registrar::new(
        RegistrarConfig::default(),
        DigestServer::new(REALM, [3; 32], t0, Duration::from_secs(300)),
    )
}

fn peer(port: u16) -> Peer {
    Peer {
        addr: format!("203.0.113.7:{port}").parse().unwrap(),
        transport: Transport::Udp,
        conn: None,
    }
}

fn register(
    user: &str,
    call_id: &str,
    cseq: u32,
    extra: &str,
    auth: Option<&str>,
) -> (rsip::Request, RequestInfo) {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let raw = format!(
        "REGISTER sip:{REALM} SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK{call_id}{cseq};rport\r\n\
From: <sip:{user}@{REALM}>;tag=ph1\r\n\
To: <sip:{user}@{REALM}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} REGISTER\r\n\
Max-Forwards: 70\r\n\
{extra}{auth}Content-Length: 0\r\n\r\n"
    );
    let SipMessage::Request(req) = message::parse(raw.as_bytes()).unwrap() else {
        panic!("not a request")
    };
    let info = RequestInfo::from_request(&req).unwrap();
    (req, info)
}

fn header(resp: &rsip::Response, name: &str) -> Vec<String> {
    message::header_values(&resp.headers, name).collect()
}

/// Registers `user` with `password`: the unauthenticated try, the 401,
/// the answer. Returns the final response.
fn login(
    r: &mut Registrar,
    now: Instant,
    user: &str,
    password: &str,
    cseq: u32,
    contact_lines: &str,
    from: Peer,
) -> rsip::Response {
    let stored = ha1(user, REALM, "hemligt");
    let (req, info) = register(user, "reg-1", cseq, contact_lines, None);
    let first = r.handle_register(now, &req, &info, from, Some(&stored));
    assert_eq!(first.status_code.code(), 401);
    let ch = header(&first, "WWW-Authenticate").pop().unwrap();
    let auth = authorization(
        &ch,
        "REGISTER",
        &format!("sip:{REALM}"),
        user,
        password,
        "cn",
        1,
    )
    .unwrap();
    let (req, info) = register(user, "reg-1", cseq + 1, contact_lines, Some(&auth));
    r.handle_register(now, &req, &info, from, Some(&stored))
}

#[test]
fn register_without_credentials_is_challenged() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let (req, info) = register(
        "anna",
        "c1",
        1,
        "Contact: <sip:anna@192.168.1.20>\r\n",
        None,
    );
    let resp = r.handle_register(t0, &req, &info, peer(5060), None);
    assert_eq!(resp.status_code.code(), 401);
    let ch = header(&resp, "WWW-Authenticate").pop().unwrap();
    assert!(ch.starts_with("Digest realm=\"1177.local\""), "{ch}");
    assert!(ch.contains("qop=\"auth\""));
    assert_eq!(r.lookup("anna", t0), None);
}

#[test]
fn challenged_register_with_right_password_binds_the_peer() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let resp = login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        1,
        "Contact: <sip:anna@192.168.1.20:5060>;expires=600\r\n",
        peer(40000),
    );
    assert_eq!(resp.status_code.code(), 200);
    assert_eq!(
        header(&resp, "Contact"),
        vec!["<sip:anna@192.168.1.20:5060>;expires=600".to_string()]
    );
    let b = r.lookup("anna", t0 + Duration::from_secs(1)).unwrap();
    assert_eq!(b.contact, "sip:anna@192.168.1.20:5060");
    assert_eq!(b.peer, peer(40000));
    assert!(header(&resp, "To")[0].contains(";tag="));
}

#[test]
fn wrong_password_is_forbidden() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let resp = login(
        &mut r,
        t0,
        "anna",
        "fel",
        1,
        "Contact: <sip:anna@h>\r\n",
        peer(1),
    );
    assert_eq!(resp.status_code.code(), 403);
    assert_eq!(r.lookup("anna", t0), None);
}

#[test]
fn credentials_of_another_user_are_forbidden() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let ch = r.digest.challenge(t0, false);
    let auth = authorization(
        &ch,
        "REGISTER",
        "sip:1177.local",
        "bertil",
        "hemligt",
        "c",
        1,
    )
    .unwrap();
    let (req, info) = register("anna", "c1", 2, "Contact: <sip:anna@h>\r\n", Some(&auth));
    let stored = ha1("anna", REALM, "hemligt");
    let resp = r.handle_register(t0, &req, &info, peer(1), Some(&stored));
    assert_eq!(resp.status_code.code(), 403);
}

#[test]
fn user_without_sip_password_is_forbidden() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let ch = r.digest.challenge(t0, false);
    let auth = authorization(&ch, "REGISTER", "sip:1177.local", "anna", "x", "c", 1).unwrap();
    let (req, info) = register("anna", "c1", 2, "Contact: <sip:anna@h>\r\n", Some(&auth));
    let resp = r.handle_register_with(t0, &req, &info, peer(1), |_| None);
    assert_eq!(resp.status_code.code(), 403);
}

#[test]
fn stale_nonce_gets_a_new_challenge_marked_stale() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let ch = r.digest.challenge(t0, false);
    let auth = authorization(&ch, "REGISTER", "sip:1177.local", "anna", "hemligt", "c", 1).unwrap();
    let (req, info) = register("anna", "c1", 2, "Contact: <sip:anna@h>\r\n", Some(&auth));
    let stored = ha1("anna", REALM, "hemligt");
    let late = t0 + Duration::from_secs(600);
    let resp = r.handle_register(late, &req, &info, peer(1), Some(&stored));
    assert_eq!(resp.status_code.code(), 401);
    assert!(header(&resp, "WWW-Authenticate")[0].contains("stale=true"));
}

#[test]
fn too_brief_interval_gets_423_with_min_expires() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let resp = login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        1,
        "Contact: <sip:anna@h>\r\nExpires: 30\r\n",
        peer(1),
    );
    assert_eq!(resp.status_code.code(), 423);
    assert_eq!(header(&resp, "Min-Expires"), vec!["60".to_string()]);
    assert_eq!(r.lookup("anna", t0), None);
}

#[test]
fn binding_lapses_at_its_expiry_and_long_ones_are_capped() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let resp = login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        1,
        "Contact: <sip:anna@h>\r\nExpires: 86400\r\n",
        peer(1),
    );
    assert_eq!(
        header(&resp, "Contact"),
        vec!["<sip:anna@h>;expires=3600".to_string()]
    );
    assert!(r.lookup("anna", t0 + Duration::from_secs(3599)).is_some());
    assert_eq!(r.lookup("anna", t0 + Duration::from_secs(3600)), None);
    r.purge(t0 + Duration::from_secs(3600));
    assert_eq!(r.next_expiry(), None);
}

#[test]
fn refresh_extends_and_newest_contact_wins_lookup() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        1,
        "Contact: <sip:anna@desk>\r\nExpires: 120\r\n",
        peer(1),
    );
    let t1 = t0 + Duration::from_secs(100);
    let resp = login(
        &mut r,
        t1,
        "anna",
        "hemligt",
        3,
        "Contact: <sip:anna@mobile>\r\nExpires: 120\r\n",
        peer(2),
    );
    assert_eq!(resp.status_code.code(), 200);
    assert_eq!(header(&resp, "Contact").len(), 2);
    assert_eq!(r.lookup("anna", t1).unwrap().contact, "sip:anna@mobile");
    assert_eq!(r.bindings("anna", t1).len(), 2);
    // desk lapses at t0+120, mobile lives on.
    let t2 = t0 + Duration::from_secs(150);
    assert_eq!(r.bindings("anna", t2).len(), 1);
    assert_eq!(r.registered_users(t2), 1);
}

#[test]
fn expires_zero_removes_one_contact_and_star_removes_all() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        1,
        "Contact: <sip:anna@a>, <sip:anna@b>;expires=300\r\n",
        peer(1),
    );
    assert_eq!(r.bindings("anna", t0).len(), 2);
    let resp = login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        3,
        "Contact: <sip:anna@a>;expires=0\r\n",
        peer(1),
    );
    assert_eq!(
        header(&resp, "Contact"),
        vec!["<sip:anna@b>;expires=300".to_string()]
    );
    let resp = login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        5,
        "Contact: *\r\nExpires: 0\r\n",
        peer(1),
    );
    assert_eq!(resp.status_code.code(), 200);
    assert!(header(&resp, "Contact").is_empty());
    assert_eq!(r.lookup("anna", t0), None);
}

#[test]
fn star_without_expires_zero_is_a_bad_request() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let resp = login(&mut r, t0, "anna", "hemligt", 1, "Contact: *\r\n", peer(1));
    assert_eq!(resp.status_code.code(), 400);
}

#[test]
fn register_without_contact_lists_current_bindings() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        1,
        "Contact: <sip:anna@a>\r\n",
        peer(1),
    );
    let resp = login(
        &mut r,
        t0 + Duration::from_secs(10),
        "anna",
        "hemligt",
        3,
        "",
        peer(1),
    );
    assert_eq!(resp.status_code.code(), 200);
    assert_eq!(
        header(&resp, "Contact"),
        vec!["<sip:anna@a>;expires=3590".to_string()]
    );
}

#[test]
fn older_cseq_in_same_call_id_is_refused() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        10,
        "Contact: <sip:anna@a>\r\n",
        peer(1),
    );
    let resp = login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        3,
        "Contact: <sip:anna@a>\r\n",
        peer(1),
    );
    assert_eq!(resp.status_code.code(), 500);
}

#[test]
fn unreadable_expires_or_contact_is_a_bad_request() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    for (i, lines) in [
        "Contact: <sip:anna@h>\r\nExpires: soon\r\n",
        "Contact: <sip:anna@h>;expires=-5\r\n",
        "Contact: <mailto:anna@h>\r\n",
        "Contact: *, <sip:anna@h>\r\nExpires: 0\r\n",
    ]
    .iter()
    .enumerate()
    {
        let resp = login(
            &mut r,
            t0,
            "anna",
            "hemligt",
            1 + 2 * i as u32,
            lines,
            peer(1),
        );
        assert_eq!(resp.status_code.code(), 400, "{lines}");
    }
    assert_eq!(r.lookup("anna", t0), None);
}

#[test]
fn contacts_split_only_outside_quotes_and_brackets() {
    assert_eq!(
        split_contacts("\"Ann, A\" <sip:a@h;x=1,2>;expires=5, <sip:b@h>"),
        vec![
            "\"Ann, A\" <sip:a@h;x=1,2>;expires=5".to_string(),
            "<sip:b@h>".to_string()
        ]
    );
    assert_eq!(split_contacts("*"), vec!["*".to_string()]);
}

#[test]
fn too_many_contacts_drop_the_oldest() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    for i in 0..7u32 {
        let now = t0 + Duration::from_secs(u64::from(i));
        let line = format!("Contact: <sip:anna@h{i}>\r\n");
        login(&mut r, now, "anna", "hemligt", 1 + 2 * i, &line, peer(1));
    }
    let now = t0 + Duration::from_secs(7);
    assert_eq!(r.bindings("anna", now).len(), 5);
    assert_eq!(r.lookup("anna", now).unwrap().contact, "sip:anna@h6");
}

/// The status and Warning text of a REGISTER with a fresh answer for `password`.
fn try_password(
    r: &mut Registrar,
    now: Instant,
    user: &str,
    password: &str,
    from: Peer,
    known: bool,
) -> (u16, Vec<String>) {
    let ch = r.digest.challenge(now, false);
    let auth = authorization(&ch, "REGISTER", "sip:1177.local", user, password, "c", 1).unwrap();
    // A growing CSeq, as a phone's refreshes have.
    static CSEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(2);
    let cseq = CSEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (req, info) = register(user, "lk", cseq, "Contact: <sip:x@h>\r\n", Some(&auth));
    let stored = ha1(user, REALM, "hemligt");
    let resp = r.handle_register(now, &req, &info, from, known.then_some(stored.as_str()));
    (resp.status_code.code(), header(&resp, "Warning"))
}

#[test]
fn refusals_read_the_same_for_unknown_users_wrong_passwords_and_other_users() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let wrong = try_password(&mut r, t0, "anna", "fel", peer(1), true);
    let unknown = try_password(&mut r, t0, "nobody", "fel", peer(2), false);
    let unknown_right = try_password(&mut r, t0, "nobody", "hemligt", peer(3), false);
    assert_eq!(wrong.0, 403);
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, unknown_right);
}

#[test]
fn five_wrong_digests_lock_the_user_even_for_the_right_password() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let attacker = Peer {
        addr: "198.51.100.9:5060".parse().unwrap(),
        ..peer(1)
    };
    for i in 0..5 {
        // Different source ports, one address: each counts.
        let from = Peer {
            addr: format!("198.51.100.{}:5060", 10 + i).parse().unwrap(),
            ..attacker
        };
        assert_eq!(try_password(&mut r, t0, "anna", "fel", from, true).0, 403);
    }
    let right = try_password(&mut r, t0, "anna", "hemligt", attacker, true);
    let wrong = try_password(&mut r, t0, "bertil", "fel", attacker, true);
    assert_eq!(right.0, 403, "locked: the right password is refused too");
    assert_eq!(right.1, wrong.1, "and the refusal reads the same");
    assert_eq!(r.locked(t0).len(), 1);
    // After the lock (5 minutes) the right password works again.
    let later = t0 + Duration::from_secs(301);
    assert_eq!(
        try_password(&mut r, later, "anna", "hemligt", attacker, true).0,
        200
    );
}

#[test]
fn a_user_lock_does_not_hold_against_the_phone_already_registered() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let phone = peer(5060);
    assert_eq!(
        try_password(&mut r, t0, "anna", "hemligt", phone, true).0,
        200
    );
    for i in 0..5 {
        let from = Peer {
            addr: format!("198.51.100.{}:5060", 10 + i).parse().unwrap(),
            ..phone
        };
        try_password(&mut r, t0, "anna", "fel", from, true);
    }
    assert_eq!(
        try_password(&mut r, t0, "anna", "hemligt", phone, true).0,
        200
    );
    let elsewhere = Peer {
        addr: "192.0.2.1:5060".parse().unwrap(),
        ..phone
    };
    assert_eq!(
        try_password(&mut r, t0, "anna", "hemligt", elsewhere, true).0,
        403
    );
    assert!(r.lift(&LockKey::User("anna".into())));
    assert_eq!(
        try_password(&mut r, t0, "anna", "hemligt", elsewhere, true).0,
        200
    );
}

#[test]
fn twenty_failures_lock_a_source_address_for_every_user() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    for i in 0..20 {
        try_password(&mut r, t0, &format!("user{i}"), "fel", peer(1), true);
    }
    assert_eq!(
        try_password(&mut r, t0, "anna", "hemligt", peer(2), true).0,
        403
    );
    let other = Peer {
        addr: "192.0.2.1:5060".parse().unwrap(),
        ..peer(1)
    };
    assert_eq!(
        try_password(&mut r, t0, "anna", "hemligt", other, true).0,
        200
    );
}

#[test]
fn a_replayed_register_is_challenged_not_applied() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let ch = r.digest.challenge(t0, false);
    let auth = authorization(&ch, "REGISTER", "sip:1177.local", "anna", "hemligt", "c", 1).unwrap();
    let stored = ha1("anna", REALM, "hemligt");
    let (req, info) = register(
        "anna",
        "rp",
        2,
        "Contact: <sip:anna@phone>\r\n",
        Some(&auth),
    );
    assert_eq!(
        r.handle_register(t0, &req, &info, peer(1), Some(&stored))
            .status_code
            .code(),
        200
    );
    // The captured Authorization with another Contact (and a new Call-ID).
    let (req, info) = register(
        "anna",
        "evil",
        3,
        "Contact: <sip:anna@evil>\r\n",
        Some(&auth),
    );
    let resp = r.handle_register(t0, &req, &info, peer(9), Some(&stored));
    assert_eq!(resp.status_code.code(), 401);
    assert_eq!(r.lookup("anna", t0).unwrap().contact, "sip:anna@phone");
}

#[test]
fn a_digest_for_another_request_uri_is_refused() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let ch = r.digest.challenge(t0, false);
    let auth = authorization(
        &ch,
        "REGISTER",
        "sip:elsewhere.example",
        "anna",
        "hemligt",
        "c",
        1,
    )
    .unwrap();
    let stored = ha1("anna", REALM, "hemligt");
    let (req, info) = register("anna", "u", 2, "Contact: <sip:anna@h>\r\n", Some(&auth));
    let resp = r.handle_register(t0, &req, &info, peer(1), Some(&stored));
    assert_eq!(resp.status_code.code(), 403);
}
