//! The tamper-evident audit trail: every audit record is a link of a keyed hash chain.
//!
//! Records go to one of [`LANES`] chains ("lanes"), chosen by the commit's subject (its card, else
//! its customer), so all records of one card sit in one lane in order. Each record carries its
//! lane, its place `seq` (1, 2, 3, … per lane) and
//! `mac = HMAC(audit key, lane ‖ seq ‖ previous mac ‖ at ‖ event ‖ pan_masked ‖ customer_id ‖ detail)`.
//! The head of each lane (its last `seq` and `mac`) is a row of `audit_chains`, locked by the
//! transaction that appends to it — in the same transaction as the change the records describe.
//!
//! Why lanes: one chain for a whole cluster would make every commit of every server wait on one
//! row lock. With lanes, two commits wait on each other only when they touch the same lane; and
//! since a card's commits already wait on the card's own row, one card's records cost no extra
//! waiting at all.
//!
//! Why a keyed MAC and not a plain hash: the key comes from the server's key material
//! ([`Keyring::audit_mac`]), which never sits in the database, so someone holding only the
//! database can change or delete records but cannot compute the links that would hide it.
//!
//! [`Verifier`] walks the records in id order and names the first that breaks its lane: changed
//! (MAC), deleted or reordered (seq), or stripped of its link. What it cannot see, and
//! `docs/security.md` says: a cut of a lane's tail together with a matching rewind of its head row
//! (compare against heads saved elsewhere — `pooya audit verify` prints them), and a database
//! restored whole to an earlier state.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::keys::Keyring;

/// How many chains the records are spread over. Fixed: migration 0005 creates one head row each.
pub const LANES: i64 = 16;

/// An audit record: what happened to which card, never a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: i64,
    /// The event's stored name ([`AuditEvent::as_str`] for what the issuer writes; any text in
    /// rows read back).
    pub event: String,
    pub pan_masked: Option<String>,
    pub customer_id: Option<String>,
    pub detail: String,
    /// Who made the change ([`Actor::stored`]): an operator and branch, or a channel key's
    /// label. `None` for what the card holder does through a channel (a verification, an ATM
    /// activation) and for records written before operators existed (migration 0010).
    pub actor: Option<String>,
}

/// Who made a change, named in its audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A person signed in to the console.
    Operator {
        name: pooya_staff::OperatorName,
        role: pooya_staff::StaffRole,
        branch: Option<pooya_staff::BranchCode>,
    },
    /// A machine holding a channel key (core banking through the branch API, …), by the key's
    /// label.
    Channel { label: String },
    /// The `pooya` command on the server's own machine (`pooya operator …`).
    Command,
}

impl Actor {
    /// The actor as the audit trail stores it: `operator:NAME@BRANCH` (`@-` without a branch),
    /// `key:LABEL`, `command`.
    pub fn stored(&self) -> String {
        match self {
            Actor::Operator { name, branch, .. } => format!(
                "operator:{}@{}",
                name,
                branch.as_ref().map_or("-", |b| b.as_str())
            ),
            Actor::Channel { label } => format!("key:{label}"),
            Actor::Command => "command".into(),
        }
    }
    /// The operator's name, for an operator.
    pub fn operator(&self) -> Option<&pooya_staff::OperatorName> {
        match self {
            Actor::Operator { name, .. } => Some(name),
            _ => None,
        }
    }
}

impl AuditRecord {
    /// The same record naming who made the change.
    pub fn by(mut self, actor: &Actor) -> AuditRecord {
        self.actor = Some(actor.stored());
        self
    }

    /// A record of `event` at `at`, about a card number (masked) and/or a customer.
    pub fn new(
        event: AuditEvent,
        at: i64,
        pan_masked: Option<String>,
        customer_id: Option<String>,
        detail: String,
    ) -> AuditRecord {
        AuditRecord {
            at,
            event: event.as_str().to_owned(),
            pan_masked,
            customer_id,
            detail,
            actor: None,
        }
    }
}

/// Every event the issuer records, by the name it is stored under (unchanged since each was
/// first written: operators search the trail by these names, and the chain's MACs cover them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditEvent {
    CustomerCreated,
    CustomerMobileChanged,
    /// Four eyes: a teller asked for a customer's new mobile; nothing changed yet.
    MobileChangeRequested,
    /// A supervisor approved it: the change itself is `CustomerMobileChanged`, in the same commit.
    MobileChangeApproved,
    MobileChangeRefused,
    OperatorAdded,
    OperatorDisabled,
    OperatorEnabled,
    OperatorSignedIn,
    /// A wrong password or second factor (the detail says which, never what was typed).
    OperatorSignInFailed,
    /// The failure that locked the account.
    OperatorLocked,
    /// A channel key made or revoked by an admin in the console (its label and role, never it).
    KeyCreated,
    KeyRevoked,
    /// An operator asked for a queued or given-up SMS to be tried again at once.
    OutboxRetry,
    CardCreated,
    /// R12: tokens issued on a customer's old mobile died with its change.
    CardTokensRevoked,
    BranchUnblockSecond,
    BranchUnlockPin,
    AtmWrongPin,
    AtmMobileMismatch,
    AtmActivateApp,
    AtmActivateSms,
    AtmDeactivate,
    AtmBlockSecond,
    SmsVariablePart,
    SmsRequestRepeated,
    SmsAmbiguousCard,
    /// Every verification's outcome (R1–R5, R9, R11, R21, R24).
    Verify,
    SwitchOtpRequest,
    SwitchOtpRequestRepeated,
    AppEnrollStart,
    AppEnrolled,
    AppEnrollFailed,
    AppRemovalChallenge,
    AppTokenRemoved,
    AppTokenRemovalRefused,
    AdminPskcImport,
    /// The store's start-time upgrade of values at rest (`crate::at_rest`).
    StoreUpgradedAtRest,
}

impl AuditEvent {
    /// The name the event is stored under.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::CustomerCreated => "customer.created",
            AuditEvent::CustomerMobileChanged => "customer.mobile_changed",
            AuditEvent::MobileChangeRequested => "customer.mobile_change_requested",
            AuditEvent::MobileChangeApproved => "customer.mobile_change_approved",
            AuditEvent::MobileChangeRefused => "customer.mobile_change_refused",
            AuditEvent::OperatorAdded => "operator.added",
            AuditEvent::OperatorDisabled => "operator.disabled",
            AuditEvent::OperatorEnabled => "operator.enabled",
            AuditEvent::OperatorSignedIn => "operator.signed_in",
            AuditEvent::OperatorSignInFailed => "operator.sign_in_failed",
            AuditEvent::OperatorLocked => "operator.locked",
            AuditEvent::KeyCreated => "key.created",
            AuditEvent::KeyRevoked => "key.revoked",
            AuditEvent::OutboxRetry => "outbox.retry",
            AuditEvent::CardCreated => "card.created",
            AuditEvent::CardTokensRevoked => "card.tokens_revoked",
            AuditEvent::BranchUnblockSecond => "branch.unblock_second",
            AuditEvent::BranchUnlockPin => "branch.unlock_pin",
            AuditEvent::AtmWrongPin => "atm.wrong_pin",
            AuditEvent::AtmMobileMismatch => "atm.mobile_mismatch",
            AuditEvent::AtmActivateApp => "atm.activate_app",
            AuditEvent::AtmActivateSms => "atm.activate_sms",
            AuditEvent::AtmDeactivate => "atm.deactivate",
            AuditEvent::AtmBlockSecond => "atm.block_second",
            AuditEvent::SmsVariablePart => "sms.variable_part",
            AuditEvent::SmsRequestRepeated => "sms.request_repeated",
            AuditEvent::SmsAmbiguousCard => "sms.ambiguous_card",
            AuditEvent::Verify => "verify",
            AuditEvent::SwitchOtpRequest => "switch.otp_request",
            AuditEvent::SwitchOtpRequestRepeated => "switch.otp_request_repeated",
            AuditEvent::AppEnrollStart => "app.enroll_start",
            AuditEvent::AppEnrolled => "app.enrolled",
            AuditEvent::AppEnrollFailed => "app.enroll_failed",
            AuditEvent::AppRemovalChallenge => "app.removal_challenge",
            AuditEvent::AppTokenRemoved => "app.token_removed",
            AuditEvent::AppTokenRemovalRefused => "app.token_removal_refused",
            AuditEvent::AdminPskcImport => "admin.pskc_import",
            AuditEvent::StoreUpgradedAtRest => "store.upgraded_at_rest",
        }
    }
}

/// An audit record as stored, with its link of the chain (`None` for records written before
/// the chain existed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAudit {
    pub id: i64,
    pub lane: Option<i64>,
    pub seq: Option<i64>,
    /// Hex.
    pub mac: Option<String>,
    pub record: AuditRecord,
}

/// The last link of one lane.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditHead {
    pub lane: i64,
    pub seq: i64,
    /// Hex; empty while the lane has no record.
    pub mac: String,
}

/// The lane of the records about `subject` (a card's `pan_hash`, else a customer's id, else what
/// the first record names): see [`crate::store::Commit::audit_lane`].
pub fn lane_of_subject(subject: &str) -> i64 {
    let h = Sha256::digest(subject.as_bytes());
    i64::from(h[0]) % LANES
}

fn opt(v: &Option<String>) -> Vec<u8> {
    match v {
        None => vec![0],
        Some(s) => {
            let mut out = vec![1];
            out.extend_from_slice(s.as_bytes());
            out
        }
    }
}

/// The link of `rec` at (`lane`, `seq`) after the link `prev` (hex; empty for seq 1).
/// The actor is covered when there is one; a record without one (as every record was before
/// migration 0010) has the link it always had.
pub fn link(keys: &Keyring, lane: i64, seq: i64, prev: &str, rec: &AuditRecord) -> String {
    let (lane, seq, at, pan, customer) = (
        lane.to_be_bytes(),
        seq.to_be_bytes(),
        rec.at.to_be_bytes(),
        opt(&rec.pan_masked),
        opt(&rec.customer_id),
    );
    let mut parts: Vec<&[u8]> = vec![
        &lane,
        &seq,
        prev.as_bytes(),
        &at,
        rec.event.as_bytes(),
        &pan,
        &customer,
        rec.detail.as_bytes(),
    ];
    let actor = rec
        .actor
        .as_ref()
        .map(|a| [b"actor:".as_slice(), a.as_bytes()].concat());
    if let Some(a) = &actor {
        parts.push(a);
    }
    let mac = keys.audit_mac(&parts);
    data_encoding::HEXLOWER.encode(&mac)
}

/// The links of `records` appended to a lane whose head is `head`, and the new head.
pub fn append(
    keys: &Keyring,
    head: &AuditHead,
    records: &[AuditRecord],
) -> (Vec<(i64, String)>, AuditHead) {
    let mut seq = head.seq;
    let mut prev = head.mac.clone();
    let mut links = Vec::with_capacity(records.len());
    for r in records {
        seq += 1;
        prev = link(keys, head.lane, seq, &prev, r);
        links.push((seq, prev.clone()));
    }
    let new_head = AuditHead {
        lane: head.lane,
        seq,
        mac: prev,
    };
    (links, new_head)
}

/// Where and why the chain breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct Break {
    /// The first broken record, when it exists (a cut tail has none left to name).
    pub id: Option<i64>,
    pub lane: Option<i64>,
    pub seq: Option<i64>,
    pub reason: String,
}

impl Break {
    fn describe(&self) -> String {
        let mut s = match self.id {
            Some(id) => format!("record {id}"),
            None => "a missing record".to_owned(),
        };
        if let (Some(l), Some(q)) = (self.lane, self.seq) {
            s.push_str(&format!(" (lane {l}, seq {q})"));
        }
        s.push_str(": ");
        s.push_str(&self.reason);
        s
    }
}

/// What a walk of an intact chain found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Chained records checked.
    pub records: u64,
    /// Records from before the chain existed (migration 0005), not covered by it.
    pub legacy: u64,
    /// The last link of each lane as walked: save these elsewhere to detect a later cut.
    pub heads: Vec<AuditHead>,
}

/// Walks the records in id order. Give it the heads read *before* the records, so records that
/// servers append meanwhile count as later links and not as damage.
pub struct Verifier<'k> {
    keys: &'k Keyring,
    /// Per lane: the last seq and mac seen.
    seen: BTreeMap<i64, (i64, String)>,
    /// Per lane: the head read before the walk, and whether its link was met and matched.
    heads: BTreeMap<i64, (AuditHead, bool)>,
    chained: bool,
    records: u64,
    legacy: u64,
    /// Links saved elsewhere earlier (`pooya audit verify --anchors`): each must still be found.
    anchors: BTreeMap<(i64, i64), (String, bool)>,
}

impl<'k> Verifier<'k> {
    pub fn new(keys: &'k Keyring, heads: &[AuditHead]) -> Result<Verifier<'k>, Break> {
        let mut map = BTreeMap::new();
        for h in heads {
            if !(0..LANES).contains(&h.lane) {
                return Err(Break {
                    id: None,
                    lane: Some(h.lane),
                    seq: None,
                    reason: format!("audit_chains holds an unknown lane {}", h.lane),
                });
            }
            map.insert(h.lane, (h.clone(), h.seq == 0));
        }
        for lane in 0..LANES {
            if !map.contains_key(&lane) {
                return Err(Break {
                    id: None,
                    lane: Some(lane),
                    seq: None,
                    reason: format!("the head row of lane {lane} is missing from audit_chains"),
                });
            }
        }
        Ok(Verifier {
            keys,
            seen: BTreeMap::new(),
            heads: map,
            chained: false,
            records: 0,
            legacy: 0,
            anchors: BTreeMap::new(),
        })
    }

    /// Links an earlier walk reported (kept outside the database): the walk fails unless each is
    /// still in its lane, unchanged. This is what catches a cut tail whose head row was rewound,
    /// and a database restored to an earlier state, back to the newest anchor.
    pub fn with_anchors(mut self, anchors: &[AuditHead]) -> Self {
        for a in anchors.iter().filter(|a| a.seq > 0) {
            self.anchors.insert((a.lane, a.seq), (a.mac.clone(), false));
        }
        self
    }

    /// Checks the next record (in id order).
    pub fn push(&mut self, r: &StoredAudit) -> Result<(), Break> {
        let broken = |reason: String| Break {
            id: Some(r.id),
            lane: r.lane,
            seq: r.seq,
            reason,
        };
        let (lane, seq, mac) = match (r.lane, r.seq, r.mac.as_deref()) {
            (None, None, None) if !self.chained => {
                self.legacy += 1;
                return Ok(());
            }
            (None, None, None) => {
                return Err(broken(
                    "not chained, yet written after the chain began: its link was removed".into(),
                ))
            }
            (Some(l), Some(s), Some(m)) => (l, s, m),
            _ => {
                return Err(broken(
                    "its link is incomplete (lane, seq or mac missing)".into(),
                ))
            }
        };
        if !(0..LANES).contains(&lane) {
            return Err(broken(format!("lane {lane} does not exist")));
        }
        self.chained = true;
        let (last, prev) = self.seen.get(&lane).cloned().unwrap_or((0, String::new()));
        if seq != last + 1 {
            return Err(broken(if seq <= last {
                format!(
                    "seq {seq} comes after seq {last} of its lane: records were reordered or copied"
                )
            } else if last + 1 == seq - 1 {
                format!(
                    "seq {} of lane {lane} is missing: a record was deleted",
                    last + 1
                )
            } else {
                format!(
                    "seqs {}..={} of lane {lane} are missing: records were deleted",
                    last + 1,
                    seq - 1
                )
            }));
        }
        let want = link(self.keys, lane, seq, &prev, &r.record);
        if !pooya_otp::ct_eq(want.as_bytes(), mac.as_bytes()) {
            return Err(broken(
                "its MAC does not match: the record (or the one before it) was changed".into(),
            ));
        }
        if let Some((head, met)) = self.heads.get_mut(&lane) {
            if head.seq == seq {
                if !pooya_otp::ct_eq(head.mac.as_bytes(), mac.as_bytes()) {
                    return Err(broken(format!(
                        "the head of lane {lane} in audit_chains names another MAC for this seq"
                    )));
                }
                *met = true;
            }
        }
        if let Some((saved, met)) = self.anchors.get_mut(&(lane, seq)) {
            if !pooya_otp::ct_eq(saved.as_bytes(), mac.as_bytes()) {
                return Err(broken(
                    "it is not the record saved as an anchor for this place: the chain was \
                     rewritten from here"
                        .into(),
                ));
            }
            *met = true;
        }
        self.seen.insert(lane, (seq, mac.to_owned()));
        self.records += 1;
        Ok(())
    }

    /// After the last record: every lane must reach its head.
    pub fn finish(self) -> Result<Summary, Break> {
        if let Some(((lane, seq), _)) = self.anchors.iter().find(|(_, (_, met))| !met) {
            let last = self.seen.get(lane).map(|(s, _)| *s).unwrap_or(0);
            return Err(Break {
                id: None,
                lane: Some(*lane),
                seq: Some(last + 1),
                reason: format!(
                    "lane {lane} ends at seq {last}, before the anchor saved at seq {seq}: its \
                     tail was cut (and its head row rewound) or the database was restored to an \
                     earlier state"
                ),
            });
        }
        for (lane, (head, met)) in &self.heads {
            if !met {
                let last = self.seen.get(lane).map(|(s, _)| *s).unwrap_or(0);
                let reason = if head.seq == last + 1 {
                    format!(
                        "lane {lane} ends at seq {last} but its head says {}: the last record \
                         was deleted",
                        head.seq
                    )
                } else {
                    format!(
                        "lane {lane} ends at seq {last} but its head says {}: the records after \
                         seq {last} were deleted",
                        head.seq
                    )
                };
                return Err(Break {
                    id: None,
                    lane: Some(*lane),
                    seq: Some(last + 1),
                    reason,
                });
            }
        }
        Ok(Summary {
            records: self.records,
            legacy: self.legacy,
            heads: (0..LANES)
                .map(|lane| {
                    let (seq, mac) = self.seen.get(&lane).cloned().unwrap_or((0, String::new()));
                    AuditHead { lane, seq, mac }
                })
                .collect(),
        })
    }
}

/// The lane heads of a `pooya audit verify` report (its `lane L seq S mac M` lines; other lines
/// are ignored), to give back as anchors.
pub fn parse_anchors(report: &str) -> Result<Vec<AuditHead>, String> {
    let mut out = Vec::new();
    for line in report.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["lane", lane, "seq", seq, "mac", mac] = words.as_slice() {
            let bad = || format!("not an anchor line: {line:?}");
            out.push(AuditHead {
                lane: lane.parse().map_err(|_| bad())?,
                seq: seq.parse().map_err(|_| bad())?,
                mac: (*mac).to_owned(),
            });
        }
    }
    Ok(out)
}

/// One record of `pooya audit export`: a JSON object on one line. Audit records hold no secret
/// (PANs masked, mobiles masked, no code), so the export holds none either.
pub fn export_line(r: &StoredAudit) -> String {
    serde_json::json!({
        "id": r.id,
        "at": r.record.at,
        // The same instant for a reader (`at`, unix ms, is what the MAC covers).
        "time": crate::clock::rfc3339(r.record.at),
        "event": r.record.event,
        "pan_masked": r.record.pan_masked,
        "customer_id": r.record.customer_id,
        "detail": r.record.detail,
        "actor": r.record.actor,
        "lane": r.lane,
        "seq": r.seq,
        "mac": r.mac,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::HashCost;

    fn keys(b: u8) -> Keyring {
        Keyring::from_master(
            &[b; 32],
            HashCost {
                m_kib: 64,
                t: 1,
                p: 1,
            },
        )
        .unwrap()
    }

    fn rec(i: i64) -> AuditRecord {
        AuditRecord {
            at: 1_000 + i,
            event: "verify".into(),
            pan_masked: Some("628023******7898".into()),
            customer_id: if i % 2 == 0 { Some("C1".into()) } else { None },
            detail: format!("n={i}"),
            actor: (i % 3 == 0).then(|| "operator:sara@0123".to_owned()),
        }
    }

    #[test]
    fn the_actor_is_covered_and_records_without_one_keep_their_link() {
        let k = keys(1);
        let mut r = rec(1);
        r.actor = None;
        // The link as it was before records named their actor (migration 0010).
        let before = data_encoding::HEXLOWER.encode(&k.audit_mac(&[
            &3i64.to_be_bytes(),
            &1i64.to_be_bytes(),
            b"",
            &r.at.to_be_bytes(),
            r.event.as_bytes(),
            &opt(&r.pan_masked),
            &opt(&r.customer_id),
            r.detail.as_bytes(),
        ]));
        assert_eq!(link(&k, 3, 1, "", &r), before);
        let by_sara = r.clone().by(&Actor::Channel {
            label: "core".into(),
        });
        assert_eq!(by_sara.actor.as_deref(), Some("key:core"));
        let with = link(&k, 3, 1, "", &by_sara);
        assert_ne!(with, before, "the actor is covered");
        let mut other = by_sara.clone();
        other.actor = Some("key:other".into());
        assert_ne!(link(&k, 3, 1, "", &other), with);
    }

    fn empty_heads() -> Vec<AuditHead> {
        (0..LANES)
            .map(|lane| AuditHead {
                lane,
                seq: 0,
                mac: String::new(),
            })
            .collect()
    }

    /// Records appended to lanes 3 and 5 alternately, as the store would write them.
    fn chain(k: &Keyring, n: i64) -> (Vec<StoredAudit>, Vec<AuditHead>) {
        let mut heads = empty_heads();
        let mut out = Vec::new();
        for i in 0..n {
            let lane = if i % 3 == 0 { 5 } else { 3 };
            let r = rec(i);
            let (links, head) = append(k, &heads[lane as usize], std::slice::from_ref(&r));
            heads[lane as usize] = head;
            out.push(StoredAudit {
                id: 10 + i,
                lane: Some(lane),
                seq: Some(links[0].0),
                mac: Some(links[0].1.clone()),
                record: r,
            });
        }
        (out, heads)
    }

    fn walk(k: &Keyring, recs: &[StoredAudit], heads: &[AuditHead]) -> Result<Summary, Break> {
        let mut v = Verifier::new(k, heads)?;
        for r in recs {
            v.push(r)?;
        }
        v.finish()
    }

    #[test]
    fn an_intact_chain_verifies_and_reports_its_heads() {
        let k = keys(1);
        let (recs, heads) = chain(&k, 9);
        let s = walk(&k, &recs, &heads).unwrap();
        assert_eq!(s.records, 9);
        assert_eq!(s.legacy, 0);
        assert_eq!(s.heads, heads);
    }

    #[test]
    fn another_key_cannot_make_or_check_the_chain() {
        let (recs, heads) = chain(&keys(1), 4);
        let b = walk(&keys(2), &recs, &heads).unwrap_err();
        assert_eq!(b.id, Some(10));
    }

    #[test]
    fn an_edited_field_breaks_that_record() {
        let k = keys(1);
        let (recs, heads) = chain(&k, 9);
        for field in 0..5 {
            let mut bad = recs.clone();
            let r = &mut bad[4].record;
            match field {
                0 => r.at += 1,
                1 => r.event = "verifx".into(),
                2 => r.pan_masked = None,
                3 => r.customer_id = Some("C2".into()),
                _ => r.detail.push(' '),
            }
            let b = walk(&k, &bad, &heads).unwrap_err();
            assert_eq!(b.id, Some(14), "field {field}: {b}");
            assert!(b.reason.contains("MAC"), "{b}");
        }
    }

    #[test]
    fn a_deleted_record_breaks_the_next_of_its_lane() {
        let k = keys(1);
        let (mut recs, heads) = chain(&k, 9);
        recs.remove(4); // lane 3, seq 3
        let b = walk(&k, &recs, &heads).unwrap_err();
        assert_eq!(b.id, Some(15));
        assert!(b.reason.contains("deleted"), "{b}");
    }

    #[test]
    fn reordered_records_break() {
        let k = keys(1);
        let (mut recs, heads) = chain(&k, 9);
        recs.swap(4, 5);
        let b = walk(&k, &recs, &heads).unwrap_err();
        assert_eq!(b.id, Some(15), "{b}");
        // Moving a record to another lane or place, link and all, breaks too.
        let (mut recs, heads) = chain(&k, 9);
        recs[4].lane = Some(5);
        assert_eq!(walk(&k, &recs, &heads).unwrap_err().id, Some(14));
    }

    #[test]
    fn a_stripped_link_breaks_and_only_older_records_may_be_unchained() {
        let k = keys(1);
        let (recs, heads) = chain(&k, 6);
        let legacy = StoredAudit {
            id: 1,
            lane: None,
            seq: None,
            mac: None,
            record: rec(0),
        };
        let mut all = vec![legacy.clone(), legacy.clone()];
        all.extend(recs.clone());
        let s = walk(&k, &all, &heads).unwrap();
        assert_eq!((s.records, s.legacy), (6, 2));

        let mut bad = recs.clone();
        bad[3].mac = None;
        bad[3].lane = None;
        bad[3].seq = None;
        let b = walk(&k, &bad, &heads).unwrap_err();
        assert_eq!(b.id, Some(13));
    }

    #[test]
    fn a_cut_tail_is_seen_against_the_head_and_a_rewound_head_is_not() {
        let k = keys(1);
        let (recs, heads) = chain(&k, 9);
        let b = walk(&k, &recs[..8], &heads).unwrap_err();
        assert_eq!((b.id, b.lane, b.seq), (None, Some(3), Some(6)), "{b}");
        assert!(b.reason.contains("deleted"), "{b}");
        // With the head rewound to the record before the cut, the walk cannot tell: that is what
        // saved heads (`Summary::heads`) are for.
        let (_, heads8) = chain(&k, 8);
        assert!(walk(&k, &recs[..8], &heads8).is_ok());
    }

    #[test]
    fn anchors_catch_a_cut_tail_with_a_rewound_head() {
        let k = keys(1);
        let (recs, heads) = chain(&k, 9);
        let report: String = heads
            .iter()
            .map(|h| format!("lane {} seq {} mac {}\n", h.lane, h.seq, h.mac))
            .collect();
        let anchors = parse_anchors(&format!("audit chain ok\n{report}")).unwrap();
        let live: Vec<AuditHead> = heads.iter().filter(|h| h.seq > 0).cloned().collect();
        assert_eq!(anchors, live);
        let (_, heads8) = chain(&k, 8);
        let walk_anchored = |recs: &[StoredAudit], heads: &[AuditHead]| {
            let mut v = Verifier::new(&k, heads)?.with_anchors(&anchors);
            for r in recs {
                v.push(r)?;
            }
            v.finish()
        };
        assert!(walk_anchored(&recs, &heads).is_ok());
        let b = walk_anchored(&recs[..8], &heads8).unwrap_err();
        assert_eq!((b.lane, b.seq), (Some(3), Some(6)), "{b}");
        // A rewritten record at an anchored place is named.
        let mut other = recs.clone();
        other[8].record.detail = "x".into();
        other[8].mac = Some(link(
            &k,
            3,
            6,
            other[7].mac.as_deref().unwrap_or(""),
            &other[8].record,
        ));
        assert!(walk_anchored(&other, &heads).is_err());
    }

    #[test]
    fn records_appended_after_the_heads_were_read_are_fine() {
        let k = keys(1);
        let (recs, _) = chain(&k, 9);
        let (_, early_heads) = chain(&k, 5);
        assert_eq!(walk(&k, &recs, &early_heads).unwrap().records, 9);
    }

    #[test]
    fn heads_must_cover_every_lane() {
        let k = keys(1);
        let mut heads = empty_heads();
        heads.remove(7);
        assert_eq!(walk(&k, &[], &heads).unwrap_err().lane, Some(7));
    }

    #[test]
    fn the_export_line_is_json_with_the_link() {
        let k = keys(1);
        let (recs, _) = chain(&k, 1);
        let v: serde_json::Value = serde_json::from_str(&export_line(&recs[0])).unwrap();
        assert_eq!(v["event"], "verify");
        assert_eq!(v["seq"], 1);
        assert_eq!(v["mac"].as_str().unwrap().len(), 64);
    }
}
