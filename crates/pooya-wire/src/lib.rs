//! pooya's HTTP contract, written once: every request and response body of the API
//! (`docs/api.md`) as serde types that carry their OpenAPI schema (utoipa `ToSchema`), the error body, the enums as the wire spells
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn json_of(v: &impl serde::Serialize) -> serde_json::Value {
        serde_json::to_value(v).unwrap()
    }

    /// Absent stays absent and null stays null, as the answers have always been.
    #[test]
    fn absent_and_null_as_the_contract_has_them() {
        let plain = ErrorBody {
            error: ErrorDetail::new("unknown_card", "no such card"),
        };
        assert_eq!(
            json_of(&plain),
            json!({"error": {"code": "unknown_card", "message": "no such card"}})
        );
        let mut limited = ErrorDetail::new("rate_limited", "wait");
        limited.retry_after_secs = Some(7);
        assert_eq!(
            json_of(&limited),
            json!({"code": "rate_limited", "message": "wait", "retry_after_secs": 7})
        );
        let outbox = admin::OutboxSummary {
            queued: 0,
            oldest_age_ms: None,
            retrying: 0,
            failed_attempts: 0,
            given_up: 0,
            refused: 0,
            sent: 3,
        };
        assert_eq!(json_of(&outbox)["oldest_age_ms"], serde_json::Value::Null);
        assert_eq!(json_of(&outbox).as_object().unwrap().len(), 7);
        let healthy = public::Health {
            status: public::HealthStatus::Ok,
            error: None,
        };
        assert_eq!(json_of(&healthy), json!({"status": "ok"}));
        assert_eq!(
            json_of(&atm::Deactivated {
                dynamic: branch::Dynamic::NONE
            }),
            json!({"dynamic": {"mode": "none", "state": "inactive"}})
        );
    }

    /// A client's request without the optional fields is the body it always sent.
    #[test]
    fn optional_request_fields_are_left_out() {
        let start = app::EnrollmentStart {
            pan: "6280231234567898".into(),
            spake_msg: "AAAA".into(),
            lifetime_secs: None,
        };
        assert_eq!(
            json_of(&start),
            json!({"pan": "6280231234567898", "spake_msg": "AAAA"})
        );
        let txn = switch::OtpTxn {
            id: "T1".into(),
            amount: 5,
            merchant: "Shop".into(),
            kind: Some("bill".into()),
        };
        assert_eq!(json_of(&txn)["type"], "bill");
        assert_eq!(json_of(&public::MoveClock::default()), json!({}));
        // And the server reads a body without them, or with null.
        let read: public::MoveClock = serde_json::from_value(json!({"advance_ms": null})).unwrap();
        assert_eq!(read, public::MoveClock::default());
    }

    #[test]
    fn password_kinds_as_the_wire_spells_them() {
        for kind in [PasswordKind::First, PasswordKind::Second] {
            assert_eq!(PasswordKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(PasswordKind::parse("First"), None);
        assert_eq!(PasswordKind::parse(""), None);
    }
}
