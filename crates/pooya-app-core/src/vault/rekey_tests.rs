//! Re-keying: `passwd`, the platform slot going away or renewed, a slot below the Argon2 floor.
//! What an old copy of the file and an old secret (password or key-store key) still open.

use super::tests::{envelope, locked, new_vault, open, sample_token, PW};
use super::*;
use crate::keystore::MemoryKeyStore;

/// The slots of `old` (an old copy of the file) over the contents of `new`: what someone who
/// kept the old copy and knows its password (or its key-store key) has against the new file.
fn splice(old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut spliced = envelope(new);
    spliced["slots"] = envelope(old)["slots"].clone();
    serde_json::to_vec(&spliced).unwrap()
}

#[track_caller]
fn refused_as_damaged(r: Result<Vault>) {
    match r {
        Err(AppError::VaultDamaged(_, why)) => assert!(why.contains("integrity"), "{why}"),
        other => panic!("the old slots must not open the new contents: {other:?}"),
    }
}

/// The account of the file's platform slot and its key in `store`, as someone could copy them.
fn platform_key(file: &[u8], store: &MemoryKeyStore) -> (String, Zeroizing<Vec<u8>>) {
    let account = envelope(file)["slots"][1]["account"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = store.load(&account).unwrap().unwrap();
    (account, key)
}

/// A key store that takes nothing, as a container without a session keyring.
struct BrokenStore;

impl KeyStore for BrokenStore {
    fn name(&self) -> String {
        "a broken key store".into()
    }
    fn store(&self, _: &str, _: &[u8]) -> Result<()> {
        Err(AppError::KeystoreUnavailable("broken".into()))
    }
    fn load(&self, _: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        Ok(None)
    }
    fn delete(&self, _: &str) -> Result<()> {
        Ok(())
    }
}

#[test]
fn passwd_makes_a_new_master_key() {
    let mut v = new_vault();
    v.add(sample_token("a", "6280231234567890")).unwrap();
    let old = v.to_bytes().unwrap();

    let mut v = open(&old, PW).unwrap();
    let platform = v
        .rekey("new password 2", KdfParams::FAST_FOR_TESTS, &BrokenStore)
        .unwrap();
    assert!(matches!(platform, PlatformSlot::Absent), "{platform:?}");
    assert!(platform.note().is_none());
    let new = v.to_bytes().unwrap();
    let (before, after) = (envelope(&old), envelope(&new));
    assert_eq!(before["vault_id"], after["vault_id"]);
    assert_ne!(before["ciphertext"], after["ciphertext"], "re-encrypted");
    assert_ne!(before["nonce"], after["nonce"]);
    assert_ne!(before["slots"], after["slots"]);

    assert!(matches!(
        open(&new, PW),
        Err(AppError::WrongPasswordOrTampered(_))
    ));
    let v = open(&new, "new password 2").unwrap();
    assert_eq!(v.tokens()[0].label, "a");
    assert_eq!(v.tokens()[0].pan.expose(), "6280231234567890");
    // The old copy still opens with the old password, but its key opens nothing newer.
    assert_eq!(open(&old, PW).unwrap().tokens().len(), 1);
    refused_as_damaged(open(&splice(&old, &new), PW));
}

#[test]
fn disabling_the_platform_slot_makes_a_new_master_key() {
    let store = MemoryKeyStore::default();
    let mut v = new_vault();
    v.add(sample_token("a", "6280231234567890")).unwrap();
    v.enable_platform_slot(&store).unwrap();
    let old = v.to_bytes().unwrap();
    let (account, old_key) = platform_key(&old, &store);

    // Opened with the key store, the vault cannot re-key its password slot: refused, unchanged.
    let mut by_store = locked(&old)
        .unwrap()
        .unlock_with_keystore(&store)
        .unwrap()
        .unwrap();
    let err = by_store.disable_platform_slot(&store).unwrap_err();
    assert!(matches!(err, AppError::Internal(_)), "{err}");
    assert!(by_store.has_platform_slot());
    assert_eq!(store.entries_len(), 1);
    assert_eq!(by_store.to_bytes().unwrap(), old);

    let mut v = open(&old, PW).unwrap();
    assert!(v.disable_platform_slot(&store).unwrap());
    let new = v.to_bytes().unwrap();
    assert_eq!(store.entries_len(), 0);
    assert_ne!(envelope(&old)["ciphertext"], envelope(&new)["ciphertext"]);
    // The password, not asked again, still opens the vault.
    assert_eq!(open(&new, PW).unwrap().tokens().len(), 1);
    // The old copy and the old password, or the old key-store key kept by someone: not the
    // new contents.
    let spliced = splice(&old, &new);
    refused_as_damaged(open(&spliced, PW));
    let kept = MemoryKeyStore::default();
    kept.store(&account, &old_key).unwrap();
    refused_as_damaged(
        locked(&spliced)
            .unwrap()
            .unlock_with_keystore(&kept)
            .map(Option::unwrap),
    );
    // Nothing to disable: no change.
    let mut v = open(&new, PW).unwrap();
    assert!(!v.disable_platform_slot(&store).unwrap());
    assert_eq!(v.to_bytes().unwrap(), new);
}

#[test]
fn enabling_again_retires_the_old_key_store_key() {
    let store = MemoryKeyStore::default();
    let mut v = new_vault();
    v.enable_platform_slot(&store).unwrap();
    let old = v.to_bytes().unwrap();
    let (account, old_key) = platform_key(&old, &store);

    v.enable_platform_slot(&store).unwrap();
    let new = v.to_bytes().unwrap();
    assert_eq!(store.entries_len(), 1, "the old entry is deleted");
    assert!(store.load(&account).unwrap().is_none());
    assert!(locked(&new)
        .unwrap()
        .unlock_with_keystore(&store)
        .unwrap()
        .is_some());
    let kept = MemoryKeyStore::default();
    kept.store(&account, &old_key).unwrap();
    refused_as_damaged(
        locked(&splice(&old, &new))
            .unwrap()
            .unlock_with_keystore(&kept)
            .map(Option::unwrap),
    );
}

#[test]
fn rekeying_renews_the_platform_slot_or_removes_it() {
    let store = MemoryKeyStore::default();
    let mut v = new_vault();
    v.enable_platform_slot(&store).unwrap();
    let old = envelope(&v.to_bytes().unwrap());

    let platform = v
        .rekey("new password 2", KdfParams::FAST_FOR_TESTS, &store)
        .unwrap();
    assert!(matches!(platform, PlatformSlot::Renewed), "{platform:?}");
    let bytes = v.to_bytes().unwrap();
    let new = envelope(&bytes);
    assert_eq!(new["slots"].as_array().unwrap().len(), 2);
    assert_ne!(old["slots"][1]["account"], new["slots"][1]["account"]);
    assert_eq!(store.entries_len(), 1, "the old entry is deleted");
    assert!(locked(&bytes)
        .unwrap()
        .unlock_with_keystore(&store)
        .unwrap()
        .is_some());

    // A key store that takes no new key: the slot goes, the password stays, the user is told.
    let platform = v
        .rekey(PW, KdfParams::FAST_FOR_TESTS, &BrokenStore)
        .unwrap();
    let PlatformSlot::Removed(AppError::KeystoreUnavailable(_)) = &platform else {
        panic!("{platform:?}");
    };
    assert!(platform.note().unwrap().contains("keystore enable"));
    let bytes = v.to_bytes().unwrap();
    assert!(!locked(&bytes).unwrap().has_platform_slot());
    assert_eq!(open(&bytes, PW).unwrap().tokens().len(), 0);
}

#[test]
fn a_slot_below_the_floor_is_read_then_rekeyed_at_the_floor() {
    let mut v = new_vault();
    v.add(sample_token("a", "6280231234567890")).unwrap();
    let old = v.to_bytes().unwrap();
    let locked = locked(&old).unwrap();
    assert!(
        locked.kdf().is_below_floor(),
        "an 8 MiB, 1-pass slot is read"
    );

    let mut v = locked.unlock(PW).unwrap();
    v.rekey(PW, KdfParams::FLOOR, &BrokenStore).unwrap();
    let new = v.to_bytes().unwrap();
    let kdf = &envelope(&new)["slots"][0]["kdf"];
    assert_eq!(kdf["m_kib"], 65536);
    assert_eq!(kdf["t"], 3);
    let v = open(&new, PW).unwrap();
    assert_eq!(v.kdf(), KdfParams::FLOOR);
    assert_eq!(v.tokens()[0].label, "a");
    // The weak old copy (cheap to attack offline) holds a key that opens nothing newer.
    refused_as_damaged(open(&splice(&old, &new), PW));
}
