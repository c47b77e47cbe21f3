//! The one normaliser for Swedish callback numbers, shared by the IVR (caller ID
//! and typed numbers), the API (digital intake) and the dialer.
//!
//! Stored as E.164 (`+46701234567`). Swedish numbers have a national significant
//! number (after the trunk prefix 0) of 7 to 9 digits; mobile numbers (070, 072,
//! 073, 076, 079) have exactly 9. Anti-fraud (DESIGN.md section 3): only Swedish
//! numbers, never premium rate (0900, 0939, 0944), shared cost (077x), service
//! numbers (020 freephone, 071 machine-to-machine, 074 paging) or short numbers.
//! `Debug`/`Display` mask the middle (`+4670*****67`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What was wrong with a phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneErrorKind {
    /// Nothing was given.
    Empty,
    /// Letters or symbols other than digits, spaces, `-`, `(`, `)`, `.`, `/` and a leading `+`.
    InvalidCharacter,
    /// A country code other than +46.
    NotSwedish,
    /// Neither a leading 0 nor +46/0046/46.
    MissingPrefix,
    /// Fewer digits than any Swedish subscriber number.
    TooShort,
    /// More digits than any Swedish subscriber number.
    TooLong,
    /// 0900, 0939, 0944: the caller would pay us, or we would pay them.
    PremiumRate,
    /// 077x shared-cost numbers (e.g. 0771).
    SharedCost,
    /// 020 freephone, 071 machine-to-machine, 074 paging: no person answers.
    ServiceNumber,
    /// 112, 1177, 116xxx and other short numbers.
    ShortNumber,
    /// The caller ID was withheld (`anonymous`).
    Withheld,
}

impl PhoneErrorKind {
    fn reason(self) -> &'static str {
        match self {
            Self::Empty => "is empty",
            Self::InvalidCharacter => {
                "contains characters other than digits, spaces, dashes and a leading +"
            }
            Self::NotSwedish => "is not a Swedish (+46) number",
            Self::MissingPrefix => "does not start with 0 or +46",
            Self::TooShort => "is too short",
            Self::TooLong => "is too long",
            Self::PremiumRate => "is a premium-rate number (0900, 0939, 0944)",
            Self::SharedCost => "is a shared-cost service number (077x)",
            Self::ServiceNumber => "is a service number (020, 071, 074) that cannot be called back",
            Self::ShortNumber => "is a short number",
            Self::Withheld => "is withheld",
        }
    }
}

/// A refused phone number. `Display` quotes the input (it is shown to the person
/// who typed it); `Debug` does not, so logging the error with `{:?}` is safe.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneError {
    input: String,
    kind: PhoneErrorKind,
}

impl PhoneError {
    fn new(input: &str, kind: PhoneErrorKind) -> Self {
        // Hostile input: no control characters, bounded length.
        let input = input.chars().filter(|c| !c.is_control()).take(32).collect();
        PhoneError { input, kind }
    }

    /// What was wrong, without the number (safe to log).
    pub fn kind(&self) -> PhoneErrorKind {
        self.kind
    }
}

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "callback number \"{}\" {}: expected a Swedish number like 0701234567 or +46701234567",
            self.input,
            self.kind.reason()
        )
    }
}

impl fmt::Debug for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneError({:?})", self.kind)
    }
}

impl std::error::Error for PhoneError {}

/// A validated Swedish phone number that we may call back.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber {
    /// `+46` followed by 7-9 digits.
    e164: String,
}

const MOBILE_PREFIXES: [&str; 5] = ["70", "72", "73", "76", "79"];

impl PhoneNumber {
    /// Parses a number as people write or type it: `070-123 45 67`, `0701234567`,
    /// `+46701234567`, `0046701234567`, `46701234567`.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let err = |kind| PhoneError::new(input, kind);
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(err(PhoneErrorKind::Empty));
        }
        let mut digits = String::with_capacity(16);
        let mut plus = false;
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => plus = true,
                ' ' | '-' | '(' | ')' | '.' | '/' => {}
                _ => return Err(err(PhoneErrorKind::InvalidCharacter)),
            }
            if digits.len() > 20 {
                return Err(err(PhoneErrorKind::TooLong));
            }
        }
        if digits.is_empty() {
            return Err(err(PhoneErrorKind::Empty));
        }
        let nsn: &str = if plus {
            digits
                .strip_prefix("46")
                .ok_or_else(|| err(PhoneErrorKind::NotSwedish))?
        } else if let Some(intl) = digits.strip_prefix("00") {
            intl.strip_prefix("46")
                .ok_or_else(|| err(PhoneErrorKind::NotSwedish))?
        } else if let Some(national) = digits.strip_prefix('0') {
            national
        } else if digits.len() <= 6 {
            return Err(err(PhoneErrorKind::ShortNumber));
        } else if let Some(rest) = digits.strip_prefix("46") {
            rest
        } else {
            return Err(err(PhoneErrorKind::MissingPrefix));
        };
        // "+46 (0)70..." is common: drop the trunk 0 after the country code.
        let nsn = if plus || digits.starts_with("0046") || !digits.starts_with('0') {
            nsn.strip_prefix('0').unwrap_or(nsn)
        } else {
            nsn
        };
        Self::from_nsn(nsn).map_err(err)
    }

    /// Parses the user part of a caller ID: `sip:+46701234567@trunk;user=phone`,
    /// `tel:+46701234567`, `0701234567`. `anonymous` gives [`PhoneErrorKind::Withheld`].
    pub fn from_caller_id(uri_or_user: &str) -> Result<Self, PhoneError> {
        let s = uri_or_user
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>');
        let lower = s.get(0..5).map(str::to_ascii_lowercase).unwrap_or_default();
        let s = if lower.starts_with("sips:") {
            s.get(5..).unwrap_or("")
        } else if lower.starts_with("sip:") || lower.starts_with("tel:") {
            s.get(4..).unwrap_or("")
        } else {
            s
        };
        let user = s.split(['@', ';']).next().unwrap_or("");
        let lowered = user.to_ascii_lowercase();
        if lowered.is_empty()
            || lowered == "anonymous"
            || lowered == "unknown"
            || lowered == "restricted"
            || lowered == "private"
        {
            return Err(PhoneError::new(user, PhoneErrorKind::Withheld));
        }
        Self::parse(user)
    }

    /// Checks a national significant number (digits after the trunk 0).
    fn from_nsn(nsn: &str) -> Result<Self, PhoneErrorKind> {
        if !nsn.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneErrorKind::InvalidCharacter);
        }
        if nsn.is_empty() {
            return Err(PhoneErrorKind::TooShort);
        }
        if ["900", "939", "944"].iter().any(|p| nsn.starts_with(p)) {
            return Err(PhoneErrorKind::PremiumRate);
        }
        if nsn.starts_with("77") {
            return Err(PhoneErrorKind::SharedCost);
        }
        if ["20", "71", "74"].iter().any(|p| nsn.starts_with(p)) {
            return Err(PhoneErrorKind::ServiceNumber);
        }
        if nsn.starts_with('0') {
            return Err(PhoneErrorKind::MissingPrefix);
        }
        let mobile = MOBILE_PREFIXES.iter().any(|p| nsn.starts_with(p));
        let (min, max) = if mobile { (9, 9) } else { (7, 9) };
        if nsn.len() < min {
            return Err(PhoneErrorKind::TooShort);
        }
        if nsn.len() > max {
            return Err(PhoneErrorKind::TooLong);
        }
        Ok(PhoneNumber {
            e164: format!("+46{nsn}"),
        })
    }

    /// E.164 form `+46701234567`, for storage and dialling. Never log this.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// Same as [`PhoneNumber::e164`].
    pub fn as_str(&self) -> &str {
        &self.e164
    }

    /// The national form `0701234567`, for reading back digit by digit.
    pub fn national_digits(&self) -> String {
        format!("0{}", self.e164.get(3..).unwrap_or(""))
    }

    /// The last four digits, for "the number ending in 4567".
    pub fn last_four(&self) -> &str {
        let n = self.e164.len();
        self.e164.get(n.saturating_sub(4)..).unwrap_or("")
    }

    /// The masked form `+4670*****67`, safe for logs.
    pub fn masked(&self) -> String {
        let n = self.e164.len();
        let head = self.e164.get(..5).unwrap_or("");
        let tail = self.e164.get(n.saturating_sub(2)..).unwrap_or("");
        format!("{head}{}{tail}", "*".repeat(n.saturating_sub(7)))
    }

    /// True for 07x mobile numbers (can receive SMS).
    pub fn is_mobile(&self) -> bool {
        let nsn = self.e164.get(3..).unwrap_or("");
        MOBILE_PREFIXES.iter().any(|p| nsn.starts_with(p))
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl FromStr for PhoneNumber {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PhoneNumber::parse(s)
    }
}

/// Serialises as E.164: for storage and staff APIs only.
impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.e164)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PhoneNumber::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(input: &str) -> PhoneErrorKind {
        PhoneNumber::parse(input).unwrap_err().kind()
    }

    #[test]
    fn common_swedish_forms_normalise_to_e164() {
        for input in [
            "070-123 45 67",
            "0701234567",
            "+46701234567",
            "0046701234567",
            "46701234567",
            "+46 (0)70-123 45 67",
            "+46 070 123 45 67",
        ] {
            assert_eq!(
                PhoneNumber::parse(input).unwrap().e164(),
                "+46701234567",
                "{input}"
            );
        }
    }

    #[test]
    fn landlines_of_seven_to_nine_digits_are_accepted() {
        assert_eq!(
            PhoneNumber::parse("08-123 456 78").unwrap().e164(),
            "+46812345678"
        );
        assert_eq!(
            PhoneNumber::parse("08-12 34 56").unwrap().e164(),
            "+468123456"
        );
        assert_eq!(
            PhoneNumber::parse("031-12 34 56").unwrap().e164(),
            "+4631123456"
        );
        assert_eq!(
            PhoneNumber::parse("0920-12 34 56").unwrap().e164(),
            "+46920123456"
        );
    }

    #[test]
    fn caller_id_user_parts_are_understood() {
        for input in [
            "sip:+46701234567@trunk.example;user=phone",
            "<sip:0701234567@10.0.0.1>",
            "tel:+46701234567",
            "SIP:46701234567@host",
            "+46701234567",
        ] {
            assert_eq!(
                PhoneNumber::from_caller_id(input).unwrap().e164(),
                "+46701234567",
                "{input}"
            );
        }
        for input in [
            "sip:anonymous@anonymous.invalid",
            "Anonymous",
            "",
            "sip:@host",
        ] {
            assert_eq!(
                PhoneNumber::from_caller_id(input).unwrap_err().kind(),
                PhoneErrorKind::Withheld,
                "{input}"
            );
        }
    }

    #[test]
    fn too_short_error_names_the_input_and_gives_an_example() {
        let e = PhoneNumber::parse("0700").unwrap_err();
        assert_eq!(
            e.to_string(),
            "callback number \"0700\" is too short: expected a Swedish number like 0701234567 or +46701234567"
        );
        assert!(!format!("{e:?}").contains("0700"));
    }

    #[test]
    fn refused_kinds_are_reported() {
        assert_eq!(kind("+4791234567"), PhoneErrorKind::NotSwedish);
        assert_eq!(kind("004791234567"), PhoneErrorKind::NotSwedish);
        assert_eq!(kind("0900-123 45 67"), PhoneErrorKind::PremiumRate);
        assert_eq!(kind("0939-12 34 56"), PhoneErrorKind::PremiumRate);
        assert_eq!(kind("0944-12 34 56"), PhoneErrorKind::PremiumRate);
        assert_eq!(kind("0771-12 34 56"), PhoneErrorKind::SharedCost);
        assert_eq!(kind("020-12 34 56"), PhoneErrorKind::ServiceNumber);
        assert_eq!(kind("112"), PhoneErrorKind::ShortNumber);
        assert_eq!(kind("1177"), PhoneErrorKind::ShortNumber);
        assert_eq!(kind("07012345678"), PhoneErrorKind::TooLong);
        assert_eq!(kind("070123456"), PhoneErrorKind::TooShort);
        assert_eq!(kind("08-12345"), PhoneErrorKind::TooShort);
        assert_eq!(kind("08-1234567890"), PhoneErrorKind::TooLong);
        assert_eq!(kind("0701abc567"), PhoneErrorKind::InvalidCharacter);
        assert_eq!(kind("   "), PhoneErrorKind::Empty);
        assert_eq!(kind("7012345678"), PhoneErrorKind::MissingPrefix);
    }

    #[test]
    fn reading_back_and_masking() {
        let p = PhoneNumber::parse("070-123 45 67").unwrap();
        assert_eq!(p.national_digits(), "0701234567");
        assert_eq!(p.last_four(), "4567");
        assert_eq!(p.to_string(), "+4670*****67");
        assert_eq!(format!("{p:?}"), "PhoneNumber(+4670*****67)");
        assert!(p.is_mobile());
    }

    #[test]
    fn hostile_input_never_panics_and_errors_stay_short() {
        let long = "9".repeat(10_000);
        let e = PhoneNumber::parse(&long).unwrap_err();
        assert!(e.to_string().len() < 200);
        for input in [
            "+",
            "++46",
            "00",
            "0",
            "46",
            "+46",
            "sip:",
            "tel:+",
            "\u{0}\u{7}",
            "ÅÄÖ07012",
        ] {
            let _ = PhoneNumber::parse(input);
            let _ = PhoneNumber::from_caller_id(input);
        }
    }

    #[test]
    fn serde_uses_e164() {
        let p = PhoneNumber::parse("0701234567").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"+46701234567\"");
        let back: PhoneNumber = serde_json::from_str("\"070-123 45 67\"").unwrap();
        assert_eq!(back, p);
        assert!(serde_json::from_str::<PhoneNumber>("\"0900123456\"").is_err());
    }
}
