//! The outbox as the delivery worker sees it ([`crate::Issuer::outbox`]): claim the messages due,
//! then mark each sent, to be retried, given up or refused. Nothing else of the store.

use crate::store::{QueuedSms, Store, StoreError};

/// The delivery worker's handle on the outbox.
#[derive(Clone, Copy)]
pub struct Outbox<'a> {
    store: &'a dyn Store,
}

impl<'a> Outbox<'a> {
    pub(crate) fn new(store: &'a dyn Store) -> Outbox<'a> {
        Outbox { store }
    }

    /// Leases up to `limit` due messages to this worker until `now + lease_ms`, oldest first
    /// ([`Store::outbox_claim`]).
    pub async fn claim(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<QueuedSms>, StoreError> {
        self.store.outbox_claim(now, lease_ms, limit).await
    }

    /// The provider took message `id`: its body (a code) is no longer kept.
    pub async fn sent(&self, id: i64, at: i64) -> Result<(), StoreError> {
        self.store.outbox_sent(id, at).await
    }

    /// Message `id` failed with `error`; tried again from `next_attempt_at`.
    pub async fn retry(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: i64,
    ) -> Result<(), StoreError> {
        self.store.outbox_retry(id, error, next_attempt_at).await
    }

    /// Message `id` is given up (its code expired before it could leave), for `why`.
    pub async fn give_up(&self, id: i64, why: &str, at: i64) -> Result<(), StoreError> {
        self.store.outbox_give_up(id, why, at).await
    }

    /// Message `id` is refused: its body does not open for its id and recipient.
    pub async fn refuse(&self, id: i64, at: i64) -> Result<(), StoreError> {
        self.store.outbox_refuse(id, at).await
    }
}
