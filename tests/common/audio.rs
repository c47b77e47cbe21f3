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

/// How well `needle` (from its first loud sample, `len` samples of it) is
/// heard in `heard`, 50 ms at a time: the first chunk is looked for in the
/// first `search` samples, each next one within 30 ms of where the previous
/// one was found, so a receiver's jitter buffer dropping or repeating a frame
/// does not spoil the rest. Returns (offset of the first chunk, chunks that
/// correlate above 0.99, chunks with speech in them).
pub fn chunks_heard(
    heard: &[i16],
    needle: &[i16],
    len: usize,
    search: usize,
) -> (usize, usize, usize) {
    const CHUNK: usize = 400;
    const SLACK: usize = 240;
    let start = needle
        .iter()
        .position(|s| s.unsigned_abs() > 200)
        .unwrap_or(0);
    let needle = &needle[start..(start + len).min(needle.len())];
    let mut chunks = needle.chunks_exact(CHUNK);
    let Some(first) = chunks.next() else {
        return (0, 0, 0);
    };
    let (first_at, first_score) = best_match(heard, first, CHUNK, search);
    let (mut matched, mut voiced) = (usize::from(first_score > 0.99), 1);
    let mut expected = first_at + CHUNK;
    for chunk in chunks {
        // Near-silence correlates with anything (or nothing): not counted.
        if chunk
            .iter()
            .map(|s| u64::from(s.unsigned_abs()))
            .sum::<u64>()
            / (CHUNK as u64)
            < 100
        {
            expected += CHUNK;
            continue;
        }
        voiced += 1;
        let from = expected.saturating_sub(SLACK);
        let window = &heard[from.min(heard.len())..];
        let (at, score) = best_match(window, chunk, CHUNK, 2 * SLACK);
        if score > 0.99 {
            matched += 1;
            expected = from + at + CHUNK;
        } else {
            expected += CHUNK;
        }
    }
    (first_at, matched, voiced)
}
