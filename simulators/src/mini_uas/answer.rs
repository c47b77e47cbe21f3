//! One call's INVITE answered the way `UasBehavior` says: rejected, ringing
//! until CANCEL, early media then a failure, or answered (200 retransmitted
//! until ACK on UDP, an optional BYE from our side), then the media loop.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rsip::SipMessage;
use tokio::net::UdpSocket;

use super::media::media;
use super::{respond, Calls, Peer, UasBehavior, UasCall};
use crate::sdp::{self, OfferedCodec};
use crate::sip;
use crate::Codec;

pub(super) async fn answer_call(
    calls: Calls,
    behavior: Arc<UasBehavior>,
    peer: Peer,
    ip: IpAddr,
    call_id: String,
    offer: Vec<u8>,
) {
    let offer = sdp::parse_answer(&offer);
    let Some(CallHandles {
        invite,
        tag,
        stop,
        acked,
        replay,
    }) = handles(&calls, &call_id)
    else {
        return;
    };
    let final_code = match (&offer, behavior.reject) {
        (_, Some(code)) => Some(code),
        (Err(_), None) => Some(488),
        _ => None,
    };
    if let Some(code) = final_code {
        let r = respond(&invite, code, Some(&tag), "", "");
        set_response(&calls, &call_id, &r, |_| {});
        peer.send(r);
        return;
    }
    let Ok(offer) = offer else { return };
    if let Some(code) = behavior.announce_then_fail {
        announce_then_fail(calls, behavior.clone(), peer, ip, call_id, offer, code).await;
        return;
    }
    let ringing = respond(&invite, 180, Some(&tag), "", "");
    set_response(&calls, &call_id, &ringing, |c| c.log.ringing = true);
    peer.send(ringing);
    if behavior.no_answer {
        return; // ring until CANCEL (answered 487 by `handle`)
    }
    tokio::time::sleep(behavior.ring).await;
    if cancelled(&calls, &call_id) {
        return;
    }
    let te = offer.telephone_event_pt.is_some();
    let Some((rtp_sock, answer)) = rtp_socket(ip, &offer, te).await else {
        return;
    };
    let contact = format!(
        "Contact: <sip:1177@{}>\r\nContent-Type: application/sdp\r\n",
        sip_host(&peer, ip)
    );
    let ok = respond(&invite, 200, Some(&tag), &contact, &answer);
    set_response(&calls, &call_id, &ok, |c| {
        c.log.answered = true;
        c.log.codec = Some(offer.codec);
    });
    peer.send(ok.clone());
    // Retransmit 200 until ACK (UDP only; RFC 3261 section 13.3.1.4).
    if matches!(peer, Peer::Udp(..)) {
        let (peer, acked, ok) = (peer.clone(), acked.clone(), ok.clone());
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(500);
            for _ in 0..6 {
                tokio::time::sleep(wait).await;
                if acked.load(Ordering::SeqCst) {
                    return;
                }
                peer.send(ok.clone());
                wait = (wait * 2).min(Duration::from_secs(4));
            }
        });
    }
    if let Some(after) = behavior.bye_after {
        let (calls, peer, call_id, stop) =
            (calls.clone(), peer.clone(), call_id.clone(), stop.clone());
        let (invite, tag) = (invite.clone(), tag.clone());
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            if stop.swap(true, Ordering::SeqCst) {
                return;
            }
            if let Ok(mut m) = calls.lock() {
                if let Some(c) = m.get_mut(&call_id) {
                    c.log.bye_sent = true;
                }
            }
            peer.send(server_bye(&invite, &tag));
        });
    }
    for (i, (after, key)) in behavior.info_keys.iter().enumerate() {
        let (peer, stop, after, key) = (peer.clone(), stop.clone(), *after, *key);
        let (invite, tag) = (invite.clone(), tag.clone());
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            if !stop.load(Ordering::SeqCst) {
                // CSeq above the BYE's 1 would be refused after it; INFOs come first.
                let cseq = 2 + i as u32;
                peer.send(server_info(&invite, &tag, cseq, key));
            }
        });
    }
    media(calls, call_id, rtp_sock, offer, &behavior, stop, replay).await;
}

/// 183 with SDP, the tone as early media for `behavior.ring`, then `code`.
async fn announce_then_fail(
    calls: Calls,
    behavior: Arc<UasBehavior>,
    peer: Peer,
    ip: IpAddr,
    call_id: String,
    offer: sdp::SdpAnswer,
    code: u16,
) {
    let Some(CallHandles {
        invite,
        tag,
        stop,
        replay,
        ..
    }) = handles(&calls, &call_id)
    else {
        return;
    };
    let Some((rtp_sock, sdp_body)) = rtp_socket(ip, &offer, false).await else {
        return;
    };
    let progress = respond(
        &invite,
        183,
        Some(&tag),
        "Content-Type: application/sdp\r\n",
        &sdp_body,
    );
    set_response(&calls, &call_id, &progress, |c| c.log.ringing = true);
    peer.send(progress);
    let media_task = {
        let (calls, call_id, stop, behavior) = (
            calls.clone(),
            call_id.clone(),
            stop.clone(),
            behavior.clone(),
        );
        tokio::spawn(async move {
            media(calls, call_id, rtp_sock, offer, &behavior, stop, replay).await;
        })
    };
    tokio::time::sleep(behavior.ring).await;
    stop.store(true, Ordering::SeqCst);
    let _ = media_task.await;
    if cancelled(&calls, &call_id) {
        return;
    }
    let r = respond(&invite, code, Some(&tag), "", "");
    set_response(&calls, &call_id, &r, |_| {});
    peer.send(r);
}

/// What the answering tasks need of a call, cloned out of the lock.
struct CallHandles {
    invite: SipMessage,
    tag: String,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicBool>,
    replay: Arc<AtomicBool>,
}

fn handles(calls: &Calls, call_id: &str) -> Option<CallHandles> {
    let map = calls.lock().ok()?;
    let c = map.get(call_id)?;
    Some(CallHandles {
        invite: c.invite.clone(),
        tag: c.tag.clone(),
        stop: c.stop.clone(),
        acked: c.acked.clone(),
        replay: c.replay.clone(),
    })
}

/// The caller cancelled (or the call is gone).
fn cancelled(calls: &Calls, call_id: &str) -> bool {
    calls
        .lock()
        .map(|m| m.get(call_id).is_none_or(|c| c.log.cancelled))
        .unwrap_or(true)
}

/// A new RTP socket on `ip` and the SDP that offers it with the caller's codec.
async fn rtp_socket(
    ip: IpAddr,
    offer: &sdp::SdpAnswer,
    telephone_event: bool,
) -> Option<(UdpSocket, String)> {
    let sock = UdpSocket::bind(SocketAddr::new(ip, 0)).await.ok()?;
    let port = sock.local_addr().ok()?.port();
    let codecs = [match offer.codec {
        Codec::Pcmu => OfferedCodec::Pcmu,
        Codec::Pcma => OfferedCodec::Pcma,
    }];
    Some((sock, sdp::offer(ip, port, &codecs, telephone_event, 1)))
}

fn set_response(calls: &Calls, call_id: &str, r: &[u8], f: impl FnOnce(&mut UasCall)) {
    if let Ok(mut m) = calls.lock() {
        if let Some(c) = m.get_mut(call_id) {
            c.last_response = Some(r.to_vec());
            f(c);
        }
    }
}

fn sip_host(peer: &Peer, ip: IpAddr) -> String {
    match peer {
        Peer::Udp(s, _) => s
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| ip.to_string()),
        Peer::Tcp(_) => format!("{ip};transport=tcp"),
    }
}

/// The server's BYE in the dialog the INVITE created.
fn server_bye(invite: &SipMessage, tag: &str) -> Vec<u8> {
    let from = sip::header_value(invite, "From").unwrap_or_default();
    let to = sip::header_value(invite, "To").unwrap_or_default();
    let call_id = sip::call_id(invite).unwrap_or_default();
    let target = sip::contact_uri(invite).unwrap_or_else(|| "sip:caller@invalid".into());
    let via = sip::header_value(invite, "Via").unwrap_or_default();
    let transport = if via.contains("/TCP") { "TCP" } else { "UDP" };
    format!(
        "BYE {target} SIP/2.0\r\nVia: SIP/2.0/{transport} 127.0.0.1;branch=z9hG4bKminiuasbye\r\n\
Max-Forwards: 70\r\nFrom: {to};tag={tag}\r\nTo: {from}\r\nCall-ID: {call_id}\r\nCSeq: 1 BYE\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A key as SIP INFO (`application/dtmf-relay`) in the dialog the INVITE created.
fn server_info(invite: &SipMessage, tag: &str, cseq: u32, key: char) -> Vec<u8> {
    let from = sip::header_value(invite, "From").unwrap_or_default();
    let to = sip::header_value(invite, "To").unwrap_or_default();
    let call_id = sip::call_id(invite).unwrap_or_default();
    let target = sip::contact_uri(invite).unwrap_or_else(|| "sip:caller@invalid".into());
    let via = sip::header_value(invite, "Via").unwrap_or_default();
    let transport = if via.contains("/TCP") { "TCP" } else { "UDP" };
    let body = format!("Signal={key}\r\nDuration=160\r\n");
    format!(
        "INFO {target} SIP/2.0\r\nVia: SIP/2.0/{transport} 127.0.0.1;branch=z9hG4bKminiuasinfo{cseq}\r\n\
Max-Forwards: 70\r\nFrom: {to};tag={tag}\r\nTo: {from}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} INFO\r\n\
Content-Type: application/dtmf-relay\r\nContent-Length: {len}\r\n\r\n{body}",
        len = body.len()
    )
    .into_bytes()
}
