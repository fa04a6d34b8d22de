//! Files written by python-pskc (an RFC 6030 implementation pooya shares no code with) and the
//! codes their tokens show by oathtool and python-stdnum's Luhn digit: see
//! `testdata/python-pskc/make_fixtures.py`, which wrote them all.

use pooya_otp::{Algorithm, Digits, HotpKey, Totp};
use pooya_pskc::{
    parse, parse_honouring, Honoured, ImportedKey, OtpKind, PskcError, Secrets, Usage,
};

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../testdata/python-pskc/", $name)),
        )
    };
}

const FIXTURES: [(&str, &str); 23] = [
    fixture!("plain-many.xml"),
    fixture!("psk-aes256-hmac-sha512.xml"),
    fixture!("pbkdf2-hmac-sha256.xml"),
    fixture!("check-digits.xml"),
    fixture!("time-drift.xml"),
    fixture!("policy-dates.xml"),
    fixture!("policy-expired.xml"),
    fixture!("policy-not-yet-valid.xml"),
    fixture!("device-dates.xml"),
    fixture!("policy-usage-otp-cr.xml"),
    fixture!("policy-transactions.xml"),
    fixture!("policy-pin-local.xml"),
    fixture!("policy-usage-cr.xml"),
    fixture!("policy-pin-prepend.xml"),
    fixture!("policy-pin-algorithmic-second.xml"),
    fixture!("time-origin.xml"),
    fixture!("policy-date-without-zone.xml"),
    fixture!("kw-aes128.xml"),
    fixture!("tripledes-cbc.xml"),
    fixture!("pbkdf2-hmac-md5.xml"),
    fixture!("encrypted-counter.xml"),
    fixture!("../rfc6030-figure-2.xml"),
    fixture!("../rfc6030-figure-7.xml"),
];

const CODES: &str = include_str!("../testdata/python-pskc/codes.tsv");

/// The pre-shared key and password of `make_fixtures.py`.
const PSK_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const PASSWORD: &[u8] = b"correct horse battery";

fn file(name: &str) -> &'static str {
    FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fixture {name}"))
        .1
}

/// The secret `make_fixtures.py` protected `name` with.
fn secrets_for(name: &str, psk: &[u8]) -> Secrets<'static> {
    let psk: &'static [u8] = Box::leak(psk.to_vec().into_boxed_slice());
    if name.starts_with("pbkdf2-") {
        Secrets {
            preshared_key: None,
            password: Some(PASSWORD),
        }
    } else {
        Secrets {
            preshared_key: Some(psk),
            password: None,
        }
    }
}

fn psk_for(name: &str) -> Vec<u8> {
    let full = pooya_pskc::from_hex(PSK_HEX).unwrap();
    match name {
        "psk-aes256-hmac-sha512.xml" => full,
        "tripledes-cbc.xml" => full[..24].to_vec(),
        _ => full[..16].to_vec(),
    }
}

fn import_all(name: &str) -> Result<Vec<ImportedKey>, PskcError> {
    parse_honouring(
        file(name),
        &secrets_for(name, &psk_for(name)),
        &Honoured::ALL,
    )
}

fn import_strict(name: &str) -> Result<Vec<ImportedKey>, PskcError> {
    parse(file(name), &secrets_for(name, &psk_for(name)))
}

fn key<'a>(keys: &'a [ImportedKey], serial: &str) -> &'a ImportedKey {
    keys.iter()
        .find(|k| k.serial == serial)
        .unwrap_or_else(|| panic!("no key {serial}"))
}

/// The code `k` shows at counter (HOTP) or server time (TOTP) `when`, as the verifier computes it
/// from the import: digits, check digit, time step and drift all from the file.
fn code(k: &ImportedKey, when: &str) -> String {
    let alg: Algorithm = k.algorithm.parse().unwrap();
    let digits = Digits::new(k.digits).unwrap();
    let hk = HotpKey::new(&k.secret, alg);
    let moving = match (k.kind, when.split_once('=').unwrap()) {
        (OtpKind::Hotp, ("counter", c)) => c.parse::<u64>().unwrap(),
        (OtpKind::Totp, ("unix", t)) => {
            let totp = Totp::new(k.time_step, digits, alg).unwrap();
            let server_step = totp.step_at(t.parse::<i64>().unwrap() * 1000);
            server_step
                .checked_add_signed(k.usage.time_drift_steps)
                .unwrap()
        }
        other => panic!("{other:?}"),
    };
    if k.usage.check_digit {
        hk.code_with_check_digit(moving, digits)
            .unwrap()
            .as_str()
            .to_owned()
    } else {
        hk.code(moving, digits).as_str().to_owned()
    }
}

/// Every code oathtool gave for a fixture's token is the code pooya makes from its import: plain,
/// pre-shared-key (AES-256, HMAC-SHA512 MAC) and PBKDF2 (PRF HMAC-SHA256) files, SHA1/256/512,
/// 6 to 9 digits, check digits, drift either way.
#[test]
fn imported_keys_make_the_codes_oathtool_makes() {
    let mut checked = 0;
    for line in CODES
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let [name, serial, when, want] = cols[..] else {
            panic!("bad line {line:?}")
        };
        let keys = import_all(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let k = key(&keys, serial);
        assert_eq!(code(k, when), want, "{name} {serial} {when}");
        assert_eq!(k.digits as usize, want.len(), "{name} {serial}");
        checked += 1;
    }
    assert_eq!(checked, 19);
}

#[test]
fn fixtures_read_as_written() {
    let keys = import_all("plain-many.xml").unwrap();
    assert_eq!(keys.len(), 3);
    let h = key(&keys, "HOTP-1");
    assert_eq!((h.kind, h.counter, h.digits), (OtpKind::Hotp, 7, 6));
    assert_eq!(h.key_id, "K-HOTP-1");
    let t = key(&keys, "TOTP-256");
    assert_eq!(
        (t.kind, t.time_step, t.digits, t.algorithm),
        (OtpKind::Totp, 60, 8, "SHA256")
    );
    assert_eq!(key(&keys, "TOTP-512").algorithm, "SHA512");
    // A file that asks nothing of the verifier passes the strict parse too.
    assert!(keys.iter().all(|k| k.usage == Usage::default()));
    assert_eq!(import_strict("plain-many.xml").unwrap().len(), 3);

    let keys = import_all("check-digits.xml").unwrap();
    let c = key(&keys, "CHECK-HOTP");
    assert!(c.usage.check_digit);
    assert_eq!(c.digits, 7, "Length counts the check digit");
    assert_eq!(key(&keys, "CHECK-TOTP").digits, 9);

    let keys = import_all("time-drift.xml").unwrap();
    assert_eq!(key(&keys, "DRIFT-BEHIND").usage.time_drift_steps, -2);
    assert_eq!(key(&keys, "DRIFT-AHEAD").usage.time_drift_steps, 3);
}

#[test]
fn policy_and_device_dates_become_the_validity_period() {
    let k = &import_all("policy-dates.xml").unwrap()[0];
    assert_eq!(k.usage.not_before_ms, Some(1_577_836_800_000));
    assert_eq!(k.usage.not_after_ms, Some(4_102_444_799_000));
    assert!(!k.usage.valid_at(1_577_836_799_999));
    assert!(k.usage.valid_at(1_577_836_800_000));
    assert!(k.usage.valid_at(4_102_444_799_000));
    assert!(!k.usage.valid_at(4_102_444_799_001));

    // Expired in 2021: imported with its date, never valid at a later time.
    let k = &import_all("policy-expired.xml").unwrap()[0];
    assert_eq!(k.usage.not_after_ms, Some(1_625_011_200_000));
    assert_eq!(k.usage.not_before_ms, None);
    assert!(!k.usage.valid_at(1_770_000_000_000));

    // 2099-01-01T12:00:00+03:30 is 08:30 UTC.
    let k = &import_all("policy-not-yet-valid.xml").unwrap()[0];
    assert_eq!(k.usage.not_before_ms, Some(4_070_939_400_000));
    assert!(!k.usage.valid_at(1_770_000_000_000));

    // The device's dates narrow the policy's: the device expires in 2030, the policy in 2040.
    let k = &import_all("device-dates.xml").unwrap()[0];
    assert_eq!(k.usage.not_before_ms, Some(1_551_398_400_000));
    assert_eq!(k.usage.not_after_ms, Some(1_898_553_600_000));
}

/// `parse` honours nothing: each restriction is refused, naming the key package and the element.
#[test]
fn a_restriction_nobody_enforces_refuses_the_import() {
    let cases = [
        (
            "policy-dates.xml",
            "serial DATES, key K-DATES",
            "Policy/StartDate",
        ),
        ("policy-expired.xml", "serial EXPIRED", "Policy/ExpiryDate"),
        (
            "policy-not-yet-valid.xml",
            "serial NOT-YET",
            "Policy/StartDate",
        ),
        (
            "device-dates.xml",
            "serial DEVICE-DATES",
            "DeviceInfo/StartDate",
        ),
        (
            "policy-transactions.xml",
            "serial TXN-2",
            "Policy/NumberOfTransactions",
        ),
        ("check-digits.xml", "serial CHECK-HOTP", "CheckDigits"),
        ("time-drift.xml", "serial DRIFT-BEHIND", "Data/TimeDrift -2"),
    ];
    for (name, package, element) in cases {
        let e = import_strict(name).unwrap_err().to_string();
        assert!(e.starts_with("key package 1 ("), "{name}: {e}");
        assert!(e.contains(package), "{name}: {e}");
        assert!(e.contains(element), "{name}: {e}");
        assert!(e.contains("not enforced"), "{name}: {e}");
    }
    // What is honoured passes; the rest is still refused.
    let dates_only = Honoured {
        validity_period: true,
        ..Honoured::NONE
    };
    let psk = psk_for("");
    let s = secrets_for("", &psk);
    assert!(parse_honouring(file("policy-dates.xml"), &s, &dates_only).is_ok());
    let e = parse_honouring(file("policy-transactions.xml"), &s, &dates_only).unwrap_err();
    assert!(e.to_string().contains("NumberOfTransactions"), "{e}");
    let e = parse_honouring(file("check-digits.xml"), &s, &dates_only).unwrap_err();
    assert!(e.to_string().contains("CheckDigits"), "{e}");
    let e = parse_honouring(file("time-drift.xml"), &s, &dates_only).unwrap_err();
    assert!(e.to_string().contains("TimeDrift"), "{e}");
}

#[test]
fn key_usage_must_permit_otp() {
    let e = import_all("policy-usage-cr.xml").unwrap_err().to_string();
    assert!(
        e.starts_with("key package 1 (serial CR-ONLY, key K-CR-ONLY): Policy/KeyUsage"),
        "{e}"
    );
    assert!(e.contains("not OTP"), "{e}");
    let keys = import_all("policy-usage-otp-cr.xml").unwrap();
    assert_eq!(keys[0].usage, Usage::default());
    // No restriction the verifier must enforce: the strict parse takes it too.
    assert!(import_strict("policy-usage-otp-cr.xml").is_ok());
}

#[test]
fn transactions_are_counted_by_the_verifier() {
    let k = &import_all("policy-transactions.xml").unwrap()[0];
    assert_eq!(k.usage.number_of_transactions, Some(2));
}

#[test]
fn pin_policies_other_than_local_are_refused() {
    // Local: the token checks its PIN; the PIN's own package is skipped.
    let keys = import_strict("policy-pin-local.xml").unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].serial, "PIN-LOCAL");
    assert_eq!(keys[0].kind, OtpKind::Hotp);

    let e = import_all("policy-pin-prepend.xml")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("key package 2 (serial PIN-PREPEND, key K-PIN-PREPEND):"),
        "{e}"
    );
    assert!(e.contains("PINUsageMode=\"Prepend\""), "{e}");

    // The whole file fails, though its first key is fine.
    let e = import_all("policy-pin-algorithmic-second.xml").unwrap_err();
    let PskcError::Package { index, name, why } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*index, 2);
    assert_eq!(name, "serial ALGORITHMIC, key K-ALGORITHMIC");
    assert!(why.contains("PINUsageMode=\"Algorithmic\""), "{why}");
}

#[test]
fn a_time_origin_other_than_the_epoch_is_refused() {
    let e = import_all("time-origin.xml").unwrap_err().to_string();
    assert!(e.contains("serial TIME-ORIGIN"), "{e}");
    assert!(e.contains("Data/Time 1000"), "{e}");
    assert!(e.contains("unix epoch"), "{e}");
}

#[test]
fn a_date_without_a_time_zone_is_refused() {
    let e = import_all("policy-date-without-zone.xml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("serial NAIVE-DATE"), "{e}");
    assert!(
        e.contains("Policy/ExpiryDate \"2099-01-01T00:00:00\""),
        "{e}"
    );
    assert!(e.contains("time zone"), "{e}");
}

#[test]
fn unsupported_algorithms_are_named() {
    let e = import_all("kw-aes128.xml").unwrap_err().to_string();
    assert!(e.contains("serial KW-AES128"), "{e}");
    assert!(
        e.contains(
            "encryption algorithm \"http://www.w3.org/2001/04/xmlenc#kw-aes128\" is not supported"
        ),
        "{e}"
    );
    assert!(!e.contains("ValueMAC"), "{e}");

    let e = import_all("tripledes-cbc.xml").unwrap_err().to_string();
    assert!(e.contains("xmlenc#tripledes-cbc\" is not supported"), "{e}");

    let e = import_all("pbkdf2-hmac-md5.xml").unwrap_err().to_string();
    assert!(e.contains("serial PRF-MD5"), "{e}");
    assert!(
        e.contains(
            "PBKDF2 PRF \"http://www.w3.org/2001/04/xmldsig-more#hmac-md5\" is not supported"
        ),
        "{e}"
    );
    assert!(!e.contains("wrong"), "{e}");

    let e = import_all("encrypted-counter.xml").unwrap_err().to_string();
    assert!(e.contains("serial ENC-COUNTER"), "{e}");
    assert!(e.contains("encrypted Counter is not supported"), "{e}");
}

/// python-pskc writes the PBKDF2 PRF as the element's text; XML Encryption 1.1 as an attribute.
/// Both are read; an element that names none in either place is named as unreadable.
#[test]
fn the_pbkdf2_prf_is_read_from_its_attribute_or_its_text() {
    let name = "pbkdf2-hmac-sha256.xml";
    let s = secrets_for(name, &[]);
    let text = file(name);
    let uri = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256";
    let as_text = format!("<PRF>{uri}</PRF>");
    assert!(text.contains(&as_text));
    assert!(parse(text, &s).is_ok());
    let as_attribute = text.replace(&as_text, &format!("<PRF Algorithm=\"{uri}\"/>"));
    assert!(parse(&as_attribute, &s).is_ok());
    // Read as HMAC-SHA1 (the default), the derived key would be wrong.
    let e = parse(&text.replace(&as_text, "<PRF/>"), &s).unwrap_err();
    assert!(e.to_string().contains("wrong key"), "{e}");
    let unreadable = text.replace(
        &as_text,
        &format!("<PRF><Algorithm>{uri}</Algorithm></PRF>"),
    );
    let e = parse(&unreadable, &s).unwrap_err().to_string();
    assert!(e.contains("serial PBKDF2-1"), "{e}");
    assert!(e.contains("the PBKDF2 PRF could not be read"), "{e}");
}

/// A policy element or attribute pooya does not understand refuses the key (RFC 6030 §5), and so
/// do malformed restrictions. Variations of python-pskc's files.
#[test]
fn what_is_not_understood_is_refused() {
    let psk = psk_for("");
    let s = secrets_for("", &psk);
    let dates = file("policy-dates.xml");
    let txn = file("policy-transactions.xml");
    let pin = file("policy-pin-local.xml");
    let check = file("check-digits.xml");
    let drift = file("time-drift.xml");
    let hotp = file("policy-usage-otp-cr.xml");
    let cases: Vec<(String, &str)> = vec![
        (
            dates.replace(
                "<pskc:KeyUsage>OTP</pskc:KeyUsage>",
                "<pskc:KeyUsage>OTP</pskc:KeyUsage><pskc:Geofence>IR</pskc:Geofence>",
            ),
            "Policy/Geofence is not understood",
        ),
        (
            dates.replace("<pskc:Policy>", "<pskc:Policy Strict=\"yes\">"),
            "Policy attribute Strict is not understood",
        ),
        (
            dates.replace(
                "<pskc:KeyUsage>OTP</pskc:KeyUsage>",
                "<pskc:KeyUsage>OTP</pskc:KeyUsage><pskc:KeyUsage>Teleport</pskc:KeyUsage>",
            ),
            "Policy/KeyUsage \"Teleport\" is not understood",
        ),
        (
            dates.replace(
                "</pskc:Policy>",
                "<pskc:ExpiryDate>2098-01-01T00:00:00Z</pskc:ExpiryDate></pskc:Policy>",
            ),
            "Policy/ExpiryDate appears more than once",
        ),
        (
            dates.replace("2020-01-01T00:00:00Z", "2100-01-01T00:00:00Z"),
            "Policy/StartDate is after Policy/ExpiryDate",
        ),
        (
            dates.replace("2020-01-01T00:00:00Z", "1 January 2020"),
            "Policy/StartDate \"1 January 2020\" is not a date",
        ),
        (
            txn.replace(">2</pskc:NumberOfTransactions>", ">0</pskc:NumberOfTransactions>"),
            "Policy/NumberOfTransactions 0",
        ),
        (
            txn.replace(">2</pskc:NumberOfTransactions>", ">-2</pskc:NumberOfTransactions>"),
            "Policy/NumberOfTransactions \"-2\"",
        ),
        (
            pin.replace("PINUsageMode=\"Local\"", ""),
            "Policy/PINPolicy without a PINUsageMode",
        ),
        (
            pin.replace("PINUsageMode=\"Local\"", "PINUsageMode=\"Local\" Biometric=\"1\""),
            "Policy/PINPolicy attribute Biometric is not understood",
        ),
        (
            pin.replace("PINUsageMode=\"Local\"", "PINUsageMode=\"Remote\""),
            "PINUsageMode=\"Remote\" is not understood",
        ),
        (
            check.replacen("CheckDigits=\"true\"", "CheckDigits=\"yes\"", 1),
            "ResponseFormat CheckDigits \"yes\" is not true or false",
        ),
        (
            check.replacen("Length=\"7\"", "Length=\"4\"", 1),
            "response length \"4\" (5 to 10 digits, the check digit included)",
        ),
        (
            check.replacen("CheckDigits=\"true\"", "CheckDigit=\"true\"", 1),
            "ResponseFormat attribute CheckDigit is not understood",
        ),
        (
            drift.replace(">-2</pskc:PlainValue>", ">-2881</pskc:PlainValue>"),
            "Data/TimeDrift -2881 steps of 30 s: more than a day",
        ),
        (
            hotp.replace(
                "</pskc:Counter>",
                "</pskc:Counter><pskc:TimeDrift><pskc:PlainValue>1</pskc:PlainValue></pskc:TimeDrift>",
            ),
            "Data/TimeDrift on an event-based (HOTP) key",
        ),
        (
            hotp.replace(
                "<pskc:Data>",
                "<pskc:KeyProfileId>profile-7</pskc:KeyProfileId><pskc:Data>",
            ),
            "KeyProfileId",
        ),
    ];
    for (xml, want) in cases {
        let e = parse_honouring(&xml, &s, &Honoured::ALL)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("key package "), "{want}: {e}");
        assert!(e.contains(want), "{want}: {e}");
    }
    // Drift of exactly a day is still a drift; and 0 asks nothing.
    let day = drift.replace(">-2</pskc:PlainValue>", ">-2880</pskc:PlainValue>");
    assert!(parse_honouring(&day, &s, &Honoured::ALL).is_ok());
    let none = drift
        .replace(">-2</pskc:PlainValue>", ">0</pskc:PlainValue>")
        .replace(">3</pskc:PlainValue>", ">0</pskc:PlainValue>");
    assert!(parse(&none, &s).is_ok());
    // CheckDigits="false" is no check digit.
    let plain = check.replace("CheckDigits=\"true\"", "CheckDigits=\"false\"");
    let keys = parse(&plain, &s).unwrap();
    assert!(keys.iter().all(|k| !k.usage.check_digit));
}

#[test]
fn asymmetric_encryption_is_named() {
    let f = file("../rfc6030-figure-2.xml").replace(
        "<KeyPackage>",
        "<EncryptionKey><ds:X509Data xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
         <ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data></EncryptionKey><KeyPackage>",
    );
    let f = f.replace(
        "<PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=\n                    </PlainValue>",
        "<EncryptedValue><xenc:EncryptionMethod xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\" \
         Algorithm=\"http://www.w3.org/2001/04/xmlenc#aes128-cbc\"/><xenc:CipherData \
         xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\"><xenc:CipherValue>AAAA</xenc:CipherValue>\
         </xenc:CipherData></EncryptedValue><ValueMAC>AAAA</ValueMAC>",
    );
    let e = parse(&f, &Secrets::default()).unwrap_err().to_string();
    assert!(e.contains("asymmetric key (X509Data"), "{e}");
}

/// RFC 6030 Figure 7 writes an empty `<PRF/>`: PKCS #5's default, HMAC-SHA1.
#[test]
fn an_empty_prf_is_hmac_sha1() {
    let s = Secrets {
        preshared_key: None,
        password: Some(b"qwerty"),
    };
    assert_eq!(parse(file("../rfc6030-figure-7.xml"), &s).unwrap().len(), 1);
}
