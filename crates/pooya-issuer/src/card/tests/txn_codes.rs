//! R24: transaction codes of the unified SMS.
use super::*;

fn txn(id: &str, amount: i64, merchant: &str) -> Transaction {
    Transaction::new(id, amount, merchant).unwrap()
}

impl Ctx {
    fn issue(&self, card: &mut CardRecord, t: &Transaction, now: i64) -> (String, i64) {
        match card
            .issue_txn_code(t, &registered(), now, &self.policy, &self.keys)
            .unwrap()
        {
            TxnCodeIssue::Issued { code, expires_at } => (code.to_string(), expires_at),
            TxnCodeIssue::AlreadySent { .. } => panic!("expected a new code"),
        }
    }
    fn second_for(&self, card: &mut CardRecord, code: &str, t: &Transaction, now: i64) -> Verdict {
        card.verify_for(
            PasswordKind::Second,
            &typed(code),
            Some(t),
            now,
            &self.policy,
            &self.keys,
        )
    }
}

#[test]
fn txn_code_approves_its_own_transaction_once() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let t = txn("T1", 1_250_000, "Shop");
    let (code, exp) = c.issue(&mut card, &t, T0);
    assert_eq!(code.len(), 8);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(exp, T0 + 60 * SEC);
    // The card's mode and state do not change.
    assert_eq!(card.effective(T0), (Mode::None, ServiceState::Inactive));
    assert_eq!(
        c.second_for(&mut card, &code, &t, T0 + SEC),
        Verdict::Approved
    );
    // R3: once, even for the same amount and merchant under another id.
    let again = txn("T2", 1_250_000, "Shop");
    assert_eq!(
        c.second_for(&mut card, &code, &again, T0 + 2 * SEC),
        Verdict::Replayed
    );
    assert_eq!(card.recent_failures(T0 + 2 * SEC, &c.policy), 1);
    // Not a first password.
    assert_eq!(c.first(&mut card, &code[..4], T0), Verdict::WrongPassword);
}

#[test]
fn txn_code_for_another_transaction_is_wrong_transaction_and_counts() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let t = txn("T1", 1_250_000, "Shop");
    let (code, _) = c.issue(&mut card, &t, T0);
    for (i, other) in [
        txn("T1", 1_250_001, "Shop"),
        txn("T1", 1_250_000, "Shop2"),
        txn("T9", 1_250_000, "Shop"),
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(
            c.second_for(&mut card, &code, other, T0 + SEC),
            Verdict::WrongTransaction,
            "{other:?}"
        );
        assert_eq!(card.recent_failures(T0 + SEC, &c.policy), i + 1);
    }
    // A verification that names no transaction takes no transaction code.
    assert_eq!(
        c.second(&mut card, &code, T0 + SEC),
        Verdict::WrongTransaction
    );
    // The code still serves its own transaction.
    assert_eq!(
        c.second_for(&mut card, &code, &t, T0 + SEC),
        Verdict::Approved
    );
}

#[test]
fn txn_code_expires_after_lifetime_plus_tolerance_and_is_forgotten_later() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let t = txn("T1", 5000, "Shop");
    let (code, exp) = c.issue(&mut card, &t, T0);
    let tol = 10 * SEC;
    let mut in_time = card.clone();
    assert_eq!(
        c.second_for(&mut in_time, &code, &t, exp + tol - 1),
        Verdict::Approved
    );
    let mut late = card.clone();
    assert_eq!(
        c.second_for(&mut late, &code, &t, exp + tol),
        Verdict::ExpiredPassword
    );
    // Ten lifetimes on, the card no longer remembers it: merely wrong.
    assert_eq!(
        c.second_for(&mut card, &code, &t, exp + tol + 10 * 60 * SEC),
        Verdict::WrongPassword
    );
    assert!(card.svc.txn_codes.is_empty());
}

#[test]
fn txn_codes_stand_beside_the_app_and_the_sms_channel() {
    let c = Ctx::new();
    // App: the token's code and the transaction code both work, each once.
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let t = txn("T1", 1000, "Shop");
    let (code, _) = c.issue(&mut card, &t, T0);
    assert_eq!(
        c.second_for(&mut card, &code, &t, T0 + SEC),
        Verdict::Approved
    );
    let app = e.app.second_at(T0 + SEC);
    let t2 = txn("T2", 1000, "Shop");
    assert_eq!(
        c.second_for(&mut card, &app, &t2, T0 + SEC),
        Verdict::Approved
    );
    assert_eq!(card.effective(T0), (Mode::App, ServiceState::Active));
    // SMS: the fixed + variable password and the transaction code both work.
    let (_, mut card) = c.card(PAN_B);
    let fixed = c.activate_sms(&mut card);
    let (var, _) = c.variable(&mut card, T0);
    let (code, _) = c.issue(&mut card, &t, T0);
    assert_eq!(
        c.second_for(&mut card, &code, &t, T0 + SEC),
        Verdict::Approved
    );
    assert_eq!(
        c.second_for(&mut card, &format!("{fixed}{var}"), &t2, T0 + SEC),
        Verdict::Approved
    );
    // No dynamic service: the static second password still works beside it (R9 untouched).
    let (_, mut card) = c.card(PAN_A);
    c.issue(&mut card, &t, T0);
    assert_eq!(
        c.second_for(&mut card, STATIC_SECOND, &t2, T0),
        Verdict::Approved
    );
}

#[test]
fn otp_request_is_refused_for_blocked_locked_or_expired_cards() {
    let c = Ctx::new();
    let t = txn("T1", 1000, "Shop");
    let refused = |card: &mut CardRecord, now| {
        card.issue_txn_code(&t, &registered(), now, &c.policy, &c.keys)
            .err()
    };
    let (_, mut card) = c.card(PAN_A);
    card.second_blocked = true;
    assert_eq!(
        refused(&mut card, T0),
        Some(TxnRefusal::SecondPasswordBlocked)
    );
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    lock(&c, &mut card, &e, T0);
    assert_eq!(refused(&mut card, T0), Some(TxnRefusal::Locked));
    let (_, mut card) = c.card(PAN_A);
    let after_expiry = card.expiry.expires_at_ms();
    assert_eq!(
        refused(&mut card, after_expiry),
        Some(TxnRefusal::ExpiredCard)
    );
    assert!(card.svc.txn_codes.is_empty());
}

#[test]
fn the_same_transaction_again_sends_nothing_new_within_the_interval() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let t = txn("T1", 1000, "Shop");
    let (code, exp) = c.issue(&mut card, &t, T0);
    match card
        .issue_txn_code(&t, &registered(), T0 + 29 * SEC, &c.policy, &c.keys)
        .unwrap()
    {
        TxnCodeIssue::AlreadySent { expires_at } => assert_eq!(expires_at, exp),
        TxnCodeIssue::Issued { .. } => panic!("nothing new within 30 s"),
    }
    // Another amount under the same id is a conflict.
    let other = txn("T1", 2000, "Shop");
    assert_eq!(
        card.issue_txn_code(&other, &registered(), T0 + SEC, &c.policy, &c.keys)
            .err(),
        Some(TxnRefusal::TxnConflict)
    );
    // After the interval a new code replaces the old one.
    let (new, _) = c.issue(&mut card, &t, T0 + 30 * SEC);
    assert_eq!(card.svc.txn_codes.len(), 1);
    if new != code {
        assert_eq!(
            c.second_for(&mut card.clone(), &code, &t, T0 + 31 * SEC),
            Verdict::WrongPassword
        );
    }
    assert_eq!(
        c.second_for(&mut card, &new, &t, T0 + 31 * SEC),
        Verdict::Approved
    );
    // A used transaction takes no new code.
    assert_eq!(
        card.issue_txn_code(&t, &registered(), T0 + 90 * SEC, &c.policy, &c.keys)
            .err(),
        Some(TxnRefusal::AlreadyVerified)
    );
}

#[test]
fn txn_codes_die_with_a_lock_an_activation_a_deactivation_or_a_mobile_change() {
    let c = Ctx::new();
    let t = txn("T1", 1000, "Shop");
    // Lock by five failures.
    let (pan, mut card) = c.card(PAN_A);
    let (code, _) = c.issue(&mut card, &t, T0);
    for i in 0..5 {
        c.second_for(&mut card, "00000000", &t, T0 + i);
    }
    assert!(card.svc.is_locked());
    assert!(card.svc.txn_codes.is_empty());
    assert_eq!(
        c.second_for(&mut card, &code, &t, T0 + SEC),
        Verdict::Locked
    );
    // An ATM activation replaces everything.
    c.activate_app(&mut card, &pan, T0);
    let (code, _) = c.issue(&mut card, &t, T0);
    c.activate_sms(&mut card);
    assert!(card.svc.txn_codes.is_empty());
    assert_ne!(
        c.second_for(&mut card, &code, &t, T0 + SEC),
        Verdict::Approved
    );
    // Deactivation.
    c.issue(&mut card, &txn("T2", 1000, "Shop"), T0);
    card.deactivate();
    assert!(card.svc.txn_codes.is_empty());
    // R12: a code sent to the old number dies; one sent to another number stays.
    c.issue(&mut card, &txn("T3", 1000, "Shop"), T0);
    card.issue_txn_code(
        &txn("T4", 1000, "Shop"),
        &mobile(OTHER_MOBILE),
        T0,
        &c.policy,
        &c.keys,
    )
    .unwrap();
    card.revoke_mobile(&registered());
    assert_eq!(card.svc.txn_codes.len(), 1);
    assert_eq!(card.svc.txn_codes[0].txn_id, "T4");
}

#[test]
fn a_card_keeps_a_bounded_number_of_txn_codes() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let mut codes = Vec::new();
    for i in 0..(MAX_TXN_CODES + 3) {
        let t = txn(&format!("T{i}"), 1000, "Shop");
        codes.push((c.issue(&mut card, &t, T0 + i as i64).0, t));
    }
    assert_eq!(card.svc.txn_codes.len(), MAX_TXN_CODES);
    assert_eq!(card.svc.txn_codes[0].txn_id, "T3");
    let (newest, t) = codes.last().unwrap();
    assert_eq!(
        c.second_for(&mut card, newest, t, T0 + SEC),
        Verdict::Approved
    );
}

#[test]
fn txn_codes_are_stored_as_macs_only() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let (code, _) = c.issue(&mut card, &txn("T1", 1_250_000, "Shop"), T0);
    assert_stored_safely(&card.svc, &[&code], None);
    // Documents stored before transaction codes existed still load.
    let mut v = serde_json::to_value(&card.svc).unwrap();
    v.as_object_mut().unwrap().remove("txn_codes");
    let old: DynamicService = serde_json::from_value(v).unwrap();
    assert!(old.txn_codes.is_empty());
}

#[test]
fn more_digits_of_the_number_tell_cards_apart() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A); // 6280231234567898
    assert!(card.number_ends_with("7898", &c.keys));
    // Without the keyed hashes (a card stored before them) only 4 digits match.
    assert!(!card.number_ends_with("67898", &c.keys));
    card.set_pan_tails(&pan, &c.keys);
    for digits in ["7898", "67898", "567898", "4567898", "34567898"] {
        assert!(card.number_ends_with(digits, &c.keys), "{digits}");
    }
    for digits in ["7899", "77898", "24567898", "234567898", "898", "", "abcd"] {
        assert!(!card.number_ends_with(digits, &c.keys), "{digits}");
    }
    // The digits themselves are not kept.
    let hex: Vec<String> = card
        .tail_macs
        .iter()
        .map(|m| data_encoding::HEXLOWER.encode(m))
        .collect();
    assert_eq!(hex.len(), 4);
    assert!(hex.iter().all(|h| !h.contains("7898")));
}

#[test]
fn a_repeated_sms_request_within_the_interval_is_noticed() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    assert!(!card.variable_part_recently_sent(T0, &c.policy));
    let (var, _) = c.variable(&mut card, T0);
    assert!(card.variable_part_recently_sent(T0 + 29 * SEC, &c.policy));
    assert!(!card.variable_part_recently_sent(T0 + 30 * SEC, &c.policy));
    // Once used, a new request is a new need.
    assert_eq!(
        c.second(&mut card, &format!("{fixed}{var}"), T0 + SEC),
        Verdict::Approved
    );
    assert!(!card.variable_part_recently_sent(T0 + 2 * SEC, &c.policy));
}
