//! The authenticator app on the command line (docs/api.md, "The app on the command line"; R13, R15,
//! R16): `pooya app --vault F init | add | list | code | remove`, driven as a holder would,
//! against the real server. The app password comes from `POOYA_APP_PASSWORD`, and
//! `POOYA_APP_KDF_FAST=1` keeps the vault's key derivation cheap.

use crate::common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const APP_PASSWORD: &str = "salam 1234";

fn app(vault: &Path, password: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pooya"))
        .arg("app")
        .arg("--vault")
        .arg(vault)
        .args(args)
        .env("POOYA_APP_PASSWORD", password)
        .env("POOYA_APP_KDF_FAST", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run pooya app")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    o
}

#[track_caller]
fn fails(o: Output) -> Output {
    assert!(
        !o.status.success(),
        "should fail\nstdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
    assert!(!stderr(&o).trim().is_empty(), "a message on standard error");
    o
}

/// `code … --plain`: one line holding the code alone.
#[track_caller]
fn plain_code(o: Output, digits: usize) -> String {
    let o = ok(o);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {out:?}");
    let code = lines[0].trim();
    assert_eq!(code.len(), digits, "{out:?}");
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{out:?}");
    code.to_owned()
}

struct Vault {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn new_vault() -> Vault {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.vault");
    let o = ok(app(&path, APP_PASSWORD, &["init"]));
    assert!(path.exists(), "{}", stdout(&o));
    Vault { _dir: dir, path }
}

/// Puts the server's (still) clock early in a code step, so that the app's codes (its own clock
/// corrected by the offset it measured) stay in the same step for the rest of the test.
async fn early_in_a_step(srv: &TestServer) {
    srv.align_to_step(60, 2_000).await;
}

fn add(
    vault: &Path,
    srv: &TestServer,
    pan: &str,
    receipt: &str,
    sms: &str,
    label: Option<&str>,
) -> Output {
    let mut args = vec![
        "add",
        "--server",
        &srv.url,
        "--pan",
        pan,
        "--receipt-code",
        receipt,
        "--sms-code",
        sms,
    ];
    if let Some(l) = label {
        args.extend(["--label", l]);
    }
    app(vault, APP_PASSWORD, &args)
}

fn contains_bytes(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn other_code(code: &str) -> String {
    code.bytes()
        .map(|b| char::from(b'0' + (b - b'0' + 1) % 10))
        .collect()
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn add_list_code_and_remove_a_card() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    early_in_a_step(&srv).await;
    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    let vault = new_vault();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&vault.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the vault is private");
    }

    let o = ok(add(&vault.path, &srv, PAN, &receipt, &sms, Some("salary")));
    assert!(!stdout(&o).contains(PAN) && !stderr(&o).contains(PAN));
    assert_eq!(srv.card_info(PAN).await.dynamic.state, DynamicState::Active);
    let bytes = std::fs::read(&vault.path).unwrap();
    for secret in [PAN, receipt.as_str(), sms.as_str(), "salary"] {
        assert!(
            !contains_bytes(&bytes, secret),
            "{secret} in clear in the vault"
        );
    }

    // list: the masked PAN only.
    let o = ok(app(&vault.path, APP_PASSWORD, &["list"]));
    let out = stdout(&o);
    assert!(out.contains("salary"), "{out}");
    assert!(out.contains("628023******7898"), "{out}");
    assert!(!out.contains(PAN) && !stderr(&o).contains(PAN), "{out}");

    // code by label: the second password, approved once.
    let second = plain_code(
        app(&vault.path, APP_PASSWORD, &["code", "salary", "--plain"]),
        8,
    );
    let v = srv.verify(PAN, "second", &second, "T1").await;
    assert_eq!(v.reason, "approved", "{v:?}");
    // --second is the default; by full PAN too: the same code, now used.
    let again = plain_code(
        app(
            &vault.path,
            APP_PASSWORD,
            &["code", "salary", "--second", "--plain"],
        ),
        8,
    );
    assert_eq!(again, second);
    let by_pan = plain_code(app(&vault.path, APP_PASSWORD, &["code", PAN, "--plain"]), 8);
    assert_eq!(by_pan, second);
    let v = srv.verify(PAN, "second", &by_pan, "T2").await;
    assert_eq!(v.reason, "replayed", "{v:?}");

    // code by last 4 digits: the first password.
    let first = plain_code(
        app(
            &vault.path,
            APP_PASSWORD,
            &["code", "7898", "--first", "--plain"],
        ),
        4,
    );
    let v = srv.verify(PAN, "first", &first, "T3").await;
    assert_eq!(v.reason, "approved", "{v:?}");

    // Without --plain: the code with the masked card and the time left, never the full PAN.
    let o = ok(app(&vault.path, APP_PASSWORD, &["code", "salary"]));
    let out = stdout(&o);
    assert!(out.contains(&second), "{out}");
    assert!(out.contains("628023******7898"), "{out}");
    assert!(!out.contains(PAN), "{out}");

    // An unknown card.
    fails(app(&vault.path, APP_PASSWORD, &["code", "0000", "--plain"]));
    fails(app(&vault.path, APP_PASSWORD, &["code", "nosuch"]));

    // remove: the server forgets the token, then the vault does.
    let o = ok(app(&vault.path, APP_PASSWORD, &["remove", "salary"]));
    assert!(!stdout(&o).contains(PAN));
    let info = srv.card_info(PAN).await;
    assert_eq!(info.dynamic.state, DynamicState::Inactive, "{info:?}");
    let o = ok(app(&vault.path, APP_PASSWORD, &["list"]));
    assert!(!stdout(&o).contains("salary"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("7898"), "{}", stdout(&o));
    fails(app(
        &vault.path,
        APP_PASSWORD,
        &["code", "salary", "--plain"],
    ));
}

#[tokio::test]
async fn several_cards_in_one_vault() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    srv.card(PAN2, "C1").await;
    early_in_a_step(&srv).await;
    let (r1, s1) = srv.activate_app(PAN, MOBILE).await;
    let (r2, s2) = srv.activate_app(PAN2, MOBILE).await;
    let vault = new_vault();
    ok(add(&vault.path, &srv, PAN, &r1, &s1, Some("salary")));
    // No label: a default one.
    ok(add(&vault.path, &srv, PAN2, &r2, &s2, None));
    let out = stdout(&ok(app(&vault.path, APP_PASSWORD, &["list"])));
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.contains("628023******7898") && out.contains("628023******7880"),
        "{out}"
    );
    assert!(!out.contains(PAN) && !out.contains(PAN2), "{out}");

    let c2 = plain_code(
        app(&vault.path, APP_PASSWORD, &["code", "7880", "--plain"]),
        8,
    );
    let c1 = plain_code(
        app(&vault.path, APP_PASSWORD, &["code", "salary", "--plain"]),
        8,
    );
    // R4: each card's code is its own.
    let v = srv.verify(PAN, "second", &c2, "X1").await;
    assert!(!v.approved, "{v:?}");
    let v = srv.verify(PAN2, "second", &c2, "X2").await;
    assert_eq!(v.reason, "approved", "{v:?}");
    let v = srv.verify(PAN, "second", &c1, "X3").await;
    assert_eq!(v.reason, "approved", "{v:?}");

    // Removing one leaves the other.
    ok(app(&vault.path, APP_PASSWORD, &["remove", "7880"]));
    assert_eq!(
        srv.card_info(PAN2).await.dynamic.state,
        DynamicState::Inactive
    );
    assert_eq!(srv.card_info(PAN).await.dynamic.state, DynamicState::Active);
    let out = stdout(&ok(app(&vault.path, APP_PASSWORD, &["list"])));
    assert!(out.contains("salary") && !out.contains("7880"), "{out}");
}

#[tokio::test]
async fn a_wrong_sms_code_adds_nothing() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    early_in_a_step(&srv).await;
    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    let vault = new_vault();
    let before = std::fs::read(&vault.path).unwrap();

    let o = fails(add(
        &vault.path,
        &srv,
        PAN,
        &receipt,
        &other_code(&sms),
        Some("salary"),
    ));
    let msg = stderr(&o).to_lowercase();
    assert!(msg.contains("wrong"), "a clear message: {msg}");
    assert!(msg.contains("code"), "names the codes: {msg}");
    assert!(!msg.contains(PAN));
    let o = fails(add(
        &vault.path,
        &srv,
        PAN,
        &other_code(&receipt),
        &sms,
        Some("salary"),
    ));
    assert!(
        stderr(&o).to_lowercase().contains("wrong"),
        "{}",
        stderr(&o)
    );

    assert_eq!(
        std::fs::read(&vault.path).unwrap(),
        before,
        "vault unchanged"
    );
    let o = ok(app(&vault.path, APP_PASSWORD, &["list"]));
    assert!(!stdout(&o).contains("salary") && !stdout(&o).contains("7898"));
    assert_eq!(
        srv.card_info(PAN).await.dynamic.state,
        DynamicState::Pending
    );

    // The right codes still work (the activation allows 3 tries).
    ok(add(&vault.path, &srv, PAN, &receipt, &sms, Some("salary")));
    let code = plain_code(
        app(&vault.path, APP_PASSWORD, &["code", "salary", "--plain"]),
        8,
    );
    let v = srv.verify(PAN, "second", &code, "T1").await;
    assert_eq!(v.reason, "approved", "{v:?}");
}

#[tokio::test]
async fn a_wrong_app_password_changes_nothing() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    early_in_a_step(&srv).await;
    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    let vault = new_vault();
    let before = std::fs::read(&vault.path).unwrap();
    let wrong = "salam 1235";
    let add_args = [
        "add",
        "--server",
        &srv.url,
        "--pan",
        PAN,
        "--receipt-code",
        &receipt,
        "--sms-code",
        &sms,
        "--label",
        "salary",
    ];
    let o = fails(app(&vault.path, wrong, &add_args));
    assert!(
        stderr(&o).to_lowercase().contains("password"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(&vault.path).unwrap(),
        before,
        "vault unchanged"
    );
    // The activation was not touched: no try was spent.
    assert_eq!(
        srv.card_info(PAN).await.dynamic.state,
        DynamicState::Pending
    );
    ok(app(&vault.path, APP_PASSWORD, &add_args));
    let after_add = std::fs::read(&vault.path).unwrap();

    for args in [
        &["list"][..],
        &["code", "salary", "--plain"],
        &["code", "7898", "--first", "--plain"],
        &["remove", "salary"],
        &["remove", "salary", "--local-only"],
    ] {
        let o = fails(app(&vault.path, wrong, args));
        assert!(
            stdout(&o).trim().is_empty(),
            "{args:?} prints nothing: {}",
            stdout(&o)
        );
        assert!(
            stderr(&o).to_lowercase().contains("password"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert_eq!(std::fs::read(&vault.path).unwrap(), after_add, "{args:?}");
    }
    assert_eq!(srv.card_info(PAN).await.dynamic.state, DynamicState::Active);
    let code = plain_code(
        app(&vault.path, APP_PASSWORD, &["code", "salary", "--plain"]),
        8,
    );
    let v = srv.verify(PAN, "second", &code, "T1").await;
    assert_eq!(v.reason, "approved", "{v:?}");
}

#[tokio::test]
async fn init_refuses_a_weak_password_and_an_existing_vault() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v");
    for weak in [
        "abc1234", "abcdefgh", "12345678", "!!!!!!!!", "", "       1",
    ] {
        let o = fails(app(&path, weak, &["init"]));
        let msg = stderr(&o);
        assert!(
            msg.contains('8'),
            "{weak:?}: says at least 8 characters: {msg}"
        );
        assert!(!path.exists(), "{weak:?}: no vault created");
    }
    ok(app(&path, "abcdefg1", &["init"]));
    let before = std::fs::read(&path).unwrap();
    fails(app(&path, APP_PASSWORD, &["init"]));
    assert_eq!(std::fs::read(&path).unwrap(), before, "not overwritten");
    // The vault opens with its own password only.
    ok(app(&path, "abcdefg1", &["list"]));
    fails(app(&path, APP_PASSWORD, &["list"]));
    // No vault at all.
    fails(app(&dir.path().join("none"), APP_PASSWORD, &["list"]));
}

#[tokio::test]
async fn add_refuses_a_bad_card_number_before_asking_the_server() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    let vault = new_vault();
    let before = std::fs::read(&vault.path).unwrap();
    for bad in ["6280231234567897", "62802312", "abcd"] {
        fails(add(&vault.path, &srv, bad, &receipt, &sms, Some("x")));
    }
    assert_eq!(std::fs::read(&vault.path).unwrap(), before);
    // A card the server does not know.
    let o = fails(add(&vault.path, &srv, PAN3, &receipt, &sms, Some("x")));
    assert!(!stderr(&o).contains(PAN3));
    assert_eq!(std::fs::read(&vault.path).unwrap(), before);
    // The activation is still there.
    ok(add(&vault.path, &srv, PAN, &receipt, &sms, Some("salary")));
}

#[tokio::test]
async fn a_token_replaced_at_the_atm_is_removed_with_forget() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    early_in_a_step(&srv).await;
    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    let vault = new_vault();
    ok(add(&vault.path, &srv, PAN, &receipt, &sms, Some("salary")));
    // A new activation at the ATM replaces the token: its codes die.
    srv.activate_app(PAN, MOBILE).await;
    let code = plain_code(
        app(&vault.path, APP_PASSWORD, &["code", "salary", "--plain"]),
        8,
    );
    let v = srv.verify(PAN, "second", &code, "T1").await;
    assert!(!v.approved, "{v:?}");
    // The server no longer knows the token: remove says so and keeps it; --forget drops it.
    let before = std::fs::read(&vault.path).unwrap();
    let o = fails(app(&vault.path, APP_PASSWORD, &["remove", "salary"]));
    assert!(stderr(&o).contains("--local-only"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&vault.path).unwrap(), before);
    ok(app(
        &vault.path,
        APP_PASSWORD,
        &["remove", "salary", "--local-only"],
    ));
    let out = stdout(&ok(app(&vault.path, APP_PASSWORD, &["list"])));
    assert!(!out.contains("salary"), "{out}");
    // The pending activation on the server was not touched.
    assert_eq!(
        srv.card_info(PAN).await.dynamic.state,
        DynamicState::Pending
    );
}
