//! How a dialled leg can fail, from the final SIP status (RFC 3261 section 21).

/// Why an outbound leg was not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialFailure {
    /// 486 Busy Here, 600 Busy Everywhere.
    Busy(u16),
    /// Ring timeout (our CANCEL), 408, 480, 487 from the far end.
    NoAnswer(Option<u16>),
    /// 603 Decline, 403/404/484 and other refusals of this number.
    Rejected(u16),
    /// 5xx, no response, unusable answer, a challenge we cannot answer.
    Failed(Option<u16>),
    /// We gave up on purpose (the nurse hung up, the service stopped).
    Cancelled,
}

impl DialFailure {
    /// Maps a final non-2xx status.
    pub fn from_status(status: u16) -> Self {
        match status {
            486 | 600 => DialFailure::Busy(status),
            408 | 480 | 487 => DialFailure::NoAnswer(Some(status)),
            403 | 404 | 410 | 484 | 603 | 604 => DialFailure::Rejected(status),
            _ => DialFailure::Failed(Some(status)),
        }
    }

    /// The SIP status behind the failure, for the call-detail record.
    pub fn sip_status(self) -> Option<u16> {
        match self {
            DialFailure::Busy(s) | DialFailure::Rejected(s) => Some(s),
            DialFailure::NoAnswer(s) | DialFailure::Failed(s) => s,
            DialFailure::Cancelled => None,
        }
    }

    /// The CDR / API word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            DialFailure::Busy(_) => "busy",
            DialFailure::NoAnswer(_) => "no_answer",
            DialFailure::Rejected(_) => "rejected",
            DialFailure::Failed(_) => "failed",
            DialFailure::Cancelled => "cancelled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_statuses_map_to_attempt_results() {
        assert_eq!(DialFailure::from_status(486), DialFailure::Busy(486));
        assert_eq!(DialFailure::from_status(600), DialFailure::Busy(600));
        assert_eq!(
            DialFailure::from_status(480),
            DialFailure::NoAnswer(Some(480))
        );
        assert_eq!(
            DialFailure::from_status(487),
            DialFailure::NoAnswer(Some(487))
        );
        assert_eq!(DialFailure::from_status(603), DialFailure::Rejected(603));
        assert_eq!(DialFailure::from_status(404), DialFailure::Rejected(404));
        assert_eq!(
            DialFailure::from_status(503),
            DialFailure::Failed(Some(503))
        );
        assert_eq!(
            DialFailure::from_status(488),
            DialFailure::Failed(Some(488))
        );
        assert_eq!(DialFailure::NoAnswer(None).sip_status(), None);
        assert_eq!(DialFailure::Busy(486).as_str(), "busy");
    }
}
