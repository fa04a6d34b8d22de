//! Sample values for tests (this crate's, and `pooya-app`'s through the `test-support` feature).

use crate::vault::{SecretBytes, SecretString, Token};

/// A card of the Maskan profile named `label`, with card number `pan` and a fixed seed.
pub fn sample_token(label: &str, pan: &str) -> Token {
    Token {
        label: label.to_owned(),
        token_id: format!("tok-{label}"),
        server: "http://127.0.0.1:8080".to_owned(),
        bank_name: "Maskan".to_owned(),
        pan: SecretString::new(pan.to_owned()),
        pan_masked: crate::cards::mask_pan(pan),
        seed: SecretBytes::from_slice(&[7u8; 32]),
        lifetime_secs: 60,
        algorithm: "SHA256".to_owned(),
        first_digits: 4,
        second_digits: 8,
        added_at_unix_ms: 1_700_000_000_000,
    }
}
