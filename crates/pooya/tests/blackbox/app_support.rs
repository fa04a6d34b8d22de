//! Helpers of the app's black-box modules (app_cli, app_clock, app_vault, app_tui): run
//! `pooya app` with the test-only variables that make it cheap and its clock injectable.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const APP_PASSWORD: &str = "salam 1234";

/// `pooya app --vault VAULT ARGS…` with the app password, cheap Argon2 and `envs` on top.
pub fn app_env(vault: &Path, password: &str, envs: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pooya"));
    cmd.arg("app")
        .arg("--vault")
        .arg(vault)
        .args(args)
        .env("POOYA_APP_PASSWORD", password)
        .env("POOYA_APP_KDF_FAST", "1")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "C.UTF-8")
        .stdin(std::process::Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run pooya app")
}

pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
pub fn succeeds(o: Output) -> Output {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        out(&o),
        err(&o)
    );
    o
}

#[track_caller]
pub fn refused(o: Output) -> Output {
    assert!(
        !o.status.success(),
        "should fail\nstdout: {}\nstderr: {}",
        out(&o),
        err(&o)
    );
    assert!(!err(&o).trim().is_empty(), "a message on standard error");
    assert!(!err(&o).contains("panicked"), "never a panic: {}", err(&o));
    o
}

/// The one line of `code --plain`.
#[track_caller]
pub fn the_code(o: Output, digits: usize) -> String {
    let o = succeeds(o);
    let text = out(&o);
    let code = text.trim().to_owned();
    assert_eq!(text.lines().count(), 1, "{text:?}");
    assert_eq!(code.len(), digits, "{text:?}");
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{text:?}");
    code
}

pub struct TempVault {
    pub _dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn fresh_vault() -> TempVault {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.vault");
    succeeds(app_env(&path, APP_PASSWORD, &[], &["init"]));
    TempVault { _dir: dir, path }
}

pub fn add_args<'a>(
    url: &'a str,
    pan: &'a str,
    receipt: &'a str,
    sms: &'a str,
    label: &'a str,
) -> Vec<&'a str> {
    vec![
        "add",
        "--server",
        url,
        "--pan",
        pan,
        "--receipt-code",
        receipt,
        "--sms-code",
        sms,
        "--label",
        label,
    ]
}
