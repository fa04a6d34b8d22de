//! Hardware tokens under their PSKC file's policy (RFC 6030 §5, issue 19): dates, number of
//! transactions, check digit, time drift.
use super::*;

/// RFC 4226's test key.
const HW_KEY: &[u8] = b"12345678901234567890";

fn install(
    card: &mut CardRecord,
    ctx: &Ctx,
    kind: HardwareKind,
    digits: u8,
    usage: pooya_pskc::Usage,
) {
    let hw = HardwareKey {
        serial: "SN1",
        kind,
        key: HW_KEY,
        algorithm: "SHA1",
        digits,
        step_secs: if kind == HardwareKind::Totp { 30 } else { 0 },
        counter: 0,
        usage,
    };
    card.install_hardware_token(&hw, T0, &ctx.keys).unwrap();
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
fn outside_its_dates_every_code_is_token_not_valid_and_not_counted() {
    let ctx = Ctx::new();
    let (_, mut card) = ctx.card(PAN_A);
    let usage = pooya_pskc::Usage {
        not_before_ms: Some(T0 + DAY),
        not_after_ms: Some(T0 + 10 * DAY),
        ..Default::default()
    };
    install(&mut card, &ctx, HardwareKind::Hotp, 6, usage);
    // Before the start: the right code and wrong ones alike, and none of them counts (R5).
    for i in 0..8 {
        assert_eq!(
            ctx.second(&mut card, "755224", T0 + i),
            Verdict::TokenNotValid
        );
        assert_eq!(
            ctx.second(&mut card, "000000", T0 + i),
            Verdict::TokenNotValid
        );
    }
    assert_eq!(card.recent_failures(T0 + 10, &ctx.policy), 0);
    assert_eq!(card.effective(T0), (Mode::App, ServiceState::Active));
    // Nothing moved: the first code is still the next one.
    assert_eq!(card.svc.hardware().unwrap().counter, 0);
    // From the start instant on, both ends included.
    assert_eq!(ctx.second(&mut card, "755224", T0 + DAY), Verdict::Approved);
    assert_eq!(
        ctx.second(&mut card, "287082", T0 + 10 * DAY),
        Verdict::Approved
    );
    assert_eq!(
        ctx.second(&mut card, &hotp_code(2, 6), T0 + 10 * DAY + 1),
        Verdict::TokenNotValid
    );
    assert_eq!(Verdict::TokenNotValid.response_code(), "55");
    // The first password is the static PIN, the token's dates are not its business.
    assert_eq!(
        ctx.first(&mut card, STATIC_PIN, T0 + 20 * DAY),
        Verdict::Approved
    );
}

#[test]
fn number_of_transactions_is_counted_then_refused() {
    let ctx = Ctx::new();
    let (_, mut card) = ctx.card(PAN_A);
    let usage = pooya_pskc::Usage {
        number_of_transactions: Some(2),
        ..Default::default()
    };
    install(&mut card, &ctx, HardwareKind::Hotp, 6, usage);
    // Wrong codes use no transaction.
    assert_eq!(ctx.second(&mut card, "000000", T0), Verdict::WrongPassword);
    assert_eq!(ctx.second(&mut card, "755224", T0), Verdict::Approved);
    assert_eq!(card.svc.hardware().unwrap().transactions_left, Some(1));
    assert_eq!(ctx.second(&mut card, "755224", T0), Verdict::Replayed);
    assert_eq!(ctx.second(&mut card, "287082", T0), Verdict::Approved);
    assert_eq!(card.svc.hardware().unwrap().transactions_left, Some(0));
    assert_eq!(ctx.second(&mut card, "359152", T0), Verdict::TokenNotValid);
    // The wrong code and the replayed one count; the refusal past the limit does not.
    assert_eq!(card.recent_failures(T0, &ctx.policy), 2);
    // The count survives the stored document.
    let doc = card.service_json().unwrap();
    assert!(doc.contains("\"transactions_left\":0"), "{doc}");
    let back: DynamicService = serde_json::from_str(&doc).unwrap();
    assert_eq!(back, card.svc);
}

#[test]
fn check_digit_codes_carry_their_luhn_digit() {
    let ctx = Ctx::new();
    let (_, mut card) = ctx.card(PAN_A);
    let usage = pooya_pskc::Usage {
        check_digit: true,
        ..Default::default()
    };
    install(&mut card, &ctx, HardwareKind::Hotp, 7, usage);
    // RFC 4226's 755224 and its Luhn digit (python-stdnum: 3); the bare code is refused, and
    // so is a wrong check digit.
    assert_eq!(ctx.second(&mut card, "755224", T0), Verdict::WrongPassword);
    assert_eq!(ctx.second(&mut card, "7552240", T0), Verdict::WrongPassword);
    assert_eq!(ctx.second(&mut card, "7552243", T0), Verdict::Approved);
    assert_eq!(ctx.second(&mut card, "2870822", T0), Verdict::Approved);
    // Too few digits for a check digit: refused at import.
    let (_, mut other) = ctx.card(PAN_B);
    let hw = HardwareKey {
        serial: "SN2",
        kind: HardwareKind::Hotp,
        key: HW_KEY,
        algorithm: "SHA1",
        digits: 4,
        step_secs: 0,
        counter: 0,
        usage,
    };
    let before = other.clone();
    assert!(other.install_hardware_token(&hw, T0, &ctx.keys).is_err());
    assert_eq!(other, before);
}

#[test]
fn a_drifted_totp_token_is_read_on_its_own_clock() {
    let ctx = Ctx::new();
    let (_, mut card) = ctx.card(PAN_A);
    let usage = pooya_pskc::Usage {
        time_drift_steps: -4,
        ..Default::default()
    };
    install(&mut card, &ctx, HardwareKind::Totp, 8, usage);
    let totp = Totp::new(30, pooya_otp::Digits::EIGHT, Algorithm::Sha1).unwrap();
    let key = pooya_otp::OtpKey::from_bytes(HW_KEY);
    let t = T0 + 1000 * SEC;
    // What the token shows at server time t: the code of four steps before.
    let shown = totp.code_at(&key, t - 4 * 30 * SEC).as_str().to_owned();
    let ours = totp.code_at(&key, t).as_str().to_owned();
    assert_eq!(ctx.second(&mut card, &ours, t), Verdict::WrongPassword);
    assert_eq!(ctx.second(&mut card, &shown, t), Verdict::Approved);
    assert_eq!(ctx.second(&mut card, &shown, t), Verdict::Replayed);
    // A drift on a HOTP key is refused at import.
    let (_, mut other) = ctx.card(PAN_B);
    let hw = HardwareKey {
        serial: "SN2",
        kind: HardwareKind::Hotp,
        key: HW_KEY,
        algorithm: "SHA1",
        digits: 6,
        step_secs: 0,
        counter: 0,
        usage,
    };
    assert!(other.install_hardware_token(&hw, T0, &ctx.keys).is_err());
}
