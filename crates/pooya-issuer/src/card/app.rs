//! The app's channel on the card: enrollment (R16) and the token's removal.

use super::record::{CardRecord, Sealed};
use super::service::{AppToken, RemovalChallenge, Service};
use super::verdict::AppRefusal;
use crate::domain::Pan;
use crate::keys::{random_bytes, random_id, Keyring};
use crate::policy::Policy;

/// What a run against a live activation keeps until its confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveRun {
    /// The activation it runs against: a new activation leaves it nothing to confirm.
    pub activation_id: String,
    /// The server's SPAKE2 state (`PendingEnrollment`), sealed to the card and the run's id.
    pub pending_sealed: Vec<u8>,
    /// The code lifetime the holder asked for.
    pub lifetime_secs: u32,
}

/// A run begun against the card's live activation: the server's answer and what the run keeps.
pub struct EnrollStarted {
    pub reply: EnrollReply,
    pub run: LiveRun,
}

/// What the app is answered when it starts a run: the run's id, the server's SPAKE2 message and
/// its key confirmation.
pub struct EnrollReply {
    pub enrollment_id: String,
    pub msg: Vec<u8>,
    pub confirm: Vec<u8>,
}

impl CardRecord {
    /// R16, first message: the app's SPAKE2 message, answered under the live activation's secret
    /// with the server's and its key confirmation. Each run costs one of the activation's tries
    /// (all addresses together). Refusals change nothing; the issuer answers them with a run that
    /// can never confirm, alike for every card (see `crate::issuer`'s enrollment).
    pub fn enroll_start(
        &mut self,
        pan: &Pan,
        client_msg: &[u8],
        lifetime_secs: Option<u32>,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Result<EnrollStarted, AppRefusal> {
        let lifetime = policy
            .enrollment_lifetime(lifetime_secs)
            .ok_or(AppRefusal::InvalidLifetime)?;
        let pan_hash = self.pan_hash.clone();
        let Service::AppPending(act) = &mut self.svc.service else {
            return Err(AppRefusal::NoPendingActivation);
        };
        if now >= act.expires_at {
            return Err(AppRefusal::ActivationExpired);
        }
        if act.tries_left == 0 {
            return Err(AppRefusal::ActivationExhausted);
        }
        let secret = keys
            .open(
                &Sealed::Activation.aad(&pan_hash, &act.id),
                &act.secret_sealed,
            )
            .ok()
            .and_then(|s| pooya_enroll::ActivationSecret::from_bytes(&s).ok())
            .ok_or(AppRefusal::ActivationExpired)?;
        let resp = pooya_enroll::server_respond(&secret, pan.digits(), client_msg)
            .map_err(|_| AppRefusal::MalformedMessage)?;
        act.tries_left -= 1;
        let run_id = random_id();
        let pending = resp.pending.to_bytes();
        Ok(EnrollStarted {
            run: LiveRun {
                activation_id: act.id.clone(),
                pending_sealed: keys.seal(&Sealed::Enrollment.aad(&pan_hash, &run_id), &pending),
                lifetime_secs: lifetime,
            },
            reply: EnrollReply {
                enrollment_id: run_id,
                msg: resp.msg,
                confirm: resp.confirm,
            },
        })
    }

    /// R16, second message: the app's key confirmation of run `enrollment_id` (whose expiry the
    /// store's record keeps). On success the card's app token is born, with the seed both ends
    /// derived, and the static second password dies (R9). A refusal changes nothing.
    pub fn enroll_confirm(
        &mut self,
        enrollment_id: &str,
        run: &LiveRun,
        client_confirm: &[u8],
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Result<(AppToken, pooya_enroll::Seed), AppRefusal> {
        let pan_hash = self.pan_hash.clone();
        let Some(act) = self.svc.activation().filter(|a| a.id == run.activation_id) else {
            return Err(AppRefusal::WrongActivationCodes);
        };
        if now >= act.expires_at {
            return Err(AppRefusal::ActivationExpired);
        }
        let pending = keys
            .open(
                &Sealed::Enrollment.aad(&pan_hash, enrollment_id),
                &run.pending_sealed,
            )
            .ok()
            .and_then(|p| pooya_enroll::PendingEnrollment::from_bytes(&p).ok())
            .ok_or(AppRefusal::WrongActivationCodes)?;
        let seed = pooya_enroll::server_finish(&pending, client_confirm)
            .map_err(|_| AppRefusal::WrongActivationCodes)?;
        let token_id = random_id();
        let token = AppToken {
            seed_sealed: keys.seal(&Sealed::Seed.aad(&pan_hash, &token_id), seed.as_bytes()),
            id: token_id,
            mobile: act.mobile.clone(),
            algorithm: policy.otp.algorithm.clone(),
            step_secs: run.lifetime_secs,
            first_digits: policy.otp.first_digits,
            second_digits: policy.otp.second_digits,
            last_step_first: None,
            last_step_second: None,
            issued_at: now,
            removal: None,
        };
        self.svc.service = Service::App(token.clone());
        self.svc.static_second_disabled = true;
        self.svc.failures.clear();
        Ok((token, seed))
    }

    /// Token removal, first step: a fresh nonce the app must MAC with its seed.
    pub fn removal_challenge(
        &mut self,
        token_id: &str,
        now: i64,
        policy: &Policy,
    ) -> Result<RemovalChallenge, AppRefusal> {
        let t = self
            .svc
            .token_mut()
            .filter(|t| t.id == token_id)
            .ok_or(AppRefusal::UnknownToken)?;
        let c = RemovalChallenge {
            nonce: random_bytes::<32>().to_vec(),
            expires_at: now + policy.activation.removal_challenge_ttl_secs as i64 * 1000,
        };
        t.removal = Some(c.clone());
        Ok(c)
    }

    /// Token removal, second step: proof of the seed over the nonce. The challenge is used up by
    /// any answer, right or wrong.
    /// Whether `token_id` is this card's app token, in force, and `proof` proves its seed over
    /// `at_ms`. Every other case is false alike: the caller learns nothing without the seed.
    pub fn token_in_force(&self, token_id: &str, at_ms: i64, proof: &[u8], keys: &Keyring) -> bool {
        let Some(t) = self.svc.token().filter(|t| t.id == token_id) else {
            return false;
        };
        keys.open(&Sealed::Seed.aad(&self.pan_hash, &t.id), &t.seed_sealed)
            .ok()
            .and_then(|s| pooya_enroll::Seed::from_bytes(&s).ok())
            .is_some_and(|seed| pooya_enroll::verify_status_proof(&seed, token_id, at_ms, proof))
    }

    pub fn remove_token(
        &mut self,
        token_id: &str,
        nonce: &[u8],
        proof: &[u8],
        now: i64,
        keys: &Keyring,
    ) -> Result<(), AppRefusal> {
        let pan_hash = self.pan_hash.clone();
        let t = self
            .svc
            .token_mut()
            .filter(|t| t.id == token_id)
            .ok_or(AppRefusal::UnknownToken)?;
        let Some(c) = t.removal.take() else {
            return Err(AppRefusal::BadProof);
        };
        if !pooya_otp::ct_eq(&c.nonce, nonce) {
            return Err(AppRefusal::BadProof);
        }
        if now >= c.expires_at {
            return Err(AppRefusal::ChallengeExpired);
        }
        let seed = keys
            .open(&Sealed::Seed.aad(&pan_hash, &t.id), &t.seed_sealed)
            .ok()
            .and_then(|s| pooya_enroll::Seed::from_bytes(&s).ok())
            .ok_or(AppRefusal::BadProof)?;
        if !pooya_enroll::verify_removal_proof(&seed, token_id, nonce, proof) {
            return Err(AppRefusal::BadProof);
        }
        self.svc.service = Service::None;
        Ok(())
    }
}
