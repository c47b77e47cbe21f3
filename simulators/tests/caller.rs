//! The caller against the mini UAS over real loopback sockets.

use std::net::IpAddr;
use std::time::Duration;

use simulators::caller::{
    Call, CallConfig, CallError, DtmfMethod, EndReason, InfoFormat, Transport,
};
use simulators::mini_uas::{MiniUas, UasBehavior};
use simulators::sdp::OfferedCodec;
use simulators::{Codec, DtmfKey};

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(5);

async fn uas(b: UasBehavior) -> MiniUas {
    MiniUas::start(LOCAL, b).await.unwrap()
}

async fn eventually(mut f: impl FnMut() -> bool) {
    for _ in 0..250 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not met within 5 s");
}

#[tokio::test]
async fn dial_gets_ack_rtp_flows_and_bye_ends_call() {
    let uas = uas(UasBehavior::default()).await;
    let call = Call::dial(CallConfig::new(uas.addr)).await.unwrap();
    assert!(call.provisional_codes().contains(&180));
    assert_eq!(call.answer().unwrap().codec, Codec::Pcmu);
    call.wait_for_silence(Duration::from_millis(200), WAIT)
        .await
        .unwrap();
    let heard = call.received_audio();
    assert!(heard.duration() >= Duration::from_millis(300));
    assert_eq!(call.hangup().await.unwrap(), EndReason::LocalHangup);
    let log = uas.call(&call.call_id()).unwrap();
    assert_eq!(log.acks, 1);
    assert!(log.bye_received);
    assert!(log.rtp_in >= 10, "caller streamed silence: {}", log.rtp_in);
    assert!(log.from.contains("+46701234567"));
    assert!(call.media_stats().packets_in >= 15);
}

#[tokio::test]
async fn tcp_call_works_end_to_end() {
    let uas = uas(UasBehavior::default()).await;
    let mut cfg = CallConfig::new(uas.addr);
    cfg.transport = Transport::Tcp;
    let call = Call::dial(cfg).await.unwrap();
    call.wait_for_audio(WAIT).await.unwrap();
    call.send_digit(DtmfKey::Digit(4), DtmfMethod::SipInfo(InfoFormat::Dtmf))
        .unwrap();
    call.wait_sent().await.unwrap();
    assert_eq!(call.hangup().await.unwrap(), EndReason::LocalHangup);
    let log = uas.call(&call.call_id()).unwrap();
    assert_eq!(log.infos, vec!["4".to_string()]);
    assert!(log.bye_received);
}

#[tokio::test]
async fn lost_invite_is_retransmitted() {
    let uas = uas(UasBehavior {
        drop_first_invite: true,
        ..Default::default()
    })
    .await;
    let call = Call::dial(CallConfig::new(uas.addr)).await.unwrap();
    let latency = call.answer_latency().unwrap();
    assert!(latency >= Duration::from_millis(450), "{latency:?}");
    assert_eq!(uas.call(&call.call_id()).unwrap().invites, 2);
    call.hangup().await.unwrap();
}

#[tokio::test]
async fn g729_only_offer_is_rejected_with_488() {
    let uas = uas(UasBehavior::default()).await;
    let mut cfg = CallConfig::new(uas.addr);
    cfg.codecs = vec![OfferedCodec::G729];
    let call = Call::start(cfg).await.unwrap();
    match call.wait_answered().await {
        Err(CallError::Rejected(488)) => {}
        other => panic!("expected 488, got {other:?}"),
    }
    eventually(|| uas.call(&call.call_id()).is_some_and(|l| l.acks == 1)).await;
}

#[tokio::test]
async fn pcma_only_offer_negotiates_pcma() {
    let uas = uas(UasBehavior::default()).await;
    let mut cfg = CallConfig::new(uas.addr);
    cfg.codecs = vec![OfferedCodec::Pcma];
    cfg.telephone_event = false;
    let call = Call::dial(cfg).await.unwrap();
    let a = call.answer().unwrap();
    assert_eq!((a.codec, a.telephone_event_pt), (Codec::Pcma, None));
    call.wait_for_silence(Duration::from_millis(100), WAIT)
        .await
        .unwrap();
    call.hangup().await.unwrap();
}

#[tokio::test]
async fn cancel_before_answer_gets_200_then_487_then_ack() {
    let uas = uas(UasBehavior {
        ring: Duration::from_secs(30),
        ..Default::default()
    })
    .await;
    let call = Call::start(CallConfig::new(uas.addr)).await.unwrap();
    call.wait_provisional().await.unwrap();
    assert_eq!(call.cancel().await.unwrap(), EndReason::Cancelled);
    eventually(|| {
        uas.call(&call.call_id())
            .is_some_and(|l| l.cancelled && l.acks == 1)
    })
    .await;
}

#[tokio::test]
async fn anonymous_caller_is_withheld() {
    let uas = uas(UasBehavior::default()).await;
    let mut cfg = CallConfig::new(uas.addr);
    cfg.from_user = "anonymous".into();
    let call = Call::dial(cfg).await.unwrap();
    let log = uas.call(&call.call_id()).unwrap();
    assert!(log.from.contains("sip:anonymous@anonymous.invalid"));
    assert_eq!(log.privacy.as_deref(), Some("id"));
    call.hangup().await.unwrap();
}

#[tokio::test]
async fn bye_from_server_is_answered_and_reported() {
    let uas = uas(UasBehavior {
        bye_after: Some(Duration::from_millis(200)),
        ..Default::default()
    })
    .await;
    let call = Call::dial(CallConfig::new(uas.addr)).await.unwrap();
    assert_eq!(call.wait_ended().await, EndReason::RemoteHangup);
    assert_eq!(call.ended(), Some(EndReason::RemoteHangup));
    assert!(matches!(call.hangup().await, Err(CallError::Ended(_))));
}

#[tokio::test]
async fn digits_arrive_by_rfc4733_info_and_inband() {
    let uas = uas(UasBehavior::default()).await;
    let call = Call::dial(CallConfig::new(uas.addr)).await.unwrap();
    call.send_digits("12#", DtmfMethod::Rfc4733).unwrap();
    call.send_digit(DtmfKey::Star, DtmfMethod::SipInfo(InfoFormat::DtmfRelay))
        .unwrap();
    call.send_digit(DtmfKey::Digit(9), DtmfMethod::InBand)
        .unwrap();
    call.wait_sent().await.unwrap();
    eventually(|| {
        uas.call(&call.call_id())
            .is_some_and(|l| l.rfc4733_digits == "12#" && l.loud_frames >= 4)
    })
    .await;
    let log = uas.call(&call.call_id()).unwrap();
    assert_eq!(log.infos, vec!["Signal=*\r\nDuration=100\r\n".to_string()]);
    call.hangup().await.unwrap();
}

#[tokio::test]
async fn recorded_call_is_a_valid_wav() {
    let uas = uas(UasBehavior::default()).await;
    let call = Call::dial(CallConfig::new(uas.addr)).await.unwrap();
    call.wait_for_silence(Duration::from_millis(100), WAIT)
        .await
        .unwrap();
    call.hangup().await.unwrap();
    let dir = std::env::temp_dir().join(format!("pe-caller-wav-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("call.wav");
    call.save_wav(&path).unwrap();
    let r = hound::WavReader::open(&path).unwrap();
    assert_eq!(r.spec().sample_rate, 8000);
    assert_eq!(r.spec().channels, 1);
    assert!(r.len() >= 8 * 300, "{} samples", r.len());
    let _ = std::fs::remove_dir_all(dir);
}
