//! R5: five wrong passwords lock the service.
use super::*;

#[test]
fn five_failures_in_the_window_lock_the_service() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let wrong = e.app.wrong_second(T0);
    for i in 0..4 {
        assert_eq!(
            c.second(&mut card, &wrong, T0 + i * HOUR),
            Verdict::WrongPassword
        );
        assert!(!card.svc.is_locked());
        assert_eq!(card.effective(T0 + i * HOUR).1, ServiceState::Active);
    }
    let fifth = T0 + 4 * HOUR;
    assert_eq!(c.second(&mut card, &wrong, fifth), Verdict::WrongPassword);
    assert!(card.svc.is_locked());
    assert_eq!(card.effective(fifth), (Mode::App, ServiceState::Locked));
    assert!(card.svc.token().is_none(), "R5: the old token is dead");
    assert!(card.svc.activation().is_none());
    assert!(card.svc.sms().is_none());
    assert_eq!(card.recent_failures(fifth, &c.policy), 5);
    // Afterwards even the right code is refused.
    let now = fifth + SEC;
    assert_eq!(
        c.second(&mut card, &e.app.second_at(now), now),
        Verdict::Locked
    );
    assert_eq!(
        c.first(&mut card, &e.app.first_at(now), now),
        Verdict::Locked
    );
    assert_eq!(c.first(&mut card, STATIC_PIN, now), Verdict::Locked);
    assert_eq!(c.second(&mut card, STATIC_SECOND, now), Verdict::Locked);
    // Still locked long after the window.
    assert_eq!(
        c.second(&mut card, &e.app.second_at(now + 30 * DAY), now + 30 * DAY),
        Verdict::Locked
    );
    assert_eq!(Verdict::Locked.response_code(), "75");
}

#[test]
fn four_failures_then_the_window_passes_does_not_lock() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let wrong = e.app.wrong_second(T0);
    for i in 0..4 {
        assert_eq!(c.second(&mut card, &wrong, T0 + i), Verdict::WrongPassword);
    }
    assert_eq!(card.recent_failures(T0 + 3, &c.policy), 4);
    // The window is 24 h: a failure at T0 + 3 no longer counts at T0 + 3 + 24 h.
    let later = T0 + 3 + DAY;
    assert_eq!(card.recent_failures(later, &c.policy), 0);
    let wrong = e.app.wrong_second(later);
    assert_eq!(c.second(&mut card, &wrong, later), Verdict::WrongPassword);
    assert!(!card.svc.is_locked());
    assert_eq!(card.recent_failures(later, &c.policy), 1);
    assert_eq!(card.effective(later).1, ServiceState::Active);
    assert_eq!(
        c.second(&mut card, &e.app.second_at(later + 1), later + 1),
        Verdict::Approved
    );
}

#[test]
fn every_declined_reason_counts_toward_the_lockout() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let now = T0 + 5 * SEC;
    let code = e.app.second_at(now);
    // A code of three steps ago, never used: expired.
    let old = e.app.second_of(e.app.step(T0) - 3);
    assert_eq!(c.second(&mut card, &old, now), Verdict::ExpiredPassword);
    assert_eq!(c.second(&mut card, &code, now + 1), Verdict::Approved);
    assert_eq!(c.second(&mut card, &code, now + 2), Verdict::Replayed);
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, now + 3),
        Verdict::StaticPasswordDisabled
    );
    assert_eq!(
        c.first(&mut card, &e.app.wrong_first(now), now + 4),
        Verdict::WrongPassword
    );
    assert!(!card.svc.is_locked());
    assert_eq!(card.recent_failures(now + 4, &c.policy), 4);
    assert_eq!(
        c.second(&mut card, &e.app.wrong_second(now), now + 5),
        Verdict::WrongPassword
    );
    assert!(card.svc.is_locked());
    for v in [
        Verdict::WrongPassword,
        Verdict::Replayed,
        Verdict::ExpiredPassword,
        Verdict::StaticPasswordDisabled,
        Verdict::WrongTransaction,
    ] {
        assert_eq!(v.response_code(), "55");
    }
}

#[test]
fn sms_failures_lock_and_kill_the_fixed_part() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    let (var, _) = c.variable(&mut card, T0);
    for i in 0..5 {
        c.second(&mut card, "00000000", T0 + i);
    }
    if format!("{fixed}{var}") == "00000000" {
        return; // one chance in 10^8: the right password was typed.
    }
    assert_eq!(card.effective(T0 + 5), (Mode::Sms, ServiceState::Locked));
    assert!(card.svc.sms().is_none());
    assert_eq!(
        c.second(&mut card, &format!("{fixed}{var}"), T0 + 6),
        Verdict::Locked
    );
}

#[test]
fn atm_activation_unlocks_and_resets_failures() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    lock(&c, &mut card, &e, T0);
    let now = T0 + HOUR;
    // The static PIN still opens the ATM, where the holder activates again.
    assert_eq!(c.pin(&mut card, STATIC_PIN, now), Ok(()));

    let mut app = card.clone();
    c.activate_app(&mut app, &pan, now);
    assert!(!app.svc.is_locked());
    assert!(app.svc.failures.is_empty());
    assert_eq!(app.recent_failures(now, &c.policy), 0);
    assert_eq!(app.effective(now), (Mode::App, ServiceState::Pending));
    // The old token stays dead: a fresh enrollment gives a new one.
    assert_eq!(
        c.second(&mut app, &e.app.second_at(now), now),
        Verdict::WrongPassword
    );
    // A lock never brings the static second password back (module doc).
    assert_eq!(
        c.second(&mut app, STATIC_SECOND, now),
        Verdict::StaticPasswordDisabled
    );
    let e2 = c.enroll(&mut app, &pan, None, now + SEC);
    assert_ne!(e2.token.id, e.token.id);
    assert_eq!(
        c.second(&mut app, &e2.app.second_at(now + 2 * SEC), now + 2 * SEC),
        Verdict::Approved
    );

    let mut sms = card.clone();
    let fixed = c.activate_sms(&mut sms);
    assert!(!sms.svc.is_locked());
    assert!(sms.svc.failures.is_empty());
    assert_eq!(sms.effective(now), (Mode::Sms, ServiceState::Active));
    let (var, _) = c.variable(&mut sms, now);
    assert_eq!(
        c.second(&mut sms, &format!("{fixed}{var}"), now + SEC),
        Verdict::Approved
    );
}

#[test]
fn deactivate_unlocks() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    lock(&c, &mut card, &e, T0);
    card.deactivate();
    assert!(!card.svc.is_locked());
    assert!(card.svc.failures.is_empty());
    assert_eq!(
        card.effective(T0 + HOUR),
        (Mode::None, ServiceState::Inactive)
    );
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0 + HOUR),
        Verdict::Approved
    );
}
