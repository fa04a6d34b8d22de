//! Issue 6, item 8: the secret-hygiene scan every black-box server gets when it drops
//! (`common::hygiene`) is wired to the real server's log, outbox and answers, and catches a leak.

use std::panic::AssertUnwindSafe;

use crate::common::*;

#[tokio::test]
async fn the_scan_passes_a_clean_run_and_catches_a_planted_leak() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    let code = token.code("second", srv.now_ms().await);
    assert!(srv.verify(PAN, "second", &code, "h1").await.approved);
    srv.check_hygiene();

    let log = std::fs::read_to_string(srv.log_path()).unwrap();
    assert!(log.lines().count() > 5, "the server logs its requests");
    let plant = |line: String| {
        std::fs::write(srv.log_path(), format!("{log}{line}\n")).unwrap();
        let caught = std::panic::catch_unwind(AssertUnwindSafe(|| srv.check_hygiene()));
        std::fs::write(srv.log_path(), &log).unwrap();
        caught.is_err()
    };
    let seed_hex = data_encoding::HEXLOWER.encode(token.seed.as_bytes());
    assert!(plant(format!("INFO card={PAN}")), "a full PAN");
    assert!(plant(format!("DEBUG seed {seed_hex}")), "a seed");
    assert!(plant(format!("INFO pin {PIN} ok")), "a PIN");
    assert!(plant(format!("INFO password={code}")), "a typed code");
    assert!(
        plant(format!("INFO static {STATIC_SECOND}")),
        "a static password"
    );
    assert!(
        !plant("INFO card=628023******7898".into()),
        "a masked PAN is fine"
    );
    srv.check_hygiene();
}
