//! SDP (`sdp`): the reader, the audio offer it picks, and our answer to it,
//! which we must be able to read back with the same codec and events.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_entrance::sdp::{self, LocalMedia, Sdp};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let parsed = Sdp::parse(text);
        let _ = (
            parsed.direction(),
            parsed.connection(),
            parsed.has_version(),
        );
        for m in &parsed.media {
            let pts: Vec<u8> = m.payload_types().collect();
            let _ = m.line_with_formats(&pts);
            for pt in pts {
                let _ = m.codec(pt);
            }
            for name in [
                "ice-ufrag",
                "ice-pwd",
                "fingerprint",
                "setup",
                "mid",
                "crypto",
            ] {
                let _ = m.attribute(name);
            }
            let _ = (m.direction(), m.connection());
        }
    }
    let Ok(offer) = sdp::parse_audio(data) else {
        return;
    };
    // Our answer lists both; one number cannot be the codec and the events.
    assert_ne!(offer.telephone_event_pt, Some(offer.payload_type));
    let ip = if offer.remote.is_ipv6() {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    };
    let local = LocalMedia {
        ip,
        port: 40_000,
        session_id: 1,
        version: 2,
    };
    let answer = sdp::answer(&local, &offer);
    let back = sdp::parse_audio(answer.as_bytes())
        .unwrap_or_else(|e| panic!("our answer does not parse: {e}\n{answer}"));
    assert_eq!(back.codec, offer.codec);
    assert_eq!(back.payload_type, offer.payload_type);
    assert_eq!(back.telephone_event_pt, offer.telephone_event_pt);
    assert_eq!(back.direction, offer.direction.answer());
});
