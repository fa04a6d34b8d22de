//! The pooya issuer core: the bank's rules of dynamic passwords (R1–R26 of
//! `docs/rules.md`) as plain Rust over domain types. A card's dynamic service is an enum
//! whose variants hold exactly their data, and every rule is a decision over a card and a time
//! ([`card`]); the [`Issuer`] runs each channel's operations (one module per channel, as the
//! server's routes are): it reads through the [`store::Store`] trait, lets the card decide, and
//! commits the decision with its audit record (a keyed hash chain, [`audit`]), its SMS and its
//! verification record in one transaction, deciding again after a lost race. No HTTP here: the
//! server maps [`IssuerError`] to statuses and codes; no SQL driver either: the `pooya-store-sql`
//! crate implements the `Store` for SQLite and PostgreSQL.

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
pub mod outbox;
pub mod policy;
mod resend;
pub mod store;

pub use error::IssuerError;
pub use issuer::Issuer;
