//! Administration (role `admin`): the SMS outbox at a glance, and PSKC (RFC 6030) import of
//! hardware tokens.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::ZeroizeOnDrop;

/// 200 to `GET /v1/admin/outbox`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OutboxSummary {
    /// Messages neither sent nor given up.
    pub queued: i64,
    /// How long the oldest of them has waited, in ms; null when none is queued.
    #[schema(required = true)]
    pub oldest_age_ms: Option<i64>,
    /// Queued messages that failed at least once.
    pub retrying: i64,
    /// Failed attempts over all messages.
    pub failed_attempts: i64,
    /// Given up: their code expired before they could leave.
    pub given_up: i64,
    /// Refused, never sent: their sealed body did not open for their id and recipient (the row
    /// was altered).
    pub refused: i64,
    pub sent: i64,
}

/// `POST /v1/admin/pskc`. The file's keys, its password and pre-shared key are wiped when it is
/// dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, ZeroizeOnDrop)]
pub struct PskcImport {
    /// The `<KeyContainer>` as text.
    pub pskc: String,
    /// Serial number of each token → the PAN of the card it goes to.
    #[zeroize(skip)]
    pub assign: BTreeMap<String, String>,
    /// The pre-shared key of an encrypted file (RFC 6030 §6.1), in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preshared_key_hex: Option<String>,
    /// The password of a file encrypted with a PBKDF2-derived key (RFC 6030 §6.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// 200 to `POST /v1/admin/pskc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PskcImported {
    /// Keys imported.
    pub imported: u64,
}
