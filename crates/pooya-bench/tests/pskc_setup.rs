//! The bulk setup's PSKC files (`--setup pskc`): what the driver imports is what the server's
//! PSKC parser reads, token by token, and the codes the driver sends are the standard TOTP codes
//! of those keys.

use pooya_bench::{card_pan, token_serial, HardwareCards, HARDWARE_DIGITS, STEP_SECS};

fn cards() -> HardwareCards {
    HardwareCards::new([7u8; 32])
}

#[test]
fn the_pskc_file_parses_into_the_seeds_the_driver_uses() {
    let hw = cards();
    let body = hw.pskc_import(1_000..1_250);
    let xml = body["pskc"].as_str().expect("a pskc text");
    let assign = body["assign"].as_object().expect("an assign object");
    let keys = pooya_pskc::parse(xml, &pooya_pskc::Secrets::default()).expect("a valid file");
    assert_eq!(keys.len(), 250);
    assert_eq!(assign.len(), 250);
    for (k, i) in keys.iter().zip(1_000u64..) {
        assert_eq!(k.serial, token_serial(i));
        assert_eq!(assign[&k.serial], card_pan(i), "token {i} goes to card {i}");
        assert_eq!(k.kind, pooya_pskc::OtpKind::Totp);
        assert_eq!(k.digits, HARDWARE_DIGITS);
        assert_eq!(k.algorithm, "SHA1");
        assert_eq!(k.time_step, STEP_SECS);
        assert!(
            &k.secret[..] == hw.seed(i).as_bytes(),
            "the file carries card {i}'s seed"
        );
    }
}

#[test]
fn seeds_differ_by_card_and_by_run() {
    let hw = cards();
    let other = HardwareCards::new([8u8; 32]);
    let seeds: std::collections::HashSet<Vec<u8>> =
        (0..1_000).map(|i| hw.seed(i).as_bytes().to_vec()).collect();
    assert_eq!(seeds.len(), 1_000);
    assert_eq!(hw.seed(5).as_bytes().len(), pooya_bench::HARDWARE_SEED_LEN);
    assert_eq!(hw.seed(5).as_bytes(), cards().seed(5).as_bytes());
    assert_ne!(hw.seed(5).as_bytes(), other.seed(5).as_bytes());
}

#[test]
fn the_driver_codes_are_the_tokens_rfc6238_codes() {
    let hw = cards();
    let digits = pooya_otp::Digits::new(8).unwrap();
    let totp = pooya_otp::Totp::new(300, digits, pooya_otp::Algorithm::Sha1).unwrap();
    // The middle of a step, where the driver stands the server's clock, and a step's edges.
    for unix_ms in [1_800_000_150_000i64, 1_800_000_000_000, 1_800_000_299_999] {
        for i in [0u64, 1, 42, 999_999] {
            let code = hw.code(i, unix_ms);
            assert_eq!(code.len(), 8);
            assert_eq!(code, totp.code_at(&hw.seed(i), unix_ms).as_str());
            // RFC 6238 is RFC 4226 at counter = unix time / step.
            let counter = (unix_ms / 1000 / 300) as u64;
            let hotp = pooya_otp::hotp(&hw.seed(i), counter, digits, pooya_otp::Algorithm::Sha1);
            assert_eq!(code, hotp.as_str());
        }
    }
    // The token's code moves with the step, not within it.
    assert_eq!(hw.code(3, 1_800_000_000_000), hw.code(3, 1_800_000_299_999));
}

/// The same check for the PSKC parser's own HOTP/TOTP reading: a file of one token made by the
/// driver, its key decoded by the parser, gives the driver's codes.
#[test]
fn codes_from_the_parsed_key_equal_the_driver_codes() {
    let hw = cards();
    let body = hw.pskc_import(77..78);
    let keys =
        pooya_pskc::parse(body["pskc"].as_str().unwrap(), &Default::default()).expect("valid");
    let key = pooya_otp::OtpKey::from_bytes(&keys[0].secret);
    let totp = pooya_otp::Totp::new(
        keys[0].time_step,
        pooya_otp::Digits::new(keys[0].digits).unwrap(),
        keys[0].algorithm.parse().unwrap(),
    )
    .unwrap();
    let t = 1_900_000_150_000;
    assert_eq!(totp.code_at(&key, t).as_str(), hw.code(77, t));
}
