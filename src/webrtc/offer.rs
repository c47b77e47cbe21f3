//! The little we read from the browser's offer and our answer ourselves:
//! enough to refuse an offer webrtc-rs would answer uselessly (no PCMU, no
//! candidates) and to find the telephone-event payload type the browser chose.
//! webrtc-rs does the real offer/answer; this never builds SDP.

use super::WebRtcError;

/// One `m=audio` section as far as we care.
#[derive(Debug, Default)]
struct Audio {
    port: u16,
    formats: Vec<u8>,
    /// `(payload type, encoding name, clock rate)` from `a=rtpmap`.
    rtpmaps: Vec<(u8, String, u32)>,
}

impl Audio {
    fn offers_pcmu(&self) -> bool {
        self.port != 0
            && self.formats.iter().any(|&pt| match self.rtpmap(pt) {
                Some((name, rate)) => name.eq_ignore_ascii_case("PCMU") && rate == 8000,
                None => pt == 0,
            })
    }

    fn rtpmap(&self, pt: u8) -> Option<(&str, u32)> {
        self.rtpmaps
            .iter()
            .find(|(p, _, _)| *p == pt)
            .map(|(_, name, rate)| (name.as_str(), *rate))
    }

    fn telephone_event_8000(&self) -> Option<u8> {
        self.formats.iter().copied().find(|&pt| {
            self.rtpmap(pt).is_some_and(|(name, rate)| {
                name.eq_ignore_ascii_case("telephone-event") && rate == 8000
            })
        })
    }
}

/// What an SDP body says about audio and candidates.
#[derive(Debug, Default)]
struct Summary {
    audio: Vec<Audio>,
    candidates: usize,
}

fn summarise(sdp: &str) -> Result<Summary, WebRtcError> {
    let mut summary = Summary::default();
    let mut saw_version = false;
    // Whether the section being read is audio (attributes of others are skipped).
    let mut in_audio = false;
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        match kind {
            "v" => saw_version = true,
            "m" => {
                let mut parts = value.split_whitespace();
                in_audio = parts.next() == Some("audio");
                if in_audio {
                    let port = parts
                        .next()
                        .and_then(|p| p.split('/').next()?.parse().ok())
                        .ok_or(WebRtcError::BadOffer("an m=audio line has no port"))?;
                    let _proto = parts.next();
                    summary.audio.push(Audio {
                        port,
                        formats: parts.filter_map(|f| f.parse().ok()).collect(),
                        rtpmaps: Vec::new(),
                    });
                }
            }
            "a" if value.starts_with("candidate:") => summary.candidates += 1,
            "a" if in_audio => {
                if let (Some(audio), Some(map)) = (
                    summary.audio.last_mut(),
                    value.strip_prefix("rtpmap:").and_then(parse_rtpmap),
                ) {
                    audio.rtpmaps.push(map);
                }
            }
            _ => {}
        }
    }
    if !saw_version {
        return Err(WebRtcError::BadOffer("there is no v= line"));
    }
    Ok(summary)
}

fn parse_rtpmap(rest: &str) -> Option<(u8, String, u32)> {
    let (pt, encoding) = rest.split_once(char::is_whitespace)?;
    let mut encoding = encoding.trim().split('/');
    let name = encoding.next()?.to_string();
    let rate = encoding.next()?.parse().ok()?;
    Some((pt.trim().parse().ok()?, name, rate))
}

/// Accepts an offer that has an audio section with PCMU and at least one ICE
/// candidate (the page sends its offer only once gathering is complete).
pub(crate) fn check_offer(sdp: &str) -> Result<(), WebRtcError> {
    let summary = summarise(sdp)?;
    if !summary.audio.iter().any(Audio::offers_pcmu) {
        return Err(WebRtcError::NoPcmuAudio);
    }
    if summary.candidates == 0 {
        return Err(WebRtcError::NoCandidates);
    }
    Ok(())
}

/// The offer as webrtc-rs should see it: in audio sections that offer PCMU,
/// only PCMU and `telephone-event/8000` remain. webrtc-rs 0.21 matches codecs
/// by name without the clock rate, so Chrome's `telephone-event/48000` (110)
/// would otherwise take the place of the 8 kHz one (126) in the answer. The
/// answer is still a subset of what the browser offered.
pub(crate) fn only_pcmu_and_telephone_event(sdp: &str) -> String {
    let Ok(summary) = summarise(sdp) else {
        return sdp.to_owned();
    };
    let mut out = String::with_capacity(sdp.len());
    let mut audio_index = 0usize;
    // The payload types kept in the current section; None: keep every line.
    let mut keep: Option<Vec<u8>> = None;
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(m) = line.strip_prefix("m=") {
            keep = None;
            let mut parts = m.split_whitespace();
            if parts.next() == Some("audio") {
                let audio = summary.audio.get(audio_index);
                audio_index += 1;
                if let Some(audio) = audio.filter(|a| a.offers_pcmu()) {
                    let kept: Vec<u8> = audio
                        .formats
                        .iter()
                        .copied()
                        .filter(|&pt| match audio.rtpmap(pt) {
                            Some((name, rate)) => {
                                rate == 8000
                                    && (name.eq_ignore_ascii_case("PCMU")
                                        || name.eq_ignore_ascii_case("telephone-event"))
                            }
                            None => pt == 0,
                        })
                        .collect();
                    let head: Vec<&str> = parts.take(2).collect();
                    out.push_str("m=audio");
                    for h in head {
                        out.push(' ');
                        out.push_str(h);
                    }
                    for pt in &kept {
                        out.push_str(&format!(" {pt}"));
                    }
                    out.push_str("\r\n");
                    keep = Some(kept);
                    continue;
                }
            }
        } else if let Some(keep) = &keep {
            let per_format = ["a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"]
                .iter()
                .find_map(|prefix| line.strip_prefix(prefix));
            if let Some(rest) = per_format {
                let pt = rest
                    .split(|c: char| c.is_whitespace())
                    .next()
                    .and_then(|pt| pt.parse::<u8>().ok());
                if pt.is_some_and(|pt| !keep.contains(&pt)) {
                    continue;
                }
            }
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

/// The payload type of `telephone-event/8000` in the first audio section that
/// has one (in our answer: the browser's number for it, e.g. 126 in Chrome).
pub(crate) fn telephone_event_pt(sdp: &str) -> Option<u8> {
    summarise(sdp)
        .ok()?
        .audio
        .iter()
        .find_map(Audio::telephone_event_8000)
}

/// A Chrome offer (audio only, candidates gathered), addresses from TEST-NET.
#[cfg(test)]
pub(crate) const CHROME_OFFER: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
a=extmap-allow-mixed\r\n\
a=msid-semantic: WMS 5b3c1f0e\r\n\
m=audio 54321 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n\
c=IN IP4 192.0.2.10\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=candidate:1467250027 1 udp 2122260223 192.0.2.10 54321 typ host generation 0 network-id 1\r\n\
a=ice-ufrag:Xy9d\r\n\
a=ice-pwd:q0YqGQ3g0yS3+U0o7LdJQ0xD\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
a=sendrecv\r\n\
a=msid:5b3c1f0e 0c8f0c4e\r\n\
a=rtcp-mux\r\n\
a=rtcp-rsize\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=rtcp-fb:111 transport-cc\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:63 red/48000/2\r\n\
a=fmtp:63 111/111\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:13 CN/8000\r\n\
a=rtpmap:110 telephone-event/48000\r\n\
a=rtpmap:126 telephone-event/8000\r\n\
a=ssrc:1001 cname:x7s0P3rV2u0wYJ7C\r\n\
a=ssrc:1001 msid:5b3c1f0e 0c8f0c4e\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chrome_offer_is_acceptable() {
        assert!(check_offer(CHROME_OFFER).is_ok());
    }

    #[test]
    fn chrome_offer_keeps_pcmu_and_telephone_event_8000_only() {
        let offer = only_pcmu_and_telephone_event(CHROME_OFFER);
        assert!(
            offer.contains("m=audio 54321 UDP/TLS/RTP/SAVPF 0 126\r\n"),
            "{offer}"
        );
        for gone in [
            "opus",
            "red/",
            "G722",
            "PCMA",
            "CN/",
            "telephone-event/48000",
            "a=fmtp:111",
        ] {
            assert!(!offer.contains(gone), "{gone} left in {offer}");
        }
        for kept in [
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:126 telephone-event/8000",
            "a=candidate:",
            "a=ice-ufrag:",
            "a=ssrc:1001",
        ] {
            assert!(offer.contains(kept), "{kept} missing from {offer}");
        }
        assert!(check_offer(&offer).is_ok());
    }

    #[test]
    fn chrome_offer_telephone_event_8000_is_126_not_the_48k_one() {
        assert_eq!(telephone_event_pt(CHROME_OFFER), Some(126));
    }

    #[test]
    fn offer_before_gathering_completed_is_refused_as_no_candidates() {
        let offer = CHROME_OFFER.replace(
            "a=candidate:1467250027 1 udp 2122260223 192.0.2.10 54321 typ host generation 0 network-id 1\r\n",
            "",
        );
        assert!(matches!(
            check_offer(&offer),
            Err(WebRtcError::NoCandidates)
        ));
    }

    #[test]
    fn offer_without_pcmu_is_refused() {
        let offer = CHROME_OFFER
            .replace(" 0 8 13", " 8 13")
            .replace("a=rtpmap:0 PCMU/8000\r\n", "");
        assert!(matches!(check_offer(&offer), Err(WebRtcError::NoPcmuAudio)));
    }

    #[test]
    fn rejected_audio_section_does_not_count_as_pcmu() {
        let offer = CHROME_OFFER.replace("m=audio 54321", "m=audio 0");
        assert!(matches!(check_offer(&offer), Err(WebRtcError::NoPcmuAudio)));
    }

    #[test]
    fn video_rtpmaps_do_not_leak_into_audio() {
        let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=candidate:1 1 udp 1 192.0.2.1 9 typ host\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 101\r\na=rtpmap:101 telephone-event/8000\r\n";
        assert!(check_offer(offer).is_ok());
        assert_eq!(telephone_event_pt(offer), None);
    }

    #[test]
    fn text_that_is_not_sdp_is_a_bad_offer() {
        assert!(matches!(
            check_offer("hello"),
            Err(WebRtcError::BadOffer(_))
        ));
        assert!(matches!(
            check_offer("v=0\r\nm=audio x UDP/TLS/RTP/SAVPF 0\r\n"),
            Err(WebRtcError::BadOffer(_))
        ));
    }
}
