//! The vault's tests: format, tampering, slots (`rekey_tests.rs`: re-keying).

use super::*;

pub(super) const PW: &str = "correct horse 1";

pub(super) fn sample_token(label: &str, pan: &str) -> Token {
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

pub(super) fn new_vault(dir: &Path) -> (PathBuf, Vault) {
    let path = dir.join("vault.json");
    let v = Vault::create(&path, PW, KdfParams::FAST_FOR_TESTS).unwrap();
    (path, v)
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut v) = new_vault(dir.path());
    v.add(sample_token("card-0004", "6280231234560004"))
        .unwrap();
    v.add(sample_token("salary", "6280231234567890")).unwrap();
    v.save().unwrap();

    let text = fs::read_to_string(&path).unwrap();
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

    let back = Vault::open(&path, PW).unwrap();
    assert_eq!(back.tokens().len(), 2);
    let t = &back.tokens()[1];
    assert_eq!(t.label, "salary");
    assert_eq!(t.pan.expose(), "6280231234567890");
    assert_eq!(t.seed.expose(), &[7u8; 32]);
    assert!(back.clocks().is_empty());
    assert_eq!(t.last4(), "7890");
    assert_eq!(back.kdf(), KdfParams::FAST_FOR_TESTS);
}

#[cfg(unix)]
#[test]
fn file_mode_is_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (path, mut v) = new_vault(dir.path());
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    v.save().unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn create_refuses_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v");
    fs::write(&path, b"keep me").unwrap();
    let err = Vault::create(&path, PW, KdfParams::FAST_FOR_TESTS).unwrap_err();
    assert!(matches!(err, AppError::VaultExists(_)), "{err}");
    assert_eq!(fs::read(&path).unwrap(), b"keep me");
}

#[test]
fn duplicate_label_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut v) = new_vault(dir.path());
    v.add(sample_token("a", "6280231234567890")).unwrap();
    let err = v.add(sample_token("a", "6280231234560004")).unwrap_err();
    assert!(matches!(err, AppError::DuplicateLabel(_)));
}

#[test]
fn wrong_password() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = new_vault(dir.path());
    let before = fs::read(&path).unwrap();
    let err = Vault::open(&path, "wrong password 2").unwrap_err();
    assert!(matches!(err, AppError::WrongPasswordOrTampered(_)), "{err}");
    assert!(err.to_string().contains("wrong app password"));
    assert_eq!(fs::read(&path).unwrap(), before);
}

fn edit_envelope(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    f(&mut v);
    fs::write(path, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn tampered_contents_with_the_right_password() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut v) = new_vault(dir.path());
    v.add(sample_token("a", "6280231234567890")).unwrap();
    v.save().unwrap();
    edit_envelope(&path, |env| {
        let mut ct = BASE64
            .decode(env["ciphertext"].as_str().unwrap().as_bytes())
            .unwrap();
        ct[3] ^= 0x01;
        env["ciphertext"] = BASE64.encode(&ct).into();
    });
    let before = fs::read(&path).unwrap();
    let err = Vault::open(&path, PW).unwrap_err();
    // The password slot opened: the damage is named as such, not as a wrong password.
    assert!(matches!(err, AppError::VaultDamaged(..)), "{err}");
    assert!(err.to_string().contains("integrity"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn tampered_ciphertext() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut v) = new_vault(dir.path());
    v.add(sample_token("a", "6280231234567890")).unwrap();
    v.save().unwrap();
    edit_envelope(&path, |env| {
        let mut ct = BASE64
            .decode(env["ciphertext"].as_str().unwrap().as_bytes())
            .unwrap();
        ct[3] ^= 0x01;
        env["ciphertext"] = BASE64.encode(&ct).into();
    });
    let err = Vault::open(&path, "wrong password 3").unwrap_err();
    assert!(matches!(err, AppError::WrongPasswordOrTampered(_)), "{err}");
}

#[test]
fn tampered_header() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = new_vault(dir.path());
    // Changing a KDF parameter changes the key as well as the associated data.
    edit_envelope(&path, |env| env["slots"][0]["kdf"]["t"] = 2.into());
    assert!(matches!(
        Vault::open(&path, PW),
        Err(AppError::WrongPasswordOrTampered(_))
    ));
}

#[test]
fn vault_id_is_authenticated() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = new_vault(dir.path());
    edit_envelope(&path, |env| env["vault_id"] = "00ff".into());
    assert!(matches!(
        Vault::open(&path, PW),
        Err(AppError::WrongPasswordOrTampered(_))
    ));
}

#[test]
fn platform_slot() {
    use crate::keystore::MemoryKeyStore;
    let store = MemoryKeyStore::default();
    let dir = tempfile::tempdir().unwrap();
    let (path, mut v) = new_vault(dir.path());
    v.add(sample_token("a", "6280231234567890")).unwrap();
    v.save().unwrap();
    // No platform slot yet.
    assert!(LockedVault::read(&path)
        .unwrap()
        .unlock_with_keystore(&store)
        .unwrap()
        .is_none());

    v.enable_platform_slot(&store).unwrap();
    v.save().unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"platform\""), "{text}");
    let locked = LockedVault::read(&path).unwrap();
    assert!(locked.has_platform_slot());
    let opened = locked.unlock_with_keystore(&store).unwrap().unwrap();
    assert_eq!(opened.tokens()[0].label, "a");
    // The password still works beside it.
    assert_eq!(Vault::open(&path, PW).unwrap().tokens().len(), 1);

    // Enabling again replaces the slot and its key: one platform slot, one key.
    let mut v = Vault::open(&path, PW).unwrap();
    v.enable_platform_slot(&store).unwrap();
    v.save().unwrap();
    let env: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(env["slots"].as_array().unwrap().len(), 2);
    assert_eq!(store.entries_len(), 1);

    // A key store that lost the key: a clear error, nothing changed.
    let before = fs::read(&path).unwrap();
    let empty = MemoryKeyStore::default();
    let err = LockedVault::read(&path)
        .unwrap()
        .unlock_with_keystore(&empty)
        .unwrap_err();
    assert!(matches!(err, AppError::KeystoreEntryMissing(_)), "{err}");
    assert_eq!(fs::read(&path).unwrap(), before);

    // Disabling deletes the key too.
    assert!(v.disable_platform_slot(&store).unwrap());
    v.save().unwrap();
    assert!(!LockedVault::read(&path).unwrap().has_platform_slot());
    assert!(store.entries_len() == 0);
}

#[test]
fn unsupported_version_and_bad_params() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = new_vault(dir.path());
    let original = fs::read(&path).unwrap();
    edit_envelope(&path, |env| env["version"] = 3.into());
    assert!(matches!(
        Vault::open(&path, PW),
        Err(AppError::UnsupportedVersion(_, 3))
    ));

    fs::write(&path, &original).unwrap();
    edit_envelope(&path, |env| {
        env["slots"][0]["kdf"]["m_kib"] = 4_000_000_000u32.into()
    });
    assert!(matches!(
        Vault::open(&path, PW),
        Err(AppError::VaultDamaged(..))
    ));
}

#[test]
fn truncated_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = new_vault(dir.path());
    let full = fs::read(&path).unwrap();
    for cut in [0, 1, 10, full.len() / 2, full.len() - 3] {
        fs::write(&path, &full[..cut]).unwrap();
        let err = Vault::open(&path, PW).unwrap_err();
        assert!(
            matches!(err, AppError::NotAVault(_) | AppError::VaultDamaged(..)),
            "{err}"
        );
        assert_eq!(
            fs::read(&path).unwrap(),
            &full[..cut],
            "file must stay untouched"
        );
    }
    fs::write(&path, b"{\"hello\": 1}").unwrap();
    assert!(matches!(
        Vault::open(&path, PW),
        Err(AppError::NotAVault(_))
    ));
    fs::write(&path, b"\x00\x01binary").unwrap();
    assert!(matches!(
        Vault::open(&path, PW),
        Err(AppError::NotAVault(_))
    ));

    // A ciphertext cut short but still valid base64.
    fs::write(&path, &full).unwrap();
    edit_envelope(&path, |env| {
        let ct = BASE64
            .decode(env["ciphertext"].as_str().unwrap().as_bytes())
            .unwrap();
        env["ciphertext"] = BASE64.encode(&ct[..ct.len() - 1]).into();
    });
    assert!(matches!(
        Vault::open(&path, PW),
        Err(AppError::VaultDamaged(..))
    ));
}

#[test]
fn missing_vault() {
    let dir = tempfile::tempdir().unwrap();
    let err = Vault::open(&dir.path().join("nope"), PW).unwrap_err();
    assert!(matches!(err, AppError::VaultMissing(_)));
    assert!(err.to_string().contains("init"));
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
