//! R12: a customer's new mobile number.
use super::*;

#[test]
fn revoke_mobile_kills_the_app_token_issued_on_the_old_number() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    assert_eq!(card.revoke_mobile(&registered()), 1);
    assert!(card.svc.token().is_none());
    assert_eq!(card.effective(T0), (Mode::None, ServiceState::Inactive));
    assert_eq!(
        c.second(&mut card, &e.app.second_at(T0 + SEC), T0 + SEC),
        Verdict::WrongPassword
    );
    // The static second password does not come back (module doc).
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0 + SEC),
        Verdict::StaticPasswordDisabled
    );
    // Nothing left to revoke.
    assert_eq!(card.revoke_mobile(&registered()), 0);
}

#[test]
fn revoke_mobile_kills_the_sms_service_issued_on_the_old_number() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    let (var, _) = c.variable(&mut card, T0);
    assert_eq!(card.revoke_mobile(&registered()), 1);
    assert!(card.svc.sms().is_none());
    assert_eq!(card.effective(T0), (Mode::None, ServiceState::Inactive));
    assert!(card.issue_variable_part(T0, &c.policy, &c.keys).is_none());
    assert_eq!(
        c.second(&mut card, &format!("{fixed}{var}"), T0 + SEC),
        Verdict::WrongPassword
    );
}

#[test]
fn revoke_mobile_leaves_a_card_on_another_number_untouched() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    // This card's token was issued on OTHER_MOBILE.
    let codes = card
        .activate_app(
            &pan,
            &mobile(OTHER_MOBILE),
            &mobile(OTHER_MOBILE),
            T0,
            &c.policy,
            &c.keys,
        )
        .unwrap();
    let s = c
        .start(
            &mut card,
            &pan,
            &codes.receipt_code,
            &codes.sms_code,
            None,
            T0,
        )
        .unwrap();
    let e = c.confirm(&mut card, s, T0).unwrap();
    assert_eq!(e.token.mobile, mobile(OTHER_MOBILE));
    let before = card.clone();
    assert_eq!(card.revoke_mobile(&registered()), 0);
    assert_eq!(card, before);
    assert_eq!(
        c.second(&mut card, &e.app.second_at(T0 + SEC), T0 + SEC),
        Verdict::Approved
    );
    // An SMS card on another number, too.
    let (_, mut sms) = c.card(PAN_B);
    sms.activate_sms(
        &mobile(OTHER_MOBILE),
        &mobile(OTHER_MOBILE),
        &c.policy,
        &c.keys,
    )
    .unwrap();
    let before = sms.clone();
    assert_eq!(sms.revoke_mobile(&registered()), 0);
    assert_eq!(sms, before);
}

#[test]
fn revoke_mobile_drops_a_pending_activation_on_the_old_number() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    assert_eq!(card.revoke_mobile(&registered()), 0);
    assert!(card.svc.activation().is_none());
    assert_eq!(card.effective(T0), (Mode::None, ServiceState::Inactive));
    let r = c.start(
        &mut card,
        &pan,
        &codes.receipt_code,
        &codes.sms_code,
        None,
        T0,
    );
    assert_eq!(r.err(), Some(AppRefusal::NoPendingActivation));
}

#[test]
fn a_locked_card_whose_customer_changes_mobile_is_shown_locked_under_mode_none() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    lock(&c, &mut card, &e, T0);
    assert_eq!(card.effective(T0 + 5), (Mode::App, ServiceState::Locked));
    assert_eq!(card.revoke_mobile(&registered()), 0);
    assert_eq!(card.effective(T0 + 5), (Mode::None, ServiceState::Locked));
    assert_eq!(
        c.second(&mut card, &e.app.second_at(T0 + 6), T0 + 6),
        Verdict::Locked
    );
}
