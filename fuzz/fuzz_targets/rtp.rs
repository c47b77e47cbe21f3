//! The RTP header reader (`media::rtp`) on one datagram, the RFC 4733 event
//! block decoder on its payload, and the writer read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_entrance::media::dtmf::rfc4733;
use phone_entrance::media::rtp::{self, RtpHeader};

fuzz_target!(|data: &[u8]| {
    let _ = rtp::is_rtcp(data);
    let Ok(packet) = rtp::parse(data) else {
        return;
    };
    assert!(packet.payload.len() + rtp::HEADER_LEN <= data.len());
    if let Some(event) = rfc4733::decode_event(packet.payload) {
        // The encoder gives back the block it read (the volume's spare bit dropped).
        let mut block = [0u8; 4];
        rfc4733::encode_event(
            event.key,
            event.end,
            event.volume,
            event.duration,
            &mut block,
        );
        assert_eq!(rfc4733::decode_event(&block), Some(event));
    }
    // We write the fixed header only; it reads back the same, unpadded.
    let mut out = vec![0u8; rtp::HEADER_LEN + packet.payload.len()];
    let n = rtp::write_packet(&packet.header, packet.payload, &mut out)
        .unwrap_or_else(|e| panic!("write_packet: {e}"));
    let back = rtp::parse(&out[..n]).unwrap_or_else(|e| panic!("our packet does not parse: {e}"));
    let expected = RtpHeader {
        padding: false,
        ..packet.header
    };
    assert_eq!(back.header, expected);
    assert_eq!(back.payload, packet.payload);
});
