//! The PIN lock (`card::pin_lock`, issue 20): slow guessing of the 4 digits ends in a lock that
//! only a branch lifts.
use super::*;

/// A 4-digit guess that is not the static PIN (the card has no dynamic first password).
fn guess(n: i64) -> String {
    let g = format!("{:04}", 5000 + n);
    assert_ne!(g, STATIC_PIN);
    g
}

#[test]
fn a_thiefs_slow_guessing_over_days_ends_in_a_pin_lock() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    // Each day the most that locks nothing else: 2 wrong PINs at the ATM, 2 wrong first passwords
    // at a terminal (R5 and the ATM's daily tries stay below their limits).
    let mut n = 0;
    let mut t = T0;
    for day in 0..2 {
        t = T0 + day * DAY;
        for _ in 0..2 {
            n += 1;
            // The ATM's daily tries are the fewer: 2 left after the day's first, then 1.
            assert!(matches!(
                c.pin(&mut card, &guess(n), t + n),
                Err(AtmRefusal::WrongPin { tries_left: 1 | 2 })
            ));
            n += 1;
            assert_eq!(c.first(&mut card, &guess(n), t + n), Verdict::WrongPassword);
        }
        assert!(!card.pin_locked(), "day {day}");
        assert!(!card.svc.is_locked());
    }
    // Day 3: the 9th failure does not lock, the 10th does.
    t += DAY;
    n += 1;
    // The PIN lock's tries are the fewer now: one more wrong first password or PIN locks it.
    assert_eq!(
        c.pin(&mut card, &guess(n), t + n),
        Err(AtmRefusal::WrongPin { tries_left: 1 })
    );
    assert!(!card.pin_locked());
    n += 1;
    assert_eq!(c.first(&mut card, &guess(n), t + n), Verdict::WrongPassword);
    assert!(card.pin_locked());
    // The right PIN is refused everywhere now, and counts nothing; the second password is not
    // touched.
    let later = t + 10 * DAY;
    let before = card.svc.pin_lock_failures.clone();
    assert_eq!(
        c.pin(&mut card, STATIC_PIN, later),
        Err(AtmRefusal::PinLocked)
    );
    assert_eq!(c.first(&mut card, STATIC_PIN, later), Verdict::Locked);
    assert_eq!(card.svc.pin_lock_failures, before);
    assert_eq!(card.recent_failures(later, &c.policy), 0);
    assert_eq!(c.second(&mut card, STATIC_SECOND, later), Verdict::Approved);
    // Still locked long after the window.
    assert_eq!(
        c.pin(&mut card, STATIC_PIN, later + 365 * DAY),
        Err(AtmRefusal::PinLocked)
    );
    // A branch lifts it: a clean slate.
    card.unlock_pin();
    assert!(!card.pin_locked());
    assert!(card.svc.pin_lock_failures.is_empty());
    assert!(card.svc.pin_failures.is_empty());
    assert_eq!(c.pin(&mut card, STATIC_PIN, later), Ok(()));
    assert_eq!(c.first(&mut card, STATIC_PIN, later), Verdict::Approved);
}

#[test]
fn failures_older_than_the_window_fall_out() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let window = c.policy.pin_lock.window_secs as i64 * SEC;
    for i in 0..9 {
        // One a day, within the ATM's daily tries.
        let tries_left = (9 - i as u32).min(2);
        assert_eq!(
            c.pin(&mut card, &guess(i), T0 + i * DAY),
            Err(AtmRefusal::WrongPin { tries_left })
        );
    }
    // The first has left the window when the tenth comes.
    let tenth = T0 + window;
    assert_eq!(
        c.pin(&mut card, &guess(9), tenth),
        Err(AtmRefusal::WrongPin { tries_left: 1 })
    );
    assert!(!card.pin_locked());
    assert_eq!(card.svc.pin_lock_failures.len(), 9);
    // One more inside it locks.
    assert_eq!(
        c.first(&mut card, &guess(10), tenth + 1),
        Verdict::WrongPassword
    );
    assert!(card.pin_locked());
}

#[test]
fn late_or_used_first_passwords_count_toward_r5_but_not_the_pin_lock() {
    let mut policy = Policy::default();
    policy.pin_lock.max_failures = 2;
    let c = Ctx::with_policy(policy);
    let (pan, mut card) = c.card(PAN_A);
    let now = T0 + 5 * SEC;
    let e = c.enroll_distinct(&mut card, &pan, T0, now);
    let code = e.app.first_at(now);
    let old = e.app.first_of(e.app.step(T0) - 3);
    assert_eq!(c.first(&mut card, &old, now), Verdict::ExpiredPassword);
    assert_eq!(c.first(&mut card, &code, now + 1), Verdict::Approved);
    assert_eq!(c.first(&mut card, &code, now + 2), Verdict::Replayed);
    assert_eq!(card.recent_failures(now + 2, &c.policy), 2);
    assert!(card.svc.pin_lock_failures.is_empty());
    // A wrong guess counts: the second locks under this policy.
    let wrong = e.app.wrong_first(now);
    assert_eq!(c.first(&mut card, &wrong, now + 3), Verdict::WrongPassword);
    assert!(!card.pin_locked());
    assert_eq!(
        c.second(&mut card, &e.app.second_at(now), now + 4),
        Verdict::Approved
    );
    assert_eq!(c.first(&mut card, &wrong, now + 5), Verdict::WrongPassword);
    assert!(card.pin_locked());
    // The app's live first password is refused too; its second password still works.
    let next = now + 60 * SEC;
    assert_eq!(
        c.first(&mut card, &e.app.first_at(next), next),
        Verdict::Locked
    );
    assert_eq!(
        c.second(&mut card, &e.app.second_at(next), next),
        Verdict::Approved
    );
}

#[test]
fn no_atm_activation_lifts_a_pin_lock() {
    let mut policy = Policy::default();
    policy.pin_lock.max_failures = 1;
    let c = Ctx::with_policy(policy);
    let (_, mut card) = c.card(PAN_A);
    assert_eq!(
        c.pin(&mut card, "9999", T0),
        Err(AtmRefusal::WrongPin { tries_left: 0 })
    );
    assert!(card.pin_locked());
    // Every ATM operation starts with this check, so none goes on.
    assert_eq!(c.pin(&mut card, STATIC_PIN, T0), Err(AtmRefusal::PinLocked));
    // What an activation or a deactivation clears does not hold the PIN lock.
    card.deactivate();
    card.activate_sms(&registered(), &registered(), &c.policy, &c.keys)
        .unwrap();
    assert!(card.pin_locked());
    assert_eq!(
        c.pin(&mut card, STATIC_PIN, T0 + 1),
        Err(AtmRefusal::PinLocked)
    );
}

#[test]
fn max_failures_zero_turns_the_pin_lock_off() {
    let mut policy = Policy::default();
    policy.pin_lock.max_failures = 0;
    let c = Ctx::with_policy(policy);
    let (_, mut card) = c.card(PAN_A);
    for i in 0..30 {
        c.pin(&mut card, &guess(i), T0 + i * DAY).unwrap_err();
    }
    assert!(!card.pin_locked());
    assert!(card.svc.pin_lock_failures.is_empty());
    assert_eq!(c.pin(&mut card, STATIC_PIN, T0 + 31 * DAY), Ok(()));
}

#[test]
fn records_without_the_pin_lock_load_and_records_with_it_round_trip() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    // A document as servers before the PIN lock wrote it.
    let old = serde_json::json!({
        "mode": "none", "locked": false, "static_second_disabled": false,
        "failures": [], "pin_failures": [T0]
    });
    let svc: DynamicService = serde_json::from_value(old).unwrap();
    assert!(!svc.pin_locked && svc.pin_lock_failures.is_empty());
    assert_eq!(svc.pin_failures, vec![T0]);
    // Unlocked and unused, the new fields stay out of the document.
    let doc = serde_json::to_value(&svc).unwrap();
    assert!(doc.get("pin_locked").is_none() && doc.get("pin_lock_failures").is_none());
    card.svc = svc;
    c.pin(&mut card, "9999", T0 + DAY).unwrap_err();
    card.svc.pin_locked = true;
    let doc = serde_json::to_string(&card.svc).unwrap();
    let back: DynamicService = serde_json::from_str(&doc).unwrap();
    assert_eq!(back, card.svc);
    assert!(back.pin_locked);
    assert_eq!(back.pin_lock_failures, vec![T0 + DAY]);
}
