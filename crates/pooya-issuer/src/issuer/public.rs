//! What anyone may ask (`routes/public.rs`): whether the issuer can reach its store.

use super::base::Issuer;
use crate::error::IssuerError;

impl Issuer {
    pub async fn health(&self) -> Result<(), IssuerError> {
        self.store.ping().await.map_err(Into::into)
    }
}
