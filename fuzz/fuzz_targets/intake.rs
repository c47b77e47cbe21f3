//! The intake body (`POST /api/v1/cases`): JSON into the typed request, then
//! the field checks (`api::intake::parse_request`), without the HTTP server.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_entrance::api::intake::{parse_request, MAX_BODY_BYTES};

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_BODY_BYTES {
        return;
    }
    if let Err(e) = parse_request(data) {
        let _ = e.to_string();
    }
});
