//! The ATM: PIN and mobile checks.
use super::*;

#[test]
fn atm_accepts_the_static_pin() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let before = card.clone();
    assert_eq!(c.pin(&mut card, STATIC_PIN, T0), Ok(()));
    assert_eq!(card, before);
}

#[test]
fn atm_counts_a_wrong_pin() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    assert_eq!(
        c.pin(&mut card, "9999", T0),
        Err(AtmRefusal::WrongPin { tries_left: 2 })
    );
    assert_eq!(card.svc.pin_failures, vec![T0]);
    // Counted apart from the R5 failures.
    assert_eq!(card.recent_failures(T0, &c.policy), 0);
    assert!(card.svc.failures.is_empty());
    assert_eq!(c.pin(&mut card, STATIC_PIN, T0 + 1), Ok(()));
}

#[test]
fn atm_refuses_after_three_wrong_pins_until_the_window_passes() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    for i in 0..3 {
        let tries_left = 2 - i as u32;
        assert_eq!(
            c.pin(&mut card, "9999", T0 + i),
            Err(AtmRefusal::WrongPin { tries_left })
        );
    }
    let last = T0 + 2;
    for now in [last + 1, last + HOUR, T0 + DAY - 1] {
        assert_eq!(
            c.pin(&mut card, STATIC_PIN, now),
            Err(AtmRefusal::PinTriesExceeded),
            "at {now}"
        );
    }
    // Refusals are not counted as further tries.
    assert_eq!(card.svc.pin_failures.len(), 3);
    assert_eq!(c.pin(&mut card, STATIC_PIN, last + DAY), Ok(()));
}

#[test]
fn atm_accepts_a_dynamic_first_password_once() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let now = T0 + 5 * SEC;
    let e = c.enroll_distinct(&mut card, &pan, T0, now);
    let code = e.app.first_at(now);
    assert_eq!(c.pin(&mut card, &code, now), Ok(()));
    assert_eq!(
        card.svc.token().unwrap().last_step_first,
        Some(e.app.step(now))
    );
    // Used up: the same code again is a wrong PIN, and a payment refuses it as replayed.
    assert_eq!(
        c.pin(&mut card, &code, now + 1),
        Err(AtmRefusal::WrongPin { tries_left: 2 })
    );
    assert_eq!(card.svc.pin_failures, vec![now + 1]);
    assert_eq!(c.first(&mut card, &code, now + 2), Verdict::Replayed);
    // The static PIN still opens the ATM.
    assert_eq!(c.pin(&mut card, STATIC_PIN, now + 3), Ok(()));
}

#[test]
fn atm_refuses_the_static_pin_beside_a_dynamic_one_when_policy_says_so() {
    let mut policy = Policy::default();
    policy.otp.static_pin_with_dynamic = false;
    let c = Ctx::with_policy(policy);
    let (pan, mut card) = c.card(PAN_A);
    // No dynamic first password yet: the static PIN opens the ATM.
    assert_eq!(c.pin(&mut card, STATIC_PIN, T0), Ok(()));
    let now = T0 + 5 * SEC;
    let e = c.enroll_distinct(&mut card, &pan, T0, now);
    assert_eq!(
        c.pin(&mut card, STATIC_PIN, now),
        Err(AtmRefusal::WrongPin { tries_left: 2 })
    );
    assert_eq!(c.pin(&mut card, &e.app.first_at(now), now + 1), Ok(()));
    // Once the token is gone (a lock), the static PIN is the only way back in.
    lock(&c, &mut card, &e, now + HOUR);
    assert_eq!(c.pin(&mut card, STATIC_PIN, now + 2 * HOUR), Ok(()));
}

#[test]
fn atm_refuses_an_expired_card() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let exp = card.expiry.expires_at_ms();
    assert_eq!(c.pin(&mut card, STATIC_PIN, exp - 1), Ok(()));
    let before = card.clone();
    assert_eq!(
        c.pin(&mut card, STATIC_PIN, exp),
        Err(AtmRefusal::ExpiredCard)
    );
    assert_eq!(c.pin(&mut card, "9999", exp), Err(AtmRefusal::ExpiredCard));
    assert_eq!(card, before);
}

#[test]
fn activate_app_with_another_mobile_is_refused_and_changes_nothing() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let other = mobile(OTHER_MOBILE);
    let before = card.clone();
    let r = card.activate_app(&pan, &registered(), &other, T0, &c.policy, &c.keys);
    assert_eq!(r.err(), Some(AtmRefusal::MobileMismatch));
    assert_eq!(card, before);
    // An active card keeps its token.
    let e = c.enroll(&mut card, &pan, None, T0);
    let before = card.clone();
    let r = card.activate_app(&pan, &registered(), &other, T0 + SEC, &c.policy, &c.keys);
    assert!(matches!(r, Err(AtmRefusal::MobileMismatch)));
    assert_eq!(card, before);
    assert_eq!(
        c.second(&mut card, &e.app.second_at(T0 + SEC), T0 + SEC),
        Verdict::Approved
    );
}

#[test]
fn activate_sms_with_another_mobile_is_refused_and_changes_nothing() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let other = mobile(OTHER_MOBILE);
    let before = card.clone();
    let r = card.activate_sms(&registered(), &other, &c.policy, &c.keys);
    assert!(matches!(r, Err(AtmRefusal::MobileMismatch)));
    assert_eq!(card, before);
    c.enroll(&mut card, &pan, None, T0);
    let before = card.clone();
    let r = card.activate_sms(&registered(), &other, &c.policy, &c.keys);
    assert!(matches!(r, Err(AtmRefusal::MobileMismatch)));
    assert_eq!(card, before);
}
