//! The branch's operations (`routes/branch.rs`): customers, cards, the mobile number (R12), and
//! what only a branch lifts (R11's block, the PIN lock).

use super::base::{Decision, Effects, Issuer};
use crate::audit::{Actor, AuditEvent, AuditRecord};
use crate::blocking;
use crate::card::{CardRecord, HardwareKind, Mode, ServiceState};
use crate::domain::{CustomerId, Digits, Expiry, InvalidValue, Mobile, Pan};
use crate::error::IssuerError;
use crate::keys::StaticSecret;
use crate::store::{Commit, CustomerRecord, MobileChangeWrite, StoreError};

/// A card as the branch sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardView {
    pub pan_masked: String,
    pub customer_id: String,
    pub mode: Mode,
    pub state: ServiceState,
    pub second_blocked: bool,
    pub recent_failures: usize,
    /// The PIN lock (`card::pin_lock`): only a branch lifts it.
    pub pin_locked: bool,
    /// R9: the static second password died when a dynamic one became active.
    pub static_second_disabled: bool,
    /// The card's live hardware token, if its second password is one.
    pub hardware: Option<HardwareView>,
}

/// A hardware token and what its file's policy lets it do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HardwareView {
    pub serial: String,
    pub kind: HardwareKind,
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    pub transactions_left: Option<u64>,
    /// Whether a code can be approved now.
    pub usable: bool,
}

impl Issuer {
    pub async fn create_customer(
        &self,
        by: &Actor,
        id: CustomerId,
        mobile: Mobile,
    ) -> Result<CustomerRecord, IssuerError> {
        let now = self.clock.now_ms();
        let rec = CustomerRecord {
            id: id.clone(),
            mobile: mobile.clone(),
            created_at: now,
            version: 0,
        };
        let commit = Commit {
            new_customers: vec![rec.clone()],
            audit: vec![AuditRecord::new(
                AuditEvent::CustomerCreated,
                now,
                None,
                Some(id.as_str().to_owned()),
                format!("mobile {}", mobile.masked()),
            )
            .by(by)],
            ..Commit::default()
        };
        self.commit(commit).await?;
        Ok(rec)
    }

    /// R12: a new mobile number; every token issued on the old one dies, on every card. At once:
    /// core banking's call through the branch key, or a console change when four eyes are off;
    /// a teller's change otherwise waits for a supervisor (`staff.rs`).
    pub async fn change_mobile(
        &self,
        by: &Actor,
        id: &CustomerId,
        mobile: Mobile,
    ) -> Result<(Mobile, u32), IssuerError> {
        self.change_mobile_with(by, id, mobile, |_| Ok(None)).await
    }

    /// [`Issuer::change_mobile`], committing also what `with` adds (a decided request, its
    /// record) in the same transaction: `with` sees the customer as read.
    pub(super) async fn change_mobile_with(
        &self,
        by: &Actor,
        id: &CustomerId,
        mobile: Mobile,
        with: impl Fn(&CustomerRecord) -> Result<Option<(MobileChangeWrite, AuditRecord)>, IssuerError>,
    ) -> Result<(Mobile, u32), IssuerError> {
        let mobile = &mobile;
        let with = &with;
        self.commit_with_retry(|| async move {
            let customer = self
                .store
                .customer(id)
                .await?
                .ok_or(IssuerError::UnknownCustomer)?;
            let now = self.clock.now_ms();
            let extra = with(&customer)?;
            if &customer.mobile == mobile && extra.is_none() {
                return Ok(Decision::Answer(Ok((mobile.clone(), 0))));
            }
            let old = customer.mobile.clone();
            let mut revoked = 0;
            let mut cards = Vec::new();
            let mut audit = vec![AuditRecord::new(
                AuditEvent::CustomerMobileChanged,
                now,
                None,
                Some(id.as_str().to_owned()),
                format!("{} -> {}", old.masked(), mobile.masked()),
            )
            .by(by)];
            let mut mobile_changes = Vec::new();
            if let Some((write, record)) = extra {
                mobile_changes.push(write);
                audit.insert(0, record);
            }
            for mut card in self.store.cards_of_customer(id).await? {
                let n = card.revoke_mobile(&old);
                if n > 0 {
                    revoked += n;
                    audit.push(
                        self.audit(
                            now,
                            AuditEvent::CardTokensRevoked,
                            Some(&card),
                            format!("{n} token(s) issued on the old mobile"),
                        )
                        .by(by),
                    );
                }
                cards.push(card);
            }
            let commit = Commit {
                customers: vec![CustomerRecord {
                    mobile: mobile.clone(),
                    ..customer
                }],
                cards,
                audit,
                mobile_changes,
                ..Commit::default()
            };
            Ok(Decision::Commit(commit, Ok((mobile.clone(), revoked))))
        })
        .await
    }

    pub async fn create_card(
        &self,
        by: &Actor,
        pan: &Pan,
        customer_id: CustomerId,
        expiry: Expiry,
        pin: Digits,
        second_password: Digits,
    ) -> Result<String, IssuerError> {
        let customer = self
            .store
            .customer(&customer_id)
            .await?
            .ok_or(IssuerError::UnknownCustomer)?;
        let now = self.clock.now_ms();
        if now >= expiry.expires_at_ms() {
            return Err(IssuerError::Invalid(InvalidValue::ExpiryPassed));
        }
        let pan_hash = self.pan_hash(pan);
        if self.store.card(&pan_hash).await?.is_some() {
            return Err(IssuerError::AlreadyExists);
        }
        let (pin_hash, second_hash) = blocking::in_place(|| {
            let hash = |kind, secret: &Digits| {
                self.keys
                    .hash_static(kind, &pan_hash, secret.as_str())
                    .map_err(|e| IssuerError::Internal(e.to_string()))
            };
            Ok::<_, IssuerError>((
                hash(StaticSecret::Pin, &pin)?,
                hash(StaticSecret::SecondPassword, &second_password)?,
            ))
        })?;
        let mut card = CardRecord::new(
            pan,
            pan_hash,
            customer_id,
            expiry,
            pin_hash,
            second_hash,
            now,
        );
        card.set_pan_tails(pan, &self.keys);
        let commit = Commit {
            customer_guards: vec![(customer.id.clone(), customer.version)],
            audit: vec![self
                .audit(now, AuditEvent::CardCreated, Some(&card), String::new())
                .by(by)],
            new_cards: vec![card],
            ..Commit::default()
        };
        // One attempt: the customer changed meanwhile (a lost race) is `Contention`.
        match self.commit(commit).await {
            Ok(()) => Ok(pan.masked()),
            Err(StoreError::Conflict) => Err(IssuerError::Contention),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn card_view(&self, pan: &Pan) -> Result<CardView, IssuerError> {
        let card = self
            .store
            .card(&self.pan_hash(pan))
            .await?
            .ok_or(IssuerError::UnknownCard)?;
        Ok(self.view_of(&card, self.clock.now_ms()))
    }

    pub(super) fn view_of(&self, card: &CardRecord, now: i64) -> CardView {
        let (mode, state) = card.effective(now);
        CardView {
            pan_masked: card.pan_masked.clone(),
            customer_id: card.customer_id.as_str().to_owned(),
            mode,
            state,
            second_blocked: card.second_blocked,
            recent_failures: card.recent_failures(now, &self.policy),
            pin_locked: card.pin_locked(),
            static_second_disabled: card.svc.static_second_disabled,
            hardware: card.svc.hardware().map(|h| HardwareView {
                serial: h.serial.clone(),
                kind: h.kind,
                not_before: h.not_before,
                not_after: h.not_after,
                transactions_left: h.transactions_left,
                usable: h.usable_at(now),
            }),
        }
    }

    /// R11: only a branch lifts the block.
    pub async fn unblock_second(&self, by: &Actor, pan: &Pan) -> Result<(), IssuerError> {
        self.unblock_second_of(by, &self.pan_hash(pan)).await
    }

    /// [`Issuer::unblock_second`] of the card the console names by its keyed hash.
    pub async fn unblock_second_of(&self, by: &Actor, pan_hash: &str) -> Result<(), IssuerError> {
        self.update_card(pan_hash, false, |card, _, now| {
            card.second_blocked = false;
            let mut e = Effects::default();
            e.audit.push(
                self.audit(
                    now,
                    AuditEvent::BranchUnblockSecond,
                    Some(card),
                    String::new(),
                )
                .by(by),
            );
            (Ok(()), Some(e))
        })
        .await
    }

    /// Issue 20: only a branch lifts the PIN lock, after checking the holder in person.
    pub async fn unlock_pin(&self, by: &Actor, pan: &Pan) -> Result<(), IssuerError> {
        self.unlock_pin_of(by, &self.pan_hash(pan)).await
    }

    /// [`Issuer::unlock_pin`] of the card the console names by its keyed hash.
    pub async fn unlock_pin_of(&self, by: &Actor, pan_hash: &str) -> Result<(), IssuerError> {
        self.update_card(pan_hash, false, |card, _, now| {
            card.unlock_pin();
            let mut e = Effects::default();
            e.audit.push(
                self.audit(now, AuditEvent::BranchUnlockPin, Some(card), String::new())
                    .by(by),
            );
            (Ok(()), Some(e))
        })
        .await
    }
}
