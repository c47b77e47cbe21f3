//! The SIP TCP framer (`sip::framing::SipDecoder`): a stream cut into frames
//! must give the same frames however the bytes arrive. The first byte picks
//! the read sizes; the rest is the stream.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use phone_entrance::sip::framing::SipDecoder;
use phone_entrance::sip::message::{self, MAX_MESSAGE};

/// Frames until the decoder wants more bytes or fails (true on failure).
fn drain(decoder: &mut SipDecoder, buf: &mut BytesMut, frames: &mut Vec<BytesMut>) -> bool {
    loop {
        match decoder.decode(buf) {
            Ok(Some(frame)) => {
                assert!(frame.len() <= MAX_MESSAGE, "frame over the limit");
                assert!(!frame.is_empty(), "empty frame");
                frames.push(frame);
            }
            Ok(None) => return false,
            Err(_) => return true,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    // All at once.
    let mut whole = Vec::new();
    let whole_failed = drain(&mut SipDecoder, &mut BytesMut::from(stream), &mut whole);

    // In reads of 1 to 64 bytes.
    let mut decoder = SipDecoder;
    let mut buf = BytesMut::new();
    let mut pieces = Vec::new();
    let mut failed = false;
    let mut rest = stream;
    let mut step = usize::from(seed);
    while !rest.is_empty() && !failed {
        step = (step * 31 + 7) % 64;
        let (read, tail) = rest.split_at((step + 1).min(rest.len()));
        buf.extend_from_slice(read);
        rest = tail;
        failed = drain(&mut decoder, &mut buf, &mut pieces);
    }
    assert_eq!(
        failed, whole_failed,
        "the split changed whether the stream fails"
    );
    assert_eq!(pieces, whole, "the split changed the frames");
    for frame in &whole {
        let _ = message::parse(frame);
    }
});
