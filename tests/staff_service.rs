//! The running service against guessing: desk-phone REGISTERs over raw UDP
//! (lockout, uniform refusals, replayed Authorization) and the bounded argon2
//! pool under concurrent sign-ins, read from `/metrics`.

mod common;

use common::TestService;
use phone_entrance::sip::digest::{authorization, ha1};
use phone_entrance::store::Role;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

/// A desk phone speaking raw SIP over UDP.
struct Phone {
    sock: UdpSocket,
    server: SocketAddr,
    user: String,
    cseq: u32,
}

/// A response's status and its header lines by lower-case name.
struct Answer {
    status: u16,
    text: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.text.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

impl Phone {
    async fn new(server: SocketAddr, user: &str) -> Phone {
        Phone {
            sock: UdpSocket::bind("127.0.0.1:0").await.expect("bind"),
            server,
            user: user.to_string(),
            cseq: 0,
        }
    }

    fn request_uri(&self) -> String {
        format!("sip:{}", self.server)
    }

    /// The REGISTER text with this Contact and Authorization (new branch, next CSeq).
    fn register_text(&mut self, contact: &str, auth: Option<&str>) -> String {
        self.cseq += 1;
        let me = self.sock.local_addr().expect("addr");
        let (user, host, cseq) = (&self.user, self.server, self.cseq);
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "REGISTER sip:{host} SIP/2.0\r\n\
Via: SIP/2.0/UDP {me};branch=z9hG4bK{user}{cseq}x{contact_len};rport\r\n\
From: <sip:{user}@{host}>;tag=ph{cseq}\r\n\
To: <sip:{user}@{host}>\r\n\
Call-ID: reg-{user}@{me}\r\n\
CSeq: {cseq} REGISTER\r\n\
Contact: <{contact}>\r\n\
Expires: 600\r\n\
Max-Forwards: 70\r\n\
{auth}Content-Length: 0\r\n\r\n",
            contact_len = contact.len()
        )
    }

    async fn send(&self, text: &str) -> Answer {
        self.sock
            .send_to(text.as_bytes(), self.server)
            .await
            .expect("send");
        let mut buf = vec![0u8; 65536];
        let n = tokio::time::timeout(Duration::from_secs(3), self.sock.recv(&mut buf))
            .await
            .expect("an answer within 3 s")
            .expect("recv");
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Answer { status, text }
    }

    /// The challenge of a REGISTER without credentials.
    async fn challenge(&mut self) -> String {
        let text = self.register_text("sip:phone@192.0.2.10", None);
        let a = self.send(&text).await;
        assert_eq!(a.status, 401, "{}", a.text);
        a.header("WWW-Authenticate").expect("a challenge")
    }

    /// Challenge, then answer it with `password`: the final answer and the
    /// Authorization sent.
    async fn register(&mut self, password: &str, contact: &str) -> (Answer, String) {
        let ch = self.challenge().await;
        let uri = self.request_uri();
        let auth = authorization(&ch, "REGISTER", &uri, &self.user, password, "cn0", 1)
            .expect("authorization");
        let text = self.register_text(contact, Some(&auth));
        (self.send(&text).await, auth)
    }
}

/// The realm of the service's challenges.
fn realm_of(challenge: &str) -> String {
    let p = phone_entrance::sip::digest::DigestParams::parse(challenge).expect("digest");
    p.get("realm").expect("realm").to_string()
}

/// A nurse with a desk-phone password.
async fn nurse_with_phone(svc: &TestService, user: &str, sip_password: &str) {
    let mut probe = Phone::new(svc.sip_addr(), user).await;
    let realm = realm_of(&probe.challenge().await);
    svc.add_staff(user, "web-password-123", Role::Nurse).await;
    let store = svc.store().await;
    let stored = ha1(user, &realm, sip_password);
    assert!(store.set_sip_ha1(user, Some(&stored)).await.expect("store"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_register_digests_lock_the_user_and_refusals_read_alike() {
    let svc = TestService::start().await;
    nurse_with_phone(&svc, "anna", "desk-phone-secret").await;
    let mut attacker = Phone::new(svc.sip_addr(), "anna").await;
    let mut refusals = Vec::new();
    for i in 0..5 {
        let (a, _) = attacker
            .register(&format!("guess{i}"), "sip:evil@192.0.2.66")
            .await;
        assert_eq!(a.status, 403, "{}", a.text);
        refusals.push(a.header("Warning"));
    }
    // A user without a SIP account is refused in the same words.
    let mut ghost = Phone::new(svc.sip_addr(), "ghost").await;
    let (a, _) = ghost.register("whatever", "sip:ghost@192.0.2.66").await;
    assert_eq!(a.status, 403);
    refusals.push(a.header("Warning"));
    // Locked now: the right password is refused too, alike.
    let (a, _) = attacker
        .register("desk-phone-secret", "sip:evil@192.0.2.66")
        .await;
    assert_eq!(a.status, 403, "locked: {}", a.text);
    refusals.push(a.header("Warning"));
    refusals.dedup();
    assert_eq!(refusals.len(), 1, "refusals differ: {refusals:?}");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_register_authorization_is_challenged_not_bound() {
    let svc = TestService::start().await;
    nurse_with_phone(&svc, "bo", "desk-phone-secret").await;
    let mut phone = Phone::new(svc.sip_addr(), "bo").await;
    let (a, auth) = phone
        .register("desk-phone-secret", "sip:bo@192.0.2.10:5060")
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    // Someone who captured that REGISTER sends its Authorization again
    // (same nonce, same nc) with their own Contact.
    let mut thief = Phone::new(svc.sip_addr(), "bo").await;
    thief.cseq = 10;
    let text = thief.register_text("sip:bo@192.0.2.66:5060", Some(&auth));
    let replay = thief.send(&text).await;
    assert_eq!(replay.status, 401, "{}", replay.text);
    // The phone's own refresh with the next nonce count still works.
    let nonce = phone_entrance::sip::digest::DigestParams::parse(&auth)
        .ok()
        .and_then(|p| p.get("nonce").map(str::to_string))
        .expect("nonce");
    let realm = realm_of(&auth);
    let ch = format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", qop=\"auth\"");
    let uri = phone.request_uri();
    let next = authorization(&ch, "REGISTER", &uri, "bo", "desk-phone-secret", "cn0", 2)
        .expect("authorization");
    let text = phone.register_text("sip:bo@192.0.2.10:5060", Some(&next));
    let refresh = phone.send(&text).await;
    assert_eq!(refresh.status, 200, "{}", refresh.text);
    assert!(!refresh.text.contains("192.0.2.66"), "{}", refresh.text);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sign_ins_never_run_more_hashes_than_permits() {
    let svc = TestService::start_with(None, |dir| {
        std::fs::write(
            dir.join("staff.toml"),
            "hash_permits = 1\nhash_wait_ms = 60000\n",
        )
        .expect("write staff.toml");
    })
    .await;
    svc.add_staff("cia", "web-password-123", Role::Nurse).await;
    let url = svc.http_url("/api/v1/login");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(&url)
                .json(&serde_json::json!({"username": "cia", "password": "web-password-123"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), 200);
    }
    let metrics = svc.metrics().await;
    let value = |name: &str| -> Option<i64> {
        metrics.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
    };
    assert_eq!(value("pe_login_hashes_running_peak"), Some(1), "{metrics}");
    assert_eq!(value("pe_login_hashes_running"), Some(0));
    svc.stop().await;
}
