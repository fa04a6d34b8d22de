//! The app's codes (R1, R2, R3, R4).
use super::*;

#[test]
fn app_second_code_is_approved_once_then_replayed() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let code = e.app.second_at(T0 + 5 * SEC);
    assert_eq!(c.second(&mut card, &code, T0 + 5 * SEC), Verdict::Approved);
    assert_eq!(
        card.svc.token().unwrap().last_step_second,
        Some(e.app.step(T0))
    );
    // R3: never twice, even inside its lifetime...
    assert_eq!(c.second(&mut card, &code, T0 + 6 * SEC), Verdict::Replayed);
    // ...nor after it has left the window.
    assert_eq!(
        c.second(&mut card, &code, T0 + 5 * 60 * SEC),
        Verdict::Replayed
    );
    assert_eq!(card.recent_failures(T0 + 5 * 60 * SEC, &c.policy), 2);
}

#[test]
fn app_first_code_is_approved_once_then_replayed() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll_distinct(&mut card, &pan, T0, T0 + 5 * SEC);
    let code = e.app.first_at(T0 + 5 * SEC);
    assert_eq!(code.len(), 4);
    assert_eq!(c.first(&mut card, &code, T0 + 5 * SEC), Verdict::Approved);
    assert_eq!(c.first(&mut card, &code, T0 + 6 * SEC), Verdict::Replayed);
}

#[test]
fn code_of_earlier_step_after_a_later_one_is_replayed() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll_distinct(&mut card, &pan, T0, T0 + 60 * SEC);
    let s = e.app.step(T0) + 1;
    // Just after step s began, step s - 1 is still inside the tolerance.
    let now = e.app.start(s) + 2 * SEC;
    assert_eq!(
        c.second(&mut card, &e.app.second_of(s), now),
        Verdict::Approved
    );
    assert_eq!(
        c.second(&mut card, &e.app.second_of(s - 1), now + 1),
        Verdict::Replayed
    );
    assert_eq!(
        c.first(&mut card, &e.app.first_of(s), now),
        Verdict::Approved
    );
    assert_eq!(
        c.first(&mut card, &e.app.first_of(s - 1), now + 1),
        Verdict::Replayed
    );
}

#[test]
fn app_code_is_accepted_over_its_countdown_and_tolerance_then_expired() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0 - HOUR);
    let s = e.app.step(T0);
    let code = e.app.second_of(s);
    let tol = 10 * SEC;
    let (start, end) = (e.app.start(s), e.app.end(s));
    for now in [
        start - tol,
        start,
        start + 30 * SEC,
        end - 1,
        end,
        end + tol - 1,
    ] {
        let mut k = card.clone();
        assert_eq!(c.second(&mut k, &code, now), Verdict::Approved, "at {now}");
    }
    let mut k = card.clone();
    assert_eq!(c.second(&mut k, &code, end + tol), Verdict::ExpiredPassword);
    let mut k = card.clone();
    assert_eq!(
        c.second(&mut k, &code, end + 5 * 60 * SEC),
        Verdict::ExpiredPassword
    );
    // Before its time (beyond the tolerance) it is merely wrong.
    let mut k = card.clone();
    assert_eq!(
        c.second(&mut k, &code, start - tol - 1),
        Verdict::WrongPassword
    );
}

#[test]
fn first_code_is_accepted_over_its_countdown_and_tolerance_then_expired() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll_distinct(&mut card, &pan, T0, T0 + 60 * SEC);
    let s = e.app.step(T0) + 1;
    let code = e.app.first_of(s);
    let (start, end) = (e.app.start(s), e.app.end(s));
    for now in [start, end - 1, end + 10 * SEC - 1] {
        let mut k = card.clone();
        assert_eq!(c.first(&mut k, &code, now), Verdict::Approved, "at {now}");
    }
    assert_eq!(
        c.first(&mut card, &code, end + 10 * SEC),
        Verdict::ExpiredPassword
    );
}

#[test]
fn code_of_another_cards_token_is_wrong_password() {
    let c = Ctx::new();
    let (pan_a, mut a) = c.card(PAN_A);
    let (pan_b, mut b) = c.card(PAN_B);
    let now = T0 + 5 * SEC;
    let ea = c.enroll_distinct(&mut a, &pan_a, T0, now);
    // A seed for B whose first code of this step is none of A's codes around now.
    let eb = loop {
        let eb = c.enroll(&mut b, &pan_b, None, T0);
        let theirs = eb.app.first_at(now);
        if ea
            .app
            .steps_around(now)
            .all(|s| ea.app.first_of(s) != theirs)
            && theirs != STATIC_PIN
        {
            break eb;
        }
    };
    let b_second = eb.app.second_at(now);
    let b_first = eb.app.first_at(now);
    assert_ne!(b_second, ea.app.second_at(now));
    assert_eq!(c.second(&mut a, &b_second, now), Verdict::WrongPassword);
    assert_eq!(c.first(&mut a, &b_first, now), Verdict::WrongPassword);
    // B's codes still work on B (nothing was consumed on A's account).
    assert_eq!(c.second(&mut b, &b_second, now), Verdict::Approved);
    assert_eq!(c.first(&mut b, &b_first, now), Verdict::Approved);
    // And A's own codes on A.
    assert_eq!(
        c.second(&mut a, &ea.app.second_at(now), now),
        Verdict::Approved
    );
}

#[test]
fn sealed_seed_copied_onto_another_card_does_not_open() {
    let c = Ctx::new();
    let (pan_a, mut a) = c.card(PAN_A);
    let (_, mut b) = c.card(PAN_B);
    let ea = c.enroll(&mut a, &pan_a, None, T0);
    // Someone with write access to the store copies A's whole service onto B.
    b.svc = a.svc.clone();
    let now = T0 + 5 * SEC;
    assert_eq!(
        c.second(&mut b, &ea.app.second_at(now), now),
        Verdict::WrongPassword
    );
    assert_eq!(
        c.second(&mut a, &ea.app.second_at(now), now),
        Verdict::Approved
    );
}

#[test]
fn first_and_second_passwords_are_independent() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll_distinct(&mut card, &pan, T0, T0 + 5 * SEC);
    let now = T0 + 5 * SEC;
    let mut k = card.clone();
    assert_eq!(
        c.first(&mut k, &e.app.first_at(now), now),
        Verdict::Approved
    );
    assert_eq!(
        c.second(&mut k, &e.app.second_at(now), now),
        Verdict::Approved
    );
    let t = k.svc.token().unwrap();
    assert_eq!(t.last_step_first, Some(e.app.step(now)));
    assert_eq!(t.last_step_second, Some(e.app.step(now)));
    // The other order.
    assert_eq!(
        c.second(&mut card, &e.app.second_at(now), now),
        Verdict::Approved
    );
    assert_eq!(card.svc.token().unwrap().last_step_first, None);
    assert_eq!(
        c.first(&mut card, &e.app.first_at(now), now),
        Verdict::Approved
    );
    // The two keys differ.
    assert_ne!(e.app.pk.first.as_bytes(), e.app.pk.second.as_bytes());
}

#[test]
fn first_password_has_4_digits_and_second_8() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll_distinct(&mut card, &pan, T0, T0 + 5 * SEC);
    let now = T0 + 5 * SEC;
    let first = e.app.first_at(now);
    let second = e.app.second_at(now);
    assert_eq!(first.len(), 4);
    assert_eq!(second.len(), 8);
    // Each is refused as the other kind, and is not used up by that.
    let mut k = card.clone();
    assert_eq!(c.second(&mut k, &first, now), Verdict::WrongPassword);
    assert_eq!(c.first(&mut k, &second, now), Verdict::WrongPassword);
    // The last 4 digits of the second password are no first password either.
    let tail = &second[4..];
    if tail != STATIC_PIN && e.app.steps_around(now).all(|s| e.app.first_of(s) != tail) {
        assert_eq!(c.first(&mut k, &second[4..], now), Verdict::WrongPassword);
    }
    assert_eq!(c.first(&mut k, &first, now), Verdict::Approved);
    assert_eq!(c.second(&mut k, &second, now), Verdict::Approved);
}

#[test]
fn maskan_profile_codes_live_120_s() {
    let c = Ctx::maskan();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    assert_eq!(e.token.step_secs, 120);
    let s = e.app.step(T0);
    assert_eq!(e.app.start(s), T0);
    assert_eq!(e.app.end(s), T0 + 120 * SEC);
    let code = e.app.second_of(s);
    let mut k = card.clone();
    assert_eq!(c.second(&mut k, &code, T0 + 119 * SEC), Verdict::Approved);
    let mut k = card.clone();
    assert_eq!(c.second(&mut k, &code, T0 + 129 * SEC), Verdict::Approved);
    assert_eq!(
        c.second(&mut card, &code, T0 + 130 * SEC),
        Verdict::ExpiredPassword
    );
}
