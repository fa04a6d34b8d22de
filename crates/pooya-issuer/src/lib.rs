//! The pooya issuer core: the rules of dynamic passwords (R1–R26 of `shared/seed/RULES.md`) as
//! plain Rust over domain types. No HTTP here; the database sits behind the [`store::Store`] trait,
//! implemented for SQLite and PostgreSQL in [`sql`].

pub mod at_rest;
pub mod audit;
mod blocking;
pub mod card;
pub mod clock;
pub mod domain;
pub mod error;
pub mod fsutil;
pub mod issuer;
pub mod jalali;
pub mod keys;
pub mod messages;
pub mod policy;
mod resend;
pub mod sql;
pub mod store;

pub use error::IssuerError;
pub use issuer::Issuer;
