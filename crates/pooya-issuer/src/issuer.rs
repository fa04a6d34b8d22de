//! The issuer: each operation of the bank's channels as one function over domain types, one
//! module per channel as the server's routes are split (`branch`, `atm`, `sms`, `switch`, `app`,
//! `admin`, `public`). Each reads what it needs from the [`Store`](crate::store::Store), lets the
//! card decide (see [`crate::card`]), and commits the decision with everything it causes — audit
//! record, SMS, verification record — as one transaction guarded by the versions it read. A
//! concurrent change makes the commit fail and the operation decide again on fresh data
//! (`base.rs`, `Issuer::commit_with_retry`); nothing is ever half done.

mod admin;
mod app;
mod atm;
mod base;
mod branch;
mod desk;
mod public;
mod sms;
mod staff;
mod switch;

pub use app::{EnrollmentParameters, EnrollmentStarted, RemovalChallengeIssued, TokenIssued};
pub use atm::{AppActivationIssued, SmsActivationIssued};
pub use base::Issuer;
pub use branch::{CardView, HardwareView};
pub use desk::{CardPage, CustomerPage};
pub use sms::normalize_sms_digits;
pub use staff::{FourEyesRefusal, MobileChangeAsked, OperatorAdded, StaffPolicy};
pub use switch::{OtpRequested, VerifyOutcome};

pub use crate::error::IssuerError;
