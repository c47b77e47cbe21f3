//! SIP over TLS at the socket level (a rustls client): requests on a TLS
//! connection are answered on it, and a client that does not speak TLS is
//! dropped and counted without disturbing the listener. Calls, REGISTER and
//! SRTP with an independent client are in `interop_baresip.rs`.

mod common;

use common::TestService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn tls_service() -> TestService {
    TestService::start_with(None, common::tls::enable_tls).await
}

/// A TLS connection to the service that trusts only its test certificate.
async fn connect(svc: &TestService) -> tokio_rustls::client::TlsStream<TcpStream> {
    let pem = std::fs::read(svc.dir.path().join("sip-config").join("tls.crt")).expect("cert");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(&pem).expect("pem"))
        .expect("trust the test certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(svc.running.tls_addr.expect("TLS listener"))
        .await
        .expect("connect");
    let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the service's certificate")
}

fn options(cseq: u32) -> String {
    format!(
        "OPTIONS sip:1177@127.0.0.1;transport=tls SIP/2.0\r\n\
Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKtls{cseq};rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=t{cseq}\r\nTo: <sip:1177@127.0.0.1>\r\n\
Call-ID: tls-options-{cseq}\r\nCSeq: {cseq} OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Reads until one whole response without a body has arrived.
async fn response<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("a response within 5 s")
            .expect("read");
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf).to_string()
}

async fn metric(svc: &TestService, name: &str) -> Option<f64> {
    let text = reqwest::get(svc.http_url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn requests_over_tls_are_answered_on_the_same_connection() {
    let svc = tls_service().await;
    let mut tls = connect(&svc).await;
    for cseq in [1, 2] {
        tls.write_all(options(cseq).as_bytes()).await.expect("send");
        let r = response(&mut tls).await;
        assert!(r.starts_with("SIP/2.0 200"), "{r}");
        assert!(r.contains(&format!("CSeq: {cseq} OPTIONS")), "{r}");
        assert!(r.contains("Via: SIP/2.0/TLS 127.0.0.1:5999"), "{r}");
    }
    assert_eq!(
        metric(&svc, "pe_sip_tls_connections_total").await,
        Some(1.0)
    );
    svc.stop().await;
}

#[tokio::test]
async fn a_client_that_does_not_speak_tls_is_dropped_and_counted() {
    let svc = tls_service().await;
    let mut plain = TcpStream::connect(svc.running.tls_addr.expect("TLS listener"))
        .await
        .expect("connect");
    plain.write_all(options(1).as_bytes()).await.expect("send");
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    // The service closes the connection (it may first send a TLS alert, never SIP).
    loop {
        match tokio::time::timeout(Duration::from_secs(15), plain.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("plain TCP on the TLS port was not closed"),
        }
    }
    assert!(
        !String::from_utf8_lossy(&got).contains("SIP/2.0"),
        "answered in plain text"
    );
    assert_eq!(
        metric(&svc, "pe_sip_tls_handshake_failures_total").await,
        Some(1.0)
    );
    // The listener still serves TLS.
    let mut tls = connect(&svc).await;
    tls.write_all(options(2).as_bytes()).await.expect("send");
    assert!(response(&mut tls).await.starts_with("SIP/2.0 200"));
    svc.stop().await;
}
