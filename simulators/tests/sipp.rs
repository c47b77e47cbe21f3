//! The caller against SIPp's built-in UAS (an independent implementation).
//! Fails when `sipp` is not installed (`apt-get install -y sip-tester`),
//! like the service's interop tests.

#[path = "../../tests/interop/support.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use simulators::caller::{Call, CallConfig, EndReason, Transport};

async fn against_sipp(test: &str, transport: Transport) {
    if !support::installed("sipp", "-v") {
        return support::peer_missing(
            test,
            "sipp is not installed (apt-get install -y sip-tester)",
        );
    }
    let port = support::free_udp_port();
    let media = support::free_udp_port();
    let mut sipp = Command::new("sipp")
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &media.to_string(), "-rtp_echo"])
        .args(["-m", "1", "-nostdin", "-timeout", "20s"])
        .args(if transport == Transport::Tcp {
            &["-t", "t1"][..]
        } else {
            &[][..]
        })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut cfg = CallConfig::new(format!("127.0.0.1:{port}").parse().unwrap());
    cfg.transport = transport;
    let call = Call::dial(cfg).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // SIPp echoes our RTP: the caller must both send and receive.
    let stats = call.media_stats();
    assert!(stats.packets_out >= 15, "{stats:?}");
    assert!(stats.packets_in >= 10, "{stats:?}");
    assert_eq!(call.hangup().await.unwrap(), EndReason::LocalHangup);
    let status = tokio::task::spawn_blocking(move || sipp.wait())
        .await
        .unwrap();
    assert!(status.unwrap().success(), "SIPp saw a failed call");
}

#[tokio::test]
async fn sipp_uas_udp_call() {
    against_sipp("sipp_uas_udp_call", Transport::Udp).await;
}

#[tokio::test]
async fn sipp_uas_tcp_call() {
    against_sipp("sipp_uas_tcp_call", Transport::Tcp).await;
}
