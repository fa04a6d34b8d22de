//! The pooya issuer core: the rules of dynamic passwords (R1–R26 of `shared/seed/RULES.md`) as
//! plain Rust over domain types. No HTTP and no SQL driver here; the database sits behind the
//! [`store::Store`] trait, implemented for SQLite and PostgreSQL by the `pooya-store-sql` crate.

pub mod at_rest;
pub mod audit;
pub mod card;
pub mod clock;
pub mod domain;
pub mod fsutil;
pub mod issuer;
pub mod jalali;
pub mod keys;
pub mod messages;
pub mod outbox;
pub mod policy;
mod resend;
pub mod store;

pub use issuer::{Issuer, IssuerError};
