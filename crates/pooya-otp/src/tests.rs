use super::*;
use proptest::prelude::*;

const RFC4226_SECRET: &[u8] = b"12345678901234567890";
const RFC6238_SHA1: &[u8] = b"12345678901234567890";
const RFC6238_SHA256: &[u8] = b"12345678901234567890123456789012";
const RFC6238_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

fn rfc6238_key(alg: Algorithm) -> OtpKey {
    OtpKey::from_bytes(match alg {
        Algorithm::Sha1 => RFC6238_SHA1,
        Algorithm::Sha256 => RFC6238_SHA256,
        Algorithm::Sha512 => RFC6238_SHA512,
    })
}

fn digits(n: u8) -> Digits {
    Digits::new(n).unwrap()
}

// ---- RFC 4226 -------------------------------------------------------------------------------

/// RFC 4226 Appendix D: (counter, truncated decimal value, 6-digit HOTP).
const RFC4226: [(u64, u32, &str); 10] = [
    (0, 1284755224, "755224"),
    (1, 1094287082, "287082"),
    (2, 137359152, "359152"),
    (3, 1726969429, "969429"),
    (4, 1640338314, "338314"),
    (5, 868254676, "254676"),
    (6, 1918287922, "287922"),
    (7, 82162583, "162583"),
    (8, 673399871, "399871"),
    (9, 645520489, "520489"),
];

#[test]
fn rfc4226_appendix_d_six_digits() {
    let key = OtpKey::from_bytes(RFC4226_SECRET);
    for (counter, _, want) in RFC4226 {
        let code = hotp(&key, counter, Digits::SIX, Algorithm::Sha1);
        assert_eq!(code.as_str(), want, "counter {counter}");
        assert!(code.matches(want));
    }
}

/// HOTP straight from the `hmac` crate, keyed afresh: the reference for [`HotpKey`].
fn reference_hotp(key: &[u8], counter: u64, digits: Digits, alg: Algorithm) -> String {
    fn mac<M: Mac + KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut m = <M as KeyInit>::new_from_slice(key).unwrap();
        Mac::update(&mut m, msg);
        m.finalize().into_bytes().to_vec()
    }
    let msg = counter.to_be_bytes();
    let out = match alg {
        Algorithm::Sha1 => mac::<Hmac<Sha1>>(key, &msg),
        Algorithm::Sha256 => mac::<Hmac<Sha256>>(key, &msg),
        Algorithm::Sha512 => mac::<Hmac<Sha512>>(key, &msg),
    };
    let value = u64::from(dynamic_truncate(&out)) % 10u64.pow(u32::from(digits.get()));
    format!("{value:0width$}", width = usize::from(digits.get()))
}

#[test]
fn a_prepared_key_makes_the_rfc4226_codes_in_any_order() {
    // One key schedule for every counter: each code starts from a copy, so neither the order
    // nor a repeat changes a code.
    let key = HotpKey::new(RFC4226_SECRET, Algorithm::Sha1);
    assert_eq!(key.algorithm(), Algorithm::Sha1);
    for (counter, _, want) in RFC4226.iter().chain(RFC4226.iter().rev()) {
        let code = key.code(*counter, Digits::SIX);
        assert_eq!(code.as_str(), *want, "counter {counter}");
    }
    assert_eq!(format!("{key:?}"), "HotpKey([redacted])");
}

#[test]
fn a_prepared_key_makes_the_rfc6238_codes() {
    for alg in Algorithm::ALL {
        let key = rfc6238_key(alg);
        let prepared = HotpKey::new(key.as_bytes(), alg);
        let totp = Totp::new(30, Digits::EIGHT, alg).unwrap();
        for step in [
            1u64,
            37_037_036,
            37_037_037,
            41_152_263,
            66_666_666,
            666_666_666,
        ] {
            assert_eq!(
                totp.code_at_step_with(&prepared, step).as_str(),
                totp.code_at_step(&key, step).as_str(),
                "{alg} step {step}"
            );
        }
    }
}

#[test]
fn one_password_key_is_the_same_as_both() {
    let both = derive_password_keys(b"token seed");
    assert_eq!(
        derive_password_key(b"token seed", FIRST_PASSWORD_INFO).as_bytes(),
        both.first.as_bytes()
    );
    assert_eq!(
        derive_password_key(b"token seed", SECOND_PASSWORD_INFO).as_bytes(),
        both.second.as_bytes()
    );
}

#[test]
fn a_password_kind_names_its_key_and_its_label() {
    let both = derive_password_keys(b"token seed");
    for (kind, name, key) in [
        (PasswordKind::First, "first", &both.first),
        (PasswordKind::Second, "second", &both.second),
    ] {
        assert_eq!(kind.as_str(), name);
        assert_eq!(both.of(kind).as_bytes(), key.as_bytes());
        assert_eq!(
            derive_password_key(b"token seed", kind.key_info()).as_bytes(),
            key.as_bytes()
        );
    }
}

#[test]
fn rfc4226_truncated_values_as_ten_digits() {
    // The "Decimal" column of Appendix D is the whole 31-bit value: the 10-digit code,
    // zero-padded (counters 2 and 7 have leading zeros).
    let key = OtpKey::from_bytes(RFC4226_SECRET);
    for (counter, value, _) in RFC4226 {
        let code = hotp(&key, counter, Digits::TEN, Algorithm::Sha1);
        assert_eq!(code.as_str(), format!("{value:010}"), "counter {counter}");
    }
    assert_eq!(
        hotp(&key, 2, Digits::TEN, Algorithm::Sha1).as_str(),
        "0137359152"
    );
    assert_eq!(
        hotp(&key, 7, Digits::TEN, Algorithm::Sha1).as_str(),
        "0082162583"
    );
}

#[test]
fn four_digit_codes() {
    let key = OtpKey::from_bytes(RFC4226_SECRET);
    for (counter, value, _) in RFC4226 {
        let code = hotp(&key, counter, Digits::FOUR, Algorithm::Sha1);
        assert_eq!(code.as_str(), format!("{:04}", value % 10_000));
    }
    assert_eq!(
        hotp(&key, 0, Digits::FOUR, Algorithm::Sha1).as_str(),
        "5224"
    );
    assert_eq!(
        hotp(&key, 7, Digits::FOUR, Algorithm::Sha1).as_str(),
        "2583"
    );
}

/// The 10-digit code recomputed here without the crate's truncation: HMAC through the `hmac`
/// crate directly, the offset and 31-bit value by a different route.
fn independent_ten_digits(alg: Algorithm, key: &[u8], counter: u64) -> String {
    let mac: Vec<u8> = match alg {
        Algorithm::Sha1 => {
            let mut m = <Hmac<Sha1> as KeyInit>::new_from_slice(key).unwrap();
            Mac::update(&mut m, &counter.to_be_bytes());
            m.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha256 => {
            let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
            Mac::update(&mut m, &counter.to_be_bytes());
            m.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha512 => {
            let mut m = <Hmac<Sha512> as KeyInit>::new_from_slice(key).unwrap();
            Mac::update(&mut m, &counter.to_be_bytes());
            m.finalize().into_bytes().to_vec()
        }
    };
    assert_eq!(mac.len(), alg.output_len());
    let offset = (mac.last().unwrap() % 16) as usize;
    let word: [u8; 4] = mac[offset..offset + 4].try_into().unwrap();
    let value = u32::from_be_bytes(word) & 0x7fff_ffff;
    format!("{value:010}")
}

#[test]
fn ten_digit_codes_match_independent_truncation() {
    for alg in Algorithm::ALL {
        let key = rfc6238_key(alg);
        for counter in [0, 1, 2, 7, 1234, 0x0273_EF07, u64::MAX] {
            let want = independent_ten_digits(alg, key.as_bytes(), counter);
            let got = hotp(&key, counter, Digits::TEN, alg);
            assert_eq!(got.as_str(), want, "{alg} counter {counter}");
            // Shorter codes are the trailing digits of the 10-digit one.
            for n in 4..=9 {
                let short = hotp(&key, counter, digits(n), alg);
                assert_eq!(short.as_str(), &want[10 - usize::from(n)..]);
            }
        }
    }
}

// ---- RFC 6238 -------------------------------------------------------------------------------

/// RFC 6238 Appendix B: (unix seconds, step, SHA1, SHA256, SHA512), 8 digits, step 30 s.
const RFC6238: [(i64, u64, &str, &str, &str); 6] = [
    (59, 0x1, "94287082", "46119246", "90693936"),
    (1111111109, 0x23523EC, "07081804", "68084774", "25091201"),
    (1111111111, 0x23523ED, "14050471", "67062674", "99943326"),
    (1234567890, 0x273EF07, "89005924", "91819424", "93441116"),
    (2000000000, 0x3F940AA, "69279037", "90698825", "38618901"),
    (20000000000, 0x27BC86AA, "65353130", "77737706", "47863826"),
];

#[test]
fn rfc6238_appendix_b() {
    for (secs, step, sha1, sha256, sha512) in RFC6238 {
        for (alg, want) in [
            (Algorithm::Sha1, sha1),
            (Algorithm::Sha256, sha256),
            (Algorithm::Sha512, sha512),
        ] {
            let totp = Totp::new(30, Digits::EIGHT, alg).unwrap();
            let key = rfc6238_key(alg);
            let t = secs * 1000;
            assert_eq!(totp.step_at(t), step, "{alg} at {secs}");
            assert_eq!(totp.code_at(&key, t).as_str(), want, "{alg} at {secs}");
            assert_eq!(totp.code_at_step(&key, step).as_str(), want);
            assert_eq!(
                hotp(&key, step, Digits::EIGHT, alg).as_str(),
                want,
                "{alg} step {step}"
            );
            // Anywhere inside the same step gives the same code.
            let start = totp.step_start_ms(step);
            let end = totp.step_end_ms(step);
            assert_eq!(totp.code_at(&key, start).as_str(), want);
            assert_eq!(totp.code_at(&key, end - 1).as_str(), want);
        }
    }
}

/// Values computed by hand with `oathtool` (Debian oathtool 2.6), e.g.
/// `oathtool --totp=sha256 -s 60 -d 8 -N @1700000000 <hex seed>`.
#[test]
fn oathtool_cross_checks() {
    let t = 1_700_000_000_000;
    let cases = [
        (Algorithm::Sha1, 60, 6, "895298"),
        (Algorithm::Sha256, 60, 8, "77076628"),
        (Algorithm::Sha512, 120, 8, "88898061"),
        // 4 digits: trailing digits of the 8-digit value.
        (Algorithm::Sha256, 60, 4, "6628"),
    ];
    for (alg, step, n, want) in cases {
        let totp = Totp::new(step, digits(n), alg).unwrap();
        assert_eq!(totp.code_at(&rfc6238_key(alg), t).as_str(), want);
    }
}

// ---- parameters and errors ------------------------------------------------------------------

#[test]
fn digits_validation() {
    for n in 0..=3 {
        assert_eq!(Digits::new(n), Err(OtpError::BadDigits(n)));
    }
    for n in 4..=10 {
        assert_eq!(Digits::new(n).unwrap().get(), n);
    }
    for n in [11, 12, 100, 255] {
        assert_eq!(Digits::new(n), Err(OtpError::BadDigits(n)));
    }
    assert_eq!(Digits::FOUR.get(), 4);
    assert_eq!(Digits::EIGHT.get(), 8);
    assert_eq!(Digits::try_from(6), Ok(Digits::SIX));
    assert!(OtpError::BadDigits(3).to_string().contains('3'));
}

#[test]
fn step_validation() {
    assert_eq!(
        Totp::new(0, Digits::SIX, Algorithm::Sha1),
        Err(OtpError::BadStep)
    );
    let t = Totp::new(1, Digits::SIX, Algorithm::Sha1).unwrap();
    assert_eq!(t.step_ms(), 1000);
    let t = Totp::new(u32::MAX, Digits::SIX, Algorithm::Sha1).unwrap();
    assert_eq!(t.step_ms(), i64::from(u32::MAX) * 1000);
    // A zero step built through the public fields behaves as 1 s instead of panicking.
    let raw = Totp {
        step_secs: 0,
        digits: Digits::SIX,
        alg: Algorithm::Sha1,
    };
    assert_eq!(raw.step_at(5_500), 5);
    assert_eq!(raw.accepted_steps(5_500, 0), 5..=5);
}

#[test]
fn algorithm_names() {
    for alg in Algorithm::ALL {
        assert_eq!(alg.to_string(), alg.as_str());
        assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(alg));
    }
    assert_eq!(Algorithm::Sha1.as_str(), "SHA1");
    assert_eq!(Algorithm::Sha256.as_str(), "SHA256");
    assert_eq!(Algorithm::Sha512.as_str(), "SHA512");
    for (s, alg) in [
        ("sha1", Algorithm::Sha1),
        ("Sha256", Algorithm::Sha256),
        ("HMAC-SHA1", Algorithm::Sha1),
        ("hmac-sha512", Algorithm::Sha512),
        ("SHA-256", Algorithm::Sha256),
        ("HMAC-SHA-512", Algorithm::Sha512),
    ] {
        assert_eq!(s.parse::<Algorithm>(), Ok(alg), "{s}");
    }
    for s in [
        "", "MD5", "SHA384", "SHA", "HMAC-", " SHA1", "SHA1 ", "HMACSHA1",
    ] {
        assert_eq!(
            s.parse::<Algorithm>(),
            Err(OtpError::UnknownAlgorithm(s.to_owned())),
            "{s:?}"
        );
    }
}

#[test]
fn debug_is_redacted() {
    let key = OtpKey::from_bytes(b"super secret key");
    assert_eq!(format!("{key:?}"), "OtpKey([redacted])");
    assert_eq!(format!("{:?}", key.clone()), "OtpKey([redacted])");
    let code = hotp(&key, 0, Digits::EIGHT, Algorithm::Sha1);
    assert_eq!(format!("{code:?}"), "Code([redacted])");
    assert_eq!(format!("{code:#?}"), "Code([redacted])");
    let keys = derive_password_keys(b"seed");
    let dbg = format!("{keys:?}");
    assert!(dbg.contains("OtpKey([redacted])"), "{dbg}");
    assert!(!dbg.contains("super secret"));
}

#[test]
fn key_bytes_round_trip() {
    let key = OtpKey::from_bytes(&[1, 2, 3]);
    assert_eq!(key.as_bytes(), &[1, 2, 3]);
    assert_eq!(key.clone().as_bytes(), &[1, 2, 3]);
    // HMAC takes empty and over-long keys.
    let empty = OtpKey::from_bytes(&[]);
    assert_eq!(
        hotp(&empty, 0, Digits::SIX, Algorithm::Sha1).as_str().len(),
        6
    );
    let long = OtpKey::from_bytes(&[7; 200]);
    assert_eq!(
        hotp(&long, 0, Digits::TEN, Algorithm::Sha512).as_str(),
        independent_ten_digits(Algorithm::Sha512, &[7; 200], 0)
    );
}

#[test]
fn code_matches() {
    let key = OtpKey::from_bytes(RFC4226_SECRET);
    let code = hotp(&key, 0, Digits::SIX, Algorithm::Sha1);
    assert_eq!(code.digits(), Digits::SIX);
    assert!(code.matches("755224"));
    assert!(!code.matches("755225"));
    assert!(!code.matches("75522"));
    assert!(!code.matches("7552240"));
    assert!(!code.matches(""));
    assert!(!code.matches(" 755224"));
}

#[test]
fn ct_eq_cases() {
    assert!(ct_eq(b"", b""));
    assert!(ct_eq(b"abc", b"abc"));
    assert!(!ct_eq(b"abc", b"abd"));
    assert!(!ct_eq(b"abc", b"ab"));
    assert!(!ct_eq(b"", b"a"));
}

// ---- time -----------------------------------------------------------------------------------

fn totp(step_secs: u32) -> Totp {
    Totp::new(step_secs, Digits::EIGHT, Algorithm::Sha1).unwrap()
}

#[test]
fn step_boundaries() {
    let t = totp(30);
    assert_eq!(t.step_at(0), 0);
    assert_eq!(t.step_at(29_999), 0);
    assert_eq!(t.step_at(30_000), 1);
    assert_eq!(t.step_at(-1), 0);
    assert_eq!(t.step_at(i64::MIN), 0);
    assert_eq!(t.step_at(i64::MAX), (i64::MAX / 30_000) as u64);
    assert_eq!(t.step_start_ms(0), 0);
    assert_eq!(t.step_end_ms(0), 30_000);
    assert_eq!(t.step_start_ms(2), 60_000);
    assert_eq!(t.step_end_ms(2), 90_000);
    // Saturation instead of overflow.
    assert_eq!(t.step_start_ms(u64::MAX), i64::MAX);
    assert_eq!(t.step_end_ms(u64::MAX), i64::MAX);
}

#[test]
fn remaining_time() {
    let t = totp(30);
    assert_eq!(t.remaining_ms(0), 30_000);
    assert_eq!(t.remaining_ms(1), 29_999);
    assert_eq!(t.remaining_ms(29_999), 1);
    assert_eq!(t.remaining_ms(30_000), 30_000);
    assert_eq!(t.remaining_ms(59_000), 1_000);
    // RFC 6238's first time: 59 s is one second before the end of step 1.
    assert_eq!(t.remaining_ms(59_000), t.step_end_ms(1) - 59_000);
    let m = totp(120);
    assert_eq!(m.remaining_ms(1_700_000_000_000), 40_000);
    // Before the epoch the app shows step 0, which lasts until 30 s.
    assert_eq!(t.remaining_ms(-1_000), 31_000);
    assert_eq!(t.remaining_ms(i64::MIN), i64::MAX);
    assert_eq!(
        t.remaining_ms(i64::MAX),
        t.step_end_ms(t.step_at(i64::MAX)) - i64::MAX
    );
}

#[test]
fn accepted_steps_edges_with_tolerance() {
    let t = totp(60);
    let tol = 5_000;
    let s = 100;
    let start = t.step_start_ms(s); // 6_000_000
    let end = t.step_end_ms(s); // 6_060_000
    assert_eq!((start, end), (6_000_000, 6_060_000));

    // Too early: one millisecond before start - tol.
    assert!(!t.accepted_steps(start - tol - 1, tol).contains(&s));
    assert_eq!(t.accepted_steps(start - tol - 1, tol), 99..=99);
    // Exactly at start - tol: accepted (together with the previous step).
    assert_eq!(t.accepted_steps(start - tol, tol), 99..=100);
    // Inside the step, away from the edges: only this step.
    assert_eq!(t.accepted_steps(start + tol, tol), 100..=100);
    assert_eq!(t.accepted_steps(end - tol - 1, tol), 100..=100);
    // The next step comes in at end - tol.
    assert_eq!(t.accepted_steps(end - tol, tol), 100..=101);
    // Last accepted millisecond: end + tol - 1.
    assert_eq!(t.accepted_steps(end + tol - 1, tol), 100..=101);
    // end + tol: rejected.
    assert_eq!(t.accepted_steps(end + tol, tol), 101..=101);
}

#[test]
fn accepted_steps_zero_tolerance() {
    let t = totp(60);
    let s = 100;
    let (start, end) = (t.step_start_ms(s), t.step_end_ms(s));
    assert_eq!(t.accepted_steps(start - 1, 0), 99..=99);
    assert_eq!(t.accepted_steps(start, 0), 100..=100);
    assert_eq!(t.accepted_steps(end - 1, 0), 100..=100);
    assert_eq!(t.accepted_steps(end, 0), 101..=101);
    assert_eq!(t.accepted_steps(0, 0), 0..=0);
}

#[test]
fn accepted_steps_wide_tolerance_and_edges_of_time() {
    let t = totp(60);
    // tol = one whole step: neighbours on both sides.
    assert_eq!(t.accepted_steps(6_000_000, 60_000), 99..=101);
    assert_eq!(t.accepted_steps(6_000_001, 60_000), 99..=101);
    assert_eq!(t.accepted_steps(6_030_000, 60_000), 99..=101);
    // Near the epoch: no negative steps.
    assert_eq!(t.accepted_steps(0, 5_000), 0..=0);
    assert_eq!(t.accepted_steps(56_000, 5_000), 0..=1);
    // Negative now counts as 0.
    assert_eq!(t.accepted_steps(-1_000, 0), 0..=0);
    assert_eq!(
        t.accepted_steps(i64::MIN, i64::MAX),
        0..=(i64::MAX / 60_000) as u64
    );
    // No overflow at the far end.
    let far = t.accepted_steps(i64::MAX, i64::MAX);
    assert_eq!(*far.end(), ((i64::MAX as u128 * 2) / 60_000) as u64);
    assert!(far.contains(&t.step_at(i64::MAX)));
    // A negative tolerance narrows the window and may leave nothing.
    assert!(t.accepted_steps(6_000_000, -1).is_empty());
    assert_eq!(t.accepted_steps(6_030_000, -1_000), 100..=100);
}

// ---- key derivation -------------------------------------------------------------------------

#[test]
fn password_keys_are_deterministic_and_distinct() {
    let a = derive_password_keys(b"token seed 1");
    let b = derive_password_keys(b"token seed 1");
    let c = derive_password_keys(b"token seed 2");
    assert_eq!(a.first.as_bytes().len(), 32);
    assert_eq!(a.second.as_bytes().len(), 32);
    assert_eq!(a.first.as_bytes(), b.first.as_bytes());
    assert_eq!(a.second.as_bytes(), b.second.as_bytes());
    assert_ne!(a.first.as_bytes(), a.second.as_bytes());
    assert_ne!(a.first.as_bytes(), c.first.as_bytes());
    assert_ne!(a.second.as_bytes(), c.second.as_bytes());
    // The seed itself is not one of the keys.
    let seed = [9u8; 32];
    let d = derive_password_keys(&seed);
    assert_ne!(d.first.as_bytes(), &seed);
    assert_ne!(d.second.as_bytes(), &seed);
    // An empty seed still derives (distinct) keys.
    let e = derive_password_keys(b"");
    assert_ne!(e.first.as_bytes(), e.second.as_bytes());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn password_keys_known_answer() {
    // Computed outside this crate (Python hmac/hashlib): PRK = HMAC-SHA256(32 zero bytes, seed),
    // OKM = HMAC-SHA256(PRK, info || 0x01), i.e. RFC 5869 with no salt and one output block.
    let keys = derive_password_keys(b"pooya test seed");
    assert_eq!(
        hex(keys.first.as_bytes()),
        "ab37e946eeadad0578473e8c21075ba0eed04cd4861974a79ec6582b2d2319da"
    );
    assert_eq!(
        hex(keys.second.as_bytes()),
        "88b6b63f62655dbc7144229c183233155ea95536819e041a0fb66ed46d959169"
    );
}

#[test]
fn password_keys_match_hkdf_built_from_hmac() {
    let seed = b"another seed";
    let hmac256 = |key: &[u8], msg: &[u8]| {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        Mac::update(&mut m, msg);
        m.finalize().into_bytes().to_vec()
    };
    let prk = hmac256(&[0; 32], seed);
    let keys = derive_password_keys(seed);
    for (key, info) in [
        (&keys.first, FIRST_PASSWORD_INFO),
        (&keys.second, SECOND_PASSWORD_INFO),
    ] {
        let mut msg = info.to_vec();
        msg.push(1);
        assert_eq!(key.as_bytes(), hmac256(&prk, &msg).as_slice());
    }
    assert_eq!(FIRST_PASSWORD_INFO, b"pooya/v1/first-password");
    assert_eq!(SECOND_PASSWORD_INFO, b"pooya/v1/second-password");
}

// ---- properties -----------------------------------------------------------------------------

fn any_alg() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        Just(Algorithm::Sha1),
        Just(Algorithm::Sha256),
        Just(Algorithm::Sha512)
    ]
}

fn any_digits() -> impl Strategy<Value = Digits> {
    (4u8..=10).prop_map(digits)
}

proptest! {
    #[test]
    fn prop_code_is_exactly_digits_ascii_digits(
        key in proptest::collection::vec(any::<u8>(), 0..100),
        counter in any::<u64>(),
        d in any_digits(),
        alg in any_alg(),
    ) {
        let code = hotp(&OtpKey::from_bytes(&key), counter, d, alg);
        prop_assert_eq!(code.as_str().len(), usize::from(d.get()));
        prop_assert!(code.as_str().bytes().all(|b| b.is_ascii_digit()));
        prop_assert_eq!(code.digits(), d);
        prop_assert!(code.matches(code.as_str()));
    }

    #[test]
    fn prop_shorter_codes_are_suffixes(
        key in proptest::collection::vec(any::<u8>(), 0..70),
        counter in any::<u64>(),
        d in any_digits(),
        alg in any_alg(),
    ) {
        let key = OtpKey::from_bytes(&key);
        let ten = hotp(&key, counter, Digits::TEN, alg);
        let short = hotp(&key, counter, d, alg);
        prop_assert!(ten.as_str().ends_with(short.as_str()));
        prop_assert!(ten.as_str() <= "2147483647");
    }

    #[test]
    fn prop_matches_agrees_with_string_equality(
        counter in any::<u64>(),
        d in any_digits(),
        alg in any_alg(),
        typed in "[0-9]{0,12}",
        flip in any::<prop::sample::Index>(),
    ) {
        let code = hotp(&rfc6238_key(alg), counter, d, alg);
        prop_assert_eq!(code.matches(&typed), code.as_str() == typed);
        // The code itself with one digit changed.
        let mut bytes = code.as_str().as_bytes().to_vec();
        let i = flip.index(bytes.len());
        bytes[i] = b'0' + (bytes[i] - b'0' + 1) % 10;
        let other = String::from_utf8(bytes).unwrap();
        prop_assert!(!code.matches(&other));
        prop_assert_eq!(code.matches(&other), code.as_str() == other);
    }

    #[test]
    fn prop_ct_eq_agrees_with_eq(
        a in proptest::collection::vec(0u8..4, 0..6),
        b in proptest::collection::vec(0u8..4, 0..6),
    ) {
        prop_assert_eq!(ct_eq(&a, &b), a == b);
        prop_assert!(ct_eq(&a, &a.clone()));
    }

    #[test]
    fn prop_accepted_steps_exact(
        step_secs in 1u32..=600,
        now in -1_000_000i64..100_000_000_000_000,
        tol in 0i64..=1_000_000,
    ) {
        let t = totp(step_secs);
        let range = t.accepted_steps(now, tol);
        prop_assert!(!range.is_empty());
        prop_assert!(range.contains(&t.step_at(now)));
        // The verifier's view of a negative time is time 0.
        let n = now.max(0);
        let ok = |s: u64| t.step_start_ms(s) - tol <= n && n < t.step_end_ms(s) + tol;
        for s in range.clone() {
            prop_assert!(ok(s), "step {} in {:?} fails the inequality", s, range);
        }
        // Nothing just outside the range qualifies (the qualifying set is an interval).
        if *range.start() > 0 {
            prop_assert!(!ok(range.start() - 1));
        }
        prop_assert!(!ok(range.end() + 1));
        // Width: at most 2 * tol / step + 2 steps.
        let width = range.end() - range.start() + 1;
        prop_assert!(width <= (2 * tol / t.step_ms()) as u64 + 2);
    }

    #[test]
    fn prop_code_accepted_while_countdown_runs(
        step_secs in 1u32..=600,
        shown_at in 0i64..100_000_000_000_000,
        tol in 0i64..=600_000,
        frac in 0.0f64..1.0,
    ) {
        // The app shows step s at shown_at with `left` ms to go; the verifier (same clock)
        // accepts s at every moment of the countdown, up to tol after it, and not at tol.
        let t = totp(step_secs);
        let s = t.step_at(shown_at);
        let left = t.remaining_ms(shown_at);
        prop_assert!(left >= 1 && left <= t.step_ms());
        let during = shown_at + ((left as f64 * frac) as i64).min(left - 1);
        prop_assert!(t.accepted_steps(during, tol).contains(&s));
        prop_assert!(t.accepted_steps(shown_at + left + tol - 1, tol).contains(&s));
        prop_assert!(!t.accepted_steps(shown_at + left + tol, tol).contains(&s));
    }

    #[test]
    fn prop_step_start_round_trips(step_secs in 1u32..=u32::MAX, raw in any::<u64>()) {
        let t = totp(step_secs);
        // Only steps whose end still fits an i64 (beyond that the times saturate).
        let max_step = (i64::MAX / t.step_ms()) as u64 - 1;
        let s = raw % (max_step + 1);
        prop_assert_eq!(t.step_at(t.step_start_ms(s)), s);
        prop_assert_eq!(t.step_at(t.step_end_ms(s) - 1), s);
        prop_assert_eq!(t.step_end_ms(s), t.step_start_ms(s + 1));
        prop_assert_eq!(t.step_end_ms(s) - t.step_start_ms(s), t.step_ms());
    }

    #[test]
    fn prop_prepared_key_is_hmac_keyed_afresh(
        key in proptest::collection::vec(any::<u8>(), 0..200),
        counters in proptest::collection::vec(any::<u64>(), 1..6),
        n in 4u8..=10,
        alg_i in 0usize..3,
    ) {
        let alg = Algorithm::ALL[alg_i];
        let d = Digits::new(n).unwrap();
        let prepared = HotpKey::new(&key, alg);
        for c in counters {
            let want = reference_hotp(&key, c, d, alg);
            let code = prepared.code(c, d);
            prop_assert_eq!(code.as_str(), want.as_str());
            let code = hotp(&OtpKey::from_bytes(&key), c, d, alg);
            prop_assert_eq!(code.as_str(), want.as_str());
        }
    }

    #[test]
    fn prop_remaining_ms(step_secs in 1u32..=3600, now in 0i64..i64::MAX / 2) {
        let t = totp(step_secs);
        let r = t.remaining_ms(now);
        prop_assert!(r >= 1 && r <= t.step_ms());
        prop_assert_eq!(t.step_at(now + r - 1), t.step_at(now));
        prop_assert_eq!(t.step_at(now + r), t.step_at(now) + 1);
    }
}
