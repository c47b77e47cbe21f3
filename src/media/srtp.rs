//! SRTP (RFC 3711) for one call leg, keyed by SDES (RFC 4568): the master
//! keys, the two suites we offer and accept, and the transform itself, which
//! is the maintained webrtc-rs implementation (`rtc::srtp`), not ours.
//!
//! Keys never reach a log: `MasterKey`'s `Debug` hides the bytes and errors
//! carry no key material.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rtc::srtp::context::Context;
use rtc::srtp::option::srtp_replay_protection;
use rtc::srtp::protection_profile::ProtectionProfile;
use std::fmt;
use thiserror::Error;

/// Master key (16 bytes) then master salt (14 bytes), as SDES carries them.
pub const MASTER_LEN: usize = 30;
const KEY_LEN: usize = 16;
/// Received packets this far behind the newest are refused as replays.
const REPLAY_WINDOW: usize = 128;

/// The SDES crypto suites we support (RFC 4568 section 6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpSuite {
    /// AES-128 counter mode, 80-bit HMAC-SHA1 tag (every SDES phone has it).
    AesCm128HmacSha1_80,
    /// The same with a 32-bit tag.
    AesCm128HmacSha1_32,
}

impl SrtpSuite {
    /// The suite's name in `a=crypto`.
    pub fn name(self) -> &'static str {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SrtpSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// The suite named `name` in `a=crypto`, if we support it.
    pub fn from_name(name: &str) -> Option<SrtpSuite> {
        [
            SrtpSuite::AesCm128HmacSha1_80,
            SrtpSuite::AesCm128HmacSha1_32,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }

    /// Bytes the authentication tag adds to every packet.
    pub fn tag_len(self) -> usize {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => 10,
            SrtpSuite::AesCm128HmacSha1_32 => 4,
        }
    }

    fn profile(self) -> ProtectionProfile {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            SrtpSuite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
        }
    }
}

/// A master key and salt. Its `Debug` shows no key bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; MASTER_LEN]);

impl MasterKey {
    /// A fresh key from the operating system's random source.
    pub fn random() -> MasterKey {
        use rand::RngCore;
        let mut k = [0u8; MASTER_LEN];
        rand::rngs::OsRng.fill_bytes(&mut k);
        MasterKey(k)
    }

    /// Exactly `MASTER_LEN` bytes, else `None`.
    pub fn from_bytes(bytes: &[u8]) -> Option<MasterKey> {
        Some(MasterKey(bytes.try_into().ok()?))
    }

    /// The `inline:` form (RFC 4568 section 6.1): base64 with padding.
    pub fn from_base64(text: &str) -> Option<MasterKey> {
        MasterKey::from_bytes(&BASE64.decode(text).ok()?)
    }

    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    fn split(&self) -> (&[u8], &[u8]) {
        self.0.split_at(KEY_LEN)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<hidden>)")
    }
}

/// The keys of one SRTP leg: ours for what we send, the peer's for what we receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    pub suite: SrtpSuite,
    pub local: MasterKey,
    pub remote: MasterKey,
}

/// Why a packet was not protected or unprotected (no key material inside).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SrtpError {
    #[error("SRTP context could not be set up")]
    Setup,
    /// Authentication failed, a replay, or not an RTP packet.
    #[error("SRTP packet refused")]
    Refused,
    #[error("SRTP packet does not fit the buffer")]
    TooLarge,
}

/// The sender and receiver contexts of one leg (RFC 3711 keeps one per direction).
pub struct SrtpSession {
    tx: Context,
    rx: Context,
}

impl fmt::Debug for SrtpSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SrtpSession")
    }
}

impl SrtpSession {
    pub fn new(keys: &SrtpKeys) -> Result<SrtpSession, SrtpError> {
        let provider = rtc::srtp::crypto::default_provider().map_err(|_| SrtpError::Setup)?;
        let context = |key: &MasterKey, replay: bool| {
            let (k, salt) = key.split();
            let option = replay.then(|| srtp_replay_protection(REPLAY_WINDOW));
            Context::new(
                k,
                salt,
                keys.suite.profile(),
                option,
                None,
                provider.crypto(),
            )
            .map_err(|_| SrtpError::Setup)
        };
        Ok(SrtpSession {
            tx: context(&keys.local, false)?,
            rx: context(&keys.remote, true)?,
        })
    }

    /// Encrypts and authenticates the RTP packet `rtp` into `out`; its length.
    pub fn protect(&mut self, rtp: &[u8], out: &mut [u8]) -> Result<usize, SrtpError> {
        let packet = self.tx.encrypt_rtp(rtp).map_err(|_| SrtpError::Refused)?;
        copy_into(&packet, out)
    }

    /// Checks and decrypts the SRTP packet `srtp` into `out`; its length.
    pub fn unprotect(&mut self, srtp: &[u8], out: &mut [u8]) -> Result<usize, SrtpError> {
        let packet = self.rx.decrypt_rtp(srtp).map_err(|_| SrtpError::Refused)?;
        copy_into(&packet, out)
    }
}

fn copy_into(packet: &[u8], out: &mut [u8]) -> Result<usize, SrtpError> {
    out.get_mut(..packet.len())
        .ok_or(SrtpError::TooLarge)?
        .copy_from_slice(packet);
    Ok(packet.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtp::{self, RtpHeader};

    fn packet(seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut buf = [0u8; 200];
        let h = RtpHeader::new(0, seq, 160 * u32::from(seq), 0x1234_5678, false);
        let n = rtp::write_packet(&h, payload, &mut buf).unwrap();
        buf[..n].to_vec()
    }

    /// Two ends of one leg: what `a` sends, `b` receives.
    fn pair(suite: SrtpSuite) -> (SrtpSession, SrtpSession) {
        let (ka, kb) = (MasterKey::random(), MasterKey::random());
        let a = SrtpSession::new(&SrtpKeys {
            suite,
            local: ka.clone(),
            remote: kb.clone(),
        })
        .unwrap();
        let b = SrtpSession::new(&SrtpKeys {
            suite,
            local: kb,
            remote: ka,
        })
        .unwrap();
        (a, b)
    }

    #[test]
    fn round_trip_hides_the_payload_and_adds_the_tag() {
        for suite in [
            SrtpSuite::AesCm128HmacSha1_80,
            SrtpSuite::AesCm128HmacSha1_32,
        ] {
            let (mut a, mut b) = pair(suite);
            let payload = [0xffu8; 160]; // G.711 u-law silence
            for seq in [65534u16, 65535, 0, 1] {
                let plain = packet(seq, &payload);
                let mut wire = [0u8; 300];
                let n = a.protect(&plain, &mut wire).unwrap();
                assert_eq!(n, plain.len() + suite.tag_len());
                assert_eq!(wire[..12], plain[..12], "the header stays readable");
                assert_ne!(wire[12..12 + 160], payload[..], "the payload is encrypted");
                let mut back = [0u8; 300];
                let m = b.unprotect(&wire[..n], &mut back).unwrap();
                assert_eq!(back[..m], plain[..]);
            }
        }
    }

    #[test]
    fn tampered_replayed_and_wrongly_keyed_packets_are_refused() {
        let (mut a, mut b) = pair(SrtpSuite::AesCm128HmacSha1_80);
        let mut wire = [0u8; 300];
        let n = a.protect(&packet(7, &[1; 160]), &mut wire).unwrap();
        let mut out = [0u8; 300];
        let mut bad = wire;
        bad[40] ^= 1;
        assert_eq!(b.unprotect(&bad[..n], &mut out), Err(SrtpError::Refused));
        assert!(b.unprotect(&wire[..n], &mut out).is_ok());
        assert_eq!(
            b.unprotect(&wire[..n], &mut out),
            Err(SrtpError::Refused),
            "replay"
        );
        let (_, mut stranger) = pair(SrtpSuite::AesCm128HmacSha1_80);
        let n = a.protect(&packet(8, &[1; 160]), &mut wire).unwrap();
        assert_eq!(
            stranger.unprotect(&wire[..n], &mut out),
            Err(SrtpError::Refused)
        );
        // Plain RTP on an SRTP leg (too short for a tag, or a wrong tag).
        assert!(b.unprotect(&packet(9, &[]), &mut out).is_err());
        assert!(b.unprotect(&packet(9, &[2; 160]), &mut out).is_err());
    }

    #[test]
    fn keys_are_never_printed_and_base64_round_trips() {
        let k = MasterKey::random();
        let text = k.to_base64();
        assert_eq!(text.len(), 40);
        assert_eq!(MasterKey::from_base64(&text), Some(k.clone()));
        let keys = SrtpKeys {
            suite: SrtpSuite::AesCm128HmacSha1_80,
            local: k.clone(),
            remote: k,
        };
        let shown = format!("{keys:?}");
        assert!(
            !shown.contains(&text) && shown.contains("<hidden>"),
            "{shown}"
        );
        assert_eq!(MasterKey::from_base64("c2hvcnQ="), None);
        assert_eq!(MasterKey::from_base64("not base64!"), None);
    }
}
