//! Payment switch (role `switch`): verification of the password a holder typed for a
//! transaction, and the unified transaction SMS a payment page asks for (R24). A declined
//! transaction is an answer, not an error: 200 with its ISO 8583 response code.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::ZeroizeOnDrop;

/// Which of the card's two passwords (R1): one definition, pooya-otp's (the issuer and the app
/// derive each password's key from it), spelled `first` or `second` on the wire.
pub use pooya_otp::PasswordKind;

/// The schema of `kind`: the names [`PasswordKind::as_str`] gives, nothing else.
fn password_kind_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some("Which of the card's two passwords (R1)."))
        .enum_values(Some(
            [PasswordKind::First, PasswordKind::Second].map(PasswordKind::as_str),
        ))
        .build()
}

/// The payment a password is typed for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Txn {
    /// 1 to 64 printable ASCII characters; `/v1/verify` is idempotent on it for the same card.
    pub id: String,
    /// Whole rials, greater than zero.
    pub amount: i64,
    /// 1 to 100 characters, no control character.
    pub merchant: String,
}

/// `POST /v1/verify`. Its secrets are wiped when it is dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, ZeroizeOnDrop)]
pub struct VerifyRequest {
    pub pan: String,
    /// `first` or `second` (anything else: 422 `invalid_kind`).
    #[schema(schema_with = password_kind_schema)]
    pub kind: String,
    /// What the holder typed: a dynamic code, or the static password where the card has no
    /// dynamic service. 1 to 32 digits.
    pub password: String,
    #[zeroize(skip)]
    pub txn: Txn,
}

/// 200 to `POST /v1/verify`: the verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerifyResult {
    pub approved: bool,
    /// ISO 8583 field 39: `00`, `14`, `54`, `55`, `57` or `75`.
    pub response_code: String,
    /// `approved`, `unknown_card`, `expired_card`, `wrong_password`, `replayed`,
    /// `expired_password`, `static_password_disabled`, `wrong_transaction`, `token_not_valid`
    /// (a hardware token outside its dates or past its number of transactions; not counted
    /// toward the lock), `second_password_blocked` or `locked`.
    pub reason: String,
}

/// The payment a one-time second password is asked for (R24).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OtpTxn {
    pub id: String,
    /// Whole rials, greater than zero.
    pub amount: i64,
    pub merchant: String,
    /// `purchase` (default), `transfer`, `bill` or `topup`: named in the SMS (anything else:
    /// 422 `invalid_txn_type`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `POST /v1/otp-requests`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OtpRequest {
    pub pan: String,
    pub txn: OtpTxn,
}

/// 202 to `POST /v1/otp-requests`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OtpAccepted {
    /// Always true.
    pub accepted: bool,
    /// False when the same request came again within the interval and the code already sent
    /// stands.
    pub queued: bool,
    /// When the transaction's code dies, RFC 3339.
    pub expires_at: String,
}
