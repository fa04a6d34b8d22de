//! PSKC (RFC 6030) import of hardware tokens, black-box: `POST /v1/admin/pskc` and
//! `pooya admin import-pskc`. Codes are computed in the test from the key straight out of the
//! file (RFC 4226 / RFC 6238, no derivation), and checked against the RFCs' own test vectors.

use crate::common::*;
use serde_json::{json, Value};

/// RFC 4226's and RFC 6238's SHA1 test key, the secret of RFC 6030's examples.
const KEY20: &[u8] = b"12345678901234567890";
/// RFC 6238's SHA256 and SHA512 test keys.
const KEY32: &[u8] = b"12345678901234567890123456789012";
const KEY64: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

/// One key package of a test file.
struct Pkg<'a> {
    serial: &'a str,
    totp: bool,
    digits: u8,
    suite: &'a str,
    key: &'a [u8],
    /// HOTP: the counter; TOTP: the time interval.
    n: u64,
}

pub(crate) fn pkg(serial: &str, totp: bool, digits: u8, suite: &str, key: &[u8], n: u64) -> String {
    let p = Pkg {
        serial,
        totp,
        digits,
        suite,
        key,
        n,
    };
    let alg = if p.totp { "totp" } else { "hotp" };
    let data = if p.totp {
        format!(
            "<TimeInterval><PlainValue>{}</PlainValue></TimeInterval>",
            p.n
        )
    } else {
        format!("<Counter><PlainValue>{}</PlainValue></Counter>", p.n)
    };
    format!(
        r#"<KeyPackage>
    <DeviceInfo><Manufacturer>Acme</Manufacturer><SerialNo>{serial}</SerialNo></DeviceInfo>
    <Key Id="K{serial}" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:{alg}">
      <AlgorithmParameters>
        <Suite>{suite}</Suite>
        <ResponseFormat Length="{digits}" Encoding="DECIMAL"/>
      </AlgorithmParameters>
      <Data>
        <Secret><PlainValue>{b64}</PlainValue></Secret>
        {data}
      </Data>
    </Key>
  </KeyPackage>"#,
        serial = p.serial,
        suite = p.suite,
        digits = p.digits,
        b64 = data_encoding::BASE64.encode(p.key),
    )
}

pub(crate) fn container(packages: &[String]) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<KeyContainer Version=\"1.0\" \
         xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\">\n{}\n</KeyContainer>\n",
        packages.join("\n")
    )
}

/// RFC 4226 HOTP of the raw key, as any standard token computes it.
fn hotp(key: &[u8], counter: u64, digits: u8, alg: pooya_otp::Algorithm) -> String {
    let d = pooya_otp::Digits::new(digits).unwrap();
    pooya_otp::hotp(&pooya_otp::OtpKey::from_bytes(key), counter, d, alg)
        .as_str()
        .to_owned()
}

pub(crate) async fn import(srv: &TestServer, body: Value) -> (u16, Value) {
    srv.post("/v1/admin/pskc", "admin", body).await
}

pub(crate) async fn set_clock(srv: &TestServer, unix_ms: i64) {
    let (s, v) = srv
        .post("/v1/test/clock", "admin", json!({ "set_unix_ms": unix_ms }))
        .await;
    assert_eq!(s, 200, "{v}");
}

pub(crate) async fn three_cards(srv: &TestServer) {
    srv.customer("C1", MOBILE).await;
    for p in [PAN, PAN2, PAN3] {
        srv.card(p, "C1").await;
    }
}

pub(crate) async fn mode(srv: &TestServer, pan: &str) -> (String, String) {
    let v = srv.card_info(pan).await;
    (
        v.dynamic.mode.as_str().to_owned(),
        v.dynamic.state.as_str().to_owned(),
    )
}

pub(crate) fn none() -> (String, String) {
    ("none".into(), "inactive".into())
}

pub(crate) async fn assert_reason(
    srv: &TestServer,
    pan: &str,
    code: &str,
    txn: &str,
    reason: &str,
) {
    let v = srv.verify(pan, "second", code, txn).await;
    assert_eq!(v.reason, reason, "{pan} {code} {txn}: {v:?}");
}

#[tokio::test]
async fn totp_tokens_accept_the_rfc6238_vectors() {
    let srv = TestServer::start().await;
    three_cards(&srv).await;
    let file = container(&[
        pkg("T1", true, 8, "HMAC-SHA1", KEY20, 30),
        pkg("T2", true, 8, "HMAC-SHA256", KEY32, 30),
        pkg("T3", true, 8, "HMAC-SHA512", KEY64, 30),
    ]);
    let (s, v) = import(
        &srv,
        json!({"pskc": file, "assign": {"T1": PAN, "T2": PAN2, "T3": PAN3}}),
    )
    .await;
    assert_eq!((s, &v), (200, &json!({"imported": 3})));
    for p in [PAN, PAN2, PAN3] {
        assert_eq!(mode(&srv, p).await, ("app".into(), "active".into()));
    }
    // RFC 6238 Appendix B, T = 1111111109 s.
    set_clock(&srv, 1_111_111_109_000).await;
    assert_reason(&srv, PAN, "07081804", "A1", "approved").await;
    assert_reason(&srv, PAN2, "68084774", "A2", "approved").await;
    assert_reason(&srv, PAN3, "25091201", "A3", "approved").await;
    // R3: once only.
    assert_reason(&srv, PAN, "07081804", "A4", "replayed").await;
    // R4: another card's code is wrong here.
    assert_reason(&srv, PAN, "68084774", "A5", "wrong_password").await;
    // T = 1111111111 s: the next step.
    set_clock(&srv, 1_111_111_111_000).await;
    assert_reason(&srv, PAN, "14050471", "B1", "approved").await;
    assert_reason(&srv, PAN2, "67062674", "B2", "approved").await;
    assert_reason(&srv, PAN3, "99943326", "B3", "approved").await;
    // T = 1234567890 s.
    set_clock(&srv, 1_234_567_890_000).await;
    assert_reason(&srv, PAN, "89005924", "C1", "approved").await;
    assert_reason(&srv, PAN2, "91819424", "C2", "approved").await;
    assert_reason(&srv, PAN3, "93441116", "C3", "approved").await;
    // R9: the static second password is dead; the first password is the static PIN.
    assert_reason(&srv, PAN2, STATIC_SECOND, "D1", "static_password_disabled").await;
    let v = srv.verify(PAN2, "first", PIN, "D2").await;
    assert_eq!(v.reason, "approved", "{v:?}");
}

#[tokio::test]
async fn totp_uses_the_files_step_and_digits() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let key = b"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10";
    let file = container(&[pkg("S60", true, 6, "HMAC-SHA1", key, 60)]);
    let (s, v) = import(&srv, json!({"pskc": file, "assign": {"S60": PAN}})).await;
    assert_eq!(s, 200, "{v}");
    let t = srv.align_to_step(60, 35_000).await;
    let sha1 = pooya_otp::Algorithm::Sha1;
    // A 30-second step's code (the app's default shape) is not this token's.
    let wrong = hotp(key, (t / 1000 / 30) as u64, 6, sha1);
    let right = hotp(key, (t / 1000 / 60) as u64, 6, sha1);
    if wrong != right {
        assert_reason(&srv, PAN, &wrong, "W1", "wrong_password").await;
    }
    // An 8-digit code is not this token's either.
    let eight = hotp(key, (t / 1000 / 60) as u64, 8, sha1);
    assert_reason(&srv, PAN, &eight, "W2", "wrong_password").await;
    assert_reason(&srv, PAN, &right, "R1", "approved").await;
    assert_reason(&srv, PAN, &right, "R2", "replayed").await;
    // The next step's code, a minute later.
    srv.advance(60_000).await;
    let next = hotp(key, (t / 1000 / 60) as u64 + 1, 6, sha1);
    assert_reason(&srv, PAN, &next, "R3", "approved").await;
}

#[tokio::test]
async fn hotp_look_ahead_and_resync() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let file = container(&[pkg("H1", false, 6, "HMAC-SHA1", KEY20, 0)]);
    let (s, v) = import(&srv, json!({"pskc": file, "assign": {"H1": PAN}})).await;
    assert_eq!(s, 200, "{v}");
    // RFC 4226 Appendix D: counters 0 and 5.
    assert_reason(&srv, PAN, "755224", "H1", "approved").await;
    assert_reason(&srv, PAN, "755224", "H2", "replayed").await;
    // The holder pressed the button four times for nothing: 5 is within the look-ahead.
    assert_reason(&srv, PAN, "254676", "H3", "approved").await;
    // Counter 3 is behind now.
    assert_reason(&srv, PAN, "969429", "H4", "replayed").await;
    assert_reason(&srv, PAN, "287922", "H5", "approved").await;
    // Far beyond the look-ahead (counter 7 expected; 50 is within the resync window): refused,
    // then the next code resynchronises.
    let sha1 = pooya_otp::Algorithm::Sha1;
    assert_reason(&srv, PAN, &hotp(KEY20, 50, 6, sha1), "H6", "wrong_password").await;
    assert_reason(&srv, PAN, &hotp(KEY20, 51, 6, sha1), "H7", "approved").await;
    assert_reason(&srv, PAN, &hotp(KEY20, 52, 6, sha1), "H8", "approved").await;
    assert_reason(&srv, PAN, &hotp(KEY20, 51, 6, sha1), "H9", "replayed").await;
    let v = srv.card_info(PAN).await;
    assert_eq!(v.recent_failures, 4, "{v:?}");
}

#[tokio::test]
async fn hotp_resync_needs_two_consecutive_codes() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let file = container(&[pkg("H1", false, 8, "HMAC-SHA256", KEY32, 1000)]);
    let (s, v) = import(&srv, json!({"pskc": file, "assign": {"H1": PAN}})).await;
    assert_eq!(s, 200, "{v}");
    let sha = pooya_otp::Algorithm::Sha256;
    let code = |c| hotp(KEY32, c, 8, sha);
    // The file's counter, its digits and its algorithm.
    assert_reason(&srv, PAN, &code(1000), "A", "approved").await;
    // Two codes beyond the window, but not consecutive: no resync.
    assert_reason(&srv, PAN, &code(1050), "B", "wrong_password").await;
    assert_reason(&srv, PAN, &code(1052), "C", "wrong_password").await;
    // Beyond the resync window: never.
    assert_reason(&srv, PAN, &code(1500), "D", "wrong_password").await;
    assert_reason(&srv, PAN, &code(1501), "E", "wrong_password").await;
    assert_reason(&srv, PAN, &code(1502), "F", "wrong_password").await;
    // Five failures: locked, the token is dead (R5).
    assert_eq!(mode(&srv, PAN).await.1, "locked");
    assert_reason(&srv, PAN, &code(1001), "G", "locked").await;
}

/// RFC 6030 Figure 6 (§6.1): pre-shared key 12345678901234567890123456789012.
const FIGURE_6: &str = include_str!("../../../pooya-pskc/testdata/rfc6030-figure-6.xml");

/// RFC 6030 Figure 7 (§6.2): PBKDF2 from the password "qwerty".
const FIGURE_7: &str = include_str!("../../../pooya-pskc/testdata/rfc6030-figure-7.xml");

#[tokio::test]
async fn encrypted_files_preshared_key_and_pbkdf2() {
    let srv = TestServer::start().await;
    three_cards(&srv).await;
    let psk = "12345678901234567890123456789012";
    // Without the key, with a wrong one, with a wrong MAC: 422, nothing imported.
    let (s, v) = import(
        &srv,
        json!({"pskc": FIGURE_6, "assign": {"987654321": PAN}}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("invalid_pskc")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("key package 1"),
        "{v}"
    );
    let (s, v) = import(
        &srv,
        json!({"pskc": FIGURE_6, "assign": {"987654321": PAN},
               "preshared_key_hex": "00112233445566778899aabbccddeeff"}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("invalid_pskc")),
        "{v}"
    );
    let altered = FIGURE_6.replace("Su+NvtQf", "Tu+NvtQf");
    let (s, v) = import(
        &srv,
        json!({"pskc": altered, "assign": {"987654321": PAN}, "preshared_key_hex": psk}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("invalid_pskc")),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("MAC"),
        "{v}"
    );
    let (s, v) = import(
        &srv,
        json!({"pskc": FIGURE_6, "assign": {"987654321": PAN}, "preshared_key_hex": "xyz"}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("invalid_pskc")),
        "{v}"
    );
    assert_eq!(mode(&srv, PAN).await, none());
    // The right key: RFC 4226's codes of the RFC 6030 secret, 8 digits, counter 0.
    let (s, v) = import(
        &srv,
        json!({"pskc": FIGURE_6, "assign": {"987654321": PAN}, "preshared_key_hex": psk}),
    )
    .await;
    assert_eq!((s, &v), (200, &json!({"imported": 1})));
    assert_eq!(mode(&srv, PAN).await, ("app".into(), "active".into()));
    assert_reason(&srv, PAN, "84755224", "E1", "approved").await;
    assert_reason(&srv, PAN, "94287082", "E2", "approved").await;
    // §6.2: PBKDF2 from a password.
    let (s, v) = import(
        &srv,
        json!({"pskc": FIGURE_7, "assign": {"987654321": PAN2}, "password": "wrong"}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("invalid_pskc")),
        "{v}"
    );
    let (s, v) = import(
        &srv,
        json!({"pskc": FIGURE_7, "assign": {"987654321": PAN2}, "password": "qwerty"}),
    )
    .await;
    assert_eq!((s, &v), (200, &json!({"imported": 1})));
    assert_reason(&srv, PAN2, "84755224", "P1", "approved").await;
}

#[tokio::test]
async fn bad_files_import_nothing() {
    let srv = TestServer::start().await;
    three_cards(&srv).await;
    let good = pkg("G1", true, 6, "HMAC-SHA1", KEY20, 30);
    let cases: Vec<(String, Value, &str)> = vec![
        // Malformed XML.
        (
            container(std::slice::from_ref(&good)).replace("</KeyContainer>", ""),
            json!({"G1": PAN}),
            "XML",
        ),
        ("not xml".into(), json!({"G1": PAN}), "XML"),
        // Unknown algorithm in the second package: the first is not imported either.
        (
            container(&[good.clone(), pkg("X2", false, 6, "HMAC-SHA1", KEY20, 0)])
                .replace("pskc:hotp", "pskc:ocra"),
            json!({"G1": PAN, "X2": PAN2}),
            "key package 2 (serial X2",
        ),
        (
            container(&[good.clone(), pkg("X2", false, 6, "HMAC-MD5", KEY20, 0)]),
            json!({"G1": PAN, "X2": PAN2}),
            "key package 2 (serial X2",
        ),
        // Duplicate serial.
        (
            container(&[good.clone(), pkg("G1", false, 6, "HMAC-SHA1", KEY32, 0)]),
            json!({"G1": PAN}),
            "duplicate serial G1",
        ),
        // A key package with no card, and a serial with no key package.
        (
            container(&[good.clone(), pkg("X2", false, 6, "HMAC-SHA1", KEY20, 0)]),
            json!({"G1": PAN}),
            "key package 2 (serial X2): no card",
        ),
        (
            container(std::slice::from_ref(&good)),
            json!({"G1": PAN, "NOPE": PAN2}),
            "serial NOPE",
        ),
        // Two tokens for one card.
        (
            container(&[good.clone(), pkg("X2", false, 6, "HMAC-SHA1", KEY20, 0)]),
            json!({"G1": PAN, "X2": PAN}),
            "two tokens",
        ),
    ];
    for (file, assign, needle) in cases {
        let (s, v) = import(&srv, json!({"pskc": file, "assign": assign})).await;
        assert_eq!(s, 422, "{needle}: {v}");
        assert_eq!(v["error"]["code"], "invalid_pskc", "{v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
        assert!(!msg.contains(PAN) && !msg.contains(PAN2), "{msg}");
    }
    // An unknown card (a valid PAN nobody registered): 404, and the known one untouched.
    let stranger = pan_with("628023123456", "000");
    let (s, v) = import(
        &srv,
        json!({"pskc": container(&[good.clone(), pkg("X2", false, 6, "HMAC-SHA1", KEY20, 0)]),
               "assign": {"G1": PAN, "X2": stranger}}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("unknown_card")),
        "{v}"
    );
    // A PAN that is no PAN.
    let (s, v) = import(
        &srv,
        json!({"pskc": container(std::slice::from_ref(&good)), "assign": {"G1": "1234"}}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("invalid_pan")),
        "{v}"
    );
    // Malformed body.
    let (s, v) = import(&srv, json!({"pskc": 5, "assign": {}})).await;
    assert_eq!(s, 400, "{v}");
    for p in [PAN, PAN2, PAN3] {
        assert_eq!(mode(&srv, p).await, none(), "{p}");
        // The static second password still works: nothing changed.
        assert_reason(&srv, p, STATIC_SECOND, &format!("S{p}"), "approved").await;
    }
}

#[tokio::test]
async fn only_admin_imports() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let body = json!({"pskc": container(&[pkg("G1", true, 6, "HMAC-SHA1", KEY20, 30)]),
                      "assign": {"G1": PAN}});
    let (s, v) = srv
        .call("POST", "/v1/admin/pskc", None, Some(body.clone()))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("unauthenticated")),
        "{v}"
    );
    for role in ["branch", "atm", "sms", "switch"] {
        let (s, v) = srv.post("/v1/admin/pskc", role, body.clone()).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{role}: {v}"
        );
    }
    assert_eq!(mode(&srv, PAN).await, none());
    let (s, _) = srv.post("/v1/admin/pskc", "admin", body).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn an_import_replaces_the_app_token_and_an_atm_activation_replaces_the_import() {
    let srv = TestServer::start().await;
    let app = srv.enrolled_card().await;
    // An app's token is no hardware token: the card view has none.
    assert_eq!(srv.card_info(PAN).await.hardware_token, None);
    let file = container(&[pkg("H1", false, 6, "HMAC-SHA1", KEY20, 0)]);
    let (s, v) = import(&srv, json!({"pskc": file, "assign": {"H1": PAN}})).await;
    assert_eq!(s, 200, "{v}");
    // A file without a policy: no dates, no limit.
    let hw = srv.card_info(PAN).await.hardware_token.unwrap();
    assert_eq!(
        (hw.serial.as_str(), hw.kind.as_str(), hw.usable),
        ("H1", "hotp", true)
    );
    assert_eq!(
        (hw.start_date, hw.expiry_date, hw.transactions_left),
        (None, None, None)
    );
    let now = srv.now_ms().await;
    assert_reason(&srv, PAN, &app.code("second", now), "A1", "wrong_password").await;
    assert_reason(&srv, PAN, "755224", "A2", "approved").await;
    // Deactivation at the ATM kills the hardware token; the static password works again (R10).
    let (s, v) = srv
        .post("/v1/atm/deactivate", "atm", json!({"pan": PAN, "pin": PIN}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(mode(&srv, PAN).await, none());
    assert_eq!(srv.card_info(PAN).await.hardware_token, None);
    assert_reason(&srv, PAN, "287082", "A3", "wrong_password").await;
    assert_reason(&srv, PAN, STATIC_SECOND, "A4", "approved").await;
}

fn pooya_cli(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_pooya"));
    c.args(args).env_remove("POOYA_ADMIN_KEY");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run pooya")
}

#[tokio::test]
async fn the_cli_client_imports() {
    let srv = TestServer::start().await;
    three_cards(&srv).await;
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("tokens.xml");
    std::fs::write(
        &plain,
        container(&[
            pkg("C1", true, 6, "HMAC-SHA1", KEY20, 30),
            pkg("C2", false, 6, "HMAC-SHA1", KEY20, 0),
        ]),
    )
    .unwrap();
    let path = plain.to_str().unwrap().to_owned();
    let admin = srv.key("admin");
    let url = srv.url.clone();
    let (a1, a2) = (format!("C1={PAN}"), format!("C2={PAN2}"));
    // A bad assignment: nothing imported, the server's reason on standard error.
    let out = pooya_cli(
        &[
            "admin",
            "import-pskc",
            &path,
            "--assign",
            &a1,
            "--server",
            &url,
            "--key",
            &admin,
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid_pskc") && err.contains("serial C2"),
        "{err}"
    );
    // The wrong role's key.
    let branch = srv.key("branch");
    let out = pooya_cli(
        &[
            "admin",
            "import-pskc",
            &path,
            "--assign",
            &a1,
            "--assign",
            &a2,
            "--server",
            &url,
            "--key",
            &branch,
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("forbidden"));
    assert_eq!(mode(&srv, PAN).await, none());
    // The key from the environment.
    let out = pooya_cli(
        &[
            "admin",
            "import-pskc",
            &path,
            "--assign",
            &a1,
            "--assign",
            &a2,
            "--server",
            &url,
        ],
        &[("POOYA_ADMIN_KEY", &admin)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "imported 2");
    assert_eq!(mode(&srv, PAN2).await, ("app".into(), "active".into()));
    assert_reason(&srv, PAN2, "755224", "K1", "approved").await;
    // An encrypted file with its pre-shared key.
    let enc = dir.path().join("encrypted.xml");
    std::fs::write(&enc, FIGURE_6).unwrap();
    let a3 = format!("987654321={PAN3}");
    let out = pooya_cli(
        &[
            "admin",
            "import-pskc",
            enc.to_str().unwrap(),
            "--assign",
            &a3,
            "--preshared-key-hex",
            "12345678901234567890123456789012",
            "--server",
            &url,
            "--key",
            &admin,
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_reason(&srv, PAN3, "84755224", "K2", "approved").await;
}
