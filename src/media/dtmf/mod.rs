//! DTMF keys and the three ways they reach us: RFC 4733 events, SIP INFO, and
//! in-band tones.

pub mod goertzel;
pub mod rfc4733;

use std::fmt;

/// One keypad key. RFC 4733 event codes 0-15 map to these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfKey {
    Digit(u8),
    Star,
    Hash,
    /// The rarely used fourth column (A-D).
    Letter(char),
}

/// Where a key press came from (for metrics and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfSource {
    Rfc4733,
    SipInfo,
    InBand,
}

impl DtmfKey {
    /// The RFC 4733 event code (0-9, `*`=10, `#`=11, A-D=12-15).
    pub fn event_code(self) -> u8 {
        match self {
            DtmfKey::Digit(d) => d,
            DtmfKey::Star => 10,
            DtmfKey::Hash => 11,
            DtmfKey::Letter(c) => 12 + (c as u8 - b'A'),
        }
    }

    /// The key for an RFC 4733 event code; `None` for non-DTMF events.
    pub fn from_event_code(code: u8) -> Option<Self> {
        match code {
            0..=9 => Some(DtmfKey::Digit(code)),
            10 => Some(DtmfKey::Star),
            11 => Some(DtmfKey::Hash),
            12..=15 => Some(DtmfKey::Letter((b'A' + code - 12) as char)),
            _ => None,
        }
    }

    /// The key for a keypad character (`0-9`, `*`, `#`, `A-D`, case-insensitive).
    pub fn from_char(c: char) -> Option<Self> {
        match c {
            '0'..='9' => Some(DtmfKey::Digit(c as u8 - b'0')),
            '*' => Some(DtmfKey::Star),
            '#' => Some(DtmfKey::Hash),
            'A'..='D' => Some(DtmfKey::Letter(c)),
            'a'..='d' => Some(DtmfKey::Letter(c.to_ascii_uppercase())),
            _ => None,
        }
    }

    /// The keypad character.
    pub fn to_char(self) -> char {
        match self {
            DtmfKey::Digit(d) => (b'0' + d) as char,
            DtmfKey::Star => '*',
            DtmfKey::Hash => '#',
            DtmfKey::Letter(c) => c,
        }
    }

    /// The (row, column) frequencies in Hz of the tone pair.
    pub fn frequencies(self) -> (f32, f32) {
        const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
        const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
        let (r, c) = match self.to_char() {
            '1' => (0, 0),
            '2' => (0, 1),
            '3' => (0, 2),
            'A' => (0, 3),
            '4' => (1, 0),
            '5' => (1, 1),
            '6' => (1, 2),
            'B' => (1, 3),
            '7' => (2, 0),
            '8' => (2, 1),
            '9' => (2, 2),
            'C' => (2, 3),
            '*' => (3, 0),
            '0' => (3, 1),
            '#' => (3, 2),
            _ => (3, 3),
        };
        (ROWS[r], COLS[c])
    }
}

impl fmt::Display for DtmfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_char())
    }
}

/// Generates a DTMF tone pair as 8 kHz linear samples (for the simulators and tests).
pub fn tone_samples(key: DtmfKey, duration_ms: u32, amplitude: i16) -> Vec<i16> {
    let (lo, hi) = key.frequencies();
    let n = (duration_ms * 8) as usize;
    let a = amplitude as f32 / 2.0;
    (0..n)
        .map(|i| {
            let t = i as f32 / 8000.0;
            let v = a * (2.0 * std::f32::consts::PI * lo * t).sin()
                + a * (2.0 * std::f32::consts::PI * hi * t).sin();
            v as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes_and_chars_round_trip() {
        for code in 0..16 {
            let key = DtmfKey::from_event_code(code).unwrap();
            assert_eq!(key.event_code(), code);
            assert_eq!(DtmfKey::from_char(key.to_char()), Some(key));
        }
        assert_eq!(DtmfKey::from_event_code(16), None);
        assert_eq!(DtmfKey::from_char('x'), None);
    }
}
