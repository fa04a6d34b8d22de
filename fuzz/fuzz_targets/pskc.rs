//! PSKC key containers (RFC 6030) as the bank's admin uploads them: plain, with a pre-shared key,
//! or with a PBKDF2 password.
//!
//! Asserts: no panic; a file either fails whole or gives keys that the issuer can use as they
//! are: a serial, a non-empty secret, 4 to 10 digits, a known HMAC, a time step only for TOTP,
//! serials unique, package positions increasing; a usage (policy) that only asks what the caller
//! honours, a validity period that is not empty, a check digit only after at least 4 digits, a
//! drift of at most a day and only for TOTP, a transaction limit of at least 1.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pooya_pskc::{parse_honouring, Honoured, OtpKind, Secrets, Usage};

fuzz_target!(|data: &[u8]| {
    let [which, rest @ ..] = data else {
        return;
    };
    let Ok(xml) = std::str::from_utf8(rest) else {
        return;
    };
    // RFC 6030's own example secrets (Figures 6 and 7), so encrypted files can decrypt.
    let psk = pooya_pskc::from_hex("12345678901234567890123456789012").unwrap();
    let secrets = match which % 3 {
        0 => Secrets::default(),
        1 => Secrets {
            preshared_key: Some(&psk),
            password: None,
        },
        _ => Secrets {
            preshared_key: None,
            password: Some(b"qwerty"),
        },
    };
    let honoured = if which & 0x80 == 0 {
        Honoured::ALL
    } else {
        Honoured::NONE
    };
    let Ok(keys) = parse_honouring(xml, &secrets, &honoured) else {
        return;
    };
    assert!(!keys.is_empty());
    let mut serials = std::collections::HashSet::new();
    let mut last = 0;
    for k in &keys {
        assert!(k.index > last);
        last = k.index;
        assert!(!k.serial.is_empty());
        assert!(serials.insert(k.serial.clone()));
        assert!(!k.secret.is_empty());
        assert!((4..=10).contains(&k.digits), "{}", k.digits);
        assert!(["SHA1", "SHA256", "SHA512"].contains(&k.algorithm));
        match k.kind {
            OtpKind::Totp => assert!(k.time_step > 0),
            OtpKind::Hotp => assert_eq!(k.time_step, 0),
        }
        let u = &k.usage;
        if honoured == Honoured::NONE {
            assert_eq!(*u, Usage::default());
        }
        if let (Some(b), Some(a)) = (u.not_before_ms, u.not_after_ms) {
            assert!(b <= a);
        }
        assert!(u.number_of_transactions != Some(0));
        assert!(!u.check_digit || k.digits >= 5);
        let drift_secs = u.time_drift_steps.unsigned_abs() * u64::from(k.time_step);
        assert!(drift_secs <= 86_400);
        assert!(k.kind == OtpKind::Totp || u.time_drift_steps == 0);
    }
});
