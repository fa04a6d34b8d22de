//! Re-keying: `passwd`, the platform slot going away or renewed, a slot below the Argon2 floor.
//! What an old copy of the file and an old secret (password or key-store key) still open.

use super::tests::{new_vault, sample_token, PW};
use super::*;
use crate::keystore::MemoryKeyStore;

fn envelope(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

/// The slots of `old` (an old copy of the file) over the contents of `new`: what someone who
/// kept the old copy and knows its password (or its key-store key) has against the new file.
fn splice(dir: &Path, old: &[u8], new: &[u8]) -> PathBuf {
    let mut spliced = envelope(new);
    spliced["slots"] = envelope(old)["slots"].clone();
    let path = dir.join("spliced.json");
    fs::write(&path, serde_json::to_vec(&spliced).unwrap()).unwrap();
    path
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
    let dir = tempfile::tempdir().unwrap();
    let (path, mut v) = new_vault(dir.path());
    v.add(sample_token("a", "6280231234567890")).unwrap();
    v.save().unwrap();
    let old = fs::read(&path).unwrap();

    let mut v = Vault::open(&path, PW).unwrap();
    let platform = v
        .rekey("new password 2", KdfParams::FAST_FOR_TESTS, &BrokenStore)
        .unwrap();
    assert!(matches!(platform, PlatformSlot::Absent), "{platform:?}");
    assert!(platform.note().is_none());
    v.save().unwrap();
    let new = fs::read(&path).unwrap();
    let (before, after) = (envelope(&old), envelope(&new));
    assert_eq!(before["vault_id"], after["vault_id"]);
    assert_ne!(before["ciphertext"], after["ciphertext"], "re-encrypted");
    assert_ne!(before["nonce"], after["nonce"]);
    assert_ne!(before["slots"], after["slots"]);

    assert!(matches!(
        Vault::open(&path, PW),
        Err(AppError::WrongPasswordOrTampered(_))
    ));
    let v = Vault::open(&path, "new password 2").unwrap();
    assert_eq!(v.tokens()[0].label, "a");
    assert_eq!(v.tokens()[0].pan.expose(), "6280231234567890");
    // The old copy still opens with the old password, but its key opens nothing newer.
    let copy = dir.path().join("old-copy.json");
    fs::write(&copy, &old).unwrap();
    assert_eq!(Vault::open(&copy, PW).unwrap().tokens().len(), 1);
    refused_as_damaged(Vault::open(&splice(dir.path(), &old, &new), PW));
}

#[test]
fn disabling_the_platform_slot_makes_a_new_master_key() {
    let store = MemoryKeyStore::default();
    let dir = tempfile::tempdir().unwrap();
    let (path, mut v) = new_vault(dir.path());
    v.add(sample_token("a", "6280231234567890")).unwrap();
    v.enable_platform_slot(&store).unwrap();
    v.save().unwrap();
    let old = fs::read(&path).unwrap();
    let (account, old_key) = platform_key(&old, &store);

    // Opened with the key store, the vault cannot re-key its password slot: refused, unchanged.
    let mut by_store = LockedVault::read(&path)
        .unwrap()
        .unlock_with_keystore(&store)
        .unwrap()
        .unwrap();
    let err = by_store.disable_platform_slot(&store).unwrap_err();
    assert!(matches!(err, AppError::Internal(_)), "{err}");
    assert!(by_store.has_platform_slot());
    assert_eq!(store.entries_len(), 1);

    let mut v = Vault::open(&path, PW).unwrap();
    assert!(v.disable_platform_slot(&store).unwrap());
    v.save().unwrap();
    let new = fs::read(&path).unwrap();
    assert_eq!(store.entries_len(), 0);
    assert_ne!(envelope(&old)["ciphertext"], envelope(&new)["ciphertext"]);
    // The password, not asked again, still opens the vault.
    assert_eq!(Vault::open(&path, PW).unwrap().tokens().len(), 1);
    // The old copy and the old password, or the old key-store key kept by someone: not the
    // new contents.
    let spliced = splice(dir.path(), &old, &new);
    refused_as_damaged(Vault::open(&spliced, PW));
    let kept = MemoryKeyStore::default();
    kept.store(&account, &old_key).unwrap();
    refused_as_damaged(
        LockedVault::read(&spliced)
            .unwrap()
            .unlock_with_keystore(&kept)
            .map(Option::unwrap),
    );
    // Nothing to disable: no change.
    let mut v = Vault::open(&path, PW).unwrap();
    assert!(!v.disable_platform_slot(&store).unwrap());
}

#[test]
fn enabling_again_retires_the_old_key_store_key() {
    let store = MemoryKeyStore::default();
    let dir = tempfile::tempdir().unwrap();
    let (path, mut v) = new_vault(dir.path());
    v.enable_platform_slot(&store).unwrap();
    v.save().unwrap();
    let old = fs::read(&path).unwrap();
    let (account, old_key) = platform_key(&old, &store);

    v.enable_platform_slot(&store).unwrap();
    v.save().unwrap();
    let new = fs::read(&path).unwrap();
    assert_eq!(store.entries_len(), 1, "the old entry is deleted");
    assert!(store.load(&account).unwrap().is_none());
    assert!(LockedVault::read(&path)
        .unwrap()
        .unlock_with_keystore(&store)
        .unwrap()
        .is_some());
    let kept = MemoryKeyStore::default();
    kept.store(&account, &old_key).unwrap();
    refused_as_damaged(
        LockedVault::read(&splice(dir.path(), &old, &new))
            .unwrap()
            .unlock_with_keystore(&kept)
            .map(Option::unwrap),
    );
}

#[test]
fn rekeying_renews_the_platform_slot_or_removes_it() {
    let store = MemoryKeyStore::default();
    let dir = tempfile::tempdir().unwrap();
    let (path, mut v) = new_vault(dir.path());
    v.enable_platform_slot(&store).unwrap();
    v.save().unwrap();
    let old = envelope(&fs::read(&path).unwrap());

    let platform = v
        .rekey("new password 2", KdfParams::FAST_FOR_TESTS, &store)
        .unwrap();
    assert!(matches!(platform, PlatformSlot::Renewed), "{platform:?}");
    v.save().unwrap();
    let new = envelope(&fs::read(&path).unwrap());
    assert_eq!(new["slots"].as_array().unwrap().len(), 2);
    assert_ne!(old["slots"][1]["account"], new["slots"][1]["account"]);
    assert_eq!(store.entries_len(), 1, "the old entry is deleted");
    assert!(LockedVault::read(&path)
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
    v.save().unwrap();
    assert!(!LockedVault::read(&path).unwrap().has_platform_slot());
    assert_eq!(Vault::open(&path, PW).unwrap().tokens().len(), 0);
}

#[test]
fn a_slot_below_the_floor_is_read_then_rekeyed_at_the_floor() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut v) = new_vault(dir.path());
    v.add(sample_token("a", "6280231234567890")).unwrap();
    v.save().unwrap();
    let old = fs::read(&path).unwrap();
    let locked = LockedVault::read(&path).unwrap();
    assert!(
        locked.kdf().is_below_floor(),
        "an 8 MiB, 1-pass slot is read"
    );

    let mut v = locked.unlock(PW).unwrap();
    v.rekey(PW, KdfParams::FLOOR, &BrokenStore).unwrap();
    v.save().unwrap();
    let new = fs::read(&path).unwrap();
    let kdf = &envelope(&new)["slots"][0]["kdf"];
    assert_eq!(kdf["m_kib"], 65536);
    assert_eq!(kdf["t"], 3);
    let v = Vault::open(&path, PW).unwrap();
    assert_eq!(v.kdf(), KdfParams::FLOOR);
    assert_eq!(v.tokens()[0].label, "a");
    // The weak old copy (cheap to attack offline) holds a key that opens nothing newer.
    refused_as_damaged(Vault::open(&splice(dir.path(), &old, &new), PW));
}
