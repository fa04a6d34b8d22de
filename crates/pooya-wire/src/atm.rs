//! ATM (role `atm`): the holder at an ATM, card inserted. Every body carries the PAN and the PIN
//! (the static PIN, or a dynamic first password where the card has one).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::ZeroizeOnDrop;

use crate::branch::Dynamic;

/// `POST /v1/atm/deactivate` and `POST /v1/atm/block-second-password`. Its secrets are wiped
/// when it is dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, ZeroizeOnDrop)]
pub struct CardAndPin {
    pub pan: String,
    /// 4 to 10 digits: the static PIN or a dynamic first password.
    pub pin: String,
}

/// `POST /v1/atm/activate-app` and `POST /v1/atm/activate-sms`. Its secrets are wiped when it is
/// dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, ZeroizeOnDrop)]
pub struct Activate {
    pub pan: String,
    /// 4 to 10 digits: the static PIN or a dynamic first password.
    pub pin: String,
    /// The registered mobile, in any accepted form.
    pub mobile: String,
}

/// 200 to `POST /v1/atm/activate-app`. Its code is wiped when it is dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, ZeroizeOnDrop)]
pub struct AppActivation {
    /// The code printed on the receipt (the other one goes by SMS to the registered mobile).
    pub receipt_code: String,
    /// When the activation dies, RFC 3339.
    pub expires_at: String,
}

/// 200 to `POST /v1/atm/activate-sms`. Its secrets are wiped when it is dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, ZeroizeOnDrop)]
pub struct SmsActivation {
    /// 4 digits.
    pub fixed_part: String,
    pub receipt_text: String,
}

/// 200 to `POST /v1/atm/deactivate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Deactivated {
    /// Always `{"mode": "none", "state": "inactive"}`.
    pub dynamic: Dynamic,
}
