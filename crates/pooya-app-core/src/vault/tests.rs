//! The vault's tests over its bytes: format, tampering, slots (`rekey_tests.rs`: re-keying). The
//! file (atomic writes, mode 0600, a missing or existing path) is tested in `pooya-app`.

use super::*;

pub(super) const PW: &str = "correct horse 1";

/// What the vault is called in messages.
const NAME: &str = "vault.json";

pub(super) use crate::test_support::sample_token;

/// Found with the `vault_file` fuzz target: a card number that is not ASCII (a doctored vault)
/// made `last4` slice inside a character and panic.
#[test]
fn last4_of_a_card_number_that_is_not_ascii() {
    assert_eq!(sample_token("a", "6280231234567898").last4(), "7898");
    assert_eq!(sample_token("b", "\u{e9}\u{e9}a").last4(), "\u{e9}\u{e9}a");
    assert_eq!(
        sample_token("c", "12\u{e9}\u{e9}34").last4(),
        "\u{e9}\u{e9}34"
    );
    assert_eq!(sample_token("d", "").last4(), "");
}

/// A new vault (cheap Argon2), as `init` makes one.
pub(super) fn new_vault() -> Vault {
    Vault::new_unsaved(Path::new(NAME), PW, KdfParams::FAST_FOR_TESTS).unwrap()
}

/// `bytes` checked, as read from a file.
pub(super) fn locked(bytes: &[u8]) -> Result<LockedVault> {
    LockedVault::from_bytes(Path::new(NAME), bytes)
}

/// `bytes` opened with `password`.
pub(super) fn open(bytes: &[u8], password: &str) -> Result<Vault> {
    locked(bytes)?.unlock(password)
}

#[test]
fn round_trip() {
    let mut v = new_vault();
    v.add(sample_token("card-0004", "6280231234560004"))
        .unwrap();
    v.add(sample_token("salary", "6280231234567890")).unwrap();
    let bytes = v.to_bytes().unwrap();

    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        !text.contains("6280231234567890"),
        "the full PAN must not be in clear"
    );
    assert!(!text.contains("salary"), "labels are inside the ciphertext");
    let env: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(env["format"], "pooya-vault");
    assert_eq!(env["version"], 2);
    assert_eq!(env["slots"].as_array().unwrap().len(), 1);
    assert_eq!(env["slots"][0]["type"], "password");
    assert_eq!(env["slots"][0]["kdf"]["alg"], "argon2id");
    assert_eq!(env["slots"][0]["kdf"]["m_kib"], 8192);

    let back = open(&bytes, PW).unwrap();
    assert_eq!(back.path(), Path::new(NAME));
    assert_eq!(back.tokens().len(), 2);
    let t = &back.tokens()[1];
    assert_eq!(t.label, "salary");
    assert_eq!(t.pan.expose(), "6280231234567890");
    assert_eq!(t.seed.expose(), &[7u8; 32]);
    assert!(back.clocks().is_empty());
    assert_eq!(t.last4(), "7890");
    assert_eq!(back.kdf(), KdfParams::FAST_FOR_TESTS);
}

#[test]
fn unchanged_contents_keep_their_ciphertext() {
    let mut v = new_vault();
    let first = v.to_bytes().unwrap();
    assert_eq!(
        v.to_bytes().unwrap(),
        first,
        "nothing changed: the same bytes"
    );
    let mut back = open(&first, PW).unwrap();
    assert_eq!(
        back.to_bytes().unwrap(),
        first,
        "read, not changed: the same bytes"
    );
    back.add(sample_token("a", "6280231234567890")).unwrap();
    let changed = back.to_bytes().unwrap();
    let (before, after) = (envelope(&first), envelope(&changed));
    assert_ne!(
        before["nonce"], after["nonce"],
        "a change gets a fresh nonce"
    );
    assert_eq!(before["slots"], after["slots"]);
}

#[test]
fn duplicate_label_refused() {
    let mut v = new_vault();
    v.add(sample_token("a", "6280231234567890")).unwrap();
    let err = v.add(sample_token("a", "6280231234560004")).unwrap_err();
    assert!(matches!(err, AppError::DuplicateLabel(_)));
}

#[test]
fn wrong_password() {
    let bytes = new_vault().to_bytes().unwrap();
    let locked = locked(&bytes).unwrap();
    let err = locked.unlock("wrong password 2").unwrap_err();
    assert!(matches!(err, AppError::WrongPasswordOrTampered(_)), "{err}");
    assert!(err.to_string().contains("wrong app password"));
    assert!(err.to_string().contains(NAME), "{err}");
    // Nothing changed: the right password still opens the same locked vault.
    assert!(locked.unlock(PW).is_ok());
}

pub(super) fn envelope(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

/// `bytes` with their envelope changed by `f`.
fn edited(bytes: &[u8], f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v = envelope(bytes);
    f(&mut v);
    serde_json::to_vec(&v).unwrap()
}

/// A vault with one card, its ciphertext with one bit flipped.
fn with_flipped_ciphertext() -> Vec<u8> {
    let mut v = new_vault();
    v.add(sample_token("a", "6280231234567890")).unwrap();
    edited(&v.to_bytes().unwrap(), |env| {
        let mut ct = BASE64
            .decode(env["ciphertext"].as_str().unwrap().as_bytes())
            .unwrap();
        ct[3] ^= 0x01;
        env["ciphertext"] = BASE64.encode(&ct).into();
    })
}

#[test]
fn tampered_contents_with_the_right_password() {
    let err = open(&with_flipped_ciphertext(), PW).unwrap_err();
    // The password slot opened: the damage is named as such, not as a wrong password.
    assert!(matches!(err, AppError::VaultDamaged(..)), "{err}");
    assert!(err.to_string().contains("integrity"), "{err}");
}

#[test]
fn tampered_ciphertext() {
    let err = open(&with_flipped_ciphertext(), "wrong password 3").unwrap_err();
    assert!(matches!(err, AppError::WrongPasswordOrTampered(_)), "{err}");
}

#[test]
fn tampered_header() {
    let bytes = new_vault().to_bytes().unwrap();
    // Changing a KDF parameter changes the key as well as the associated data.
    let bytes = edited(&bytes, |env| env["slots"][0]["kdf"]["t"] = 2.into());
    assert!(matches!(
        open(&bytes, PW),
        Err(AppError::WrongPasswordOrTampered(_))
    ));
}

#[test]
fn vault_id_is_authenticated() {
    let bytes = new_vault().to_bytes().unwrap();
    let bytes = edited(&bytes, |env| env["vault_id"] = "00ff".into());
    assert!(matches!(
        open(&bytes, PW),
        Err(AppError::WrongPasswordOrTampered(_))
    ));
}

#[test]
fn platform_slot() {
    use crate::keystore::MemoryKeyStore;
    let store = MemoryKeyStore::default();
    let mut v = new_vault();
    v.add(sample_token("a", "6280231234567890")).unwrap();
    let bytes = v.to_bytes().unwrap();
    // No platform slot yet.
    assert!(locked(&bytes)
        .unwrap()
        .unlock_with_keystore(&store)
        .unwrap()
        .is_none());

    v.enable_platform_slot(&store).unwrap();
    let bytes = v.to_bytes().unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains("\"platform\""), "{text}");
    let locked_vault = locked(&bytes).unwrap();
    assert!(locked_vault.has_platform_slot());
    let opened = locked_vault.unlock_with_keystore(&store).unwrap().unwrap();
    assert_eq!(opened.tokens()[0].label, "a");
    // The password still works beside it.
    assert_eq!(open(&bytes, PW).unwrap().tokens().len(), 1);

    // Enabling again replaces the slot and its key: one platform slot, one key.
    let mut v = open(&bytes, PW).unwrap();
    v.enable_platform_slot(&store).unwrap();
    let bytes = v.to_bytes().unwrap();
    assert_eq!(envelope(&bytes)["slots"].as_array().unwrap().len(), 2);
    assert_eq!(store.entries_len(), 1);

    // A key store that lost the key: a clear error.
    let empty = MemoryKeyStore::default();
    let err = locked(&bytes)
        .unwrap()
        .unlock_with_keystore(&empty)
        .unwrap_err();
    assert!(matches!(err, AppError::KeystoreEntryMissing(_)), "{err}");

    // Disabling deletes the key too.
    assert!(v.disable_platform_slot(&store).unwrap());
    let bytes = v.to_bytes().unwrap();
    assert!(!locked(&bytes).unwrap().has_platform_slot());
    assert!(store.entries_len() == 0);
}

#[test]
fn unsupported_version_and_bad_params() {
    let original = new_vault().to_bytes().unwrap();
    let bytes = edited(&original, |env| env["version"] = 3.into());
    assert!(matches!(
        open(&bytes, PW),
        Err(AppError::UnsupportedVersion(_, 3))
    ));

    let bytes = edited(&original, |env| {
        env["slots"][0]["kdf"]["m_kib"] = 4_000_000_000u32.into()
    });
    assert!(matches!(open(&bytes, PW), Err(AppError::VaultDamaged(..))));
}

#[test]
fn truncated_and_foreign_bytes() {
    let full = new_vault().to_bytes().unwrap();
    for cut in [0, 1, 10, full.len() / 2, full.len() - 3] {
        let err = open(&full[..cut], PW).unwrap_err();
        assert!(
            matches!(err, AppError::NotAVault(_) | AppError::VaultDamaged(..)),
            "{err}"
        );
    }
    assert!(matches!(
        open(b"{\"hello\": 1}", PW),
        Err(AppError::NotAVault(_))
    ));
    assert!(matches!(
        open(b"\x00\x01binary", PW),
        Err(AppError::NotAVault(_))
    ));

    // A ciphertext cut short but still valid base64.
    let bytes = edited(&full, |env| {
        let ct = BASE64
            .decode(env["ciphertext"].as_str().unwrap().as_bytes())
            .unwrap();
        env["ciphertext"] = BASE64.encode(&ct[..ct.len() - 1]).into();
    });
    assert!(matches!(open(&bytes, PW), Err(AppError::VaultDamaged(..))));
}

#[test]
fn debug_redacts_secrets() {
    let t = sample_token("a", "6280231234567890");
    let dbg = format!("{t:?}");
    assert!(!dbg.contains("6280231234567890"));
    assert!(dbg.contains("[redacted]"));
    assert!(dbg.contains("628023******7890"));
    assert!(!dbg.contains("7, 7, 7"));
}
