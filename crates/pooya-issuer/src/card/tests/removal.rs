//! Token removal by the app.
use super::*;

#[test]
fn removal_with_the_right_proof_removes_the_token() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let ch = card.removal_challenge(&e.token.id, T0, &c.policy).unwrap();
    assert_eq!(ch.nonce.len(), 32);
    assert_eq!(ch.expires_at, T0 + 300 * SEC);
    let proof = pooya_enroll::removal_proof(&e.seed, &e.token.id, &ch.nonce);
    assert_eq!(
        card.remove_token(&e.token.id, &ch.nonce, &proof, T0 + SEC, &c.keys),
        Ok(())
    );
    assert!(card.svc.token().is_none());
    assert_eq!(card.svc.mode(), Mode::None);
    assert_eq!(
        card.effective(T0 + SEC),
        (Mode::None, ServiceState::Inactive)
    );
    assert_eq!(
        c.second(&mut card, &e.app.second_at(T0 + 2 * SEC), T0 + 2 * SEC),
        Verdict::WrongPassword
    );
    // Removing the token never brings the static second password back (module doc).
    assert!(card.svc.static_second_disabled);
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0 + 2 * SEC),
        Verdict::StaticPasswordDisabled
    );
}

#[test]
fn removal_with_a_wrong_proof_is_refused_and_uses_up_the_challenge() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let ch = card.removal_challenge(&e.token.id, T0, &c.policy).unwrap();
    let proof = pooya_enroll::removal_proof(&e.seed, &e.token.id, &ch.nonce);
    let mut bad = proof.clone();
    bad[0] ^= 1;
    assert_eq!(
        card.remove_token(&e.token.id, &ch.nonce, &bad, T0 + SEC, &c.keys),
        Err(AppRefusal::BadProof)
    );
    assert!(card.svc.token().unwrap().removal.is_none());
    // The right proof for the same challenge comes too late.
    assert_eq!(
        card.remove_token(&e.token.id, &ch.nonce, &proof, T0 + 2 * SEC, &c.keys),
        Err(AppRefusal::BadProof)
    );
    assert_eq!(
        card.effective(T0 + 2 * SEC),
        (Mode::App, ServiceState::Active)
    );
    // A proof over another nonce than the challenge's: refused, challenge used up too.
    let ch2 = card
        .removal_challenge(&e.token.id, T0 + 3 * SEC, &c.policy)
        .unwrap();
    let other_nonce = vec![0u8; 32];
    let other_proof = pooya_enroll::removal_proof(&e.seed, &e.token.id, &other_nonce);
    assert_eq!(
        card.remove_token(
            &e.token.id,
            &other_nonce,
            &other_proof,
            T0 + 4 * SEC,
            &c.keys
        ),
        Err(AppRefusal::BadProof)
    );
    let proof2 = pooya_enroll::removal_proof(&e.seed, &e.token.id, &ch2.nonce);
    assert_eq!(
        card.remove_token(&e.token.id, &ch2.nonce, &proof2, T0 + 5 * SEC, &c.keys),
        Err(AppRefusal::BadProof)
    );
    assert!(card.svc.token().is_some());
}

#[test]
fn removal_without_a_challenge_is_bad_proof() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let nonce = vec![1u8; 32];
    let proof = pooya_enroll::removal_proof(&e.seed, &e.token.id, &nonce);
    assert_eq!(
        card.remove_token(&e.token.id, &nonce, &proof, T0, &c.keys),
        Err(AppRefusal::BadProof)
    );
    assert!(card.svc.token().is_some());
}

#[test]
fn removal_after_the_challenge_expired_is_refused() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let ch = card.removal_challenge(&e.token.id, T0, &c.policy).unwrap();
    let proof = pooya_enroll::removal_proof(&e.seed, &e.token.id, &ch.nonce);
    let mut in_time = card.clone();
    assert_eq!(
        in_time.remove_token(&e.token.id, &ch.nonce, &proof, ch.expires_at - 1, &c.keys),
        Ok(())
    );
    assert_eq!(
        card.remove_token(&e.token.id, &ch.nonce, &proof, ch.expires_at, &c.keys),
        Err(AppRefusal::ChallengeExpired)
    );
    assert!(card.svc.token().is_some());
    assert!(card.svc.token().unwrap().removal.is_none());
}

#[test]
fn removal_of_an_unknown_token_is_refused() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    assert_eq!(
        card.removal_challenge("nope", T0, &c.policy).err(),
        Some(AppRefusal::UnknownToken)
    );
    let e = c.enroll(&mut card, &pan, None, T0);
    let before = card.clone();
    assert_eq!(
        card.removal_challenge("nope", T0, &c.policy).err(),
        Some(AppRefusal::UnknownToken)
    );
    assert_eq!(card, before);
    let ch = card.removal_challenge(&e.token.id, T0, &c.policy).unwrap();
    let proof = pooya_enroll::removal_proof(&e.seed, "nope", &ch.nonce);
    assert_eq!(
        card.remove_token("nope", &ch.nonce, &proof, T0, &c.keys),
        Err(AppRefusal::UnknownToken)
    );
    assert!(card.svc.token().unwrap().removal.is_some());
}
