//! The app's activation (R8) and enrollment (R16): none/inactive → app/pending → app/active, and
//! the enrollment's refusals.
use super::*;

#[test]
fn new_card_is_inactive_and_takes_its_static_passwords() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    assert_eq!(card.effective(T0), (Mode::None, ServiceState::Inactive));
    assert_eq!(c.second(&mut card, STATIC_SECOND, T0), Verdict::Approved);
    assert_eq!(c.first(&mut card, STATIC_PIN, T0), Verdict::Approved);
    assert_eq!(c.second(&mut card, "55556", T0), Verdict::WrongPassword);
    assert_eq!(c.first(&mut card, "4321", T0), Verdict::WrongPassword);
    assert_eq!(card.recent_failures(T0, &c.policy), 2);
}

#[test]
fn activate_app_makes_card_pending_and_static_second_still_works() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    assert_eq!(codes.receipt_code.len(), 6);
    assert_eq!(codes.sms_code.len(), 6);
    assert!(codes.receipt_code.bytes().all(|b| b.is_ascii_digit()));
    assert!(codes.sms_code.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(codes.expires_at, T0 + DAY);
    assert_eq!(card.effective(T0), (Mode::App, ServiceState::Pending));
    let act = card.svc.activation().unwrap();
    assert_eq!(act.tries_left, 30);
    assert_eq!(act.mobile, registered());
    assert!(!card.svc.static_second_disabled);
    // R9 applies only once the dynamic service is active.
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0 + SEC),
        Verdict::Approved
    );
    assert_eq!(c.first(&mut card, STATIC_PIN, T0 + SEC), Verdict::Approved);
    // Starting a run leaves the card pending.
    let s = c
        .start(
            &mut card,
            &pan,
            &codes.receipt_code,
            &codes.sms_code,
            None,
            T0 + 2 * SEC,
        )
        .unwrap();
    let act = card.svc.activation().unwrap();
    assert_eq!(act.tries_left, 29);
    assert_eq!(s.started.run.activation_id, act.id);
    assert_eq!(
        card.effective(T0 + 2 * SEC),
        (Mode::App, ServiceState::Pending)
    );
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0 + 3 * SEC),
        Verdict::Approved
    );
}

#[test]
fn enroll_confirm_makes_card_active_and_kills_static_second_password() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    assert_eq!(card.effective(T0), (Mode::App, ServiceState::Active));
    assert!(card.svc.activation().is_none());
    assert!(card.svc.static_second_disabled);
    assert_eq!(card.svc.token(), Some(&e.token));
    assert_eq!(e.token.step_secs, 60);
    assert_eq!(e.token.first_digits, 4);
    assert_eq!(e.token.second_digits, 8);
    assert_eq!(e.token.algorithm, "SHA256");
    assert_eq!(e.token.mobile, registered());
    assert_eq!(e.token.issued_at, T0);
    assert_eq!(e.token.last_step_first, None);
    assert_eq!(e.token.last_step_second, None);
    // R9: the static second password stops working.
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0 + SEC),
        Verdict::StaticPasswordDisabled
    );
    assert_eq!(
        c.second(&mut card, &e.app.second_at(T0 + SEC), T0 + SEC),
        Verdict::Approved
    );
    // R9 (italics): the static PIN keeps working by default.
    assert_eq!(c.first(&mut card, STATIC_PIN, T0 + SEC), Verdict::Approved);
}

#[test]
fn static_pin_refused_beside_dynamic_first_password_when_policy_says_so() {
    let mut policy = Policy::default();
    policy.otp.static_pin_with_dynamic = false;
    let c = Ctx::with_policy(policy);
    let (pan, mut card) = c.card(PAN_A);
    // Without a token the static PIN is the only first password.
    assert_eq!(c.first(&mut card, STATIC_PIN, T0), Verdict::Approved);
    let e = c.enroll_distinct(&mut card, &pan, T0, T0 + SEC);
    assert_eq!(
        c.first(&mut card, STATIC_PIN, T0 + SEC),
        Verdict::WrongPassword
    );
    assert_eq!(
        c.first(&mut card, &e.app.first_at(T0 + SEC), T0 + SEC),
        Verdict::Approved
    );
}

// ---------------------------------------------------------------------------------------------
// app/pending → none/inactive, and the enrollment refusals
// ---------------------------------------------------------------------------------------------

#[test]
fn pending_activation_expires_after_its_ttl() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    let exp = codes.expires_at;
    assert_eq!(card.effective(exp - 1).1, ServiceState::Pending);
    assert_eq!(card.effective(exp).1, ServiceState::Inactive);
    let before = card.clone();
    let r = c.start(
        &mut card,
        &pan,
        &codes.receipt_code,
        &codes.sms_code,
        None,
        exp,
    );
    assert_eq!(r.err(), Some(AppRefusal::ActivationExpired));
    assert_eq!(card, before);
    // One millisecond earlier the same codes still work.
    let mut early = before.clone();
    let s = c
        .start(
            &mut early,
            &pan,
            &codes.receipt_code,
            &codes.sms_code,
            None,
            exp - 1,
        )
        .unwrap();
    assert!(c.confirm(&mut early, s, exp - 1).is_ok());
}

#[test]
fn enroll_confirm_after_activation_expiry_is_refused() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    let exp = codes.expires_at;
    let s = c
        .start(
            &mut card,
            &pan,
            &codes.receipt_code,
            &codes.sms_code,
            None,
            exp - SEC,
        )
        .unwrap();
    assert_eq!(
        c.confirm(&mut card, s, exp).err(),
        Some(AppRefusal::ActivationExpired)
    );
    assert!(card.svc.token().is_none());
    assert_eq!(card.effective(exp).1, ServiceState::Inactive);
}

#[test]
fn wrong_activation_codes_change_nothing_but_each_run_costs_a_try() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    let wrong_sms = if codes.sms_code.as_str() == "000000" {
        "111111"
    } else {
        "000000"
    };
    for (i, expected_left) in [29u32, 28, 27].into_iter().enumerate() {
        let now = T0 + (i as i64 + 1) * 10 * SEC;
        let s = c
            .start(&mut card, &pan, &codes.receipt_code, wrong_sms, None, now)
            .unwrap();
        assert_eq!(card.svc.activation().unwrap().tries_left, expected_left);
        // The app sees the mismatch itself...
        assert_eq!(
            s.client
                .finish(&s.started.reply.msg, &s.started.reply.confirm)
                .err(),
            Some(pooya_enroll::EnrollError::ConfirmMismatch)
        );
        // ...and a client that confirms anyway is refused, and changes nothing.
        let before = card.clone();
        let r = card.enroll_confirm(
            &s.started.reply.enrollment_id,
            &s.started.run,
            &[0u8; 32],
            now + SEC,
            &c.policy,
            &c.keys,
        );
        assert_eq!(r.err(), Some(AppRefusal::WrongActivationCodes));
        assert_eq!(card, before);
        assert_eq!(card.effective(now + SEC).1, ServiceState::Pending);
    }
    // The static second password was never disabled, and the right codes still enroll.
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0 + HOUR),
        Verdict::Approved
    );
    let s = c
        .start(
            &mut card,
            &pan,
            &codes.receipt_code,
            &codes.sms_code,
            None,
            T0 + HOUR,
        )
        .unwrap();
    c.confirm(&mut card, s, T0 + HOUR).unwrap();
    assert_eq!(card.effective(T0 + HOUR).1, ServiceState::Active);
}

#[test]
fn runs_use_up_the_activation_all_addresses_together() {
    let mut policy = Policy::default();
    policy.activation.max_tries_total = 3;
    let c = Ctx::with_policy(policy);
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    let mut last = None;
    for i in 0..3i64 {
        let s = c
            .start(
                &mut card,
                &pan,
                &codes.receipt_code,
                &codes.sms_code,
                None,
                T0 + i * SEC,
            )
            .unwrap();
        assert_eq!(card.svc.activation().unwrap().tries_left, 2 - i as u32);
        last = Some(s);
    }
    let run_end = T0 + 2 * SEC + 300 * SEC;
    let before = card.clone();
    let r = c.start(
        &mut card,
        &pan,
        &codes.receipt_code,
        &codes.sms_code,
        None,
        T0 + 3 * SEC,
    );
    assert_eq!(r.err(), Some(AppRefusal::ActivationExhausted));
    assert_eq!(card, before);
    // Used up: no longer pending at once (issue 13), while the last run is still open.
    assert_eq!(
        card.effective(T0 + 3 * SEC),
        (Mode::None, ServiceState::Inactive)
    );
    assert_eq!(card.effective(run_end).1, ServiceState::Inactive);
    // The last run can still complete in time...
    let mut done = card.clone();
    let e = c
        .confirm(&mut done, last.take().unwrap(), run_end - 1)
        .unwrap();
    assert_eq!(done.effective(run_end).1, ServiceState::Active);
    assert_eq!(done.svc.token(), Some(&e.token));
}

#[test]
fn runs_do_not_replace_each_other_and_die_with_their_activation() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    let start = |card: &mut CardRecord, now| {
        c.start(card, &pan, &codes.receipt_code, &codes.sms_code, None, now)
            .unwrap()
    };
    let first = start(&mut card, T0);
    let second = start(&mut card, T0 + SEC);
    // The later run did not replace the earlier one: either confirms.
    let mut other = card.clone();
    c.confirm(&mut other, second, T0 + 2 * SEC).unwrap();
    let fin = first
        .client
        .finish(&first.started.reply.msg, &first.started.reply.confirm)
        .unwrap();
    // A new activation leaves an earlier run nothing to confirm.
    let mut renewed = card.clone();
    c.activate_app(&mut renewed, &pan, T0 + 2 * SEC);
    let before = renewed.clone();
    let r = renewed.enroll_confirm(
        &first.started.reply.enrollment_id,
        &first.started.run,
        &fin.confirm,
        T0 + 3 * SEC,
        &c.policy,
        &c.keys,
    );
    assert_eq!(r.err(), Some(AppRefusal::WrongActivationCodes));
    assert_eq!(renewed, before);
    // No activation at all: the same.
    let (_, mut fresh) = c.card(PAN_A);
    let r = fresh.enroll_confirm(
        &first.started.reply.enrollment_id,
        &first.started.run,
        &fin.confirm,
        T0,
        &c.policy,
        &c.keys,
    );
    assert_eq!(r.err(), Some(AppRefusal::WrongActivationCodes));
    // The run's state is sealed to its id: under another id it opens to nothing.
    let r = card.enroll_confirm(
        &second_id_of(&c, &mut card.clone(), &pan, &codes),
        &first.started.run,
        &fin.confirm,
        T0 + 2 * SEC,
        &c.policy,
        &c.keys,
    );
    assert_eq!(r.err(), Some(AppRefusal::WrongActivationCodes));
    // Under its own, it completes.
    let (token, seed) = card
        .enroll_confirm(
            &first.started.reply.enrollment_id,
            &first.started.run,
            &fin.confirm,
            T0 + 2 * SEC,
            &c.policy,
            &c.keys,
        )
        .unwrap();
    assert_eq!(seed, fin.seed);
    assert_eq!(card.svc.token(), Some(&token));
}

/// The id of a fresh run on `card`.
fn second_id_of(c: &Ctx, card: &mut CardRecord, pan: &Pan, codes: &ActivationCodes) -> String {
    c.start(card, pan, &codes.receipt_code, &codes.sms_code, None, T0)
        .unwrap()
        .started
        .reply
        .enrollment_id
}

#[test]
fn enroll_start_without_pending_activation_is_refused() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let (_, msg) = ClientEnrollment::start(pan.digits(), "123456", "654321");
    let attempt = |card: &mut CardRecord| {
        let before = card.clone();
        let r = card.enroll_start(&pan, &msg, None, T0 + HOUR, &c.policy, &c.keys);
        assert_eq!(r.err(), Some(AppRefusal::NoPendingActivation));
        assert_eq!(*card, before);
    };
    // Never activated.
    attempt(&mut card);
    // SMS channel.
    let mut sms = card.clone();
    c.activate_sms(&mut sms);
    attempt(&mut sms);
    // An active app token.
    let mut active = card.clone();
    c.enroll(&mut active, &pan, None, T0);
    attempt(&mut active);
    // Locked.
    let mut locked = card.clone();
    c.activate_app(&mut locked, &pan, T0);
    for i in 0..5 {
        c.second(&mut locked, "98765432", T0 + i);
    }
    assert_eq!(locked.effective(T0 + 5).1, ServiceState::Locked);
    attempt(&mut locked);
}

#[test]
fn lifetime_outside_bounds_is_invalid_and_changes_nothing() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    for lifetime in [0, 29, 301, u32::MAX] {
        let before = card.clone();
        let r = c.start(
            &mut card,
            &pan,
            &codes.receipt_code,
            &codes.sms_code,
            Some(lifetime),
            T0,
        );
        assert_eq!(r.err(), Some(AppRefusal::InvalidLifetime), "{lifetime}");
        assert_eq!(card, before);
    }
    for lifetime in [30, 300] {
        let mut edge = card.clone();
        let s = c
            .start(
                &mut edge,
                &pan,
                &codes.receipt_code,
                &codes.sms_code,
                Some(lifetime),
                T0,
            )
            .unwrap();
        let e = c.confirm(&mut edge, s, T0).unwrap();
        assert_eq!(e.token.step_secs, lifetime);
    }
}

#[test]
fn holder_chosen_lifetime_gives_a_token_with_that_step() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, Some(90), T0);
    assert_eq!(e.token.step_secs, 90);
    let s = e.app.step(T0);
    assert_eq!(e.app.end(s) - e.app.start(s), 90 * SEC);
    // A code lives 90 s (plus tolerance).
    let mut late = card.clone();
    assert_eq!(
        c.second(&mut late, &e.app.second_of(s), T0 + 89 * SEC),
        Verdict::Approved
    );
    assert_eq!(
        c.second(&mut card, &e.app.second_of(s), T0 + 100 * SEC),
        Verdict::ExpiredPassword
    );
}

#[test]
fn default_lifetime_is_the_policy_lifetime() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    assert_eq!(e.token.step_secs, c.policy.otp.lifetime_secs);
    assert_eq!(e.token.step_secs, 60);
}

#[test]
fn malformed_enrollment_message_changes_nothing() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    let (_, good) = ClientEnrollment::start(pan.digits(), &codes.receipt_code, &codes.sms_code);
    let mut wrong_side = good.clone();
    wrong_side[0] = b'B';
    for msg in [Vec::new(), vec![0u8; 10], vec![0xffu8; 33], wrong_side] {
        let before = card.clone();
        let r = card.enroll_start(&pan, &msg, None, T0, &c.policy, &c.keys);
        assert_eq!(r.err(), Some(AppRefusal::MalformedMessage));
        assert_eq!(card, before);
        assert_eq!(card.svc.activation().unwrap().tries_left, 30);
    }
}

#[test]
fn dead_activation_is_reported_as_none_inactive() {
    let mut policy = Policy::default();
    policy.activation.max_tries_total = 3;
    let c = Ctx::with_policy(policy);
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    // Expired.
    assert_eq!(
        card.effective(codes.expires_at),
        (Mode::None, ServiceState::Inactive)
    );
    // Tries used up (all addresses together): dead at once.
    for i in 0..3 {
        c.start(&mut card, &pan, "000000", "000000", None, T0 + i)
            .unwrap();
    }
    assert_eq!(
        card.effective(T0 + 10),
        (Mode::None, ServiceState::Inactive)
    );
}
