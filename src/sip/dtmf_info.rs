//! DTMF carried in SIP INFO bodies: `application/dtmf-relay` (`Signal=5`)
//! and `application/dtmf` (`5`).

use crate::media::dtmf::DtmfKey;

/// Why an INFO body gave no key; the INFO is answered 415 or 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfoDtmfError {
    /// Not a DTMF content type (answer 415).
    UnsupportedType,
    /// A DTMF type, but no readable key (answer 400).
    NoKey,
}

/// Reads the key from an INFO body of `content_type` (lowercase, may carry parameters).
pub fn key_from_info(content_type: &str, body: &[u8]) -> Result<DtmfKey, InfoDtmfError> {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let text = std::str::from_utf8(body).map_err(|_| InfoDtmfError::NoKey)?;
    let value = match mime {
        "application/dtmf-relay" => text
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once('=')?;
                k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
            })
            .ok_or(InfoDtmfError::NoKey)?,
        "application/dtmf" => text.trim(),
        _ => return Err(InfoDtmfError::UnsupportedType),
    };
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => DtmfKey::from_char(c).ok_or(InfoDtmfError::NoKey),
        // Some phones send the event code ("10" for *, "11" for #).
        _ => value
            .parse::<u8>()
            .ok()
            .and_then(DtmfKey::from_event_code)
            .ok_or(InfoDtmfError::NoKey),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_relay_and_plain_dtmf_bodies_are_read() {
        assert_eq!(
            key_from_info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"),
            Ok(DtmfKey::Digit(5))
        );
        assert_eq!(
            key_from_info("application/dtmf-relay", b"Signal= #\r\n"),
            Ok(DtmfKey::Hash)
        );
        assert_eq!(key_from_info("application/dtmf", b"*"), Ok(DtmfKey::Star));
        assert_eq!(key_from_info("application/dtmf", b"11"), Ok(DtmfKey::Hash));
    }

    #[test]
    fn other_bodies_are_refused() {
        assert_eq!(
            key_from_info("application/sdp", b"v=0"),
            Err(InfoDtmfError::UnsupportedType)
        );
        assert_eq!(
            key_from_info("application/dtmf-relay", b"Duration=160"),
            Err(InfoDtmfError::NoKey)
        );
        assert_eq!(
            key_from_info("application/dtmf", b"xyz"),
            Err(InfoDtmfError::NoKey)
        );
    }
}
