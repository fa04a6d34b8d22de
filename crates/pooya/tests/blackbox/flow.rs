//! The walk-through of the README, end to end over HTTP: register, activate at the ATM, enroll the
//! app, verify a code, see it refused the second time.

use crate::common::*;

#[tokio::test]
async fn register_activate_enroll_verify_replay() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    let info = srv.card_info(PAN).await;
    assert_eq!(info.dynamic.mode, DynamicMode::App);
    assert_eq!(info.dynamic.state, DynamicState::Active);
    assert_eq!(info.pan_masked, "628023******7898");
    let now = srv.now_ms().await;
    let code = token.code("second", now);
    assert_eq!(code.len(), 8);
    let v = srv.verify(PAN, "second", &code, "T1").await;
    assert!(v.approved, "{v:?}");
    assert_eq!(v.response_code, "00");
    assert_eq!(v.reason, "approved");
    let v = srv.verify(PAN, "second", &code, "T2").await;
    assert!(!v.approved);
    assert_eq!(v.response_code, "55");
    assert_eq!(v.reason, "replayed");
}
