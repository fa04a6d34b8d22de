//! Activating again replaces everything (docs/api.md).
use super::*;

#[test]
fn activating_the_app_again_kills_the_old_token() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let old = c.enroll(&mut card, &pan, None, T0);
    let now = T0 + 5 * SEC;
    c.activate_app(&mut card, &pan, now);
    assert!(card.svc.token().is_none());
    assert_eq!(card.effective(now), (Mode::App, ServiceState::Pending));
    assert_eq!(
        c.second(&mut card, &old.app.second_at(now), now),
        Verdict::WrongPassword
    );
    let new = c.enroll(&mut card, &pan, None, now);
    assert_ne!(new.token.id, old.token.id);
    let later = now + 60 * SEC;
    assert_eq!(
        c.second(&mut card, &old.app.second_at(later), later),
        Verdict::WrongPassword
    );
    assert_eq!(
        c.second(&mut card, &new.app.second_at(later), later),
        Verdict::Approved
    );
    // Removal by the old token id is refused.
    assert_eq!(
        card.removal_challenge(&old.token.id, later, &c.policy)
            .err(),
        Some(AppRefusal::UnknownToken)
    );
}

#[test]
fn changing_channel_replaces_the_old_credentials() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    // App → SMS: the token dies.
    let e = c.enroll(&mut card, &pan, None, T0);
    let fixed = c.activate_sms(&mut card);
    assert!(card.svc.token().is_none());
    assert_eq!(card.effective(T0), (Mode::Sms, ServiceState::Active));
    let now = T0 + 5 * SEC;
    assert_eq!(
        c.second(&mut card, &e.app.second_at(now), now),
        Verdict::WrongPassword
    );
    // SMS → app: the fixed part dies.
    let (var, _) = c.variable(&mut card, now);
    c.activate_app(&mut card, &pan, now);
    assert!(card.svc.sms().is_none());
    assert!(card.issue_variable_part(now, &c.policy, &c.keys).is_none());
    assert_eq!(
        c.second(&mut card, &format!("{fixed}{var}"), now + 1),
        Verdict::WrongPassword
    );
    // SMS → SMS: a new fixed part.
    let mut again = card.clone();
    let f1 = c.activate_sms(&mut again);
    let (v1, _) = c.variable(&mut again, now);
    let f2 = c.activate_sms(&mut again);
    assert!(again.svc.sms().unwrap().variable.is_none());
    let (v2, _) = c.variable(&mut again, now + 1);
    if f1 != f2 {
        assert_eq!(
            c.second(&mut again, &format!("{f1}{v2}"), now + 2),
            Verdict::WrongPassword
        );
    }
    if v1 != v2 {
        assert_eq!(
            c.second(&mut again, &format!("{f2}{v1}"), now + 2),
            Verdict::WrongPassword
        );
    }
    assert_eq!(
        c.second(&mut again, &format!("{f2}{v2}"), now + 3),
        Verdict::Approved
    );
}
