//! Issue 6, item 8: the `Debug` output of every secret-bearing type of the server side prints
//! `[redacted]` (or the masked form, for card and mobile numbers) and never the secret, so a
//! careless `{:?}` in a log line leaks nothing. (The app's vault types and the SMS provider's
//! types have the same test in their own crates.)

use pooya_issuer::card::CardRecord;
use pooya_issuer::domain::{CustomerId, Digits, Expiry, Mobile, Pan, TxnType};
use pooya_issuer::keys::{HashCost, Keyring};
use pooya_issuer::messages::UnifiedOtp;
use pooya_issuer::store::{AuditRecord, Commit, OutgoingSms};

const PAN: &str = "6280231234567898";

fn shown(v: &impl std::fmt::Debug) -> String {
    // Both forms: `{:#?}` takes other paths in derived impls.
    format!("{v:?} {v:#?}")
}

fn assert_hides(what: &str, dbg: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!dbg.contains(s), "{what}: {s:?} in {dbg}");
    }
}

#[test]
fn card_numbers_and_mobiles_show_masked() {
    let pan = Pan::parse(PAN).unwrap();
    let d = shown(&pan);
    assert_hides("Pan", &d, &[PAN]);
    assert!(d.contains("628023******7898"), "{d}");
    let m = Mobile::parse("09121234567").unwrap();
    let d = shown(&m);
    assert_hides("Mobile", &d, &["09121234567"]);
}

#[test]
fn typed_digits_print_redacted() {
    for (d, s) in [
        (Digits::pin("4821").unwrap(), "4821"),
        (Digits::second_password("559913").unwrap(), "559913"),
        (Digits::typed_password("73104482").unwrap(), "73104482"),
    ] {
        let dbg = shown(&d);
        assert!(dbg.contains("[redacted]"), "{dbg}");
        assert_hides("Digits", &dbg, &[s]);
    }
}

#[test]
fn keys_seeds_codes_and_activation_secrets_print_redacted() {
    let keys = Keyring::from_master(
        &[0x5a; 32],
        HashCost {
            m_kib: 64,
            t: 1,
            p: 1,
        },
    )
    .unwrap();
    assert_eq!(format!("{keys:?}"), "Keyring([redacted])");

    let seed_bytes = [0x42u8; 32];
    let seed = pooya_enroll::Seed::from_bytes(&seed_bytes).unwrap();
    let hex = data_encoding::HEXLOWER.encode(&seed_bytes);
    for dbg in [
        shown(&seed),
        shown(&pooya_otp::derive_password_keys(&seed_bytes)),
        shown(&pooya_otp::OtpKey::from_bytes(&seed_bytes)),
    ] {
        assert!(dbg.contains("[redacted]"), "{dbg}");
        assert_hides("seed", &dbg, &[&hex, "66, 66", "0x42"]);
    }

    let totp = pooya_otp::Totp::new(
        60,
        pooya_otp::Digits::new(8).unwrap(),
        pooya_otp::Algorithm::Sha1,
    )
    .unwrap();
    let code = totp.code_at(
        &pooya_otp::OtpKey::from_bytes(&seed_bytes),
        1_700_000_000_000,
    );
    let dbg = shown(&code);
    assert!(dbg.contains("[redacted]"), "{dbg}");
    assert_hides("Code", &dbg, &[code.as_str()]);

    let secret = pooya_enroll::activation_secret(PAN, "90817263", "445566");
    assert_eq!(format!("{secret:?}"), "[redacted]");
    let (client, _) = pooya_enroll::ClientEnrollment::start(PAN, "90817263", "445566");
    let dbg = shown(&client);
    assert!(dbg.contains("[redacted]"), "{dbg}");
    assert_hides("ClientEnrollment", &dbg, &[PAN, "90817263", "445566"]);
}

#[test]
fn cards_sms_and_commits_print_no_secret() {
    let pan = Pan::parse(PAN).unwrap();
    let card = CardRecord::new(
        &pan,
        "hash-of-pan".into(),
        CustomerId::parse("C1").unwrap(),
        Expiry::parse("9912").unwrap(),
        "$argon2id$pin-hash".into(),
        "$argon2id$second-hash".into(),
        1,
    );
    let sms = OutgoingSms {
        to: Mobile::parse("09121234567").unwrap(),
        text: "your code: 73104482".into(),
        msg_id: "m".into(),
        created_at: 1,
        expires_at: None,
    };
    let commit = Commit {
        new_cards: vec![card.clone()],
        outbox: vec![sms.clone()],
        audit: vec![AuditRecord {
            at: 1,
            event: "card.created".into(),
            pan_masked: Some(pan.masked()),
            customer_id: Some("C1".into()),
            detail: String::new(),
            actor: Some("operator:sara@0123".into()),
        }],
        ..Commit::default()
    };
    for (what, dbg) in [
        ("CardRecord", shown(&card)),
        ("OutgoingSms", shown(&sms)),
        ("Commit", shown(&commit)),
    ] {
        assert_hides(
            what,
            &dbg,
            &[PAN, "pin-hash", "second-hash", "73104482", "09121234567"],
        );
    }

    let otp = UnifiedOtp {
        bank: "Pooya Bank",
        code: "73104482",
        txn_type: TxnType::default(),
        amount_rials: 1000,
        merchant: "Shop",
        last4: "7898",
        issued_at_ms: 0,
        expires_at_ms: 60_000,
        lifetime_secs: 60,
    };
    let dbg = shown(&otp);
    assert!(dbg.contains("[redacted]"), "{dbg}");
    assert_hides("UnifiedOtp", &dbg, &["73104482"]);
}

#[test]
fn imported_hardware_keys_print_redacted() {
    // RFC 6030 Figure 2: a plain-text HOTP key, "12345678901234567890" in ASCII.
    let xml = include_str!("../../pooya-pskc/testdata/rfc6030-figure-2.xml");
    let keys = pooya_pskc::parse(xml, &pooya_pskc::Secrets::default()).unwrap();
    let secret = String::from_utf8(keys[0].secret.to_vec()).unwrap();
    assert_eq!(secret, "12345678901234567890");
    let dbg = shown(&keys[0]);
    assert!(dbg.contains("[redacted]"), "{dbg}");
    assert_hides(
        "ImportedKey",
        &dbg,
        &[&secret, "49, 50, 51", "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA"],
    );
}
