//! G.711 μ-law (PCMU) and A-law (PCMA): the one codec module shared by the
//! prompt encoder, the DTMF detector, the recorder and the simulators.
//! Decoding uses 256-entry tables built at compile time (no work per packet).

/// The two G.711 variants we negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// μ-law, static RTP payload type 0.
    Pcmu,
    /// A-law, static RTP payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551).
    pub const fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The encoding name used in SDP `a=rtpmap`.
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The byte that decodes to (near) zero: what a silent frame is filled with.
    pub const fn silence(self) -> u8 {
        match self {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        }
    }

    /// Encodes one linear 16-bit sample.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Codec::Pcmu => ulaw_encode(sample),
            Codec::Pcma => alaw_encode(sample),
        }
    }

    /// Decodes one G.711 byte to a linear 16-bit sample.
    pub fn decode(self, byte: u8) -> i16 {
        match self {
            Codec::Pcmu => ULAW_TABLE[byte as usize],
            Codec::Pcma => ALAW_TABLE[byte as usize],
        }
    }

    /// Encodes `samples` into `out` (same length; extra output is left as is).
    pub fn encode_into(self, samples: &[i16], out: &mut [u8]) {
        for (o, s) in out.iter_mut().zip(samples) {
            *o = self.encode(*s);
        }
    }

    /// Decodes `bytes` into `out` (same length; extra output is left as is).
    pub fn decode_into(self, bytes: &[u8], out: &mut [i16]) {
        let table = match self {
            Codec::Pcmu => &ULAW_TABLE,
            Codec::Pcma => &ALAW_TABLE,
        };
        for (o, b) in out.iter_mut().zip(bytes) {
            *o = table[*b as usize];
        }
    }
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

/// μ-law encode (ITU-T G.711, with the usual 0x84 bias).
pub fn ulaw_encode(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    if s > ULAW_CLIP {
        s = ULAW_CLIP;
    }
    s += ULAW_BIAS;
    let exponent = exponent_of(s >> 7);
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

const fn exponent_of(mut v: i32) -> i32 {
    // Position of the highest set bit among the 8 bits above the mantissa.
    let mut e = 0;
    while v > 1 && e < 7 {
        v >>= 1;
        e += 1;
    }
    e
}

/// μ-law decode.
pub const fn ulaw_decode(byte: u8) -> i16 {
    let b = !byte as i32;
    let sign = b & 0x80;
    let exponent = (b >> 4) & 0x07;
    let mantissa = b & 0x0F;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// A-law encode (ITU-T G.711; even bits inverted with 0x55).
pub fn alaw_encode(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s >= 0 {
        0x80
    } else {
        s = -s - 1;
        0
    };
    if s > 32767 {
        s = 32767;
    }
    let code = if s < 256 {
        s >> 4
    } else {
        let exponent = exponent_of(s >> 8) + 1;
        let mantissa = (s >> (exponent + 3)) & 0x0F;
        (exponent << 4) | mantissa
    };
    ((sign | code) ^ 0x55) as u8
}

/// A-law decode.
pub const fn alaw_decode(byte: u8) -> i16 {
    let b = (byte ^ 0x55) as i32;
    let sign = b & 0x80;
    let exponent = (b >> 4) & 0x07;
    let mantissa = b & 0x0F;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if sign != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

const fn build_table(ulaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if ulaw {
            ulaw_decode(i as u8)
        } else {
            alaw_decode(i as u8)
        };
        i += 1;
    }
    t
}

static ULAW_TABLE: [i16; 256] = build_table(true);
static ALAW_TABLE: [i16; 256] = build_table(false);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ulaw_code_round_trips() {
        for b in 0..=255u8 {
            let s = ulaw_decode(b);
            let back = ulaw_encode(s);
            // 0x7F and 0xFF both decode to zero; either encoding is correct.
            assert_eq!(ulaw_decode(back), s, "code {b:#04x}");
        }
    }

    #[test]
    fn every_alaw_code_round_trips() {
        for b in 0..=255u8 {
            let s = alaw_decode(b);
            assert_eq!(alaw_encode(s), b, "code {b:#04x}");
        }
    }

    #[test]
    fn spot_values_match_g711() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_decode(0xAA), 32256);
    }

    #[test]
    fn encoding_error_is_small_relative_to_amplitude() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            for s in (-32000i32..32000).step_by(97) {
                let d = codec.decode(codec.encode(s as i16)) as i32;
                let tolerance = (s.abs() / 16).max(16);
                assert!((d - s).abs() <= tolerance, "{codec:?} {s} -> {d}");
            }
        }
    }

    #[test]
    fn silence_byte_decodes_near_zero() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            assert!(codec.decode(codec.silence()).abs() <= 8);
        }
    }
}
