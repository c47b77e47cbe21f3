//! Errors of the SIP core.

use thiserror::Error;

/// What can go wrong while reading or handling SIP.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SipError {
    /// The bytes are not a SIP message we can read; answered 400 when a request.
    #[error("malformed SIP message: {0}")]
    Malformed(String),
    /// A mandatory header is missing or unreadable; answered 400.
    #[error("missing or invalid {0} header")]
    BadHeader(&'static str),
    /// The message is larger than we accept.
    #[error("SIP message of {0} bytes is over the limit")]
    TooLarge(usize),
    /// The TU used a transaction that does not exist (any more).
    #[error("unknown transaction")]
    UnknownTransaction,
}

impl SipError {
    /// The response a request that caused this error gets, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            SipError::Malformed(_) | SipError::BadHeader(_) => Some(400),
            SipError::TooLarge(_) => Some(513),
            SipError::UnknownTransaction => None,
        }
    }
}
