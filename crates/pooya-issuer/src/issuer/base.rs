//! The [`Issuer`] and what the operations of every channel share: reading, deciding and committing
//! again after a lost race ([`Issuer::commit_with_retry`]), audit records, sealed SMS.

use std::future::Future;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::audit::{AuditEvent, AuditRecord};
use crate::blocking;
use crate::card::CardRecord;
use crate::clock::Clock;
use crate::domain::{Mobile, Pan};
use crate::error::IssuerError;
use crate::keys::Keyring;
use crate::policy::Policy;
use crate::store::{Commit, CustomerRecord, OutgoingSms, Store, StoreError, VerificationRecord};

/// How often an operation decides again after losing a race before it gives up
/// ([`IssuerError::Contention`]).
pub(super) const MAX_ATTEMPTS: usize = 64;

pub struct Issuer {
    pub(super) store: Arc<dyn Store>,
    pub(super) keys: Arc<Keyring>,
    pub(super) policy: Arc<Policy>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) staff: super::staff::StaffPolicy,
    outbox_signal: Arc<tokio::sync::Notify>,
}

/// What a decision leaves to commit beside the card itself.
#[derive(Default)]
pub(super) struct Effects {
    pub outbox: Vec<OutgoingSms>,
    pub audit: Vec<AuditRecord>,
    pub verifications: Vec<VerificationRecord>,
}

/// `(what to answer, what to commit)`: `None` commits nothing.
pub(super) type Decided<T> = (Result<T, IssuerError>, Option<Effects>);

/// What one attempt of an operation decided, on the data it read.
// Made and taken apart once per attempt, on the stack: boxing the commit would only add an
// allocation to every verification.
#[allow(clippy::large_enum_variant)]
pub(super) enum Decision<T> {
    /// Answer at once; nothing to commit.
    Answer(Result<T, IssuerError>),
    /// Commit this, then answer that; on a lost race, decide again.
    Commit(Commit, Result<T, IssuerError>),
}

impl Issuer {
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<Keyring>,
        policy: Policy,
        clock: Arc<dyn Clock>,
    ) -> Issuer {
        Issuer {
            store,
            keys,
            policy: Arc::new(policy),
            clock,
            staff: super::staff::StaffPolicy::default(),
            outbox_signal: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The same issuer with `staff` for its operators and four eyes.
    pub fn with_staff_policy(mut self, staff: super::staff::StaffPolicy) -> Issuer {
        self.staff = staff;
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
    /// The outbox, for the delivery worker.
    pub fn outbox(&self) -> crate::outbox::Outbox<'_> {
        crate::outbox::Outbox::new(self.store.as_ref())
    }
    /// Notified after every commit that queued an SMS.
    pub fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_signal.clone()
    }

    /// The text of a queued SMS, for the delivery worker only: refused when its body does not
    /// open for its id and recipient.
    pub fn open_sms_text(
        &self,
        sms: &OutgoingSms,
    ) -> Result<Zeroizing<String>, crate::at_rest::SmsRefused> {
        crate::at_rest::open_sms(&self.keys, sms)
    }

    pub(super) fn pan_hash(&self, pan: &Pan) -> String {
        self.keys.pan_hash(pan)
    }

    /// An audit record of `event` about `card` (its masked number and customer), if any.
    pub(super) fn audit(
        &self,
        now: i64,
        event: AuditEvent,
        card: Option<&CardRecord>,
        detail: String,
    ) -> AuditRecord {
        AuditRecord::new(
            event,
            now,
            card.map(|c| c.pan_masked.clone()),
            card.map(|c| c.customer_id.as_str().to_owned()),
            detail,
        )
    }

    /// SMS bodies are sealed at rest, to their message and recipient: they carry codes.
    pub(super) fn sms(
        &self,
        to: &Mobile,
        text: &str,
        now: i64,
        expires_at: Option<i64>,
    ) -> OutgoingSms {
        crate::at_rest::seal_sms(&self.keys, to, text, now, expires_at)
    }

    /// Commits once: a lost race is the caller's `StoreError::Conflict`.
    pub(super) async fn commit(&self, mut commit: Commit) -> Result<(), StoreError> {
        commit.at = self.clock.now_ms();
        commit.audit_key = Some(self.keys.clone());
        let has_sms = !commit.outbox.is_empty();
        self.store.commit(commit).await?;
        if has_sms {
            self.outbox_signal.notify_one();
        }
        Ok(())
    }

    /// Reads, decides and commits with `attempt`, and again on fresh data each time the commit
    /// loses a race to a concurrent change of a row it read (`StoreError::Conflict`): nothing is
    /// ever half done. After [`MAX_ATTEMPTS`] lost races: [`IssuerError::Contention`].
    ///
    /// `attempt` is called afresh for each try; its future holds references only (async closures
    /// would be neater, but their futures are not known to be `Send`, which the server needs).
    pub(super) async fn commit_with_retry<T, Fut>(
        &self,
        attempt: impl FnMut() -> Fut,
    ) -> Result<T, IssuerError>
    where
        Fut: Future<Output = Result<Decision<T>, IssuerError>>,
    {
        retry(attempt, |commit| self.commit(commit)).await
    }

    /// Reads a card (and its customer, when asked), decides, commits; again on a lost race.
    pub(super) async fn update_card<T>(
        &self,
        pan_hash: &str,
        with_customer: bool,
        decide: impl Fn(&mut CardRecord, Option<&CustomerRecord>, i64) -> Decided<T>,
    ) -> Result<T, IssuerError> {
        let decide = &decide;
        self.commit_with_retry(|| async move {
            let mut card = self
                .store
                .card(pan_hash)
                .await?
                .ok_or(IssuerError::UnknownCard)?;
            let customer = if with_customer {
                Some(
                    self.store
                        .customer(&card.customer_id)
                        .await?
                        .ok_or_else(|| IssuerError::Internal("card without customer".into()))?,
                )
            } else {
                None
            };
            let now = self.clock.now_ms();
            let (answer, effects) =
                blocking::in_place(|| decide(&mut card, customer.as_ref(), now));
            let Some(effects) = effects else {
                return Ok(Decision::Answer(answer));
            };
            let commit = Commit {
                customer_guards: customer.iter().map(|c| (c.id.clone(), c.version)).collect(),
                cards: vec![card],
                verifications: effects.verifications,
                outbox: effects.outbox,
                audit: effects.audit,
                ..Commit::default()
            };
            Ok(Decision::Commit(commit, answer))
        })
        .await
    }
}

/// [`Issuer::commit_with_retry`] over any way to commit.
async fn retry<T, Fut, Committed>(
    mut attempt: impl FnMut() -> Fut,
    mut commit: impl FnMut(Commit) -> Committed,
) -> Result<T, IssuerError>
where
    Fut: Future<Output = Result<Decision<T>, IssuerError>>,
    Committed: Future<Output = Result<(), StoreError>>,
{
    for _ in 0..MAX_ATTEMPTS {
        let (changes, answer) = match attempt().await? {
            Decision::Answer(answer) => return answer,
            Decision::Commit(changes, answer) => (changes, answer),
        };
        match commit(changes).await {
            Ok(()) => return answer,
            Err(StoreError::Conflict) => tokio::task::yield_now().await,
            Err(e) => return Err(e.into()),
        }
    }
    Err(IssuerError::Contention)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// Runs `retry` with attempts that always commit, against a store whose commits answer
    /// `outcomes` in turn (then `Ok`): the answer, and how many attempts were made.
    fn run(outcomes: Vec<Result<(), StoreError>>) -> (Result<u32, IssuerError>, u32) {
        let attempts = Cell::new(0);
        let mut outcomes = outcomes.into_iter();
        let answer = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(retry(
                || {
                    attempts.set(attempts.get() + 1);
                    let n = attempts.get();
                    async move { Ok(Decision::Commit(Commit::default(), Ok(n))) }
                },
                |_| {
                    let outcome = outcomes.next().unwrap_or(Ok(()));
                    async move { outcome }
                },
            ));
        (answer, attempts.get())
    }

    #[test]
    fn a_lost_race_is_decided_again_on_fresh_data() {
        let (answer, attempts) = run(vec![Err(StoreError::Conflict), Err(StoreError::Conflict)]);
        assert_eq!((answer.unwrap(), attempts), (3, 3));
    }

    #[test]
    fn races_lost_every_time_are_contention_not_an_unavailable_store() {
        let lost = (0..MAX_ATTEMPTS)
            .map(|_| Err(StoreError::Conflict))
            .collect();
        let (answer, attempts) = run(lost);
        assert!(matches!(answer, Err(IssuerError::Contention)), "{answer:?}");
        assert_eq!(attempts as usize, MAX_ATTEMPTS);
    }

    #[test]
    fn another_store_error_ends_the_operation_at_once() {
        let (answer, attempts) = run(vec![Err(StoreError::Unavailable("down".into()))]);
        assert!(
            matches!(answer, Err(IssuerError::Unavailable(_))),
            "{answer:?}"
        );
        assert_eq!(attempts, 1);
    }

    #[test]
    fn an_answer_without_changes_commits_nothing() {
        let committed = Cell::new(false);
        let answer: Result<u32, IssuerError> = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(retry(
                || async { Ok(Decision::Answer(Ok(7))) },
                |_| {
                    committed.set(true);
                    async { Ok(()) }
                },
            ));
        assert_eq!(answer.unwrap(), 7);
        assert!(!committed.get());
    }
}
