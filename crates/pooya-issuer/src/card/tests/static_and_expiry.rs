//! R10 (deactivation), R11 (a blocked second password) and the card's expiry.
use super::*;

#[test]
fn deactivate_brings_the_static_second_password_back() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let mut app = card.clone();
    let e = c.enroll(&mut app, &pan, None, T0);
    assert_eq!(
        c.second(&mut app, STATIC_SECOND, T0),
        Verdict::StaticPasswordDisabled
    );
    app.deactivate();
    assert_eq!(app.effective(T0), (Mode::None, ServiceState::Inactive));
    assert!(app.svc.token().is_none());
    assert!(!app.svc.static_second_disabled);
    assert_eq!(c.second(&mut app, STATIC_SECOND, T0 + 1), Verdict::Approved);
    assert_eq!(
        c.second(&mut app, &e.app.second_at(T0 + 2), T0 + 2),
        Verdict::WrongPassword
    );

    let fixed = c.activate_sms(&mut card);
    let (var, _) = c.variable(&mut card, T0);
    card.deactivate();
    assert_eq!(card.effective(T0), (Mode::None, ServiceState::Inactive));
    assert!(card.svc.sms().is_none());
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0 + 1),
        Verdict::Approved
    );
    assert_eq!(
        c.second(&mut card, &format!("{fixed}{var}"), T0 + 2),
        Verdict::WrongPassword
    );

    // From pending too.
    let (_, mut pending) = c.card(PAN_A);
    c.activate_app(&mut pending, &pan, T0);
    pending.deactivate();
    assert_eq!(pending.effective(T0), (Mode::None, ServiceState::Inactive));
    assert!(pending.svc.activation().is_none());
}

#[test]
fn blocked_second_password_is_refused_before_anything_else() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll_distinct(&mut card, &pan, T0, T0 + 5 * SEC);
    card.second_blocked = true;
    let now = T0 + 5 * SEC;
    assert_eq!(
        c.second(&mut card, &e.app.second_at(now), now),
        Verdict::SecondPasswordBlocked
    );
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, now),
        Verdict::SecondPasswordBlocked
    );
    assert_eq!(
        c.second(&mut card, &e.app.wrong_second(now), now),
        Verdict::SecondPasswordBlocked
    );
    // Nothing was counted nor consumed.
    assert_eq!(card.recent_failures(now, &c.policy), 0);
    assert_eq!(card.svc.token().unwrap().last_step_second, None);
    // The first password is unaffected.
    assert_eq!(
        c.first(&mut card, &e.app.first_at(now), now),
        Verdict::Approved
    );
    assert_eq!(c.first(&mut card, STATIC_PIN, now), Verdict::Approved);
    // Before the expiry and lock checks too.
    let exp = card.expiry.expires_at_ms();
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, exp),
        Verdict::SecondPasswordBlocked
    );
    let mut locked = card.clone();
    locked.second_blocked = false;
    lock(&c, &mut locked, &e, now + HOUR);
    locked.second_blocked = true;
    assert_eq!(
        c.second(&mut locked, STATIC_SECOND, now + 2 * HOUR),
        Verdict::SecondPasswordBlocked
    );
    // Only a branch unblocks (R11): an ATM deactivation does not.
    card.deactivate();
    assert!(card.second_blocked);
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, now),
        Verdict::SecondPasswordBlocked
    );
    assert_eq!(Verdict::SecondPasswordBlocked.response_code(), "57");
}

#[test]
fn expired_card_is_refused_and_not_counted() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let exp = card.expiry.expires_at_ms();
    assert_eq!(exp, Expiry::parse("3512").unwrap().expires_at_ms());
    let mut before = card.clone();
    assert_eq!(
        c.second(&mut before, &e.app.second_at(exp - SEC), exp - SEC),
        Verdict::Approved
    );
    for i in 0..6 {
        assert_eq!(
            c.second(&mut card, &e.app.second_at(exp + i), exp + i),
            Verdict::ExpiredCard
        );
        assert_eq!(
            c.first(&mut card, STATIC_PIN, exp + i),
            Verdict::ExpiredCard
        );
    }
    assert!(!card.svc.is_locked());
    assert_eq!(card.recent_failures(exp + 6, &c.policy), 0);
    assert_eq!(Verdict::ExpiredCard.response_code(), "54");
}
