//! pooya's HTTP contract, written once: every request and response body of the API
//! (`shared/design/API.md` and the project's additions in `docs/api.md`) as serde types that
//! carry their OpenAPI schema (utoipa `ToSchema`), the error body, the enums as the wire spells
//! them, and what a card number looks like ([`card_number`]). The server parses requests into
//! these types and answers with them, its OpenAPI document is generated from them, and the app,
//! the load tool and the tests build and read bodies with them, so a changed field changes every
//! side at once. No I/O and no async runtime: the crate also builds for
//! `wasm32-unknown-unknown`.
//!
//! One module per channel, as the server's routes: [`branch`], [`atm`], [`sms`], [`switch`],
//! [`admin`], [`app`], [`public`]; [`error`] is the refusal every endpoint may answer.
//!
//! Fields that hold what a value must be (a PAN, a mobile number, a kind of password) are kept as
//! the text the client sent: a wrong value is the server's 422 with its own code, while a body
//! that does not parse into these types is 400 `bad_request`.

pub mod admin;
pub mod app;
pub mod atm;
pub mod branch;
pub mod card_number;
pub mod error;
pub mod public;
pub mod sms;
pub mod switch;

pub use error::{ErrorBody, ErrorDetail};
pub use switch::PasswordKind;
