//! SMS gateway (role `sms`): messages the bank's short number receives. Replies leave through the
//! outbox, never in the answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/sms/inbound`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InboundSms {
    /// The sender's mobile, in any accepted form.
    pub from: String,
    /// The bank's short number, ASCII digits.
    pub to: String,
    pub text: String,
}

/// 202 to `POST /v1/sms/inbound`: always `{"accepted": true}`, whatever happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    pub accepted: bool,
}
