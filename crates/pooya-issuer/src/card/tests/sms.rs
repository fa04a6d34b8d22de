//! The SMS channel (R20, R21).
use super::*;

#[test]
fn activate_sms_makes_card_sms_active_and_kills_static_second() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    assert_eq!(fixed.len(), 4);
    assert!(fixed.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(card.effective(T0), (Mode::Sms, ServiceState::Active));
    assert!(card.svc.static_second_disabled);
    assert_eq!(card.svc.sms().unwrap().mobile, registered());
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0),
        Verdict::StaticPasswordDisabled
    );
    // No variable part asked for yet: nothing passes.
    assert_eq!(
        c.second(&mut card, &format!("{fixed}0000"), T0),
        Verdict::WrongPassword
    );
    // The static PIN is still the first password.
    assert_eq!(c.first(&mut card, STATIC_PIN, T0), Verdict::Approved);
}

#[test]
fn sms_password_is_approved_once_then_replayed() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    let (var, exp) = c.variable(&mut card, T0);
    assert_eq!(var.len(), 4);
    assert_eq!(exp, T0 + 60 * SEC);
    let password = format!("{fixed}{var}");
    assert_eq!(c.second(&mut card, &password, T0 + SEC), Verdict::Approved);
    assert_eq!(
        c.second(&mut card, &password, T0 + 2 * SEC),
        Verdict::Replayed
    );
    assert_eq!(card.recent_failures(T0 + 2 * SEC, &c.policy), 1);
}

#[test]
fn sms_password_expires_after_lifetime_plus_tolerance() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    let (var, exp) = c.variable(&mut card, T0);
    let password = format!("{fixed}{var}");
    let tol = 10 * SEC;
    let mut in_time = card.clone();
    assert_eq!(
        c.second(&mut in_time, &password, exp + tol - 1),
        Verdict::Approved
    );
    assert_eq!(
        c.second(&mut card, &password, exp + tol),
        Verdict::ExpiredPassword
    );
}

#[test]
fn sms_password_with_wrong_fixed_part_is_wrong_password() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    let (var, _) = c.variable(&mut card, T0);
    let mut wrong = fixed.clone().into_bytes();
    wrong[0] = b'0' + (wrong[0] - b'0' + 1) % 10;
    let wrong = String::from_utf8(wrong).unwrap();
    assert_eq!(
        c.second(&mut card, &format!("{wrong}{var}"), T0 + SEC),
        Verdict::WrongPassword
    );
    // Only the variable part, or the parts swapped: wrong too.
    assert_eq!(c.second(&mut card, &var, T0 + SEC), Verdict::WrongPassword);
    if var != fixed {
        assert_eq!(
            c.second(&mut card, &format!("{var}{fixed}"), T0 + SEC),
            Verdict::WrongPassword
        );
    }
    // The variable part was not used up by the failures.
    assert_eq!(
        c.second(&mut card, &format!("{fixed}{var}"), T0 + 2 * SEC),
        Verdict::Approved
    );
}

#[test]
fn new_variable_part_kills_the_old_one() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    let (old, _) = c.variable(&mut card, T0);
    let (new, _) = c.variable(&mut card, T0 + SEC);
    if old != new {
        assert_eq!(
            c.second(&mut card, &format!("{fixed}{old}"), T0 + 2 * SEC),
            Verdict::WrongPassword
        );
    }
    assert_eq!(
        c.second(&mut card, &format!("{fixed}{new}"), T0 + 3 * SEC),
        Verdict::Approved
    );
    let v = card.svc.sms().unwrap().variable.as_ref().unwrap();
    assert_eq!(v.issued_at, T0 + SEC);
    assert!(v.used);
}

#[test]
fn no_variable_part_without_a_live_sms_service() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    // No service.
    assert!(card.issue_variable_part(T0, &c.policy, &c.keys).is_none());
    // App service.
    let mut app = card.clone();
    c.enroll(&mut app, &pan, None, T0);
    assert!(app.issue_variable_part(T0, &c.policy, &c.keys).is_none());
    // Locked SMS service.
    let mut locked = card.clone();
    c.activate_sms(&mut locked);
    for i in 0..5 {
        c.second(&mut locked, "12345678", T0 + i);
    }
    assert!(locked.svc.is_locked());
    assert!(locked
        .issue_variable_part(T0 + 10, &c.policy, &c.keys)
        .is_none());
    // Expired card.
    c.activate_sms(&mut card);
    let exp = card.expiry.expires_at_ms();
    assert!(card
        .issue_variable_part(exp - 1, &c.policy, &c.keys)
        .is_some());
    assert!(card.issue_variable_part(exp, &c.policy, &c.keys).is_none());
}

#[test]
fn sms_variable_part_lives_120_s_under_maskan_profile() {
    let c = Ctx::maskan();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    let (var, exp) = c.variable(&mut card, T0);
    assert_eq!(exp, T0 + 120 * SEC);
    let mut in_time = card.clone();
    assert_eq!(
        c.second(&mut in_time, &format!("{fixed}{var}"), T0 + 119 * SEC),
        Verdict::Approved
    );
    assert_eq!(
        c.second(&mut card, &format!("{fixed}{var}"), exp + 10 * SEC),
        Verdict::ExpiredPassword
    );
}
