//! Data keys in the store, wrapped under the KEK: loading them at start (making generation 1 on a
//! new database, adopting the master key of an older one) and re-wrapping them under a new KEK.

use pooya_issuer::keys::{HashCost, KeyError, Keyring};
use pooya_issuer::store::{Store, StoreError, WrappedDataKey};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::{Kek, KekError, KekSpec};

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error(transparent)]
    Kek(#[from] KekError),
    #[error(
        "the key encryption key ({have}) is not the one this database was made with: its data \
         keys are wrapped under {wrapped_under}. Give the server that KEK ([keys] in the \
         configuration); after `pooya keys rotate` it is the new one"
    )]
    WrongKek { have: String, wrapped_under: String },
    #[error(
        "this database was made before data keys were wrapped, with the master key file as its \
         key: start the server once with that file as the KEK ([keys] kek = \"file\"), then move \
         to the HSM with `pooya keys rotate`"
    )]
    LegacyNeedsFile,
    #[error("this database has no data keys yet: start the server on it once first")]
    NoDataKeys,
    #[error(
        "data key generation {0} opens but does not match the key check this database recorded: \
         the data_keys table was altered; restore it from a backup"
    )]
    Damaged(i64),
    #[error("the new KEK is the KEK in use ({0}); nothing to rotate")]
    SameKek(String),
    #[error(
        "another `pooya keys rotate` changed the data keys meanwhile; nothing was written by \
         this one: check `pooya keys status` and run it again if needed"
    )]
    RotatedMeanwhile,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// What [`load_keyring`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadEvent {
    /// Data keys were in the store and opened under the KEK.
    Opened,
    /// A new database: data key generation 1 was made.
    Created,
    /// A database made before data keys: the master key file's bytes became generation 1.
    Adopted,
}

pub struct Loaded {
    pub keyring: Keyring,
    pub generation: i64,
    pub kek: Kek,
    pub event: LoadEvent,
}

/// Associated data of a wrapped data key: the generation it is, so rows cannot be swapped.
fn aad(generation: i64) -> Vec<u8> {
    format!("pooya/v1/data-key/{generation}").into_bytes()
}

fn unwrap_row(kek: &Kek, row: &WrappedDataKey) -> Result<Zeroizing<[u8; 32]>, KeysError> {
    let wrong = || KeysError::WrongKek {
        have: kek.describe(),
        wrapped_under: row.kek_id.clone(),
    };
    if row.kek_id != kek.id() {
        return Err(wrong());
    }
    let plain = kek
        .unwrap(&aad(row.generation), &row.wrapped)
        .map_err(|e| match e {
            KekError::Unwrap(_) => wrong(),
            other => other.into(),
        })?;
    let arr: [u8; 32] = plain[..]
        .try_into()
        .map_err(|_| KeysError::Damaged(row.generation))?;
    Ok(Zeroizing::new(arr))
}

/// Whether the store holds data of a server from before data keys (its key check, or channel
/// keys, which every server makes on its first start).
async fn made_before_data_keys(store: &dyn Store) -> Result<bool, StoreError> {
    Ok(store.master_check_value().await?.is_some() || store.count_api_keys().await? > 0)
}

/// The server's keyring: the newest data key, unwrapped under the KEK `spec` names.
///
/// - Data keys in the store: every one must be wrapped under this KEK, or the start is refused
///   (nothing is written).
/// - None, on a database made before data keys: the KEK must be the key file that was its master
///   key; its bytes become generation 1 (wrapped under the file), so every stored value opens as
///   before.
/// - None on a new database (only when `allow_create`): a random generation 1, under the KEK
///   (a missing key file is created, mode 0600).
///
/// Servers starting together on one database agree: the first generation written wins.
pub async fn load_keyring(
    store: &dyn Store,
    spec: &KekSpec,
    cost: HashCost,
    now_ms: i64,
    allow_create: bool,
) -> Result<Loaded, KeysError> {
    let mut event = LoadEvent::Opened;
    for _ in 0..3 {
        let rows = store.data_keys().await?;
        if let Some(newest) = rows.last() {
            let kek = spec.open(false)?;
            // All generations must open: a half-done state is never served.
            for row in &rows[..rows.len() - 1] {
                unwrap_row(&kek, row)?;
            }
            let data_key = unwrap_row(&kek, newest)?;
            let keyring = Keyring::from_master(&data_key, cost)?;
            if !store
                .master_key_check(&keyring.master_check_value())
                .await?
            {
                return Err(KeysError::Damaged(newest.generation));
            }
            return Ok(Loaded {
                keyring,
                generation: newest.generation,
                kek,
                event,
            });
        }
        let (kek, data_key) = if made_before_data_keys(store).await? {
            let kek = spec.open(false)?;
            let master = kek
                .legacy_master()
                .ok_or(KeysError::LegacyNeedsFile)?
                .clone();
            let keyring = Keyring::from_master(&master, cost)?;
            if !store
                .master_key_check(&keyring.master_check_value())
                .await?
            {
                return Err(KeysError::WrongKek {
                    have: kek.describe(),
                    wrapped_under: "the master key file the database was made with".into(),
                });
            }
            event = LoadEvent::Adopted;
            (kek, master)
        } else {
            if !allow_create {
                return Err(KeysError::NoDataKeys);
            }
            let kek = spec.open(true)?;
            let mut key = Zeroizing::new([0u8; 32]);
            rand::rng().fill_bytes(&mut key[..]);
            event = LoadEvent::Created;
            (kek, key)
        };
        let row = WrappedDataKey {
            generation: 1,
            kek_id: kek.id().to_owned(),
            wrapped: kek.wrap(&aad(1), &data_key[..])?,
            created_at: now_ms,
            wrapped_at: now_ms,
        };
        // Lost to another server starting at the same moment: read what it wrote.
        if !store.add_data_key(&row).await? {
            event = LoadEvent::Opened;
        }
    }
    Err(KeysError::Store(StoreError::Conflict))
}

/// What [`rotate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// Data key generations now wrapped under the new KEK.
    pub generations: Vec<i64>,
    pub old_kek: String,
    pub new_kek: String,
    /// Every data key was under the new KEK already (a rotation finished before): nothing written.
    pub already: bool,
}

/// Re-wraps every data key under the KEK `new` names, in one transaction guarded by the old
/// KEK's id: all or nothing, and a concurrent rotation makes this one write nothing. The data keys
/// do not change, so running servers keep serving; start them with the new KEK from now on, after
/// which the old KEK may be destroyed. A new key file is created (mode 0600) if absent; an HSM key
/// must exist (`pooya keys create-kek`).
pub async fn rotate(
    store: &dyn Store,
    old: &KekSpec,
    new: &KekSpec,
    cost: HashCost,
    now_ms: i64,
) -> Result<Rotated, KeysError> {
    let new_kek = new.open(true)?;
    let rows = store.data_keys().await?;
    // Run again after it succeeded (the configuration not yet switched): say so, write nothing.
    if !rows.is_empty() && rows.iter().all(|r| r.kek_id == new_kek.id()) {
        if old.open(false).is_ok_and(|o| o.id() == new_kek.id()) {
            return Err(KeysError::SameKek(new_kek.describe()));
        }
        for r in &rows {
            unwrap_row(&new_kek, r)?;
        }
        return Ok(Rotated {
            generations: rows.iter().map(|r| r.generation).collect(),
            old_kek: old.describe(),
            new_kek: new_kek.describe(),
            already: true,
        });
    }
    // Checks the old KEK the way a start does (and adopts an old database's master key file).
    let loaded = load_keyring(store, old, cost, now_ms, false).await?;
    let old_kek = loaded.kek;
    if old_kek.id() == new_kek.id() {
        return Err(KeysError::SameKek(old_kek.describe()));
    }
    let rows = store.data_keys().await?;
    let mut rewrapped = Vec::with_capacity(rows.len());
    for row in &rows {
        let key = unwrap_row(&old_kek, row)?;
        let wrapped = new_kek.wrap(&aad(row.generation), &key[..])?;
        // Never write a wrapping that does not open.
        let back = new_kek.unwrap(&aad(row.generation), &wrapped)?;
        if back[..] != key[..] {
            return Err(KekError::Unwrap(new_kek.describe()).into());
        }
        rewrapped.push(WrappedDataKey {
            generation: row.generation,
            kek_id: new_kek.id().to_owned(),
            wrapped,
            created_at: row.created_at,
            wrapped_at: now_ms,
        });
    }
    match store.rewrap_data_keys(old_kek.id(), &rewrapped).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => return Err(KeysError::RotatedMeanwhile),
        Err(e) => return Err(e.into()),
    }
    Ok(Rotated {
        generations: rewrapped.iter().map(|r| r.generation).collect(),
        old_kek: old_kek.describe(),
        new_kek: new_kek.describe(),
        already: false,
    })
}

/// `pooya keys create-kek`: a new KEK where `spec` says (never replacing one).
pub fn create_kek(spec: &KekSpec) -> Result<String, KeysError> {
    let kek = spec.create()?;
    Ok(kek.describe())
}

/// One data key generation as `pooya keys status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub generation: i64,
    pub kek_id: String,
    pub wrapped_at: i64,
    /// Whether it opens under the configured KEK (`None`: that KEK could not be opened).
    pub opens: Option<bool>,
}

/// The store's data keys and whether each opens under the configured KEK; the KEK's error, if it
/// cannot be opened, is returned beside them.
pub async fn status(
    store: &dyn Store,
    spec: &KekSpec,
) -> Result<(Vec<Status>, Option<KekError>), KeysError> {
    let rows = store.data_keys().await?;
    let (kek, kek_err) = match spec.open(false) {
        Ok(k) => (Some(k), None),
        Err(e) => (None, Some(e)),
    };
    let out = rows
        .iter()
        .map(|r| Status {
            generation: r.generation,
            kek_id: r.kek_id.clone(),
            wrapped_at: r.wrapped_at,
            opens: kek.as_ref().map(|k| unwrap_row(k, r).is_ok()),
        })
        .collect();
    Ok((out, kek_err))
}
