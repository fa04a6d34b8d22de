//! The bank's channel keys (docs/api.md, "Who may call what"): random bearer keys, one role each. Only
//! their SHA-256 hashes are stored (a key has 256 random bits, so a fast hash is enough); the keys
//! themselves are shown once, at creation.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use pooya_issuer::domain::Role;
use pooya_issuer::store::{ApiKeyRecord, Store};
use pooya_issuer::IssuerError;
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;

/// Clones share one cache (the console revokes through a clone of the server's).
#[derive(Clone)]
pub struct ApiKeys {
    store: Arc<dyn Store>,
    /// Hashes already found, with their role and label and when they were read: a key is only
    /// ever revoked, and a revocation by another server is seen within [`CACHE_TTL`].
    cache: Arc<RwLock<HashMap<String, Cached>>>,
}

type Cached = (Role, Arc<str>, std::time::Instant);

/// How long a key found stays believed without reading the store again.
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

pub fn hash_key(key: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(key.as_bytes()))
}

/// A new key: `pooya_ROLE_` and 32 random bytes in base32.
pub fn new_key(role: Role) -> String {
    let bytes = pooya_issuer::keys::random_bytes::<32>();
    format!(
        "pooya_{}_{}",
        role.as_str(),
        data_encoding::BASE32_NOPAD
            .encode(&bytes)
            .to_ascii_lowercase()
    )
}

impl ApiKeys {
    pub fn new(store: Arc<dyn Store>) -> ApiKeys {
        ApiKeys {
            store,
            cache: Arc::new(RwLock::new(HashMap::new())),
        }
    }

    /// The role and label of a key (the label names the key's holder in the audit trail).
    pub async fn role_of(&self, key: &str) -> Result<Option<(Role, Arc<str>)>, IssuerError> {
        let h = hash_key(key);
        if let Some((role, label, at)) = self.cache.read().await.get(&h) {
            if at.elapsed() < CACHE_TTL {
                return Ok(Some((*role, label.clone())));
            }
        }
        let found = self
            .store
            .api_key(&h)
            .await?
            .map(|k| (k.role, Arc::<str>::from(k.label)));
        let mut cache = self.cache.write().await;
        match &found {
            Some((role, label)) => {
                cache.insert(h, (*role, label.clone(), std::time::Instant::now()));
            }
            None => {
                cache.remove(&h);
            }
        }
        Ok(found)
    }

    /// Creates a key of `role` and returns it: the only time it exists in clear.
    pub async fn create(&self, role: Role, label: &str, now: i64) -> Result<String, IssuerError> {
        let key = new_key(role);
        self.store
            .insert_api_keys(&[ApiKeyRecord {
                key_hash: hash_key(&key),
                role,
                label: label.to_owned(),
                created_at: now,
            }])
            .await?;
        Ok(key)
    }

    /// Every key (its hash, never the key), with when it was revoked.
    pub async fn list(&self) -> Result<Vec<(ApiKeyRecord, Option<i64>)>, IssuerError> {
        Ok(self.store.api_keys().await?)
    }

    /// Revokes the key of hash `key_hash`: on this server at once, on others within
    /// [`CACHE_TTL`]. `false` when no live key has it.
    pub async fn revoke(&self, key_hash: &str, now: i64) -> Result<bool, IssuerError> {
        let revoked = self.store.revoke_api_key(key_hash, now).await?;
        self.cache.write().await.remove(key_hash);
        Ok(revoked)
    }

    /// First start: when the store has no key at all, one key per role, written to
    /// `bootstrap-keys.json` (mode 0600) and nowhere else.
    pub async fn bootstrap(&self, data_dir: &Path, now: i64) -> Result<bool, BootstrapError> {
        if self.store.count_api_keys().await? > 0 {
            return Ok(false);
        }
        let path = data_dir.join("bootstrap-keys.json");
        let mut map = serde_json::Map::new();
        let mut records = Vec::new();
        for role in Role::ALL {
            let key = new_key(role);
            records.push(ApiKeyRecord {
                key_hash: hash_key(&key),
                role,
                label: "bootstrap".into(),
                created_at: now,
            });
            map.insert(role.as_str().into(), key.into());
        }
        let text = serde_json::to_string_pretty(&serde_json::Value::Object(map))
            .expect("a map of strings serialises");
        // The file first: keys stored without their file could never be used.
        pooya_issuer::fsutil::write_new_private(&path, text.as_bytes())
            .map_err(|e| BootstrapError::File(format!("{}: {e}", path.display())))?;
        self.store.insert_api_keys(&records).await?;
        Ok(true)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("cannot write the bootstrap keys file {0}")]
    File(String),
    #[error(transparent)]
    Issuer(#[from] IssuerError),
}

impl From<pooya_issuer::store::StoreError> for BootstrapError {
    fn from(e: pooya_issuer::store::StoreError) -> Self {
        BootstrapError::Issuer(e.into())
    }
}

#[async_trait::async_trait]
impl pooya_console::ChannelKeys for ApiKeys {
    async fn list(&self) -> Result<Vec<(ApiKeyRecord, Option<i64>)>, IssuerError> {
        ApiKeys::list(self).await
    }
    async fn create(&self, role: Role, label: &str, now: i64) -> Result<String, IssuerError> {
        ApiKeys::create(self, role, label, now).await
    }
    async fn revoke(&self, key_hash: &str, now: i64) -> Result<bool, IssuerError> {
        ApiKeys::revoke(self, key_hash, now).await
    }
}
