//! Finds the service's prompts in the audio a simulated caller received.
//! The service sends G.711 frames encoded from the WAVs, so the caller's
//! decoded samples equal the decoded prompt frames exactly.

use phone_entrance::media::g711::Codec;
use phone_entrance::media::prompts::PromptLibrary;
use std::sync::OnceLock;

fn library() -> &'static PromptLibrary {
    static LIB: OnceLock<PromptLibrary> = OnceLock::new();
    LIB.get_or_init(|| {
        phone_entrance::config::read_prompts(&super::repo_root().join("prompts"))
            .expect("prompts load")
    })
}

/// The first `frames` 20 ms frames of a prompt as the caller decodes them.
pub fn prompt_start(lang: &str, id: &str, codec: Codec, frames: usize) -> Vec<i16> {
    let lib = library();
    let clip = lib
        .lookup(lang, id)
        .unwrap_or_else(|| panic!("prompt {lang}/{id}"));
    let mut out = Vec::new();
    for f in lib.frames(clip, codec).iter().take(frames) {
        let mut s = [0i16; 160];
        codec.decode_into(&f[..], &mut s);
        out.extend_from_slice(&s);
    }
    out
}

/// Sample offsets where the start (first 10 frames) of prompt `id` begins in `heard`.
pub fn find_prompt(heard: &[i16], lang: &str, id: &str, codec: Codec) -> Vec<usize> {
    let needle = prompt_start(lang, id, codec, 10);
    // Skip leading silence in the needle: it matches anywhere.
    let first_loud = needle
        .iter()
        .position(|s| s.unsigned_abs() > 200)
        .unwrap_or(0);
    let needle = &needle[first_loud..];
    if needle.len() < 160 || heard.len() < needle.len() {
        return Vec::new();
    }
    let mut hits = Vec::new();
    let mut i = 0;
    while i + needle.len() <= heard.len() {
        if heard[i..i + needle.len()] == *needle {
            hits.push(i);
            i += needle.len();
        } else {
            i += 1;
        }
    }
    hits
}

/// Where `needle` (from its first loud sample, `len` samples of it) best
/// matches `heard` within its first `search` samples: (offset, normalised
/// correlation). For audio that went through another decoder (not bit-exact).
pub fn best_match(heard: &[i16], needle: &[i16], len: usize, search: usize) -> (usize, f64) {
    let start = needle
        .iter()
        .position(|s| s.unsigned_abs() > 200)
        .unwrap_or(0);
    let needle = &needle[start..(start + len).min(needle.len())];
    let nn: f64 = needle.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    let mut best = (0, 0.0);
    for off in 0..search.min(heard.len().saturating_sub(needle.len())) {
        let hay = &heard[off..off + needle.len()];
        let (mut xy, mut hh) = (0.0f64, 0.0f64);
        for (&a, &b) in needle.iter().zip(hay) {
            xy += f64::from(a) * f64::from(b);
            hh += f64::from(b) * f64::from(b);
        }
        let score = if hh > 0.0 { xy / (nn * hh).sqrt() } else { 0.0 };
        if score > best.1 {
            best = (off, score);
        }
    }
    best
}
