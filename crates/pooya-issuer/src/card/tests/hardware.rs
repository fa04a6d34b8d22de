//! Hardware tokens (PSKC import).
use super::*;

/// RFC 4226's test key.
const HW_KEY: &[u8] = b"12345678901234567890";

fn hw_key(
    kind: HardwareKind,
    digits: u8,
    algorithm: &'static str,
    step: u32,
    counter: u64,
) -> HardwareKey<'static> {
    HardwareKey {
        serial: "SN1",
        kind,
        key: HW_KEY,
        algorithm,
        digits,
        step_secs: step,
        counter,
        usage: pooya_pskc::Usage::default(),
    }
}

fn hotp_code(counter: u64, digits: u8) -> String {
    pooya_otp::hotp(
        &pooya_otp::OtpKey::from_bytes(HW_KEY),
        counter,
        pooya_otp::Digits::new(digits).unwrap(),
        Algorithm::Sha1,
    )
    .as_str()
    .to_owned()
}

#[test]
fn hardware_import_makes_card_app_active_and_kills_static_second() {
    let ctx = Ctx::new();
    let (_, mut card) = ctx.card(PAN_A);
    card.install_hardware_token(&hw_key(HardwareKind::Hotp, 6, "SHA1", 0, 0), T0, &ctx.keys)
        .unwrap();
    assert_eq!(card.effective(T0), (Mode::App, ServiceState::Active));
    assert_eq!(
        ctx.second(&mut card, STATIC_SECOND, T0),
        Verdict::StaticPasswordDisabled
    );
    // The first password stays the static PIN.
    assert_eq!(ctx.first(&mut card, STATIC_PIN, T0), Verdict::Approved);
    assert_eq!(ctx.pin(&mut card, STATIC_PIN, T0), Ok(()));
    // The raw key is sealed, never stored as is.
    let doc = serde_json::to_string(&card.svc).unwrap();
    assert!(!doc.contains("MTIzNDU2Nzg5MDEyMzQ1Njc4OTA"), "{doc}");
}

#[test]
fn hardware_import_replaces_an_app_token() {
    let ctx = Ctx::new();
    let (pan, mut card) = ctx.card(PAN_A);
    let e = ctx.enroll(&mut card, &pan, None, T0);
    card.install_hardware_token(&hw_key(HardwareKind::Hotp, 6, "SHA1", 0, 0), T0, &ctx.keys)
        .unwrap();
    assert!(card.svc.token().is_none());
    assert_eq!(
        ctx.second(&mut card, &e.app.second_at(T0), T0),
        Verdict::WrongPassword
    );
    assert_eq!(ctx.second(&mut card, "755224", T0), Verdict::Approved);
}

#[test]
fn hardware_import_refuses_bad_parameters_and_changes_nothing() {
    let ctx = Ctx::new();
    let (_, mut card) = ctx.card(PAN_A);
    let before = card.clone();
    for k in [
        hw_key(HardwareKind::Hotp, 6, "MD5", 0, 0),
        hw_key(HardwareKind::Hotp, 3, "SHA1", 0, 0),
        hw_key(HardwareKind::Totp, 6, "SHA1", 0, 0),
    ] {
        assert!(card.install_hardware_token(&k, T0, &ctx.keys).is_err());
        assert_eq!(card, before);
    }
}

#[test]
fn hardware_hotp_rfc4226_codes_once_each_with_look_ahead() {
    let ctx = Ctx::new();
    let (_, mut card) = ctx.card(PAN_A);
    card.install_hardware_token(&hw_key(HardwareKind::Hotp, 6, "SHA1", 0, 0), T0, &ctx.keys)
        .unwrap();
    // RFC 4226 Appendix D.
    assert_eq!(ctx.second(&mut card, "755224", T0), Verdict::Approved);
    assert_eq!(ctx.second(&mut card, "755224", T0), Verdict::Replayed);
    assert_eq!(ctx.second(&mut card, "287082", T0), Verdict::Approved);
    // Counter 2 expected; 2 + 9 = 11 is the last of a look-ahead of 10.
    assert_eq!(
        ctx.second(&mut card, &hotp_code(11, 6), T0),
        Verdict::Approved
    );
    assert_eq!(card.svc.hardware().unwrap().counter, 12);
    // Codes skipped over are dead.
    assert_eq!(ctx.second(&mut card, "359152", T0), Verdict::Replayed);
    // Any time later: HOTP codes do not expire.
    assert_eq!(
        ctx.second(&mut card, &hotp_code(12, 6), T0 + 30 * DAY),
        Verdict::Approved
    );
}

#[test]
fn hardware_hotp_resync_by_two_consecutive_codes() {
    let ctx = Ctx::new();
    let (_, mut card) = ctx.card(PAN_A);
    card.install_hardware_token(
        &hw_key(HardwareKind::Hotp, 8, "SHA1", 0, 100),
        T0,
        &ctx.keys,
    )
    .unwrap();
    // 100 + 10 is just beyond the look-ahead: refused, remembered.
    assert_eq!(
        ctx.second(&mut card, &hotp_code(110, 8), T0),
        Verdict::WrongPassword
    );
    assert_eq!(card.svc.hardware().unwrap().resync_counter, Some(110));
    // Not the code after it: no resync, and the memory is gone.
    assert_eq!(
        ctx.second(&mut card, &hotp_code(112, 8), T0),
        Verdict::WrongPassword
    );
    assert_eq!(
        ctx.second(&mut card, &hotp_code(113, 8), T0),
        Verdict::Approved
    );
    assert_eq!(card.svc.hardware().unwrap().counter, 114);
    assert_eq!(
        ctx.second(&mut card, &hotp_code(113, 8), T0),
        Verdict::Replayed
    );
    // Beyond the resync window (114 + 100): never.
    assert_eq!(
        ctx.second(&mut card, &hotp_code(214, 8), T0),
        Verdict::WrongPassword
    );
    assert_eq!(card.svc.hardware().unwrap().resync_counter, None);
    assert_eq!(
        ctx.second(&mut card, &hotp_code(215, 8), T0),
        Verdict::WrongPassword
    );
}

#[test]
fn hardware_hotp_windows_follow_the_policy() {
    let mut policy = Policy::default();
    policy.hardware.hotp_look_ahead = 2;
    policy.hardware.hotp_resync_window = 5;
    let ctx = Ctx::with_policy(policy);
    let (_, mut card) = ctx.card(PAN_A);
    card.install_hardware_token(&hw_key(HardwareKind::Hotp, 6, "SHA1", 0, 0), T0, &ctx.keys)
        .unwrap();
    assert_eq!(
        ctx.second(&mut card, &hotp_code(2, 6), T0),
        Verdict::WrongPassword
    );
    assert_eq!(
        ctx.second(&mut card, &hotp_code(3, 6), T0),
        Verdict::Approved
    );
    assert_eq!(
        ctx.second(&mut card, &hotp_code(9, 6), T0),
        Verdict::WrongPassword
    );
    assert_eq!(card.svc.hardware().unwrap().resync_counter, None);
}

#[test]
fn hardware_totp_rfc6238_codes_with_the_files_step_once_per_step() {
    let ctx = Ctx::new();
    let (_, mut card) = ctx.card(PAN_A);
    card.install_hardware_token(&hw_key(HardwareKind::Totp, 8, "SHA1", 30, 0), T0, &ctx.keys)
        .unwrap();
    // RFC 6238 Appendix B, SHA1: T = 1111111109 s and 1234567890 s.
    let t1 = 1_111_111_109 * SEC;
    assert_eq!(ctx.second(&mut card, "07081804", t1), Verdict::Approved);
    assert_eq!(ctx.second(&mut card, "07081804", t1), Verdict::Replayed);
    let t2 = 1_234_567_890 * SEC;
    assert_eq!(ctx.second(&mut card, "89005924", t2), Verdict::Approved);
    // A code well past its step and the tolerance: expired.
    let totp = Totp::new(30, pooya_otp::Digits::EIGHT, Algorithm::Sha1).unwrap();
    let key = pooya_otp::OtpKey::from_bytes(HW_KEY);
    let old = totp.code_at(&key, T0).as_str().to_owned();
    assert_eq!(
        ctx.second(&mut card, &old, T0 + 120 * SEC),
        Verdict::ExpiredPassword
    );
    // Within the skew tolerance after its step: accepted.
    let c = totp.code_at(&key, T0 + 200 * SEC).as_str().to_owned();
    let end = totp.step_end_ms(totp.step_at(T0 + 200 * SEC));
    assert_eq!(ctx.second(&mut card, &c, end + 5 * SEC), Verdict::Approved);
}

#[test]
fn hardware_token_dies_with_a_lock_and_an_atm_activation_but_not_a_mobile_change() {
    let ctx = Ctx::new();
    let (pan, mut card) = ctx.card(PAN_A);
    let hw = hw_key(HardwareKind::Hotp, 6, "SHA1", 0, 0);
    card.install_hardware_token(&hw, T0, &ctx.keys).unwrap();
    assert_eq!(card.revoke_mobile(&registered()), 0);
    assert_eq!(card.effective(T0), (Mode::App, ServiceState::Active));
    for i in 0..5 {
        assert_eq!(
            ctx.second(&mut card, "000000", T0 + i),
            Verdict::WrongPassword
        );
    }
    assert_eq!(card.effective(T0), (Mode::App, ServiceState::Locked));
    assert!(card.svc.hardware().is_none());
    assert_eq!(ctx.second(&mut card, "755224", T0), Verdict::Locked);
    // A new import after a lock starts afresh.
    card.install_hardware_token(&hw, T0, &ctx.keys).unwrap();
    assert_eq!(card.effective(T0), (Mode::App, ServiceState::Active));
    assert_eq!(ctx.second(&mut card, "755224", T0), Verdict::Approved);
    // An ATM app activation replaces it.
    ctx.activate_app(&mut card, &pan, T0);
    assert!(card.svc.hardware().is_none());
    assert_eq!(card.effective(T0), (Mode::App, ServiceState::Pending));
    assert_eq!(ctx.second(&mut card, "287082", T0), Verdict::WrongPassword);
}
