//! The mini UAS as a test peer for the dialer: tones it plays and hears,
//! ringing until CANCEL, and registering with digest authentication (against
//! the service's registrar core on a UDP socket: two independent digest
//! implementations checking each other).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use phone_entrance::sip::digest::{ha1, DigestServer};
use phone_entrance::sip::message::{self, RequestInfo};
use phone_entrance::sip::registrations::{Registrar, RegistrarConfig};
use phone_entrance::sip::{Peer, Transport};
use simulators::caller::{Call, CallConfig, EndReason};
use simulators::mini_uas::{MiniUas, Registration, UasBehavior};
use simulators::tone;
use tokio::net::UdpSocket;

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(5);
const REALM: &str = "1177.local";

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..250 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: not within 5 s");
}

#[tokio::test]
async fn uas_plays_its_tone_for_the_whole_call_and_counts_the_callers_tone() {
    let uas = MiniUas::start(
        LOCAL,
        UasBehavior {
            tone_hz: 1000.0,
            prompt: UasBehavior::WHOLE_CALL,
            detect_hz: Some(600.0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let call = Call::dial(CallConfig::new(uas.addr)).await.unwrap();
    call.play_audio(tone::sine(600.0, 8000, 0, 8000)).unwrap();
    call.wait_sent().await.unwrap();
    let id = call.call_id();
    eventually("UAS hears 600 Hz", || {
        uas.call(&id).is_some_and(|l| l.tone_frames_detected >= 40)
    })
    .await;
    // One second of 600 Hz is 50 frames; silence before and after never counts.
    assert!(uas.call(&id).unwrap().tone_frames_detected <= 50);
    // The default prompt is 300 ms; a whole-call tone is still playing after 1 s.
    eventually("caller hears 1000 Hz for over a second", || {
        call.tone_frames(1000.0) >= 55
    })
    .await;
    assert_eq!(call.tone_frames(440.0), 0);
    assert_eq!(call.tone_frames(600.0), 0);
    assert_eq!(call.hangup().await.unwrap(), EndReason::LocalHangup);
}

#[tokio::test]
async fn default_uas_plays_a_short_440_hz_prompt_and_detects_nothing() {
    let uas = MiniUas::start(LOCAL, UasBehavior::default()).await.unwrap();
    let call = Call::dial(CallConfig::new(uas.addr)).await.unwrap();
    call.wait_for_silence(Duration::from_millis(200), WAIT)
        .await
        .unwrap();
    let heard = call.tone_frames(440.0);
    assert!((10..=16).contains(&heard), "{heard} frames of 440 Hz");
    call.hangup().await.unwrap();
    assert_eq!(uas.call(&call.call_id()).unwrap().tone_frames_detected, 0);
}

#[tokio::test]
async fn never_answering_uas_rings_until_cancel() {
    let uas = MiniUas::start(
        LOCAL,
        UasBehavior {
            no_answer: true,
            ring: Duration::ZERO,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let call = Call::start(CallConfig::new(uas.addr)).await.unwrap();
    call.wait_provisional().await.unwrap();
    let id = call.call_id();
    eventually("180 sent", || uas.call(&id).is_some_and(|l| l.ringing)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(call.provisional_codes().contains(&180));
    assert!(call.answered_at().is_none());
    assert!(!uas.call(&id).unwrap().answered);
    assert_eq!(call.cancel().await.unwrap(), EndReason::Cancelled);
    eventually("487 acknowledged", || {
        uas.call(&id)
            .is_some_and(|l| l.cancelled && l.acks == 1 && !l.answered)
    })
    .await;
}

/// A registrar on a UDP socket: the service's `Registrar` core, user "anna".
struct FakeRegistrar {
    addr: SocketAddr,
    table: Arc<Mutex<Registrar>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeRegistrar {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fake_registrar(password: &'static str) -> FakeRegistrar {
    let sock = UdpSocket::bind((LOCAL, 0)).await.unwrap();
    let addr = sock.local_addr().unwrap();
    let t0 = Instant::now();
    let cfg = RegistrarConfig {
        min_expires: 1,
        ..Default::default()
    };
    let digest = DigestServer::new(REALM, rand_secret(), t0, Duration::from_secs(300));
    let table = Arc::new(Mutex::new(Registrar::new(cfg, digest)));
    let shared = table.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let Ok(rsip::SipMessage::Request(req)) = message::parse(&buf[..n]) else {
                continue;
            };
            let Ok(info) = RequestInfo::from_request(&req) else {
                continue;
            };
            let peer = Peer {
                addr: from,
                transport: Transport::Udp,
                conn: None,
            };
            let resp = shared.lock().unwrap().handle_register_with(
                Instant::now(),
                &req,
                &info,
                peer,
                |user| (user == "anna").then(|| ha1("anna", REALM, password)),
            );
            let bytes = message::to_bytes(&rsip::SipMessage::Response(resp));
            let _ = sock.send_to(&bytes, from).await;
        }
    });
    FakeRegistrar { addr, table, task }
}

fn rand_secret() -> [u8; 32] {
    let mut s = [0u8; 32];
    for (i, b) in s.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(7);
    }
    s
}

fn registering(registrar: SocketAddr, password: &str, expires: u32) -> UasBehavior {
    UasBehavior {
        register: Some(Registration {
            registrar,
            user: "anna".into(),
            password: password.into(),
            expires,
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn uas_registers_with_digest_and_refreshes_before_expiry() {
    let registrar = fake_registrar("hemligt").await;
    let uas = MiniUas::start(LOCAL, registering(registrar.addr, "hemligt", 2))
        .await
        .unwrap();
    assert!(uas.wait_registered(WAIT).await, "{:?}", uas.registration());
    let log = uas.registration().unwrap();
    assert_eq!(log.challenges, 1);
    assert_eq!(log.granted_expires, Some(2));
    let binding = registrar
        .table
        .lock()
        .unwrap()
        .lookup("anna", Instant::now())
        .expect("anna is registered");
    // Calls for anna go to the UAS's own SIP socket.
    assert_eq!(binding.peer.addr, uas.addr);
    assert!(binding.contact.starts_with("sip:anna@"));
    // Refreshed (about every second) so still registered after the 2 s lifetime.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let log = uas.registration().unwrap();
    assert!(log.successes >= 2, "{log:?}");
    assert!(registrar
        .table
        .lock()
        .unwrap()
        .lookup("anna", Instant::now())
        .is_some());
}

#[tokio::test]
async fn uas_with_wrong_password_is_refused_and_not_registered() {
    let registrar = fake_registrar("hemligt").await;
    let uas = MiniUas::start(LOCAL, registering(registrar.addr, "fel", 60))
        .await
        .unwrap();
    eventually("403 seen", || {
        uas.registration()
            .is_some_and(|r| r.last_status == Some(403))
    })
    .await;
    let log = uas.registration().unwrap();
    assert!(!log.registered);
    assert!(registrar
        .table
        .lock()
        .unwrap()
        .lookup("anna", Instant::now())
        .is_none());
}
