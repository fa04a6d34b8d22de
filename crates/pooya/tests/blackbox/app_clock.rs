//! R19 through the app: codes made on the server's time by an app whose clock is wrong. The
//! app's wall clock is shifted with its test-only `POOYA_APP_TEST_CLOCK_SKEW_MS`; the server runs
//! on the suite's fake clock.

use crate::app_support::*;
use crate::common::*;

const SKEW: &str = "POOYA_APP_TEST_CLOCK_SKEW_MS";

/// Enrolls with the app's clock `skew_ms` off and checks the server approves its codes.
async fn approved_with_skew(skew_ms: i64) {
    let srv = TestServer::start().await;
    srv.with_card().await;
    srv.align_to_step(60, 2_000).await;
    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    let vault = fresh_vault();
    let skew = skew_ms.to_string();
    let env = [(SKEW, skew.as_str())];

    let o = succeeds(app_env(
        &vault.path,
        APP_PASSWORD,
        &env,
        &add_args(&srv.url, PAN, &receipt, &sms, "salary"),
    ));
    // More than a step off: the app says so, and how.
    // (The offset also holds the suite's fake server clock, set up to a step ahead.)
    let note = err(&o);
    let word = if skew_ms < 0 { "behind" } else { "ahead of" };
    assert!(
        note.contains(word) && note.contains("set the clock"),
        "{note}"
    );

    let second = the_code(
        app_env(
            &vault.path,
            APP_PASSWORD,
            &env,
            &["code", "salary", "--plain"],
        ),
        8,
    );
    let v = srv.verify(PAN, "second", &second, "T1").await;
    assert_eq!(v.reason, "approved", "skew {skew_ms}: {v:?}");
    let first = the_code(
        app_env(
            &vault.path,
            APP_PASSWORD,
            &env,
            &["code", "salary", "--first", "--plain"],
        ),
        4,
    );
    let v = srv.verify(PAN, "first", &first, "T2").await;
    assert_eq!(v.reason, "approved", "skew {skew_ms}: {v:?}");

    // Uncorrected, such a clock is 5 steps off: far outside any window the server allows.
    assert!(skew_ms.abs() >= 5 * 60_000);

    // `sync` measures again and reports the offset.
    let o = succeeds(app_env(&vault.path, APP_PASSWORD, &env, &["sync"]));
    assert!(out(&o).contains("ms"), "{}", out(&o));
    let again = the_code(
        app_env(
            &vault.path,
            APP_PASSWORD,
            &env,
            &["code", "salary", "--plain"],
        ),
        8,
    );
    assert_eq!(again, second, "still the server's step");
}

#[tokio::test]
async fn codes_are_approved_from_a_clock_five_minutes_behind() {
    approved_with_skew(-300_000).await;
}

#[tokio::test]
async fn codes_are_approved_from_a_clock_five_minutes_ahead() {
    approved_with_skew(300_000).await;
}

#[tokio::test]
async fn a_clock_moved_after_the_sync_is_noticed_and_corrected() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    srv.align_to_step(60, 2_000).await;
    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    let vault = fresh_vault();
    // Enrolled on a right clock…
    succeeds(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &add_args(&srv.url, PAN, &receipt, &sms, "salary"),
    ));
    // …then the clock is set 5 minutes forward, offline.
    let o = app_env(
        &vault.path,
        APP_PASSWORD,
        &[(SKEW, "300000")],
        &["code", "salary", "--plain"],
    );
    let warning = err(&o);
    if std::path::Path::new("/proc/uptime").exists() {
        assert!(
            warning.contains("moved forward by 300 s"),
            "the jump is named: {warning}"
        );
        let code = the_code(o, 8);
        let v = srv.verify(PAN, "second", &code, "T1").await;
        assert_eq!(v.reason, "approved", "{v:?}");
    }
    // Moved back behind the sync: named too.
    let o = succeeds(app_env(
        &vault.path,
        APP_PASSWORD,
        &[(SKEW, "-300000")],
        &["code", "salary", "--first", "--plain"],
    ));
    if std::path::Path::new("/proc/uptime").exists() {
        assert!(err(&o).contains("moved back by 300 s"), "{}", err(&o));
        let code = the_code(o, 4);
        let v = srv.verify(PAN, "first", &code, "T2").await;
        assert_eq!(v.reason, "approved", "{v:?}");
    } else {
        assert!(err(&o).contains("behind the last sync"), "{}", err(&o));
    }
}

#[tokio::test]
async fn sync_with_the_server_down_says_so_and_keeps_the_vault() {
    let mut srv = TestServer::start().await;
    srv.with_card().await;
    srv.align_to_step(60, 2_000).await;
    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    let vault = fresh_vault();
    succeeds(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &add_args(&srv.url, PAN, &receipt, &sms, "salary"),
    ));
    srv.kill9();
    let before = std::fs::read(&vault.path).unwrap();
    let o = refused(app_env(&vault.path, APP_PASSWORD, &[], &["sync"]));
    assert!(err(&o).contains("cannot reach"), "{}", err(&o));
    // Nothing was measured: the file is as it was.
    assert_eq!(std::fs::read(&vault.path).unwrap(), before);
    succeeds(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &["code", "salary", "--plain"],
    ));
    // remove needs the server: refused, the card stays.
    let o = refused(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &["remove", "salary"],
    ));
    assert!(err(&o).contains("cannot reach"), "{}", err(&o));
    assert!(out(&succeeds(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &["list"]
    )))
    .contains("salary"));
}
