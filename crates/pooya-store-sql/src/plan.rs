//! What a [`Commit`] writes, as data: its statements in order, each with its values, the rows it
//! must change and what a taken unique key means. Every executor runs this one description —
//! sqlx on PostgreSQL and SQLite ([`crate::sqlx_exec`]), rusqlite on SQLite's writer thread
//! ([`crate::direct`]), PostgreSQL's set-based batch ([`crate::set_based`]) — so what they write
//! cannot drift apart. What differs between them is only how each holds its transaction and its
//! audit lanes' heads.

use std::borrow::Cow;

use pooya_issuer::audit::AuditHead;
use pooya_issuer::card::CardRecord;
use pooya_issuer::keys::Keyring;
use pooya_issuer::store::{
    AuditRecord, Commit, EnrollmentRunRecord, MobileChangeState, MobileChangeWrite, OperatorWrite,
    RunKind, StoreError,
};

use crate::statements::*;
use crate::{corrupt, Backend};

/// A value bound to one `$n` of a statement. Text and bytes are borrowed from the commit where
/// they can be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value<'c> {
    Int(Option<i64>),
    Text(Option<Cow<'c, str>>),
    Bytes(Option<&'c [u8]>),
}

impl<'c> Value<'c> {
    fn int(v: i64) -> Value<'c> {
        Value::Int(Some(v))
    }
    fn text(v: &'c str) -> Value<'c> {
        Value::Text(Some(Cow::Borrowed(v)))
    }
    fn owned(v: String) -> Value<'c> {
        Value::Text(Some(Cow::Owned(v)))
    }
    fn opt_text(v: Option<&'c str>) -> Value<'c> {
        Value::Text(v.map(Cow::Borrowed))
    }
}

/// Which rows a step writes: how the set-based batch tells a verification's commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Write {
    NewCustomer,
    Customer,
    CustomerGuard,
    NewCard,
    Card,
    Verification,
    Sms,
    NewRun,
    ClosedRun,
    ClearedTries,
    Audit,
    AuditHead,
    Operator,
    MobileChange,
}

/// What a unique key already taken means for a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    /// The row to create exists: the caller asked for something that is there already.
    Duplicate,
    /// A concurrent writer got there first (or a random id met its twin): read again, decide
    /// again. Every write but the creation of a customer or a card.
    Conflict,
}

impl Taken {
    pub(crate) fn error(self) -> StoreError {
        match self {
            Taken::Duplicate => StoreError::Duplicate,
            Taken::Conflict => StoreError::Conflict,
        }
    }
}

/// One statement of a commit.
#[derive(Debug)]
pub(crate) struct Step<'c> {
    pub write: Write,
    pub sql: &'static str,
    /// Run with the same values when `sql` changed no row.
    pub otherwise: Option<&'static str>,
    pub values: Vec<Value<'c>>,
    /// The step must change exactly one row (a guarded update, a run closed), else the commit
    /// lost a race: [`StoreError::Conflict`].
    pub one_row: bool,
    pub taken: Taken,
}

impl<'c> Step<'c> {
    fn new(write: Write, sql: &'static str, values: Vec<Value<'c>>) -> Step<'c> {
        Step {
            write,
            sql,
            otherwise: None,
            values,
            one_row: false,
            taken: Taken::Conflict,
        }
    }
    fn one_row(mut self) -> Step<'c> {
        self.one_row = true;
        self
    }
    fn taken(mut self, taken: Taken) -> Step<'c> {
        self.taken = taken;
        self
    }

    /// Whether `rows` changed rows (of `sql`, else of `otherwise`) is what the step must change.
    pub(crate) fn check(&self, rows: u64) -> Result<(), StoreError> {
        if self.one_row && rows != 1 {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }
}

/// Everything one commit writes, in order: its steps, then its audit records.
#[derive(Debug)]
pub(crate) struct Plan<'c> {
    pub steps: Vec<Step<'c>>,
    pub audit: Option<AuditAppend<'c>>,
}

/// Audit records to append to a lane, last in a commit: each executor reads and moves the lane's
/// head its own way (locked per commit, kept per batch, moved for a whole batch at once) and
/// writes [`AuditAppend::rows`] and [`head_moved`].
#[derive(Debug)]
pub(crate) struct AuditAppend<'c> {
    pub lane: i64,
    pub keys: &'c Keyring,
    pub records: &'c [AuditRecord],
}

impl<'c> Plan<'c> {
    pub(crate) fn of(c: &'c Commit, backend: Backend) -> Result<Plan<'c>, StoreError> {
        let mut steps = Vec::with_capacity(
            c.new_customers.len()
                + c.customers.len()
                + c.customer_guards.len()
                + c.new_cards.len()
                + c.cards.len()
                + c.verifications.len()
                + c.outbox.len()
                + c.new_enrollment_runs.len()
                + c.closed_enrollment_runs.len()
                + c.cleared_enrollment_tries.len(),
        );
        for u in &c.new_customers {
            steps.push(
                Step::new(
                    Write::NewCustomer,
                    INSERT_CUSTOMER,
                    vec![
                        Value::text(u.id.as_str()),
                        Value::text(u.mobile.as_str()),
                        Value::int(u.created_at),
                    ],
                )
                .taken(Taken::Duplicate),
            );
        }
        for u in &c.customers {
            steps.push(
                Step::new(
                    Write::Customer,
                    UPDATE_CUSTOMER,
                    vec![
                        Value::text(u.mobile.as_str()),
                        Value::text(u.id.as_str()),
                        Value::int(u.version),
                    ],
                )
                .one_row(),
            );
        }
        for (id, version) in &c.customer_guards {
            steps.push(
                Step::new(
                    Write::CustomerGuard,
                    GUARD_CUSTOMER,
                    vec![Value::text(id.as_str()), Value::int(*version)],
                )
                .one_row(),
            );
        }
        for card in &c.new_cards {
            steps.push(
                Step::new(
                    Write::NewCard,
                    INSERT_CARD,
                    vec![
                        Value::text(&card.pan_hash),
                        Value::text(card.customer_id.as_str()),
                        Value::text(&card.pan_masked),
                        Value::text(&card.last4),
                        Value::owned(card.expiry.as_yymm()),
                        Value::text(&card.pin_hash),
                        Value::text(&card.second_hash),
                        Value::int(i64::from(card.second_blocked)),
                        Value::owned(service_json(card)?),
                        Value::opt_text(card.token_id()),
                        Value::opt_text(ENROLLMENT_ID),
                        Value::int(card.created_at),
                        Value::int(card.created_at),
                        Value::Text(tail_macs(card).map(Cow::Owned)),
                    ],
                )
                .taken(Taken::Duplicate),
            );
        }
        for card in &c.cards {
            let mut step = Step::new(
                Write::Card,
                UPDATE_CARD,
                vec![
                    Value::int(i64::from(card.second_blocked)),
                    Value::owned(service_json(card)?),
                    Value::opt_text(card.token_id()),
                    Value::opt_text(ENROLLMENT_ID),
                    Value::int(c.at),
                    Value::text(&card.pan_hash),
                    Value::int(card.version),
                ],
            )
            .one_row();
            if backend == Backend::Sqlite {
                // Most changes (every verification) keep the card's token and enrollment run:
                // then the statement that leaves their indexes alone matches; else the whole row
                // is written.
                step.sql = UPDATE_CARD_STATE;
                step.otherwise = Some(UPDATE_CARD);
            }
            steps.push(step);
        }
        for v in &c.verifications {
            steps.push(Step::new(
                Write::Verification,
                INSERT_VERIFICATION,
                vec![
                    Value::text(&v.pan_hash),
                    Value::text(&v.txn_id),
                    Value::Bytes(Some(&v.fingerprint)),
                    Value::text(&v.response_code),
                    Value::text(&v.reason),
                    Value::int(v.at),
                    Value::opt_text(v.merchant.as_deref()),
                ],
            ));
        }
        for m in &c.outbox {
            steps.push(Step::new(
                Write::Sms,
                INSERT_SMS,
                vec![
                    Value::text(m.to.as_str()),
                    Value::text(&m.text),
                    Value::int(m.created_at),
                    Value::Int(m.expires_at),
                    Value::int(m.created_at),
                    Value::text(&m.msg_id),
                ],
            ));
        }
        for r in &c.new_enrollment_runs {
            let (activation, pending, lifetime) = live_columns(r);
            steps.push(Step::new(
                Write::NewRun,
                INSERT_RUN,
                vec![
                    Value::text(&r.id),
                    Value::text(&r.pan_hash),
                    Value::text(&r.pan_masked),
                    Value::text(&r.tries_key),
                    Value::opt_text(activation),
                    Value::Bytes(pending),
                    Value::Int(lifetime),
                    Value::int(r.expires_at),
                ],
            ));
        }
        for id in &c.closed_enrollment_runs {
            // One answer per run, whichever server gives it.
            steps.push(Step::new(Write::ClosedRun, DELETE_RUN, vec![Value::text(id)]).one_row());
        }
        for key in &c.cleared_enrollment_tries {
            steps.push(Step::new(
                Write::ClearedTries,
                DELETE_TRIES,
                vec![Value::text(key)],
            ));
        }
        for w in &c.operators {
            let (sql, op) = match w {
                OperatorWrite::New(op) => (INSERT_OPERATOR, op),
                OperatorWrite::Changed(op) => (UPDATE_OPERATOR, op),
            };
            let (standing, failures, until) = op.standing_columns();
            let mut values = vec![
                Value::text(op.name.as_str()),
                Value::text(op.role.as_str()),
                Value::opt_text(op.branch.as_ref().map(|b| b.as_str())),
                Value::text(&op.password_hash),
                Value::Bytes(Some(&op.totp_sealed)),
                Value::Int(op.last_totp_step.map(|s| s as i64)),
                Value::text(standing),
                Value::int(failures),
                Value::Int(until),
            ];
            let step = match w {
                OperatorWrite::New(_) => {
                    values.push(Value::int(op.created_at));
                    Step::new(Write::Operator, sql, values).taken(Taken::Duplicate)
                }
                OperatorWrite::Changed(_) => {
                    values.push(Value::int(op.version));
                    Step::new(Write::Operator, sql, values).one_row()
                }
            };
            steps.push(step);
        }
        for w in &c.mobile_changes {
            let (state, by, at) = match w {
                MobileChangeWrite::New(r) | MobileChangeWrite::Decided(r) => match &r.state {
                    MobileChangeState::Pending => ("pending", None, None),
                    MobileChangeState::Approved { by, at } => ("approved", Some(by), Some(*at)),
                    MobileChangeState::Refused { by, at } => ("refused", Some(by), Some(*at)),
                },
            };
            let by = by.map(|b| b.as_str());
            steps.push(match w {
                MobileChangeWrite::New(r) => Step::new(
                    Write::MobileChange,
                    INSERT_MOBILE_CHANGE,
                    vec![
                        Value::text(&r.id),
                        Value::text(r.customer_id.as_str()),
                        Value::text(r.mobile.as_str()),
                        Value::text(r.requested_by.as_str()),
                        Value::opt_text(r.branch.as_ref().map(|b| b.as_str())),
                        Value::int(r.requested_at),
                        Value::text(state),
                        Value::opt_text(by),
                        Value::Int(at),
                    ],
                ),
                MobileChangeWrite::Decided(r) => Step::new(
                    Write::MobileChange,
                    DECIDE_MOBILE_CHANGE,
                    vec![
                        Value::text(&r.id),
                        Value::text(state),
                        Value::opt_text(by),
                        Value::Int(at),
                    ],
                )
                .one_row(),
            });
        }
        let audit = if c.audit.is_empty() {
            None
        } else {
            let keys = c.audit_key.as_deref().ok_or_else(|| {
                corrupt("audit records given without the audit key (a bug): refused")
            })?;
            Some(AuditAppend {
                lane: c.audit_lane(),
                keys,
                records: &c.audit,
            })
        };
        Ok(Plan { steps, audit })
    }
}

impl<'c> AuditAppend<'c> {
    /// The records' rows chained on from `head` (the lane's head as it stands), and the head
    /// after them.
    pub(crate) fn rows(&self, head: &AuditHead) -> (Vec<Step<'c>>, AuditHead) {
        debug_assert_eq!(head.lane, self.lane);
        let (links, new_head) = pooya_issuer::audit::append(self.keys, head, self.records);
        let rows = self
            .records
            .iter()
            .zip(links)
            .map(|(a, (seq, mac))| {
                Step::new(
                    Write::Audit,
                    INSERT_AUDIT,
                    vec![
                        Value::int(a.at),
                        Value::text(&a.event),
                        Value::opt_text(a.pan_masked.as_deref()),
                        Value::opt_text(a.customer_id.as_deref()),
                        Value::text(&a.detail),
                        Value::int(self.lane),
                        Value::int(seq),
                        Value::owned(mac),
                        Value::opt_text(a.actor.as_deref()),
                    ],
                )
            })
            .collect();
        (rows, new_head)
    }
}

/// A lane's head moved from `read` to `now`, guarded by `read`. Its values, in this order, are
/// also the rows of the set-based batch's move of every lane's head.
pub(crate) fn head_moved(read: &AuditHead, now: &AuditHead) -> Step<'static> {
    Step::new(
        Write::AuditHead,
        UPDATE_AUDIT_HEAD,
        vec![
            Value::int(now.seq),
            Value::owned(now.mac.clone()),
            Value::int(read.lane),
            Value::int(read.seq),
        ],
    )
    .one_row()
}

fn service_json(c: &CardRecord) -> Result<String, StoreError> {
    c.service_json().map_err(corrupt)
}

/// The cards' column `tail_macs`: the keyed hashes of the number's tails, hex, comma-separated;
/// none for a card stored before they existed.
fn tail_macs(c: &CardRecord) -> Option<String> {
    (!c.tail_macs.is_empty()).then(|| {
        c.tail_macs
            .iter()
            .map(|m| data_encoding::HEXLOWER.encode(m))
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// The cards' column `enrollment_id`: no longer used (runs have a table of their own since
/// migration 0008), written empty, which also clears the run an older version left there.
const ENROLLMENT_ID: Option<&str> = None;

/// The columns `activation_id`, `pending`, `lifetime_secs` of a run.
fn live_columns(r: &EnrollmentRunRecord) -> (Option<&str>, Option<&[u8]>, Option<i64>) {
    match &r.kind {
        RunKind::Live(l) => (
            Some(l.activation_id.as_str()),
            Some(l.pending_sealed.as_slice()),
            Some(i64::from(l.lifetime_secs)),
        ),
        RunKind::Decoy => (None, None, None),
    }
}
