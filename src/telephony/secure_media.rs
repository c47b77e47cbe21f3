//! Whether an inbound call's media is SRTP: `sip.toml`'s `srtp` policy
//! against the offer's profile and `a=crypto`, and the transport it came
//! over. We answer SDES with a fresh key of our own on the offer's tag and
//! suite (RFC 4568 section 7.1.2), so each direction has its own key.

use crate::config::SrtpPolicy;
use crate::media::srtp::{MasterKey, SrtpKeys};
use crate::sdp::{AudioOffer, Crypto};
use crate::sip::Transport;

/// The negotiated protection of one leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecureMedia {
    Plain,
    /// SRTP with these keys; `answer` goes into our SDP.
    Srtp {
        keys: SrtpKeys,
        answer: Crypto,
    },
}

impl SecureMedia {
    pub fn keys(&self) -> Option<&SrtpKeys> {
        match self {
            SecureMedia::Srtp { keys, .. } => Some(keys),
            SecureMedia::Plain => None,
        }
    }

    /// Our `a=crypto` for the answer, if any.
    pub fn answer(&self) -> Option<&Crypto> {
        match self {
            SecureMedia::Srtp { answer, .. } => Some(answer),
            SecureMedia::Plain => None,
        }
    }
}

/// The 488 reason when an offer cannot be answered under the policy.
pub type Refusal = &'static str;

/// Decides the protection of a new call from its offer.
pub fn negotiate(
    policy: SrtpPolicy,
    offer: &AudioOffer,
    transport: Transport,
) -> Result<SecureMedia, Refusal> {
    match (&offer.crypto, policy) {
        (_, SrtpPolicy::Off) if offer.savp => Err("SRTP is not enabled here"),
        (_, SrtpPolicy::Off) => Ok(SecureMedia::Plain),
        (Some(theirs), _) => Ok(fresh(theirs)),
        (None, _) if offer.savp => {
            Err("no usable a=crypto: AES_CM_128_HMAC_SHA1_80 or _32 with one inline key")
        }
        (None, SrtpPolicy::RequiredOnTls) if transport == Transport::Tls => {
            Err("SRTP (a=crypto) is required for calls over TLS")
        }
        (None, _) => Ok(SecureMedia::Plain),
    }
}

/// Decides the protection after a re-offer in the dialog, and whether the
/// keys changed (the engine must re-key). Unchanged peer keys keep ours and
/// the running contexts: a fresh context on the same key would reuse
/// keystream. Secure media never falls back to plain.
pub fn renegotiate(
    current: &SecureMedia,
    policy: SrtpPolicy,
    offer: &AudioOffer,
    transport: Transport,
) -> Result<(SecureMedia, bool), Refusal> {
    match (current, &offer.crypto) {
        (SecureMedia::Srtp { .. }, None) => Err("SRTP cannot be turned off in this call"),
        (SecureMedia::Srtp { keys, answer }, Some(theirs))
            if theirs.suite == keys.suite && theirs.key == keys.remote =>
        {
            // Same keys; the answer names the tag of this offer.
            let answer = Crypto {
                tag: theirs.tag,
                ..answer.clone()
            };
            let keys = keys.clone();
            Ok((SecureMedia::Srtp { keys, answer }, false))
        }
        _ => {
            let next = negotiate(policy, offer, transport)?;
            let changed = next != *current;
            Ok((next, changed))
        }
    }
}

/// Our key for an offer to `transport` under `policy` (only TLS keeps SDES
/// keys secret, so only TLS legs are offered SRTP), and whether the offer is
/// RTP/SAVP (SRTP or nothing).
pub fn our_offer(policy: SrtpPolicy, transport: Transport) -> Option<(Crypto, bool)> {
    if transport != Transport::Tls || policy == SrtpPolicy::Off {
        return None;
    }
    let crypto = Crypto {
        tag: 1,
        suite: crate::media::srtp::SrtpSuite::AesCm128HmacSha1_80,
        key: MasterKey::random(),
    };
    Some((crypto, policy == SrtpPolicy::RequiredOnTls))
}

/// The protection our offer (`ours`, and whether it was RTP/SAVP) ends up
/// with, given the answer.
pub fn from_answer(
    ours: Option<&(Crypto, bool)>,
    answer: &AudioOffer,
) -> Result<SecureMedia, Refusal> {
    let Some((ours, savp)) = ours else {
        return Ok(SecureMedia::Plain); // we offered no key: a key in the answer means nothing
    };
    match &answer.crypto {
        Some(theirs) if theirs.tag == ours.tag && theirs.suite == ours.suite => {
            Ok(SecureMedia::Srtp {
                keys: SrtpKeys {
                    suite: ours.suite,
                    local: ours.key.clone(),
                    remote: theirs.key.clone(),
                },
                answer: ours.clone(),
            })
        }
        Some(_) => Err("the answer's a=crypto does not match our offer"),
        None if *savp => Err("the answer to our RTP/SAVP offer has no a=crypto"),
        None => Ok(SecureMedia::Plain),
    }
}

fn fresh(theirs: &Crypto) -> SecureMedia {
    let local = MasterKey::random();
    SecureMedia::Srtp {
        keys: SrtpKeys {
            suite: theirs.suite,
            local: local.clone(),
            remote: theirs.key.clone(),
        },
        answer: Crypto {
            tag: theirs.tag,
            suite: theirs.suite,
            key: local,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::srtp::SrtpSuite;
    use crate::sdp::parse_audio;

    fn offer(proto: &str, crypto: &str) -> AudioOffer {
        let text = format!(
            "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 {proto} 0 101\r\na=rtpmap:101 telephone-event/8000\r\n{crypto}"
        );
        parse_audio(text.as_bytes()).unwrap()
    }

    const CRYPTO: &str =
        "a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n";

    #[test]
    fn an_offered_key_gets_our_own_fresh_key_on_its_tag_and_suite() {
        let o = offer("RTP/SAVP", CRYPTO);
        let s = negotiate(SrtpPolicy::WhenOffered, &o, Transport::Udp).unwrap();
        let (keys, answer) = match &s {
            SecureMedia::Srtp { keys, answer } => (keys, answer),
            SecureMedia::Plain => panic!("plain"),
        };
        let theirs = o.crypto.as_ref().unwrap();
        assert_eq!(
            (answer.tag, answer.suite),
            (3, SrtpSuite::AesCm128HmacSha1_32)
        );
        assert_eq!(keys.remote, theirs.key);
        assert_eq!(keys.local, answer.key);
        assert_ne!(keys.local, keys.remote);
        let again = negotiate(SrtpPolicy::WhenOffered, &o, Transport::Udp).unwrap();
        assert_ne!(again.keys().unwrap().local, keys.local, "fresh per call");
    }

    #[test]
    fn the_policy_decides_plain_offers_and_savp_without_keys() {
        let plain = offer("RTP/AVP", "");
        let savp = offer("RTP/SAVP", "a=crypto:1 F8_128_HMAC_SHA1_80 inline:AAAA\r\n");
        let best_effort = offer("RTP/AVP", CRYPTO);
        use SrtpPolicy::*;
        assert_eq!(
            negotiate(WhenOffered, &plain, Transport::Tls),
            Ok(SecureMedia::Plain)
        );
        assert!(negotiate(RequiredOnTls, &plain, Transport::Tls).is_err());
        assert_eq!(
            negotiate(RequiredOnTls, &plain, Transport::Udp),
            Ok(SecureMedia::Plain)
        );
        assert!(negotiate(WhenOffered, &savp, Transport::Udp).is_err());
        assert!(negotiate(Off, &savp, Transport::Udp).is_err());
        assert_eq!(
            negotiate(Off, &best_effort, Transport::Tls),
            Ok(SecureMedia::Plain)
        );
        assert!(negotiate(RequiredOnTls, &best_effort, Transport::Tls)
            .unwrap()
            .keys()
            .is_some());
    }

    #[test]
    fn our_offer_to_a_tls_phone_carries_a_key_and_its_answer_sets_the_keys() {
        use SrtpPolicy::*;
        assert!(our_offer(WhenOffered, Transport::Udp).is_none());
        assert!(our_offer(Off, Transport::Tls).is_none());
        let ours = our_offer(WhenOffered, Transport::Tls).unwrap();
        assert!(!ours.1, "best effort: RTP/AVP");
        assert!(our_offer(RequiredOnTls, Transport::Tls).unwrap().1);
        let theirs = format!(
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{}\r\n",
            MasterKey::random().to_base64()
        );
        let answer = offer("RTP/AVP", &theirs);
        let s = from_answer(Some(&ours), &answer).unwrap();
        let keys = s.keys().unwrap();
        assert_eq!(keys.local, ours.0.key);
        assert_eq!(Some(&keys.remote), answer.crypto.as_ref().map(|c| &c.key));
        let plain = offer("RTP/AVP", "");
        assert_eq!(from_answer(Some(&ours), &plain), Ok(SecureMedia::Plain));
        let required = our_offer(RequiredOnTls, Transport::Tls).unwrap();
        assert!(from_answer(Some(&required), &plain).is_err());
        let other_tag = offer("RTP/AVP", &theirs.replace("crypto:1", "crypto:2"));
        assert!(from_answer(Some(&ours), &other_tag).is_err());
        assert_eq!(from_answer(None, &answer), Ok(SecureMedia::Plain));
    }

    #[test]
    fn a_re_offer_keeps_unchanged_keys_rekeys_new_ones_and_never_downgrades() {
        let o = offer("RTP/SAVP", CRYPTO);
        let first = negotiate(SrtpPolicy::WhenOffered, &o, Transport::Tls).unwrap();
        let (same, rekey) =
            renegotiate(&first, SrtpPolicy::WhenOffered, &o, Transport::Tls).unwrap();
        assert_eq!((same, rekey), (first.clone(), false));
        let fresh_offer = offer(
            "RTP/SAVP",
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkw\r\n",
        );
        let (rekeyed, rekey) = renegotiate(
            &first,
            SrtpPolicy::WhenOffered,
            &fresh_offer,
            Transport::Tls,
        )
        .unwrap();
        assert!(rekey);
        assert_ne!(rekeyed.keys().unwrap().local, first.keys().unwrap().local);
        let plain = offer("RTP/AVP", "");
        assert!(renegotiate(&first, SrtpPolicy::WhenOffered, &plain, Transport::Tls).is_err());
        assert_eq!(
            renegotiate(
                &SecureMedia::Plain,
                SrtpPolicy::WhenOffered,
                &plain,
                Transport::Udp
            ),
            Ok((SecureMedia::Plain, false))
        );
    }
}
