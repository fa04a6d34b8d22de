//! R8, R16: the app's enrollment, as the public sees it.
//!
//! Whoever knows a card number may call it, so two things hold for a caller who has not proven
//! the two codes:
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

use super::{EnrollmentStarted, Issuer, IssuerError, TokenIssued, MAX_ATTEMPTS};
use crate::blocking;
use crate::card::{AppRefusal, CardRecord};
use crate::domain::Pan;
use crate::keys::random_bytes;
use crate::store::{AuditRecord, Commit, EnrollmentRunRecord, RunKind, StoreError, TryTaken};

/// What the app needs before it sends anything that costs a try. The same for every card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnrollmentParameters {
    pub receipt_code_digits: u8,
    pub sms_code_digits: u8,
    /// Runs one address may start for one card number (`policy.activation.max_tries`).
    pub tries_per_address: u32,
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
        event: &str,
        card: Option<&CardRecord>,
        pan_masked: &str,
        detail: String,
    ) -> AuditRecord {
        AuditRecord {
            at: now,
            event: event.to_owned(),
            pan_masked: Some(pan_masked.to_owned()),
            customer_id: card.map(|c| c.customer_id.as_str().to_owned()),
            detail,
        }
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
            .ok_or(IssuerError::InvalidLifetime)?;
        pooya_enroll::check_client_msg(client_msg).map_err(|_| IssuerError::MalformedMessage)?;
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
        for _ in 0..MAX_ATTEMPTS {
            let card = self.store.card(&pan_hash).await?;
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
            let (id, msg, confirm, kind, detail) = match live {
                Ok(s) => {
                    let left = next
                        .as_ref()
                        .and_then(|c| c.svc.activation())
                        .map_or(0, |a| a.tries_left);
                    let detail = format!("tries_left={left} (all addresses)");
                    (
                        s.enrollment_id,
                        s.msg,
                        s.confirm,
                        RunKind::Live(s.run),
                        detail,
                    )
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
                    .map_err(|_| IssuerError::MalformedMessage)?;
                    next = None;
                    let id = crate::keys::random_id();
                    (
                        id,
                        r.msg,
                        r.confirm,
                        RunKind::Decoy,
                        decoy_reason(why).to_owned(),
                    )
                }
                Err(Some(r)) => return Err(r.into()),
            };
            let run = EnrollmentRunRecord {
                id: id.clone(),
                pan_hash: pan_hash.clone(),
                pan_masked: pan_masked.clone(),
                tries_key: tries_key.clone(),
                kind,
                expires_at: now + a.enrollment_ttl_secs as i64 * 1000,
            };
            let audit =
                self.enrollment_audit(now, "app.enroll_start", card.as_ref(), &pan_masked, detail);
            let commit = Commit {
                cards: next.into_iter().collect(),
                new_enrollment_runs: vec![run],
                audit: vec![audit],
                ..Commit::default()
            };
            match self.commit(commit).await {
                Ok(()) => {
                    return Ok(EnrollmentStarted {
                        enrollment_id: id,
                        msg,
                        confirm,
                        tries_left,
                    })
                }
                Err(StoreError::Conflict) => {
                    tokio::task::yield_now().await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(IssuerError::Unavailable("too much contention".into()))
    }

    /// R16, R9: the app's key confirmation; the token is born. Every run takes one answer. Every
    /// refusal is the same `WrongActivationCodes`, with the tries the run's address has left.
    pub async fn enroll_confirm(
        &self,
        enrollment_id: &str,
        client_confirm: &[u8],
    ) -> Result<TokenIssued, IssuerError> {
        let max = self.policy.activation.max_tries;
        for _ in 0..MAX_ATTEMPTS {
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
                    commit
                        .audit
                        .push(self.audit(now, "app.enrolled", Some(&card), String::new()));
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
                        "app.enroll_failed",
                        card.as_ref(),
                        &run.pan_masked,
                        format!("{why}; tries_left={tries_left} (this address)"),
                    ));
                    Err(IssuerError::WrongActivationCodes { tries_left })
                }
            };
            match self.commit(commit).await {
                Ok(()) => {
                    if result.is_ok() {
                        metrics::counter!("pooya_enrollments_total").increment(1);
                    }
                    return result;
                }
                // The card changed, or another server answered this run first: read again.
                Err(StoreError::Conflict) => {
                    tokio::task::yield_now().await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(IssuerError::Unavailable("too much contention".into()))
    }
}
