//! Branch (role `branch`): in-person registration of customers and cards.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::ZeroizeOnDrop;

/// `POST /v1/customers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NewCustomer {
    /// The bank's id of the customer: 1 to 64 letters, digits, `-`, `_` or `.`.
    pub customer_id: String,
    /// `09121234567`, `9121234567`, `989121234567` or `+989121234567`.
    pub mobile: String,
}

/// 201 to `POST /v1/customers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    pub customer_id: String,
    /// Always in the form `09121234567`.
    pub mobile: String,
}

/// `PUT /v1/customers/{customer_id}/mobile`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NewMobile {
    pub mobile: String,
}

/// 200 to `PUT /v1/customers/{customer_id}/mobile`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MobileChanged {
    /// Always in the form `09121234567`.
    pub mobile: String,
    /// App tokens revoked by the change (R12).
    pub revoked_tokens: u64,
}

/// `POST /v1/cards`. Its secrets are wiped when it is dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, ZeroizeOnDrop)]
pub struct NewCard {
    /// 16 to 19 digits passing the Luhn check.
    pub pan: String,
    pub customer_id: String,
    /// `YYMM`.
    pub expiry: String,
    /// 4 digits.
    pub pin: String,
    /// 5 to 12 digits.
    pub second_password: String,
}

/// 201 to `POST /v1/cards`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CardCreated {
    /// The first 6 and last 4 digits.
    pub pan_masked: String,
}

/// The card's dynamic-password channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DynamicMode {
    None,
    App,
    Sms,
}

impl DynamicMode {
    /// `none`, `app` or `sms`.
    pub fn as_str(self) -> &'static str {
        match self {
            DynamicMode::None => "none",
            DynamicMode::App => "app",
            DynamicMode::Sms => "sms",
        }
    }
}

/// Where the card's dynamic service stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DynamicState {
    Inactive,
    Pending,
    Active,
    Locked,
}

impl DynamicState {
    /// `inactive`, `pending`, `active` or `locked`.
    pub fn as_str(self) -> &'static str {
        match self {
            DynamicState::Inactive => "inactive",
            DynamicState::Pending => "pending",
            DynamicState::Active => "active",
            DynamicState::Locked => "locked",
        }
    }
}

/// The card's dynamic service: its channel and its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Dynamic {
    pub mode: DynamicMode,
    pub state: DynamicState,
}

impl Dynamic {
    /// No dynamic service: `{"mode": "none", "state": "inactive"}`.
    pub const NONE: Dynamic = Dynamic {
        mode: DynamicMode::None,
        state: DynamicState::Inactive,
    };
}

/// The card's static second password (R9): `enabled` until a dynamic second password first
/// becomes active, `disabled` from then on, until an ATM deactivation. Apart from
/// `second_password_blocked` (R11, the holder's block of every second password).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StaticSecondPassword {
    Enabled,
    Disabled,
}

/// 200 to `GET /v1/cards/{pan}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CardView {
    /// The first 6 and last 4 digits.
    pub pan_masked: String,
    pub customer_id: String,
    pub dynamic: Dynamic,
    pub second_password_blocked: bool,
    /// Failures counted in the window of R5.
    pub recent_failures: u64,
    /// Too many wrong first passwords and ATM PINs: only a branch unlocks it.
    pub pin_locked: bool,
    /// Whether the static second password still works (R9).
    pub static_second_password: StaticSecondPassword,
    /// Only for a card whose second password is a hardware token (PSKC import): what its file
    /// allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub hardware_token: Option<HardwareToken>,
}

/// A hardware token imported from a PSKC file, and what the file's policy (RFC 6030 §5) lets it
/// do: outside its dates or past its number of transactions every code is refused (`55
/// token_not_valid`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HardwareToken {
    /// The token's serial number, as the file gives it.
    pub serial: String,
    /// `hotp` or `totp`.
    pub kind: String,
    /// No code before this instant (RFC 3339); absent: no start date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub start_date: Option<String>,
    /// No code after this instant (RFC 3339); absent: no expiry date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub expiry_date: Option<String>,
    /// Codes it may still approve (`Policy/NumberOfTransactions` less those used); absent: no
    /// limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub transactions_left: Option<u64>,
    /// Whether a code of it can be approved now: inside its dates, with transactions left.
    pub usable: bool,
}

/// 200 to `POST /v1/cards/{pan}/second-password/unblock` (and the ATM's block).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecondPasswordStatus {
    pub second_password_blocked: bool,
}

/// 200 to `POST /v1/cards/{pan}/pin/unlock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PinStatus {
    pub pin_locked: bool,
}
