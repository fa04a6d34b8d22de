//! The bank's staff (the console, `pooya operator …`): operators added, disabled and signed in,
//! and four eyes on a mobile change.
//!
//! A teller's mobile change, as states (`[branch] mobile_change_approval`, on by default):
//!
//! ```text
//!   teller asks ──▶ Pending ──(a supervisor, not the requester, approves)──▶ Approved
//!                     │         new mobile in force, old one's tokens revoked (R12), one commit
//!                     └──(a supervisor, not the requester, refuses)────────▶ Refused
//! ```
//!
//! With four eyes off, a teller's change is made at once, as core banking's call through the
//! branch key (`PUT /v1/customers/{id}/mobile`) always is.

use pooya_staff::{
    hash_password, BranchCode, Operator, OperatorName, Password, SignInRefused, StaffRole,
    Standing, TotpSecret,
};

use super::base::{Decision, Issuer};
use crate::audit::{Actor, AuditEvent, AuditRecord};
use crate::blocking;
use crate::domain::{CustomerId, Mobile};
use crate::error::IssuerError;
use crate::store::{
    Commit, MobileChangeRecord, MobileChangeState, MobileChangeWrite, OperatorWrite, StoreError,
};

/// What the issuer asks of the staff (`[branch]`, `[staff]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaffPolicy {
    /// Four eyes on a teller's mobile change.
    pub mobile_change_approval: bool,
    pub lock: pooya_staff::LockPolicy,
}

impl Default for StaffPolicy {
    fn default() -> Self {
        StaffPolicy {
            mobile_change_approval: true,
            lock: pooya_staff::LockPolicy::default(),
        }
    }
}

/// Why a decision on a mobile change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FourEyesRefusal {
    #[error("only a supervisor approves or refuses a mobile change")]
    NotSupervisor,
    #[error("the operator who asked for a change cannot approve or refuse it")]
    OwnRequest,
    #[error("this change was decided already")]
    Decided,
    #[error("only a teller or a supervisor changes a customer's mobile")]
    NotTeller,
}

/// What a teller's mobile change did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MobileChangeAsked {
    /// Waiting for a supervisor: the request's id.
    Pending(String),
    /// Made at once (four eyes off): tokens revoked.
    Changed { revoked: u32 },
}

/// A new operator and the TOTP secret to enrol in an authenticator app: shown once.
pub struct OperatorAdded {
    pub operator: Operator,
    pub secret: TotpSecret,
}

/// The sealing context of an operator's TOTP secret: bound to the name.
fn totp_aad(name: &OperatorName) -> Vec<u8> {
    [
        b"pooya operator totp\0".as_slice(),
        name.as_str().as_bytes(),
    ]
    .concat()
}

impl Issuer {
    pub fn staff_policy(&self) -> StaffPolicy {
        self.staff
    }

    /// Adds an operator with a fresh TOTP secret (sealed at rest).
    pub async fn add_operator(
        &self,
        by: &Actor,
        name: OperatorName,
        role: StaffRole,
        branch: Option<BranchCode>,
        password: &Password,
    ) -> Result<OperatorAdded, IssuerError> {
        Operator::check_branch(role, &branch).map_err(IssuerError::Staff)?;
        let now = self.clock.now_ms();
        let secret = TotpSecret::generate();
        let password_hash = blocking::in_place(|| hash_password(password));
        let operator = Operator {
            totp_sealed: self.keys.seal(&totp_aad(&name), secret.as_bytes()),
            name,
            role,
            branch,
            password_hash,
            last_totp_step: None,
            standing: Standing::Active { failures: 0 },
            created_at: now,
            version: 0,
        };
        let detail = format!(
            "{} {} branch {}",
            operator.name,
            role.as_str(),
            operator.branch.as_ref().map_or("-", |b| b.as_str())
        );
        let commit = Commit {
            audit: vec![operator_record(AuditEvent::OperatorAdded, now, detail).by(by)],
            operators: vec![OperatorWrite::New(operator.clone())],
            ..Commit::default()
        };
        self.commit(commit).await?;
        Ok(OperatorAdded { operator, secret })
    }

    /// Records an admin's act that changes no card, customer or operator (a channel key made or
    /// revoked) in the audit trail.
    pub async fn record(
        &self,
        by: &Actor,
        event: AuditEvent,
        detail: String,
    ) -> Result<(), IssuerError> {
        let now = self.clock.now_ms();
        let commit = Commit {
            audit: vec![operator_record(event, now, detail).by(by)],
            ..Commit::default()
        };
        Ok(self.commit(commit).await?)
    }

    pub async fn operators(&self) -> Result<Vec<Operator>, IssuerError> {
        Ok(self.store.operators().await?)
    }

    pub async fn operator(&self, name: &OperatorName) -> Result<Option<Operator>, IssuerError> {
        Ok(self.store.operator(name).await?)
    }

    /// Disables an operator at once (their sessions end too), or enables one again (also
    /// lifting a lock).
    pub async fn set_operator_disabled(
        &self,
        by: &Actor,
        name: &OperatorName,
        disabled: bool,
    ) -> Result<(), IssuerError> {
        self.commit_with_retry(|| async move {
            let mut op = self
                .store
                .operator(name)
                .await?
                .ok_or(IssuerError::UnknownOperator)?;
            if op.is_disabled() == disabled {
                return Ok(Decision::Answer(Ok(())));
            }
            op.standing = if disabled {
                Standing::Disabled
            } else {
                Standing::Active { failures: 0 }
            };
            let event = if disabled {
                AuditEvent::OperatorDisabled
            } else {
                AuditEvent::OperatorEnabled
            };
            let now = self.clock.now_ms();
            let commit = Commit {
                audit: vec![operator_record(event, now, name.to_string()).by(by)],
                operators: vec![OperatorWrite::Changed(op)],
                ..Commit::default()
            };
            Ok(Decision::Commit(commit, Ok(())))
        })
        .await?;
        if disabled {
            self.store
                .delete_sessions(Some(name), i64::MIN, i64::MIN)
                .await?;
        }
        Ok(())
    }

    /// A sign-in with a password and a TOTP code. An unknown name is refused as a wrong password
    /// is, after the same work.
    pub async fn sign_in(
        &self,
        name: &OperatorName,
        password: &str,
        code: &str,
    ) -> Result<Operator, IssuerError> {
        let lock = self.staff.lock;
        self.commit_with_retry(|| async move {
            let Some(mut op) = self.store.operator(name).await? else {
                // The same Argon2 work as a known name's check, so timing does not tell names.
                blocking::in_place(|| {
                    pooya_staff::password_matches(&DUMMY_HASH, password);
                });
                return Ok(Decision::Answer(Err(IssuerError::SignIn(
                    SignInRefused::WrongPassword,
                ))));
            };
            let secret = self
                .keys
                .open(&totp_aad(name), &op.totp_sealed)
                .map_err(|_| {
                    IssuerError::Internal("an operator's TOTP secret does not open".into())
                })?;
            let secret = TotpSecret::from_bytes(&secret);
            let now = self.clock.now_ms();
            let before = op.clone();
            let outcome = blocking::in_place(|| op.sign_in(password, code, &secret, now, lock));
            if op == before {
                // Refused without a change (locked, disabled): nothing to record.
                return Ok(Decision::Answer(
                    outcome.map(|()| op).map_err(IssuerError::SignIn),
                ));
            }
            let (event, detail) = match outcome {
                Ok(()) => (AuditEvent::OperatorSignedIn, name.to_string()),
                Err(SignInRefused::NowLocked) => (AuditEvent::OperatorLocked, name.to_string()),
                Err(why) => (AuditEvent::OperatorSignInFailed, format!("{name}: {why}")),
            };
            let by = Actor::Operator {
                name: op.name.clone(),
                role: op.role,
                branch: op.branch.clone(),
            };
            let commit = Commit {
                audit: vec![operator_record(event, now, detail).by(&by)],
                operators: vec![OperatorWrite::Changed(op.clone())],
                ..Commit::default()
            };
            Ok(Decision::Commit(
                commit,
                outcome.map(|()| op).map_err(IssuerError::SignIn),
            ))
        })
        .await
    }

    /// A teller's (or supervisor's) change of a customer's mobile: pending until another
    /// supervisor approves it, or at once when four eyes are off.
    pub async fn request_mobile_change(
        &self,
        by: &Actor,
        id: &CustomerId,
        mobile: Mobile,
    ) -> Result<MobileChangeAsked, IssuerError> {
        let Actor::Operator { name, role, branch } = by else {
            return Err(IssuerError::FourEyes(FourEyesRefusal::NotTeller));
        };
        if !role.serves_customers() {
            return Err(IssuerError::FourEyes(FourEyesRefusal::NotTeller));
        }
        if !self.staff.mobile_change_approval {
            let (_, revoked) = self.change_mobile(by, id, mobile).await?;
            return Ok(MobileChangeAsked::Changed { revoked });
        }
        let customer = self
            .store
            .customer(id)
            .await?
            .ok_or(IssuerError::UnknownCustomer)?;
        let now = self.clock.now_ms();
        let request = MobileChangeRecord {
            id: data_encoding::HEXLOWER.encode(&crate::keys::random_bytes::<12>()),
            customer_id: id.clone(),
            mobile: mobile.clone(),
            requested_by: name.clone(),
            branch: branch.clone(),
            requested_at: now,
            state: MobileChangeState::Pending,
        };
        let record = AuditRecord::new(
            AuditEvent::MobileChangeRequested,
            now,
            None,
            Some(id.as_str().to_owned()),
            format!(
                "{} -> {} request {}",
                customer.mobile.masked(),
                mobile.masked(),
                request.id
            ),
        )
        .by(by);
        let commit = Commit {
            customer_guards: vec![(customer.id.clone(), customer.version)],
            audit: vec![record],
            mobile_changes: vec![MobileChangeWrite::New(request.clone())],
            ..Commit::default()
        };
        match self.commit(commit).await {
            Ok(()) => Ok(MobileChangeAsked::Pending(request.id)),
            Err(StoreError::Conflict) => Err(IssuerError::Contention),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn pending_mobile_changes(&self) -> Result<Vec<MobileChangeRecord>, IssuerError> {
        Ok(self.store.pending_mobile_changes().await?)
    }

    /// A supervisor other than the requester approves (the change is made: the new mobile in
    /// force, the old one's tokens revoked, R12, in the same commit) or refuses.
    pub async fn decide_mobile_change(
        &self,
        by: &Actor,
        request_id: &str,
        approve: bool,
    ) -> Result<u32, IssuerError> {
        let Actor::Operator { name, role, .. } = by else {
            return Err(IssuerError::FourEyes(FourEyesRefusal::NotSupervisor));
        };
        if *role != StaffRole::Supervisor {
            return Err(IssuerError::FourEyes(FourEyesRefusal::NotSupervisor));
        }
        let request = self
            .store
            .mobile_change(request_id)
            .await?
            .ok_or(IssuerError::UnknownMobileChange)?;
        if request.requested_by == *name {
            return Err(IssuerError::FourEyes(FourEyesRefusal::OwnRequest));
        }
        if request.state != MobileChangeState::Pending {
            return Err(IssuerError::FourEyes(FourEyesRefusal::Decided));
        }
        let now = self.clock.now_ms();
        let detail = format!(
            "request {} by {} -> {}",
            request.id,
            request.requested_by,
            request.mobile.masked()
        );
        let decided = |state| MobileChangeRecord {
            state,
            ..request.clone()
        };
        let result = if approve {
            let state = MobileChangeState::Approved {
                by: name.clone(),
                at: now,
            };
            let write = MobileChangeWrite::Decided(decided(state));
            let record = AuditRecord::new(
                AuditEvent::MobileChangeApproved,
                now,
                None,
                Some(request.customer_id.as_str().to_owned()),
                detail,
            )
            .by(by);
            self.change_mobile_with(by, &request.customer_id, request.mobile.clone(), |_| {
                Ok(Some((write.clone(), record.clone())))
            })
            .await
            .map(|(_, revoked)| revoked)
        } else {
            let state = MobileChangeState::Refused {
                by: name.clone(),
                at: now,
            };
            let commit = Commit {
                audit: vec![AuditRecord::new(
                    AuditEvent::MobileChangeRefused,
                    now,
                    None,
                    Some(request.customer_id.as_str().to_owned()),
                    detail,
                )
                .by(by)],
                mobile_changes: vec![MobileChangeWrite::Decided(decided(state))],
                ..Commit::default()
            };
            self.commit(commit).await.map(|()| 0).map_err(Into::into)
        };
        // Another supervisor decided it first.
        result.map_err(|e| match e {
            IssuerError::Contention => IssuerError::FourEyes(FourEyesRefusal::Decided),
            e => e,
        })
    }
}

/// A record about operators: no card, no customer.
fn operator_record(event: AuditEvent, now: i64, detail: String) -> AuditRecord {
    AuditRecord::new(event, now, None, None, detail)
}

/// An Argon2id hash of a random password, checked for unknown names.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password(&Password::generate()));
