//! Swedish personal identity numbers (personnummer) and coordination numbers
//! (samordningsnummer, day + 60).
//!
//! Stored as the 12 digits `YYYYMMDDNNNC`; shown (`Debug`, `Display`) only as
//! `YYYYMMDD-****` so the number never reaches a log.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a personnummer was refused. Never contains the number itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonnummerError {
    /// Not 10 or 12 digits (separators `-`/`+` and spaces allowed).
    #[error("personnummer must have 12 digits like 19900101-1234 (or 10 digits like 900101-1234)")]
    Format,
    /// A 10-digit number needs today's date to know its century.
    #[error("personnummer has 10 digits: give all 12 digits like 19900101-1234")]
    CenturyNeeded,
    /// Month or day impossible (day + 60 is allowed for samordningsnummer).
    #[error("personnummer has an impossible birth date: check year, month and day")]
    Date,
    /// The birth date lies after today.
    #[error("personnummer has a birth date in the future: check the year")]
    Future,
    /// The Luhn check digit (the last digit) does not match.
    #[error("personnummer check digit is wrong: check the last four digits")]
    Checksum,
}

/// A validated personnummer or samordningsnummer.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Personnummer {
    /// Exactly 12 ASCII digits.
    digits: String,
}

impl Personnummer {
    /// Parses the 12-digit form (`199001011234`, `19900101-1234`). A 10-digit
    /// form gives [`PersonnummerError::CenturyNeeded`]; use [`Personnummer::parse_on`].
    pub fn parse(input: &str) -> Result<Self, PersonnummerError> {
        let (digits, _plus) = split(input)?;
        if digits.len() == 10 {
            return Err(PersonnummerError::CenturyNeeded);
        }
        Self::from_twelve(&digits, None)
    }

    /// Parses 12- or 10-digit forms; `today` decides the century of a 10-digit
    /// number (`+` as separator means 100 years or older) and rejects future dates.
    pub fn parse_on(input: &str, today: NaiveDate) -> Result<Self, PersonnummerError> {
        let (digits, plus) = split(input)?;
        if digits.len() == 12 {
            return Self::from_twelve(&digits, Some(today));
        }
        let yy: i32 = digits
            .get(0..2)
            .and_then(|s| s.parse().ok())
            .ok_or(PersonnummerError::Format)?;
        let mut year = today.year() - today.year().rem_euclid(100) + yy;
        if year > today.year() {
            year -= 100;
        }
        if plus {
            year -= 100;
        }
        let rest = digits.get(2..).ok_or(PersonnummerError::Format)?;
        let pnr = Self::from_twelve(&format!("{year:04}{rest}"), Some(today));
        // A same-year birthday later this year means the previous century.
        match pnr {
            Err(PersonnummerError::Future) if !plus => {
                Self::from_twelve(&format!("{:04}{rest}", year - 100), Some(today))
            }
            other => other,
        }
    }

    fn from_twelve(digits: &str, today: Option<NaiveDate>) -> Result<Self, PersonnummerError> {
        if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PersonnummerError::Format);
        }
        let num = |r: std::ops::Range<usize>| -> Result<u32, PersonnummerError> {
            digits
                .get(r)
                .and_then(|s| s.parse().ok())
                .ok_or(PersonnummerError::Format)
        };
        let year = num(0..4)? as i32;
        let month = num(4..6)?;
        let mut day = num(6..8)?;
        if day > 60 {
            day -= 60;
        }
        if year < 1850 {
            return Err(PersonnummerError::Date);
        }
        let born = NaiveDate::from_ymd_opt(year, month, day).ok_or(PersonnummerError::Date)?;
        if let Some(today) = today {
            if born > today {
                return Err(PersonnummerError::Future);
            }
        }
        let tail = digits.get(2..).ok_or(PersonnummerError::Format)?;
        if !luhn_ok(tail) {
            return Err(PersonnummerError::Checksum);
        }
        Ok(Personnummer {
            digits: digits.to_owned(),
        })
    }

    /// The 12 digits `YYYYMMDDNNNC`, for storage. Never log this.
    pub fn as_str(&self) -> &str {
        &self.digits
    }

    /// The 12 digits as numbers 0-9, for storage formats that want them.
    pub fn digits(&self) -> [u8; 12] {
        let mut out = [0u8; 12];
        for (o, b) in out.iter_mut().zip(self.digits.bytes()) {
            *o = b - b'0';
        }
        out
    }

    /// True for a samordningsnummer (day of month + 60).
    pub fn is_coordination_number(&self) -> bool {
        self.digits.get(6..7).is_some_and(|d| d >= "6")
    }

    /// The date of birth (the real day for a samordningsnummer).
    pub fn birth_date(&self) -> NaiveDate {
        let n = |r: std::ops::Range<usize>| -> u32 {
            self.digits.get(r).and_then(|s| s.parse().ok()).unwrap_or(1)
        };
        let mut day = n(6..8);
        if day > 60 {
            day -= 60;
        }
        // Validated at construction, so this fallback is never taken.
        NaiveDate::from_ymd_opt(n(0..4) as i32, n(4..6), day).unwrap_or_default()
    }

    /// The masked form `YYYYMMDD-****`, safe for logs and screens without rights.
    pub fn masked(&self) -> String {
        format!("{}-****", self.digits.get(0..8).unwrap_or("????????"))
    }
}

/// Strips separators; returns the digits and whether `+` (100 years or older) was used.
fn split(input: &str) -> Result<(String, bool), PersonnummerError> {
    let mut digits = String::with_capacity(12);
    let mut plus = false;
    let mut separators = 0;
    for c in input.trim().chars() {
        match c {
            '0'..='9' => digits.push(c),
            '-' | '+' => {
                separators += 1;
                plus = c == '+';
                // The separator goes before the last four digits.
                if digits.len() != 6 && digits.len() != 8 {
                    return Err(PersonnummerError::Format);
                }
            }
            ' ' => {}
            _ => return Err(PersonnummerError::Format),
        }
        if digits.len() > 12 {
            return Err(PersonnummerError::Format);
        }
    }
    if separators > 1 || (digits.len() != 10 && digits.len() != 12) || (plus && digits.len() == 12)
    {
        return Err(PersonnummerError::Format);
    }
    Ok((digits, plus))
}

/// The Luhn (mod 10) check over `YYMMDDNNNC`.
fn luhn_ok(ten: &str) -> bool {
    if ten.len() != 10 {
        return false;
    }
    let sum: u32 = ten
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            let p = if i % 2 == 0 { d * 2 } else { d };
            p / 10 + p % 10
        })
        .sum();
    sum.is_multiple_of(10)
}

impl fmt::Display for Personnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for Personnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Personnummer({})", self.masked())
    }
}

impl FromStr for Personnummer {
    type Err = PersonnummerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Personnummer::parse(s)
    }
}

/// Serialises as the full 12 digits: for storage and staff APIs only.
impl Serialize for Personnummer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.digits)
    }
}

impl<'de> Deserialize<'de> for Personnummer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Personnummer::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 15).unwrap()
    }

    #[test]
    fn twelve_digit_forms_parse_to_the_same_number() {
        // Skatteverket's test number 19121212-1212.
        for input in ["191212121212", "19121212-1212", " 19121212 1212 "] {
            let p = Personnummer::parse(input).unwrap();
            assert_eq!(p.as_str(), "191212121212");
        }
    }

    #[test]
    fn display_and_debug_mask_the_last_four() {
        let p = Personnummer::parse("19121212-1212").unwrap();
        assert_eq!(p.to_string(), "19121212-****");
        let dbg = format!("{p:?}");
        assert!(dbg.contains("19121212-****"));
        assert!(!dbg.contains("1212121212"));
    }

    #[test]
    fn wrong_check_digit_is_refused() {
        assert_eq!(
            Personnummer::parse("19121212-1213"),
            Err(PersonnummerError::Checksum)
        );
    }

    #[test]
    fn impossible_dates_are_refused() {
        // 1990-02-30 with a made-valid check digit would still be refused on date.
        assert_eq!(
            Personnummer::parse("19900230-1234"),
            Err(PersonnummerError::Date)
        );
        assert_eq!(
            Personnummer::parse("19901301-1234"),
            Err(PersonnummerError::Date)
        );
    }

    #[test]
    fn samordningsnummer_day_plus_sixty_is_accepted() {
        // 1990-01-01 as coordination number: day 61. Check digit computed below.
        let base = "9001611234";
        let check = (0..10)
            .find(|c| luhn_ok(&format!("{}{}", &base[..9], c)))
            .unwrap();
        let s = format!("19{}{}", &base[..9], check);
        let p = Personnummer::parse(&s).unwrap();
        assert!(p.is_coordination_number());
        assert_eq!(p.birth_date(), NaiveDate::from_ymd_opt(1990, 1, 1).unwrap());
    }

    #[test]
    fn ten_digit_form_needs_today_for_the_century() {
        assert_eq!(
            Personnummer::parse("121212-1212"),
            Err(PersonnummerError::CenturyNeeded)
        );
        let p = Personnummer::parse_on("121212-1212", today()).unwrap();
        assert_eq!(p.as_str(), "201212121212");
        let old = Personnummer::parse_on("121212+1212", today()).unwrap();
        assert_eq!(old.as_str(), "191212121212");
    }

    #[test]
    fn future_birth_dates_are_refused_with_today() {
        // 2030-12-12: valid Luhn tail 301212... find a check digit that passes.
        let tail9 = "301212121";
        let c = (0..10).find(|c| luhn_ok(&format!("{tail9}{c}"))).unwrap();
        let s = format!("20{tail9}{c}");
        assert!(Personnummer::parse(&s).is_ok());
        assert_eq!(
            Personnummer::parse_on(&s, today()),
            Err(PersonnummerError::Future)
        );
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        for input in [
            "",
            "abc",
            "1912121212",
            "19121212--1212",
            "1912121212121",
            "ÅÄÖ",
            "19121212+1212",
            "191-2121212",
        ] {
            assert!(Personnummer::parse(input).is_err(), "{input}");
            let _ = Personnummer::parse_on(input, today());
        }
    }

    #[test]
    fn errors_never_contain_the_input() {
        let e = Personnummer::parse("19121212-1213").unwrap_err();
        assert!(!e.to_string().contains("1213"));
    }

    #[test]
    fn serde_round_trips_the_full_number() {
        let p = Personnummer::parse("191212121212").unwrap();
        let j = serde_json::to_string(&p).unwrap();
        assert_eq!(j, "\"191212121212\"");
        let back: Personnummer = serde_json::from_str(&j).unwrap();
        assert_eq!(back, p);
    }
}
