//! The SMS channel over SMPP end to end: the server's SMS leave through an SMSC (the simulator of
//! `pooya_sms::smpp`), and a holder's request for a password arrives from it as deliver_sm (R21).

use std::time::Duration;

use crate::common::*;
use pooya_sms::smpp::pdu::status;
use pooya_sms::smpp::simulator::{OnSubmit, Simulator};
use serde_json::json;

fn config(port: u16) -> String {
    format!(
        "{TEST_CONFIG}[sms_provider]\nkind = \"smpp\"\n[sms_provider.smpp]\nhost = \"127.0.0.1\"\n\
         port = {port}\nsystem_id = \"pooya\"\npassword = \"secret\"\nsource_addr = \"10002516\"\nreconnect_max_secs = 1\n"
    )
}

/// Waits (bounded) until the SMSC holds `n` whole messages.
async fn messages(sim: &Simulator, n: usize) -> Vec<pooya_sms::smpp::simulator::SimMessage> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let m = sim.messages();
        if m.len() >= n {
            return m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "SMSC holds {} messages, expected {n}",
            m.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn activation_code_and_sms_passwords_travel_over_smpp() {
    let sim = Simulator::start("pooya", "secret").await;
    let srv = TestServer::start_with(&config(sim.port()), &[]).await;
    srv.with_card().await;

    // R8: the activation code goes to the registered mobile through the SMSC, in UCS-2 (Persian).
    let (s, v) = srv
        .post(
            "/v1/atm/activate-app",
            "atm",
            json!({"pan": PAN, "pin": PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let m = messages(&sim, 1).await;
    assert_eq!(m[0].to, "989121234567");
    assert_eq!(m[0].from, "10002516");
    assert_eq!(m[0].data_coding, 8, "Persian text goes as UCS-2");
    let sms_code = first_digit_run(&m[0].text, 6).expect("a 6-digit code");
    let receipt = v["receipt_code"].as_str().unwrap();
    srv.enroll(PAN, receipt, &sms_code)
        .await
        .expect("the codes that went over SMPP enroll the app");
    assert!(
        !srv.outbox_path().exists(),
        "nothing went to the file provider"
    );

    // R20/R21 over SMPP: the holder texts the last 4 digits (Persian digits) to the short number.
    let (s, v) = srv
        .post(
            "/v1/atm/activate-sms",
            "atm",
            json!({"pan": PAN, "pin": PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let fixed = v["fixed_part"].as_str().unwrap().to_owned();
    sim.deliver("989121234567", "10002516", "۷۸۹۸")
        .await
        .expect("the server answers deliver_sm");
    let m = messages(&sim, 2).await;
    assert_eq!(m[1].to, "989121234567");
    let digits: Vec<String> = m[1]
        .text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|d| d.len() == 4)
        .map(str::to_owned)
        .collect();
    assert_eq!(digits[0], "7898", "the reply names the card: {digits:?}");
    let variable = &digits[1];
    let v = srv
        .verify(PAN, "second", &format!("{fixed}{variable}"), "T1")
        .await;
    assert_eq!(v.response_code, "00", "{v:?}");

    // R22 over SMPP: another sender gets nothing.
    sim.deliver("989351234567", "10002516", "7898")
        .await
        .expect("deliver_sm answered");
    srv.advance(60_000).await;
    sim.deliver("989121234567", "10002516", "7898")
        .await
        .expect("deliver_sm answered");
    let m = messages(&sim, 3).await;
    assert_eq!(m.len(), 3);
    assert!(m.iter().all(|x| x.to == "989121234567"));
}

#[tokio::test]
async fn a_refusing_smsc_keeps_the_message_queued_until_it_accepts() {
    let sim = Simulator::start("pooya", "other-password").await;
    let srv = TestServer::start_with(&config(sim.port()), &[]).await;
    srv.with_card().await;
    let (s, _) = srv
        .post(
            "/v1/atm/activate-app",
            "atm",
            json!({"pan": PAN, "pin": PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 200);
    // The bind is refused: the message waits in the outbox, visible to the admin.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (s, v) = srv.get("/v1/admin/outbox", "admin").await;
        assert_eq!(s, 200, "{v}");
        if v["failed_attempts"].as_i64().unwrap_or(0) >= 1 {
            assert_eq!(v["queued"], 1, "{v}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failed attempt: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sim.messages().is_empty());
    // The SMSC accepts again; the retry (after its backoff, moved by the fake clock) delivers it once.
    sim.set_password("secret");
    srv.advance(600_000).await;
    let m = messages(&sim, 1).await;
    assert_eq!(m.len(), 1);
    assert!(first_digit_run(&m[0].text, 6).is_some());
}

#[tokio::test]
async fn a_message_the_smsc_refuses_for_good_is_given_up_not_retried() {
    let sim = Simulator::start("pooya", "secret").await;
    let srv = TestServer::start_with(&config(sim.port()), &[]).await;
    srv.with_card().await;
    // The SMSC does not serve the destination: no retry can change that.
    sim.on_next_submit(OnSubmit::Status(status::ESME_RINVDSTADR));
    let (s, _) = srv
        .post(
            "/v1/atm/activate-app",
            "atm",
            json!({"pan": PAN, "pin": PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (s, v) = srv.get("/v1/admin/outbox", "admin").await;
        assert_eq!(s, 200, "{v}");
        if v["given_up"] == 1 {
            assert_eq!(
                (v["queued"].as_i64(), v["sent"].as_i64()),
                (Some(0), Some(0)),
                "{v}"
            );
            break;
        }
        assert_eq!(
            v["failed_attempts"], 0,
            "a permanent refusal is not retried: {v}"
        );
        assert!(std::time::Instant::now() < deadline, "not given up: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Past every backoff nothing is tried again.
    srv.advance(600_000).await;
    let (_, v) = srv.get("/v1/admin/outbox", "admin").await;
    assert_eq!(
        (v["given_up"].as_i64(), v["queued"].as_i64()),
        (Some(1), Some(0)),
        "{v}"
    );
    assert!(sim.messages().is_empty());
}
