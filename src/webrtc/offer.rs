//! The little we check in the browser's offer and our answer ourselves:
//! enough to refuse an offer webrtc-rs would answer uselessly (no PCMU, no
//! candidates) and to find the telephone-event payload type the browser chose.
//! webrtc-rs does the real offer/answer; the SDP is read with [`crate::sdp`].

use super::WebRtcError;
use crate::media::g711::Codec;
use crate::sdp::{Media, Sdp};

/// Whether an audio section is live and offers G.711 mu-law.
fn offers_pcmu(audio: &Media<'_>) -> bool {
    audio.port != Some(0)
        && audio
            .payload_types()
            .any(|pt| audio.codec(pt) == Some(Codec::Pcmu))
}

/// The first payload type (in the browser's order) mapped to `telephone-event/8000`.
fn telephone_event_8000(audio: &Media<'_>) -> Option<u8> {
    audio.payload_types().find(|&pt| {
        audio
            .rtpmap(pt)
            .is_some_and(|map| map.is("telephone-event", 8000))
    })
}

/// Reads an offer (or our answer): SDP with a `v=` line whose audio sections
/// have ports.
fn read(sdp: &str) -> Result<Sdp<'_>, WebRtcError> {
    let sdp = Sdp::parse(sdp);
    if sdp.media_of("audio").any(|m| m.port.is_none()) {
        return Err(WebRtcError::BadOffer("an m=audio line has no port"));
    }
    if !sdp.has_version() {
        return Err(WebRtcError::BadOffer("there is no v= line"));
    }
    Ok(sdp)
}

/// Accepts an offer that has an audio section with PCMU and at least one ICE
/// candidate (the page sends its offer only once gathering is complete).
pub(crate) fn check_offer(sdp: &str) -> Result<(), WebRtcError> {
    let sdp = read(sdp)?;
    if !sdp.media_of("audio").any(offers_pcmu) {
        return Err(WebRtcError::NoPcmuAudio);
    }
    let is_candidate = |l: crate::sdp::Line<'_>| {
        l.attribute()
            .is_some_and(|a| a.name == "candidate" && a.value.is_some())
    };
    if !sdp.lines().any(is_candidate) {
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
    let Ok(parsed) = read(sdp) else {
        return sdp.to_owned();
    };
    let mut out = String::with_capacity(sdp.len());
    let mut push = |line: &str| {
        out.push_str(line);
        out.push_str("\r\n");
    };
    for line in &parsed.session {
        push(line.text());
    }
    for media in &parsed.media {
        if media.kind != "audio" || !offers_pcmu(media) {
            push(media.line().text());
            media.lines.iter().for_each(|l| push(l.text()));
            continue;
        }
        let kept: Vec<u8> = media
            .payload_types()
            .filter(|&pt| match media.rtpmap(pt) {
                Some(map) => map.is("PCMU", 8000) || map.is("telephone-event", 8000),
                None => pt == 0,
            })
            .collect();
        push(&media.line_with_formats(&kept));
        for line in &media.lines {
            let about = line.attribute().and_then(|a| a.payload_type());
            if about.is_none_or(|pt| kept.contains(&pt)) {
                push(line.text());
            }
        }
    }
    out
}

/// The payload type of `telephone-event/8000` in the first audio section that
/// has one (in our answer: the browser's number for it, e.g. 126 in Chrome).
pub(crate) fn telephone_event_pt(sdp: &str) -> Option<u8> {
    read(sdp)
        .ok()?
        .media_of("audio")
        .find_map(telephone_event_8000)
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
