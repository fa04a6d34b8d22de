//! The authenticator app's own endpoints (no key): enrollment by SPAKE2 keyed by the two ATM
//! codes (R8, R16), token removal by proof of the seed, and whether a token is still in force. Binary values are base64url without
//! padding. The protocol: `pooya_enroll`'s module doc.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::ZeroizeOnDrop;

/// 200 to `GET /v1/app/enrollment-parameters`: the bank's settings, the same for every card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnrollmentParameters {
    /// `pooya-enroll-v2`.
    pub protocol: String,
    /// Digits of the receipt code the ATM prints.
    pub receipt_code_digits: u8,
    /// Digits of the code the SMS brings.
    pub sms_code_digits: u8,
    /// Enrollment runs one address may start for one card number within an activation's life.
    pub tries_per_address: u32,
}

/// `POST /v1/app/enrollments`. The card number is wiped when it is dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, ZeroizeOnDrop)]
pub struct EnrollmentStart {
    pub pan: String,
    /// The app's SPAKE2 message.
    pub spake_msg: String,
    /// The code lifetime the app asks for, in seconds; the bank's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_secs: Option<u32>,
}

/// 201 to `POST /v1/app/enrollments`: alike for every card number asked about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnrollmentStarted {
    pub enrollment_id: String,
    /// The server's SPAKE2 message.
    pub spake_msg: String,
    /// The server's key confirmation.
    pub confirm: String,
    /// Runs this address may still start for this card number.
    pub tries_left: u32,
}

/// `POST /v1/app/enrollments/{enrollment_id}/confirm`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnrollmentConfirm {
    /// The app's key confirmation.
    pub confirm: String,
}

/// 200 to `POST /v1/app/enrollments/{enrollment_id}/confirm`: the new token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenIssued {
    pub token_id: String,
    /// The first 6 and last 4 digits.
    pub pan_masked: String,
    pub bank_name: String,
    /// Seconds each code lives.
    pub lifetime_secs: u32,
    /// `SHA1`, `SHA256` or `SHA512`.
    pub algorithm: String,
    pub first_digits: u8,
    pub second_digits: u8,
    /// The server's clock when it answered, Unix ms.
    pub server_unix_ms: i64,
    /// HMAC-SHA256 of the fields above under a key of the run (pooya-enroll's `IssuedToken`):
    /// the app keeps the token only if it checks out.
    pub mac: String,
}

/// 200 to `POST /v1/app/tokens/{token_id}/removal-challenge`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RemovalChallenge {
    pub nonce: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// `POST /v1/app/tokens/{token_id}/removal`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Removal {
    /// The nonce of the challenge.
    pub nonce: String,
    /// The proof of the seed over the token id and the nonce.
    pub proof: String,
}

/// 200 to `POST /v1/app/tokens/{token_id}/removal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Removed {
    pub removed: bool,
}

/// `POST /v1/app/token-status`: is this token still the card's, in force? Proven by the seed, so
/// that only its holder learns the answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenStatusQuery {
    pub token_id: String,
    /// The server's clock as the app reckons it, unix milliseconds: within 300 s of the server's.
    pub at_ms: i64,
    /// The proof of the seed over the token id and `at_ms` (`pooya_enroll::status_proof`).
    pub proof: String,
}

/// 200 to `POST /v1/app/token-status`: `in_force` is true only for the card's current app token
/// and a right proof; a token replaced (a new activation, a hardware token), removed, locked
/// (R5) or never issued, and any wrong proof, all answer false alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenStatus {
    pub in_force: bool,
}
