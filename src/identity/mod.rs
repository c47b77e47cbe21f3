//! Identity values that arrive from residents: the personnummer and the callback
//! phone number. One validator each, shared by the IVR, the API and the dialer.
//! Both types mask themselves in `Debug`/`Display` so they cannot leak into logs.

pub mod personnummer;
pub mod phone;

pub use personnummer::{Personnummer, PersonnummerError};
pub use phone::{PhoneError, PhoneErrorKind, PhoneNumber};
