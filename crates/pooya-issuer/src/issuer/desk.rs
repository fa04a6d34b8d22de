//! What the staff's console reads and its sessions: a customer's and a card's pages (their
//! state, recent verifications and audit timeline), sessions kept by the hash of their cookie,
//! and the audit chain's verification (shared with `pooya audit verify`).

use sha2::{Digest, Sha256};

use super::base::Issuer;
use super::branch::CardView;
use crate::audit::{Break, StoredAudit, Summary, Verifier};
use crate::domain::{CustomerId, Mobile, Pan};
use crate::error::IssuerError;
use crate::store::{
    CustomerRecord, MobileChangeRecord, Operator, SessionRecord, VerificationRecord,
};

/// How many recent verifications and timeline records a page shows.
const RECENT: i64 = 20;
const TIMELINE: i64 = 50;

/// A customer as the console shows them.
#[derive(Clone, Debug)]
pub struct CustomerPage {
    pub customer: CustomerRecord,
    /// The customer's cards, with the keyed hash that names each in the console's links.
    pub cards: Vec<(String, CardView)>,
    /// Mobile changes waiting for a supervisor.
    pub pending: Vec<MobileChangeRecord>,
    pub timeline: Vec<StoredAudit>,
}

/// A card as the console shows it.
#[derive(Clone, Debug)]
pub struct CardPage {
    pub pan_hash: String,
    pub view: CardView,
    /// R9: the static second password no longer works (a dynamic one became active).
    pub static_second_dead: bool,
    pub expiry: String,
    pub verifications: Vec<VerificationRecord>,
    pub timeline: Vec<StoredAudit>,
}

/// The hash a session is stored under: its cookie's value never is.
fn session_hash(token: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
}

impl Issuer {
    /// The keyed hash naming a card (never its number) in the console's links.
    pub fn card_ref(&self, pan: &Pan) -> String {
        self.pan_hash(pan)
    }

    pub async fn customer_page(&self, id: &CustomerId) -> Result<CustomerPage, IssuerError> {
        let customer = self
            .store
            .customer(id)
            .await?
            .ok_or(IssuerError::UnknownCustomer)?;
        let now = self.clock.now_ms();
        let cards = self
            .store
            .cards_of_customer(id)
            .await?
            .iter()
            .map(|c| (c.pan_hash.clone(), self.view_of(c, now)))
            .collect();
        let pending = self
            .store
            .pending_mobile_changes()
            .await?
            .into_iter()
            .filter(|c| c.customer_id == *id)
            .collect();
        let timeline = self.store.audit_of_customer(id, None, TIMELINE).await?;
        Ok(CustomerPage {
            customer,
            cards,
            pending,
            timeline,
        })
    }

    /// The customer whose registered mobile is `mobile`.
    pub async fn customer_by_mobile(
        &self,
        mobile: &Mobile,
    ) -> Result<Option<CustomerId>, IssuerError> {
        Ok(self.store.customer_by_mobile(mobile).await?.map(|c| c.id))
    }

    pub async fn card_page(&self, pan_hash: &str) -> Result<CardPage, IssuerError> {
        let card = self
            .store
            .card(pan_hash)
            .await?
            .ok_or(IssuerError::UnknownCard)?;
        let now = self.clock.now_ms();
        let verifications = self.store.recent_verifications(pan_hash, RECENT).await?;
        let timeline = self
            .store
            .audit_of_customer(&card.customer_id, Some(&card.pan_masked), TIMELINE)
            .await?;
        Ok(CardPage {
            pan_hash: pan_hash.to_owned(),
            view: self.view_of(&card, now),
            static_second_dead: card.svc.static_second_disabled,
            expiry: card.expiry.as_yymm(),
            verifications,
            timeline,
        })
    }

    /// Opens a session for a signed-in operator: the cookie's value (random, shown to the
    /// browser only) and the session as stored.
    pub async fn open_session(
        &self,
        op: &Operator,
    ) -> Result<(String, SessionRecord), IssuerError> {
        let token = data_encoding::BASE64URL_NOPAD.encode(&crate::keys::random_bytes::<32>());
        let now = self.clock.now_ms();
        let s = SessionRecord {
            id_hash: session_hash(&token),
            operator: op.name.clone(),
            csrf: data_encoding::BASE64URL_NOPAD.encode(&crate::keys::random_bytes::<24>()),
            created_at: now,
            last_seen: now,
        };
        self.store.insert_session(&s).await?;
        Ok((token, s))
    }

    /// The live session of a cookie and its operator: none when it never was, has been idle
    /// longer than `idle_ms`, is older than `absolute_ms`, or its operator is disabled. A live
    /// session is marked used now.
    pub async fn session(
        &self,
        token: &str,
        idle_ms: i64,
        absolute_ms: i64,
    ) -> Result<Option<(SessionRecord, Operator)>, IssuerError> {
        let hash = session_hash(token);
        let Some(s) = self.store.session(&hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now_ms();
        if now - s.last_seen > idle_ms || now - s.created_at > absolute_ms {
            self.store.delete_session(&hash).await?;
            return Ok(None);
        }
        let Some(op) = self.store.operator(&s.operator).await? else {
            return Ok(None);
        };
        if op.is_disabled() {
            self.store.delete_session(&hash).await?;
            return Ok(None);
        }
        self.store.touch_session(&hash, now).await?;
        // Sessions of others that ended meanwhile go too, so the table does not grow.
        self.store
            .delete_sessions(None, now - idle_ms, now - absolute_ms)
            .await?;
        Ok(Some((s, op)))
    }

    pub async fn end_session(&self, token: &str) -> Result<(), IssuerError> {
        Ok(self.store.delete_session(&session_hash(token)).await?)
    }

    /// Walks the whole audit chain (`crate::audit`): a summary when intact, else the first break.
    pub async fn verify_audit_chain(
        &self,
        anchors: &[crate::audit::AuditHead],
    ) -> Result<Result<Summary, Break>, IssuerError> {
        // Heads first: records appended while we walk are then later links, not damage.
        let heads = self.store.audit_heads().await?;
        let mut v = match Verifier::new(&self.keys, &heads) {
            Ok(v) => v.with_anchors(anchors),
            Err(b) => return Ok(Err(b)),
        };
        let mut after = 0;
        loop {
            let page = self.store.audit_page(after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for r in &page {
                if let Err(b) = v.push(r) {
                    return Ok(Err(b));
                }
            }
        }
        Ok(v.finish())
    }

    /// Unsent messages (the console's outbox page), at most 200.
    pub async fn outbox_unsent(&self) -> Result<Vec<crate::store::OutboxEntry>, IssuerError> {
        Ok(self.store.outbox_unsent(200).await?)
    }

    /// An operator's retry of message `id` (its code still alive): the delivery worker is woken.
    pub async fn outbox_retry_now(
        &self,
        by: &crate::audit::Actor,
        id: i64,
    ) -> Result<bool, IssuerError> {
        let now = self.clock.now_ms();
        if !self.store.outbox_retry_now(id, now).await? {
            return Ok(false);
        }
        let detail = format!("message {id}");
        self.record(by, crate::audit::AuditEvent::OutboxRetry, detail)
            .await?;
        self.outbox_signal().notify_one();
        Ok(true)
    }
}
