//! DTMF in SIP INFO bodies (`sip::dtmf_info`): the first line is the
//! Content-Type, the rest the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_entrance::sip::dtmf_info::key_from_info;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (head, body) = data.split_at(split);
    let body = body.get(1..).unwrap_or(&[]);
    let Ok(content_type) = std::str::from_utf8(head) else {
        return;
    };
    let _ = key_from_info(&content_type.to_ascii_lowercase(), body);
});
