//! The HTTP adapters, one module per channel. Each handler parses its request into domain types,
//! calls one issuer function and maps the outcome; nothing else.

pub mod admin;
pub mod app;
pub mod atm;
pub mod branch;
pub mod public;
pub mod sms;
pub mod switch;

/// RFC 3339 of a unix-ms time.
pub fn rfc3339(ms: i64) -> String {
    pooya_issuer::clock::rfc3339(ms)
}
