//! What a vault holds once opened: the tokens and the issuers' clocks.

use serde::{Deserialize, Serialize};

use super::secret::{SecretBytes, SecretString};
use crate::clock::IssuerClock;

/// One enrolled card: everything needed to make its codes offline and to remove it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Token {
    /// The user's name for the card, unique within the vault.
    pub label: String,
    /// The server's id of the token.
    pub token_id: String,
    /// The server the token was enrolled with (base URL, no trailing slash): its issuer.
    pub server: String,
    /// The issuing bank's name as the server gave it.
    pub bank_name: String,
    /// The full card number. Only ever stored inside the ciphertext; never printed.
    pub pan: SecretString,
    /// The masked card number (first 6 and last 4 digits), safe to show.
    pub pan_masked: String,
    /// The enrollment seed; both password keys derive from it.
    pub seed: SecretBytes,
    /// Lifetime of one code, in seconds (the TOTP step), as the server gave it.
    pub lifetime_secs: u32,
    /// The TOTP hash: "SHA1", "SHA256" or "SHA512".
    pub algorithm: String,
    /// Digits of the first password (the dynamic PIN).
    pub first_digits: u8,
    /// Digits of the second password.
    pub second_digits: u8,
    /// When the token was added, Unix time in milliseconds (local clock).
    pub added_at_unix_ms: i64,
}

impl Token {
    /// Last 4 digits of the card number.
    pub fn last4(&self) -> &str {
        let pan = self.pan.expose();
        // By characters: a vault this app wrote holds ASCII digits, but one doctored (or written
        // by another app) must not crash it.
        let start = pan.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
        &pan[start..]
    }
}

/// The decrypted plaintext of a vault.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct VaultContents {
    /// The cards, in the order they were added.
    pub tokens: Vec<Token>,
    /// The clock of each issuer (server URL) as last measured (R19).
    #[serde(default)]
    pub clocks: Vec<IssuerClock>,
    /// The tokens (by id) whose issuer said at the last `sync` that they are no longer in force.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_in_force: Vec<String>,
}
