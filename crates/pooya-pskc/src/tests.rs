//! RFC 6030's examples as test vectors, and the ways a file goes wrong.

use hmac::{Hmac, KeyInit, Mac};

use super::protection::b64;
use super::*;

/// RFC 6030 Figures 2, 3, 5, 6 and 7 all carry this secret (ASCII digits, RFC 4226's test key).
const RFC_SECRET: &[u8] = b"12345678901234567890";
const PSK: &str = "12345678901234567890123456789012";

fn psk() -> Vec<u8> {
    from_hex(PSK).unwrap()
}

/// RFC 6030 Figure 2: a plain HOTP key.
pub const FIGURE_2: &str = include_str!("../testdata/rfc6030-figure-2.xml");

/// RFC 6030 Figure 3: supplementary data (user ids).
const FIGURE_3: &str = include_str!("../testdata/rfc6030-figure-3.xml");

/// RFC 6030 Figure 4: the key is derived from a master key (`KeyReference`): no secret in the file.
const FIGURE_4: &str = include_str!("../testdata/rfc6030-figure-4.xml");

/// RFC 6030 Figure 5: an HOTP key with a PIN, the PIN in a second key package.
const FIGURE_5: &str = include_str!("../testdata/rfc6030-figure-5.xml");

/// RFC 6030 Figure 6 (§6.1): AES-128-CBC under a pre-shared key, HMAC-SHA1 MAC key encrypted too.
pub const FIGURE_6: &str = include_str!("../testdata/rfc6030-figure-6.xml");

/// RFC 6030 Figure 7 (§6.2): a PBKDF2-derived key from the password "qwerty".
const FIGURE_7: &str = include_str!("../testdata/rfc6030-figure-7.xml");

fn plain() -> Secrets<'static> {
    Secrets::default()
}

fn assert_rfc_hotp(k: &ImportedKey, key_id: &str) {
    assert_eq!(k.serial, "987654321");
    assert_eq!(k.key_id, key_id);
    assert_eq!(k.kind, OtpKind::Hotp);
    assert_eq!(&k.secret[..], RFC_SECRET);
    assert_eq!(k.digits, 8);
    assert_eq!(k.algorithm, "SHA1");
    assert_eq!(k.counter, 0);
}

/// RFC 4226 Appendix D, independently: HOTP over HMAC-SHA1.
fn hotp_sha1(key: &[u8], counter: u64, digits: u32) -> String {
    let mut m = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key).unwrap();
    m.update(&counter.to_be_bytes());
    let h = m.finalize().into_bytes();
    let o = (h[19] & 0xf) as usize;
    let v = u32::from_be_bytes([h[o] & 0x7f, h[o + 1], h[o + 2], h[o + 3]]);
    format!("{:0w$}", v % 10u32.pow(digits), w = digits as usize)
}

#[test]
fn rfc4226_vectors_hold_for_the_rfc6030_secret() {
    // RFC 4226 Appendix D: 755224, 287082 for counters 0 and 1.
    assert_eq!(hotp_sha1(RFC_SECRET, 0, 6), "755224");
    assert_eq!(hotp_sha1(RFC_SECRET, 1, 6), "287082");
}

#[test]
fn figure_2_plain_hotp() {
    let keys = parse(FIGURE_2, &plain()).unwrap();
    assert_eq!(keys.len(), 1);
    assert_rfc_hotp(&keys[0], "12345678");
    assert_eq!(keys[0].index, 1);
    assert!(!format!("{:?}", keys[0]).contains("1234567890"));
}

#[test]
fn figure_3_supplementary_data() {
    let keys = parse(FIGURE_3, &plain()).unwrap();
    assert_eq!(keys.len(), 1);
    assert_rfc_hotp(&keys[0], "12345678");
}

#[test]
fn figure_4_key_derivation_is_refused_naming_the_package() {
    let e = parse(FIGURE_4, &plain()).unwrap_err();
    let PskcError::Package { index, name, why } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*index, 1);
    assert!(name.contains("987654321"), "{name}");
    assert!(why.contains("Secret"), "{why}");
    assert!(e.to_string().starts_with("key package 1 (serial 987654321"));
}

#[test]
fn figure_5_pin_package_is_skipped() {
    let keys = parse(FIGURE_5, &plain()).unwrap();
    assert_eq!(keys.len(), 1);
    assert_rfc_hotp(&keys[0], "12345678");
}

#[test]
fn figure_6_preshared_key_decrypts_and_macs() {
    let k = psk();
    let keys = parse(
        FIGURE_6,
        &Secrets {
            preshared_key: Some(&k),
            password: None,
        },
    )
    .unwrap();
    assert_eq!(keys.len(), 1);
    assert_rfc_hotp(&keys[0], "12345678");
    assert_eq!(hotp_sha1(&keys[0].secret, 0, 8), "84755224");
}

#[test]
fn figure_7_pbkdf2_password() {
    let keys = parse(
        FIGURE_7,
        &Secrets {
            preshared_key: None,
            password: Some(b"qwerty"),
        },
    )
    .unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key_id, "123456");
    assert_eq!(&keys[0].secret[..], RFC_SECRET);
    assert_eq!(keys[0].digits, 8);
    // The derived key RFC 6030 §6.2 names.
    let mut dk = [0u8; 16];
    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(b"qwerty", &b64("Ej7/PEpyEpw=").unwrap(), 1000, &mut dk);
    assert_eq!(
        data_encoding::HEXLOWER.encode(&dk),
        "651e63cd57008476af1ff6422cd02e41"
    );
}

#[test]
fn figure_7_wrong_password_is_refused() {
    let e = parse(
        FIGURE_7,
        &Secrets {
            preshared_key: None,
            password: Some(b"azerty"),
        },
    )
    .unwrap_err();
    assert!(matches!(e, PskcError::Package { index: 1, .. }), "{e}");
}

#[test]
fn encrypted_file_without_a_key_is_refused() {
    let e = parse(FIGURE_6, &plain()).unwrap_err();
    assert!(e.to_string().contains("preshared_key_hex"), "{e}");
    assert!(e.to_string().contains("key package 1"), "{e}");
}

#[test]
fn wrong_preshared_key_is_refused() {
    let k = from_hex("00000000000000000000000000000000").unwrap();
    let e = parse(
        FIGURE_6,
        &Secrets {
            preshared_key: Some(&k),
            password: None,
        },
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("key package 1 (serial 987654321"),
        "{e}"
    );
    // A key of the wrong length for AES-128.
    let k = from_hex("0011").unwrap();
    let e = parse(
        FIGURE_6,
        &Secrets {
            preshared_key: Some(&k),
            password: None,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("wrong key"), "{e}");
}

#[test]
fn wrong_mac_is_refused() {
    let k = psk();
    let bad = FIGURE_6.replace(
        "Su+NvtQfmvfJzF6bmQiJqoLRExc=",
        "Tu+NvtQfmvfJzF6bmQiJqoLRExc=",
    );
    let e = parse(
        &bad,
        &Secrets {
            preshared_key: Some(&k),
            password: None,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("wrong MAC"), "{e}");
    assert!(e.to_string().contains("key package 1"), "{e}");
    // An altered ciphertext fails the MAC too, before any decryption.
    let bad = FIGURE_6.replace("AAECAwQFBgcICQoLDA0OD+cI", "AAECAwQFBgcICQoLDA0OD+cJ");
    let e = parse(
        &bad,
        &Secrets {
            preshared_key: Some(&k),
            password: None,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("wrong MAC"), "{e}");
    // No ValueMAC at all.
    let start = FIGURE_6.find("<ValueMAC>").unwrap();
    let end = FIGURE_6.find("</ValueMAC>").unwrap() + "</ValueMAC>".len();
    let bad = format!("{}{}", &FIGURE_6[..start], &FIGURE_6[end..]);
    let e = parse(
        &bad,
        &Secrets {
            preshared_key: Some(&k),
            password: None,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("ValueMAC"), "{e}");
}

#[test]
fn malformed_xml_is_refused() {
    for bad in [
        "",
        "not xml at all",
        &FIGURE_2[..FIGURE_2.len() - 20],
        "<KeyContainer><KeyPackage></KeyContainer>",
        "<!DOCTYPE x [<!ENTITY a \"b\">]><KeyContainer/>",
    ] {
        let e = parse(bad, &plain()).unwrap_err();
        assert!(
            matches!(e, PskcError::Xml(_) | PskcError::Container(_)),
            "{bad:?}: {e:?}"
        );
    }
    let e = parse("<Other/>", &plain()).unwrap_err();
    assert!(e.to_string().contains("KeyContainer"), "{e}");
    let e = parse(
        &FIGURE_2.replace("Version=\"1.0\"", "Version=\"2.0\""),
        &plain(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("version"), "{e}");
}

#[test]
fn unknown_algorithm_is_refused() {
    let bad = FIGURE_2.replace("pskc:hotp", "pskc:ocra");
    let e = parse(&bad, &plain()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("key package 1 (serial 987654321, key 12345678): unknown algorithm"),
        "{e}"
    );
    let bad = FIGURE_2.replace(
        "<ResponseFormat Length=\"8\" Encoding=\"DECIMAL\"/>",
        "<Suite>HMAC-MD5</Suite><ResponseFormat Length=\"8\" Encoding=\"DECIMAL\"/>",
    );
    let e = parse(&bad, &plain()).unwrap_err();
    assert!(e.to_string().contains("suite"), "{e}");
    let bad = FIGURE_2.replace("DECIMAL", "HEXADECIMAL");
    assert!(parse(&bad, &plain()).is_err());
    let bad = FIGURE_6.replace("xmldsig#hmac-sha1", "xmldsig#hmac-zha9");
    let k = psk();
    let e = parse(
        &bad,
        &Secrets {
            preshared_key: Some(&k),
            password: None,
        },
    )
    .unwrap_err();
    assert!(
        e.to_string().contains(
            "MAC algorithm \"http://www.w3.org/2000/09/xmldsig#hmac-zha9\" is not supported"
        ),
        "{e}"
    );
}

fn two_packages(second_serial: &str) -> String {
    let start = FIGURE_2.find("<KeyPackage>").unwrap();
    let end = FIGURE_2.find("</KeyPackage>").unwrap() + "</KeyPackage>".len();
    let pkg = &FIGURE_2[start..end];
    let other = pkg
        .replace("987654321", second_serial)
        .replace("12345678\"", "87654321\"");
    format!("{}{}{}", &FIGURE_2[..end], other, &FIGURE_2[end..])
}

#[test]
fn duplicate_serial_is_refused_naming_the_second_package() {
    let e = parse(&two_packages("987654321"), &plain()).unwrap_err();
    let PskcError::Package { index, why, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*index, 2);
    assert!(why.contains("duplicate serial 987654321"), "{why}");
    let keys = parse(&two_packages("555"), &plain()).unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[1].serial, "555");
    assert_eq!(keys[1].index, 2);
}

#[test]
fn one_bad_package_fails_the_whole_file() {
    let f = two_packages("555").replacen("MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", "bm90IGJhc2U2NA!!", 2);
    // The first package is replaced too; make only the second bad.
    let f2 = two_packages("555");
    let i = f2.rfind("MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=").unwrap();
    let f2 = format!("{}{}{}", &f2[..i], "%%%", &f2[i + 28..]);
    assert!(parse(&f, &plain()).is_err());
    let e = parse(&f2, &plain()).unwrap_err();
    assert!(
        e.to_string().starts_with("key package 2 (serial 555"),
        "{e}"
    );
}

#[test]
fn totp_with_its_own_step_digits_and_suite() {
    let f = FIGURE_2
        .replace("pskc:hotp", "pskc:totp")
        .replace(
            "<ResponseFormat Length=\"8\" Encoding=\"DECIMAL\"/>",
            "<Suite>HMAC-SHA256</Suite><ResponseFormat Length=\"6\" Encoding=\"DECIMAL\"/>",
        )
        .replace(
            "<Counter>\n                    <PlainValue>0</PlainValue>\n                </Counter>",
            "<TimeInterval><PlainValue>60</PlainValue></TimeInterval>",
        );
    let keys = parse(&f, &plain()).unwrap();
    assert_eq!(keys[0].kind, OtpKind::Totp);
    assert_eq!(keys[0].time_step, 60);
    assert_eq!(keys[0].digits, 6);
    assert_eq!(keys[0].algorithm, "SHA256");
    // Defaults: 30 s, SHA1.
    let f = FIGURE_2.replace("pskc:hotp", "pskc:totp");
    let keys = parse(&f, &plain()).unwrap();
    assert_eq!(keys[0].time_step, 30);
    assert_eq!(keys[0].algorithm, "SHA1");
}

#[test]
fn hotp_counter_is_read() {
    let f = FIGURE_2.replace("<PlainValue>0</PlainValue>", "<PlainValue>42</PlainValue>");
    assert_eq!(parse(&f, &plain()).unwrap()[0].counter, 42);
    let f = FIGURE_2.replace("<PlainValue>0</PlainValue>", "<PlainValue>-1</PlainValue>");
    assert!(parse(&f, &plain()).is_err());
}

#[test]
fn missing_serial_is_refused() {
    let f = FIGURE_2.replace("<SerialNo>987654321</SerialNo>", "");
    let e = parse(&f, &plain()).unwrap_err();
    assert!(e.to_string().contains("SerialNo"), "{e}");
}

/// The README's walk-through imports `contrib/tokens.example.pskc.xml`: it is Figure 6.
#[test]
fn the_readme_example_file_is_figure_6() {
    let contrib = include_str!("../../../contrib/tokens.example.pskc.xml");
    assert_eq!(contrib.trim(), FIGURE_6.trim());
}
