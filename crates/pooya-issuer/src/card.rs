//! A card and its dynamic-password service: the state machine of the issuer.
//!
//! ```text
//!                      ATM activate-app (R8)            app enrollment confirmed (R16)
//!   ┌──────────────┐ ───────────────────────▶ ┌─────────────┐ ─────────────────────▶ ┌────────────┐
//!   │ none/inactive│                          │ app/pending │                        │ app/active │
//!   └──────────────┘ ◀─────────────────────── └─────────────┘                        └────────────┘
//!      ▲   │      activation expired (24 h) or its 30 runs used up                     │
//!      │   │                                                                           │
//!      │   │ ATM activate-sms (R20)           ┌────────────┐                           │
//!      │   └────────────────────────────────▶ │ sms/active │                           │
//!      │                                      └────────────┘                           │
//!      │                                            │  5 wrong passwords in 24 h (R5)  │
//!      │                                            ▼                                  ▼
//!      │                                      ┌─────────────────────────────────────────┐
//!      │                                      │ mode/locked: token or fixed part dead;  │
//!      │                                      │ every password refused (75) until the   │
//!      │                                      │ holder activates again at an ATM        │
//!      │                                      └─────────────────────────────────────────┘
//!      │ ATM deactivate (R10), from any state: static second password works again
//!      │ app removes its token, or the customer's mobile changes (R12): token dead
//!   any state ── ATM activate-app / activate-sms ──▶ replaces everything: old token, codes and
//!                                                    fixed part die, failures reset (R5, docs/api.md)
//!
//!   any state but locked ── switch otp-request (R24) ──▶ the same state, plus one transaction code
//!     (refused for a blocked second password or an expired card)
//!
//!   transaction code:  issued ─┬─ verify of its own transaction ──▶ used (used again: replayed)
//!                              ├─ verify of another transaction ──▶ wrong_transaction; stays
//!                              ├─ lifetime passed ──▶ expired (expired_password), forgotten later
//!                              └─ same otp-request after sms.request_interval_secs ──▶ replaced
//!   every transaction code dies with a lock, an ATM activation or deactivation, or a change of
//!   the mobile number it was sent to (R12)
//! ```
//!
//! Second passwords a `verify` of kind second accepts, tried in this order:
//! 1. a transaction code (R24), whatever the mode: typed for its own transaction (same id, amount
//!    and merchant) it approves once within its lifetime; typed for any other transaction it is
//!    `wrong_transaction`, used it is `replayed`, late it is `expired_password` — each a failure
//!    (R5). A transaction code is `otp.second_digits` (8) random digits sent to the registered
//!    mobile, kept only as a keyed MAC bound to the card and the transaction; it stands beside
//!    the app's token or the SMS channel's fixed and variable parts and replaces neither;
//! 2. the card's own channel: the app token's code (mode app) or fixed part + variable part
//!    (mode sms);
//! 3. the static second password, where no dynamic service ever disabled it (R9).
//!
//! Hardware tokens (PSKC import, `POST /v1/admin/pskc`): from any state, an import replaces the
//! card's service like an ATM activation does and leaves it `app/active` with a
//! [`HardwareToken`] in place of the app's token. Its key is used exactly as the file gives it
//! (standard RFC 4226 / RFC 6238 codes of the file's digits, algorithm and time step; no
//! derivation) and serves the *second* password only; the first password of such a card is the
//! static PIN. TOTP: the server's skew tolerance, each step once. HOTP: a code among the next
//! `hardware.hotp_look_ahead` counter values is accepted and moves the counter past it; a code
//! further on, within `hardware.hotp_resync_window`, is refused (`wrong_password`, a failure) but
//! remembered, and when the very next second-password verification brings the code that follows
//! it, that one is approved and the counter resynchronised (two consecutive codes). The file's
//! policy is the token's state (RFC 6030 §5): outside its start and expiry dates, or once it has
//! approved its `NumberOfTransactions` codes, every code is refused `TokenNotValid` without being
//! looked at and without counting toward R5; a `CheckDigits` token's codes end in their Luhn digit;
//! a `TimeDrift` shifts the TOTP steps to the token's clock. A lock (R5)
//! or an ATM activation or deactivation kills the hardware token like any token; a change of
//! mobile number (R12) does not, as the token was never issued on a number.
//!
//! Beside the service, two flags: `second_blocked` (R11: the holder blocked the second password at
//! an ATM; only a branch unblocks) and `static_second_disabled` (R9: set when the dynamic second
//! password becomes active, cleared only by an ATM deactivation, so removing the app's token or a
//! lock never brings the phishable static password back). And the PIN lock (`card/pin_lock.rs`):
//! too many wrong first passwords and ATM PINs over weeks refuse the 4 digits until a branch
//! lifts it.
//!
//! The boxes of the drawing are the variants of [`Service`], each holding exactly its data: none,
//! app pending (the [`Activation`]), app (the [`AppToken`]), hardware (the [`HardwareToken`],
//! shown as app/active), SMS (the [`SmsService`]) and locked (the mode it is shown under). What
//! outlives a change of service — failures, transaction codes, the flags above — sits beside it in
//! [`DynamicService`]. The stored document keeps the shape it had before (`card/document.rs`).
//!
//! Every function here is a pure decision over the record and a time `now` (unix ms): it mutates a
//! copy that the issuer then commits with a version check, so two servers deciding at once cannot
//! both win. The modules:
//! - `record`: the [`CardRecord`] and what it says of itself (mode and state, number tails,
//!   expiry, the associated data of its sealed values);
//! - `service`, `document`, `b64`: the service and its credentials, and their stored form;
//! - `verdict`: what the decisions answer ([`Verdict`]) and each channel's refusals;
//! - `verify`: the verification decisions, and the ATM's PIN check;
//! - `atm`, `app`, `sms`, `switch`, `branch`, `admin`, `pin_lock`: the operations of each channel
//!   on the card, as the issuer's modules and the server's routes are split.

mod admin;
mod app;
mod atm;
mod b64;
mod branch;
mod document;
mod pin_lock;
mod record;
mod service;
mod sms;
mod switch;
#[cfg(test)]
mod tests;
mod verdict;
mod verify;

pub use admin::HardwareKey;
pub use app::{EnrollReply, EnrollStarted, LiveRun};
pub use atm::ActivationCodes;
pub use record::{CardRecord, PAN_TAIL_MAX, PAN_TAIL_MIN};
pub use service::{
    Activation, AppToken, DynamicService, HardwareKind, HardwareToken, Mode, RemovalChallenge,
    Service, ServiceState, SmsService, TxnCode, VariablePart,
};
pub use switch::{TxnCodeIssue, MAX_TXN_CODES};
pub use verdict::{AppRefusal, AtmRefusal, TxnRefusal, Verdict};
