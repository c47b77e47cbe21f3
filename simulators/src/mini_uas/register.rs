//! The mini UAS's registration client: REGISTER at a registrar over UDP,
//! answer digest challenges, refresh before the granted lifetime ends, and
//! retry after a failure.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rsip::message::HasHeaders;
use rsip::{Header, Method, SipMessage};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::digest;
use crate::sip;

/// Where and as whom the mini UAS registers (over UDP, from its SIP socket,
/// so the registrar sees the address calls should come to).
#[derive(Clone, PartialEq, Eq)]
pub struct Registration {
    pub registrar: SocketAddr,
    pub user: String,
    pub password: String,
    /// Requested lifetime in seconds; refreshed before the granted one ends.
    pub expires: u32,
}

impl std::fmt::Debug for Registration {
    /// Leaves the password out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("registrar", &self.registrar)
            .field("user", &self.user)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl std::str::FromStr for Registration {
    type Err = String;
    /// `user:password@host:port` (expires 300 s).
    fn from_str(s: &str) -> Result<Self, String> {
        let (cred, addr) = s
            .rsplit_once('@')
            .ok_or_else(|| format!("{s:?}: expected user:password@host:port"))?;
        let (user, password) = cred
            .split_once(':')
            .ok_or_else(|| "registration needs user:password before the @".to_string())?;
        if user.is_empty() {
            return Err("registration user is empty".into());
        }
        let registrar = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an address like 127.0.0.1:5060"))?;
        Ok(Registration {
            registrar,
            user: user.to_string(),
            password: password.to_string(),
            expires: 300,
        })
    }
}

/// What the registration client has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrationLog {
    /// REGISTER requests sent (new transactions, not retransmissions).
    pub registers_sent: u32,
    /// 401/407 challenges answered.
    pub challenges: u32,
    /// 2xx responses received (first registration and each refresh).
    pub successes: u32,
    /// Status of the last final response, `None` after a timeout.
    pub last_status: Option<u16>,
    /// Lifetime the registrar granted last.
    pub granted_expires: Option<u32>,
    /// A 2xx was received and its lifetime has not run out.
    pub registered: bool,
}

/// Registers, answers challenges, refreshes before expiry; retries every few
/// seconds after a failure. Runs until the UAS is dropped.
pub(super) async fn register_loop(
    udp: Arc<UdpSocket>,
    reg: Registration,
    mut responses: mpsc::UnboundedReceiver<SipMessage>,
    log: Arc<Mutex<RegistrationLog>>,
) {
    let Ok(bound) = udp.local_addr() else { return };
    let local = SocketAddr::new(
        crate::caller::advertised_ip(bound.ip(), reg.registrar),
        bound.port(),
    );
    let call_id = format!("{:016x}@pe-mini-uas", rand::random::<u64>());
    let from_tag = format!("{:08x}", rand::random::<u32>());
    let uri = format!("sip:{}", reg.registrar);
    let mut cseq = 0u32;
    let mut expires = reg.expires;
    let update = |f: &dyn Fn(&mut RegistrationLog)| {
        if let Ok(mut l) = log.lock() {
            f(&mut l);
        }
    };
    loop {
        let mut auth: Option<(&'static str, String)> = None;
        let mut granted = None;
        for _attempt in 0..4 {
            cseq += 1;
            let auth_line = auth
                .as_ref()
                .map(|(name, v)| format!("{name}: {v}\r\n"))
                .unwrap_or_default();
            let request = format!(
                "REGISTER {uri} SIP/2.0\r\n\
Via: SIP/2.0/UDP {local};branch=z9hG4bK{:016x};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:{user}@{host}>;tag={from_tag}\r\n\
To: <sip:{user}@{host}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} REGISTER\r\n\
Contact: <sip:{user}@{local}>\r\n\
Expires: {expires}\r\n\
{auth_line}User-Agent: pe-mini-uas\r\n\
Content-Length: 0\r\n\r\n",
                rand::random::<u64>(),
                user = reg.user,
                host = reg.registrar,
            );
            update(&|l| l.registers_sent += 1);
            let Some(resp) = transact(
                &udp,
                reg.registrar,
                request.as_bytes(),
                &mut responses,
                cseq,
            )
            .await
            else {
                update(&|l| l.last_status = None);
                break;
            };
            let SipMessage::Response(r) = &resp else {
                break;
            };
            let code = r.status_code.code();
            update(&|l| l.last_status = Some(code));
            match code {
                200..=299 => {
                    granted = Some(granted_expires(&resp, &local, expires));
                    break;
                }
                401 | 407 => {
                    let (challenge_name, answer_name) = if code == 401 {
                        ("WWW-Authenticate", "Authorization")
                    } else {
                        ("Proxy-Authenticate", "Proxy-Authorization")
                    };
                    let stale = sip::header_value(&resp, challenge_name)
                        .is_some_and(|c| c.to_ascii_lowercase().contains("stale=true"));
                    // A second plain challenge after our answer means wrong credentials.
                    if auth.is_some() && !stale {
                        break;
                    }
                    let Some(challenge) = sip::header_value(&resp, challenge_name) else {
                        break;
                    };
                    let cnonce = format!("{:016x}", rand::random::<u64>());
                    match digest::answer(
                        &challenge,
                        "REGISTER",
                        &uri,
                        &reg.user,
                        &reg.password,
                        &cnonce,
                        1,
                    ) {
                        Ok(v) => auth = Some((answer_name, v)),
                        Err(_) => break,
                    }
                    update(&|l| l.challenges += 1);
                }
                423 => {
                    let min = sip::header_value(&resp, "Min-Expires")
                        .and_then(|v| v.trim().parse::<u32>().ok());
                    match min {
                        Some(m) if m > expires => expires = m,
                        _ => break,
                    }
                }
                _ => break,
            }
        }
        let wait = match granted {
            Some(secs) => {
                update(&|l| {
                    l.successes += 1;
                    l.registered = true;
                    l.granted_expires = Some(secs);
                });
                refresh_after(secs)
            }
            None => {
                update(&|l| l.registered = false);
                Duration::from_secs(5)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// Refresh before the granted lifetime ends: halfway for short ones, 30 s
/// early for long ones; never sooner than one second.
fn refresh_after(granted_secs: u32) -> Duration {
    let ms = u64::from(granted_secs) * 1000;
    Duration::from_millis(ms.saturating_sub((ms / 2).min(30_000)).max(1000))
}

/// The lifetime the registrar gave our contact: its `expires` parameter, else
/// the Expires header, else what we asked for.
fn granted_expires(resp: &SipMessage, local: &SocketAddr, asked: u32) -> u32 {
    let ours = format!("@{local}");
    let from_contact = resp.headers().iter().find_map(|h| match h {
        Header::Contact(c) => {
            let v = rsip::headers::UntypedHeader::value(c);
            v.split(',').find(|c| c.contains(&ours)).and_then(|c| {
                c.split(';').find_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("expires")
                        .then(|| v.trim().parse().ok())?
                })
            })
        }
        _ => None,
    });
    from_contact
        .or_else(|| sip::header_value(resp, "Expires").and_then(|v| v.trim().parse().ok()))
        .unwrap_or(asked)
}

/// Sends a request over UDP and waits for its final response, retransmitting
/// like RFC 3261 Timer E (0.5 s doubling to 4 s) for about 16 s.
async fn transact(
    udp: &UdpSocket,
    to: SocketAddr,
    request: &[u8],
    responses: &mut mpsc::UnboundedReceiver<SipMessage>,
    cseq: u32,
) -> Option<SipMessage> {
    let mut wait = Duration::from_millis(500);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(16);
    let _ = udp.send_to(request, to).await;
    let mut next_send = tokio::time::Instant::now() + wait;
    loop {
        let until = next_send.min(deadline);
        match tokio::time::timeout_at(until, responses.recv()).await {
            Ok(Some(msg)) => {
                let final_for_us = matches!(sip::cseq(&msg), Ok((n, Method::Register)) if n == cseq)
                    && matches!(&msg, SipMessage::Response(r) if r.status_code.code() >= 200);
                if final_for_us {
                    return Some(msg);
                }
            }
            Ok(None) => return None,
            Err(_) => {
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    return None;
                }
                let _ = udp.send_to(request, to).await;
                wait = (wait * 2).min(Duration::from_secs(4));
                next_send = now + wait;
            }
        }
    }
}
