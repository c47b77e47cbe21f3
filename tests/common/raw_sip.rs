//! Hand-written SIP over a raw UDP socket or TCP stream bound to a chosen
//! loopback address (127.0.0.2, 127.0.0.3 act as other hosts).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

/// A UDP peer on `ip`.
pub struct RawPeer {
    pub sock: UdpSocket,
    pub server: SocketAddr,
}

impl RawPeer {
    pub async fn on(ip: &str, server: SocketAddr) -> Self {
        RawPeer {
            sock: UdpSocket::bind((ip.parse::<IpAddr>().expect("ip"), 0))
                .await
                .expect("bind"),
            server,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.sock.local_addr().expect("local addr")
    }

    pub async fn send(&self, msg: &str) {
        self.sock
            .send_to(msg.as_bytes(), self.server)
            .await
            .expect("send");
    }

    /// The next message within `within`, or `None`.
    pub async fn next(&self, within: Duration) -> Option<String> {
        let mut buf = vec![0u8; 65536];
        let n = tokio::time::timeout(within, self.sock.recv(&mut buf))
            .await
            .ok()?
            .ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).to_string())
    }

    /// The next final response within 3 s.
    pub async fn final_response(&self) -> Option<String> {
        loop {
            let r = self.next(Duration::from_secs(3)).await?;
            if !r.starts_with("SIP/2.0 1") {
                return Some(r);
            }
        }
    }
}

/// A TCP connection from `ip`.
pub async fn tcp_from(ip: &str, server: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().expect("socket");
    s.bind((ip.parse::<IpAddr>().expect("ip"), 0).into())
        .expect("bind");
    s.connect(server).await.expect("connect")
}

/// Sends `msg` and reads one response (a single read: fine for short answers).
pub async fn tcp_exchange(stream: &mut TcpStream, msg: &str) -> Option<String> {
    stream.write_all(msg.as_bytes()).await.ok()?;
    let mut buf = vec![0u8; 65536];
    let n = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    (n > 0).then(|| String::from_utf8_lossy(&buf[..n]).to_string())
}

/// Whether the service closed `stream` within `within` (EOF or reset).
pub async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = vec![0u8; 65536];
    let end = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(end, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// A request out of a dialog from `me` over `transport` ("UDP"/"TCP").
pub fn request(
    method: &str,
    me: SocketAddr,
    transport: &str,
    call_id: &str,
    from_user: &str,
    body: &str,
) -> String {
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:1177@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{transport} {me};branch=z9hG4bK{call_id}\r\n\
Max-Forwards: 70\r\nFrom: <sip:{from_user}@{ip}>;tag=raw1\r\nTo: <sip:1177@127.0.0.1>\r\n\
Call-ID: {call_id}\r\nCSeq: 1 {method}\r\nContact: <sip:raw@{me}>\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len(),
        ip = me.ip(),
    )
}

/// An audio offer with media on `ip:port`.
pub fn sdp(ip: IpAddr, port: u16) -> String {
    format!("v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")
}

pub fn status(resp: &str) -> u16 {
    resp.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
