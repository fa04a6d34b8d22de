//! The app's operations (`routes/app.rs`, no key): enrollment (R8, R16) as the public sees it, and
//! the token's removal.
//!
//! Whoever knows a card number may start an enrollment, so two things hold for a caller who has
//! not proven the two codes:
//!
//! - **Every card looks alike.** Every well-formed start gets a run: against the card's live
//!   activation when it has one, else a *decoy* run (no such card, no activation waiting, one
//!   expired or with its tries used up) answered by a real SPAKE2 step under a random password,
//!   stored and closed the same way, at the same cost. Only the confirmation fails, alike for all;
//!   a decoy run never confirms. The tries a caller is told are counted per card number and client
//!   address for every number asked about, in the store (servers on one database agree).
//! - **A stranger cannot stop the holder.** Tries are counted per card number and client address
//!   (`policy.activation.max_tries`, within `ttl_secs` of the address's first), under a larger
//!   bound per activation (`max_tries_total`); runs are rows of their own, so no start replaces
//!   another's run; a start that does not parse counts nowhere.

use std::net::IpAddr;

use pooya_enroll::{ActivationSecret, IssuedToken};

use super::base::{Decided, Decision, Effects, Issuer};
use crate::audit::{AuditEvent, AuditRecord};
use crate::blocking;
use crate::card::{AppRefusal, CardRecord, EnrollReply};
use crate::domain::Pan;
use crate::error::IssuerError;
use crate::keys::random_bytes;
use crate::store::{Commit, EnrollmentRunRecord, RunKind, TryTaken};

/// What the app needs before it sends anything that costs a try. The same for every card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnrollmentParameters {
    pub receipt_code_digits: u8,
    pub sms_code_digits: u8,
    /// Runs one address may start for one card number (`policy.activation.max_tries`).
    pub tries_per_address: u32,
}

/// What an enrollment start answers: alike for every card number asked about.
pub struct EnrollmentStarted {
    /// The card's live run, or a run that can never confirm, made alike.
    pub reply: crate::card::EnrollReply,
    /// Runs this address may still start for this card number.
    pub tries_left: u32,
}

/// What the app learns about its new token, and the MAC of it under the run's key.
pub struct TokenIssued {
    pub token: pooya_enroll::IssuedToken,
    pub mac: Vec<u8>,
}

pub struct RemovalChallengeIssued {
    pub nonce: Vec<u8>,
    pub expires_at: i64,
}

/// Why a start got a decoy run, for the audit trail only.
fn decoy_reason(r: Option<AppRefusal>) -> &'static str {
    match r {
        None => "decoy run: no such card",
        Some(AppRefusal::ActivationExpired) => "decoy run: the activation has expired",
        Some(AppRefusal::ActivationExhausted) => "decoy run: the activation's tries are used up",
        Some(_) => "decoy run: no app activation waiting",
    }
}

/// Whole seconds from `now` to `at`, at least 1 (what `Retry-After` can say).
/// How far a token-status query's `at_ms` may be from the server's clock: the app measures the
/// clock just before it asks, so only a slow network or a replay is this far off.
pub const STATUS_QUERY_WINDOW_MS: u64 = 300_000;

fn secs_until(at: i64, now: i64) -> u64 {
    u64::try_from(at.saturating_sub(now))
        .unwrap_or(0)
        .div_ceil(1000)
        .max(1)
}

impl Issuer {
    pub fn enrollment_parameters(&self) -> EnrollmentParameters {
        let a = &self.policy.activation;
        EnrollmentParameters {
            receipt_code_digits: a.receipt_code_digits,
            sms_code_digits: a.sms_code_digits,
            tries_per_address: a.max_tries,
        }
    }

    /// The key of the tries `client` has for the card number of `pan_hash`: keyed, so the table
    /// holds neither.
    fn tries_key(&self, pan_hash: &str, client: IpAddr) -> String {
        let addr = match client {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        data_encoding::HEXLOWER.encode(
            &self
                .keys
                .code_mac("enrollment-tries", &[pan_hash.as_bytes(), &addr]),
        )
    }

    /// An enrollment record for a card number that may be no card of the bank's.
    fn enrollment_audit(
        &self,
        now: i64,
        event: AuditEvent,
        card: Option<&CardRecord>,
        pan_masked: &str,
        detail: String,
    ) -> AuditRecord {
        AuditRecord::new(
            event,
            now,
            Some(pan_masked.to_owned()),
            card.map(|c| c.customer_id.as_str().to_owned()),
            detail,
        )
    }

    /// R8, R16: the app's first message, from `client` (its address, an IPv6 client's by its /64).
    /// Counts one try of `client` at this card number, then answers with a run: a live one or a
    /// decoy, alike to the caller.
    pub async fn enroll_start(
        &self,
        pan: &Pan,
        client: IpAddr,
        client_msg: &[u8],
        lifetime_secs: Option<u32>,
    ) -> Result<EnrollmentStarted, IssuerError> {
        let lifetime = self
            .policy
            .enrollment_lifetime(lifetime_secs)
            .ok_or(AppRefusal::InvalidLifetime)?;
        pooya_enroll::check_client_msg(client_msg).map_err(|_| AppRefusal::MalformedMessage)?;
        let a = &self.policy.activation;
        let pan_hash = self.pan_hash(pan);
        let pan_masked = pan.masked();
        let tries_key = self.tries_key(&pan_hash, client);
        let now = self.clock.now_ms();
        let window_end = now + a.ttl_secs as i64 * 1000;
        let tries = match self
            .store
            .take_enrollment_try(&tries_key, a.max_tries, window_end, now)
            .await?
        {
            TryTaken::Counted(w) => w,
            TryTaken::UsedUp(w) => {
                return Err(IssuerError::EnrollmentTriesUsedUp {
                    retry_after_secs: secs_until(w.ends_at, now),
                })
            }
        };
        let tries_left = a.max_tries.saturating_sub(tries.used);
        let (pan_hash, pan_masked, tries_key) = (&pan_hash, &pan_masked, &tries_key);
        self.commit_with_retry(|| async move {
            let card = self.store.card(pan_hash).await?;
            let now = self.clock.now_ms();
            let mut next = card.clone();
            let live = blocking::in_place(|| match next.as_mut() {
                Some(c) => c
                    .enroll_start(
                        pan,
                        client_msg,
                        Some(lifetime),
                        now,
                        &self.policy,
                        &self.keys,
                    )
                    .map_err(Some),
                None => Err(None),
            });
            let (reply, kind, detail) = match live {
                Ok(s) => {
                    let left = next
                        .as_ref()
                        .and_then(|c| c.svc.activation())
                        .map_or(0, |a| a.tries_left);
                    let detail = format!("tries_left={left} (all addresses)");
                    (s.reply, RunKind::Live(s.run), detail)
                }
                Err(
                    why @ (None
                    | Some(
                        AppRefusal::NoPendingActivation
                        | AppRefusal::ActivationExpired
                        | AppRefusal::ActivationExhausted,
                    )),
                ) => {
                    // The same step the live run takes, under a password nobody knows.
                    let secret = ActivationSecret::from_bytes(&random_bytes::<32>())
                        .expect("32 bytes make a secret");
                    let r = blocking::in_place(|| {
                        pooya_enroll::server_respond(&secret, pan.digits(), client_msg)
                    })
                    .map_err(|_| AppRefusal::MalformedMessage)?;
                    next = None;
                    let reply = EnrollReply {
                        enrollment_id: crate::keys::random_id(),
                        msg: r.msg,
                        confirm: r.confirm,
                    };
                    (reply, RunKind::Decoy, decoy_reason(why).to_owned())
                }
                Err(Some(r)) => return Err(r.into()),
            };
            let run = EnrollmentRunRecord {
                id: reply.enrollment_id.clone(),
                pan_hash: pan_hash.clone(),
                pan_masked: pan_masked.clone(),
                tries_key: tries_key.clone(),
                kind,
                expires_at: now + a.enrollment_ttl_secs as i64 * 1000,
            };
            let audit = self.enrollment_audit(
                now,
                AuditEvent::AppEnrollStart,
                card.as_ref(),
                pan_masked,
                detail,
            );
            let commit = Commit {
                cards: next.into_iter().collect(),
                new_enrollment_runs: vec![run],
                audit: vec![audit],
                ..Commit::default()
            };
            let started = EnrollmentStarted { reply, tries_left };
            Ok(Decision::Commit(commit, Ok(started)))
        })
        .await
    }

    /// R16, R9: the app's key confirmation; the token is born. Every run takes one answer. Every
    /// refusal is the same `WrongActivationCodes`, with the tries the run's address has left.
    pub async fn enroll_confirm(
        &self,
        enrollment_id: &str,
        client_confirm: &[u8],
    ) -> Result<TokenIssued, IssuerError> {
        let max = self.policy.activation.max_tries;
        // A lost race: the card changed, or another server answered this run first.
        self.commit_with_retry(|| async move {
            let run = self
                .store
                .enrollment_run(enrollment_id)
                .await?
                .ok_or(IssuerError::UnknownEnrollment)?;
            let now = self.clock.now_ms();
            if now >= run.expires_at {
                return Err(IssuerError::UnknownEnrollment);
            }
            let card = self.store.card(&run.pan_hash).await?;
            let used = self.store.enrollment_tries(&run.tries_key, now).await?;
            let mut next = card.clone();
            let outcome = blocking::in_place(|| match (&run.kind, next.as_mut()) {
                (RunKind::Live(live), Some(c)) => {
                    c.enroll_confirm(&run.id, live, client_confirm, now, &self.policy, &self.keys)
                }
                _ => Err(AppRefusal::NoPendingActivation),
            });
            let mut commit = Commit {
                closed_enrollment_runs: vec![run.id.clone()],
                ..Commit::default()
            };
            let result = match (outcome, next) {
                (Ok((token, seed)), Some(card)) => {
                    let issued = IssuedToken {
                        token_id: token.id.clone(),
                        pan_masked: card.pan_masked.clone(),
                        bank_name: self.policy.bank_name.clone(),
                        lifetime_secs: token.step_secs,
                        algorithm: token.algorithm.clone(),
                        first_digits: token.first_digits,
                        second_digits: token.second_digits,
                        server_unix_ms: now,
                    };
                    let mac = issued.mac(&seed);
                    commit.audit.push(self.audit(
                        now,
                        AuditEvent::AppEnrolled,
                        Some(&card),
                        String::new(),
                    ));
                    // The holder proved the codes: the tries of the address are the holder's again.
                    commit.cleared_enrollment_tries.push(run.tries_key.clone());
                    commit.cards.push(card);
                    Ok(TokenIssued { token: issued, mac })
                }
                (outcome, _) => {
                    let why = match outcome {
                        Err(AppRefusal::WrongActivationCodes) => "wrong codes",
                        Err(AppRefusal::ActivationExpired) => "the activation has expired",
                        _ => "decoy run",
                    };
                    let tries_left = max.saturating_sub(used);
                    commit.audit.push(self.enrollment_audit(
                        now,
                        AuditEvent::AppEnrollFailed,
                        card.as_ref(),
                        &run.pan_masked,
                        format!("{why}; tries_left={tries_left} (this address)"),
                    ));
                    Err(IssuerError::WrongActivationCodes { tries_left })
                }
            };
            Ok(Decision::Commit(commit, result))
        })
        .await
        .inspect(|_| metrics::counter!("pooya_enrollments_total").increment(1))
    }

    /// Token removal, first step: a fresh nonce the app must MAC with its seed.
    pub async fn removal_challenge(
        &self,
        token_id: &str,
    ) -> Result<RemovalChallengeIssued, IssuerError> {
        self.update_card_of_token(token_id, |card, now| {
            match card.removal_challenge(token_id, now, &self.policy) {
                Ok(c) => {
                    let mut e = Effects::default();
                    e.audit.push(self.audit(
                        now,
                        AuditEvent::AppRemovalChallenge,
                        Some(card),
                        String::new(),
                    ));
                    (
                        Ok(RemovalChallengeIssued {
                            nonce: c.nonce,
                            expires_at: c.expires_at,
                        }),
                        Some(e),
                    )
                }
                Err(r) => (Err(r.into()), None),
            }
        })
        .await
    }

    /// Token removal, second step: the proof of the seed over the challenge's nonce.
    pub async fn remove_token(
        &self,
        token_id: &str,
        nonce: &[u8],
        proof: &[u8],
    ) -> Result<(), IssuerError> {
        self.update_card_of_token(token_id, |card, now| {
            match card.remove_token(token_id, nonce, proof, now, &self.keys) {
                Ok(()) => {
                    let mut e = Effects::default();
                    e.audit.push(self.audit(
                        now,
                        AuditEvent::AppTokenRemoved,
                        Some(card),
                        String::new(),
                    ));
                    (Ok(()), Some(e))
                }
                // The challenge was used up: commit that too.
                Err(r @ (AppRefusal::BadProof | AppRefusal::ChallengeExpired)) => {
                    let mut e = Effects::default();
                    let why = if r == AppRefusal::BadProof {
                        "bad proof"
                    } else {
                        "challenge expired"
                    };
                    e.audit.push(self.audit(
                        now,
                        AuditEvent::AppTokenRemovalRefused,
                        Some(card),
                        why.to_owned(),
                    ));
                    (Err(r.into()), Some(e))
                }
                Err(r) => (Err(r.into()), None),
            }
        })
        .await
    }

    /// Whether the app token `token_id` is still in force, proven by its seed over `at_ms` (the
    /// server's clock as the app reckons it, within [`STATUS_QUERY_WINDOW_MS`]). Reads only; the
    /// answer is false alike for a token replaced, removed, locked or never issued and for a wrong
    /// proof, so a stranger learns nothing.
    pub async fn token_status(
        &self,
        token_id: &str,
        at_ms: i64,
        proof: &[u8],
    ) -> Result<bool, IssuerError> {
        let now = self.clock.now_ms();
        if at_ms.abs_diff(now) > STATUS_QUERY_WINDOW_MS {
            return Err(AppRefusal::StaleStatusQuery.into());
        }
        let card = self.store.card_by_token(token_id).await?;
        Ok(card.is_some_and(|c| c.token_in_force(token_id, at_ms, proof, &self.keys)))
    }

    /// `update_card` on the card of the app's token `token_id`: `UnknownToken` when there is none.
    async fn update_card_of_token<T>(
        &self,
        token_id: &str,
        decide: impl Fn(&mut CardRecord, i64) -> Decided<T>,
    ) -> Result<T, IssuerError> {
        let card = self
            .store
            .card_by_token(token_id)
            .await?
            .ok_or(AppRefusal::UnknownToken)?;
        self.update_card(&card.pan_hash, false, |card, _, now| decide(card, now))
            .await
            .map_err(|e| match e {
                // Gone between its lookup and its update: the token is what is unknown.
                IssuerError::UnknownCard => AppRefusal::UnknownToken.into(),
                e => e,
            })
    }
}
