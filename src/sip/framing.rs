//! Stream framing for SIP over TCP (RFC 3261 section 18.3): a message ends
//! after its headers plus Content-Length bytes of body. Keep-alive CRLFs
//! between messages are skipped.

use super::error::SipError;
use super::message::{expand_compact, find, MAX_MESSAGE};
use bytes::{Buf, BytesMut};

/// Pulls complete messages out of a TCP byte stream.
#[derive(Debug, Default)]
pub struct SipDecoder;

impl SipDecoder {
    /// Returns the next complete message, `Ok(None)` when more bytes are needed,
    /// or an error after which the connection should be closed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, SipError> {
        // RFC 5626 keep-alives ("\r\n\r\n" pings) and stray CRLFs between messages.
        let leading = buf
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        buf.advance(leading);
        let Some(head_end) = find(buf, b"\r\n\r\n") else {
            if buf.len() > MAX_MESSAGE {
                return Err(SipError::TooLarge(buf.len()));
            }
            return Ok(None);
        };
        let head = std::str::from_utf8(&buf[..head_end])
            .map_err(|_| SipError::Malformed("headers are not UTF-8".into()))?;
        let body_len = content_length(head)?;
        // Saturating: a Content-Length near usize::MAX must not wrap to a short frame.
        let total = (head_end + 4).saturating_add(body_len);
        if total > MAX_MESSAGE {
            return Err(SipError::TooLarge(total));
        }
        if buf.len() < total {
            return Ok(None);
        }
        Ok(Some(buf.split_to(total)))
    }
}

/// Content-Length is mandatory on streams (RFC 3261 section 20.14).
fn content_length(head: &str) -> Result<usize, SipError> {
    for line in head.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            if expand_compact(name.trim()).eq_ignore_ascii_case("Content-Length") {
                return value
                    .trim()
                    .parse()
                    .map_err(|_| SipError::BadHeader("Content-Length"));
            }
        }
    }
    Err(SipError::BadHeader("Content-Length"))
}

impl tokio_util::codec::Decoder for SipDecoder {
    type Item = BytesMut;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, Self::Error> {
        SipDecoder::decode(self, buf)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:1177@x SIP/2.0\r\nl: 5\r\n\r\nhello";

    #[test]
    fn splits_back_to_back_messages_and_skips_keepalives() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"\r\n\r\n");
        buf.extend_from_slice(MSG);
        buf.extend_from_slice(MSG);
        let mut d = SipDecoder;
        assert_eq!(&d.decode(&mut buf).unwrap().unwrap()[..], MSG);
        assert_eq!(&d.decode(&mut buf).unwrap().unwrap()[..], MSG);
        assert_eq!(d.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn waits_for_the_whole_body_byte_by_byte() {
        let mut d = SipDecoder;
        let mut buf = BytesMut::new();
        for (i, b) in MSG.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            let got = d.decode(&mut buf).unwrap();
            assert_eq!(got.is_some(), i == MSG.len() - 1);
        }
    }

    #[test]
    fn missing_content_length_is_an_error() {
        let mut buf = BytesMut::from(&b"OPTIONS sip:x SIP/2.0\r\nVia: a\r\n\r\n"[..]);
        assert_eq!(
            SipDecoder.decode(&mut buf),
            Err(SipError::BadHeader("Content-Length"))
        );
    }

    #[test]
    fn content_length_near_usize_max_is_too_large() {
        // Seen while writing the fuzz target (fuzz/seeds/sip_framing/
        // regress-content-length-overflow): the sum overflowed, and without
        // overflow checks wrapped to a frame cut inside the headers.
        let mut buf =
            BytesMut::from(&b"OPTIONS sip:a@b SIP/2.0\r\nl: 18446744073709551615\r\n\r\n"[..]);
        assert!(matches!(
            SipDecoder.decode(&mut buf),
            Err(SipError::TooLarge(_))
        ));
    }

    #[test]
    fn endless_headers_are_refused() {
        let mut buf = BytesMut::from(&vec![b'a'; MAX_MESSAGE + 10][..]);
        assert!(matches!(
            SipDecoder.decode(&mut buf),
            Err(SipError::TooLarge(_))
        ));
    }
}
