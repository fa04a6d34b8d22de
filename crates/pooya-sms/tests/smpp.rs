//! The SMPP provider against the simulator SMSC (`pooya_sms::smpp::simulator`), all on
//! 127.0.0.1 with short timeouts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pooya_issuer::domain::Mobile;
use pooya_sms::smpp::pdu::{self, status, ShortMessage};
use pooya_sms::smpp::simulator::{OnSubmit, Simulator};
use pooya_sms::smpp::validity::Validity;
use pooya_sms::smpp::{InboundSms, SmppConfig, SmppProvider};
use pooya_sms::{SendError, SmsProvider};
use tokio::sync::mpsc;

/// The reason of a failure that the outbox must try again.
fn temporary(e: SendError) -> String {
    assert!(!e.is_permanent(), "{e:?} should be temporary");
    e.to_string()
}

const ID: &str = "pooya";
const PW: &str = "secret";
const SHORT: &str = "10002516";
const WAIT: Duration = Duration::from_secs(5);

fn cfg(port: u16) -> SmppConfig {
    let mut c = SmppConfig::new("127.0.0.1", port, ID, PW, SHORT);
    c.response_timeout_ms = 1_000;
    c.reconnect_max_secs = 1;
    c
}

fn mobile() -> Mobile {
    Mobile::parse("09121234567").unwrap()
}

async fn started(sim: &Simulator, c: SmppConfig) -> (SmppProvider, mpsc::Receiver<InboundSms>) {
    let (p, rx) = SmppProvider::start(c);
    assert!(
        sim.wait_until(WAIT, |s| s.bound).await,
        "the provider did not bind"
    );
    (p, rx)
}

fn utf16be(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

#[tokio::test]
async fn ascii_goes_as_data_coding_0_with_the_right_addresses() {
    let sim = Simulator::start(ID, PW).await;
    let (p, _rx) = started(&sim, cfg(sim.port())).await;
    p.send(&mobile(), "Your code 123456", None, 0)
        .await
        .unwrap();

    let subs = sim.submits();
    assert_eq!(subs.len(), 1);
    let sm = &subs[0].sm;
    assert_eq!(sm.data_coding, 0x00);
    assert_eq!(sm.esm_class, 0x00);
    assert_eq!(sm.short_message, b"Your code 123456");
    assert_eq!(
        (
            sm.dest_addr_ton,
            sm.dest_addr_npi,
            sm.destination_addr.as_str()
        ),
        (1, 1, "989121234567")
    );
    assert_eq!(sm.source_addr, SHORT);
    assert_eq!(sm.registered_delivery, 1);
    let st = p.stats();
    assert_eq!((st.submitted, st.failed, st.bound), (1, 0, true));
    p.shutdown().await;
}

#[tokio::test]
async fn persian_goes_as_ucs2_and_decodes_to_the_same_text() {
    let sim = Simulator::start(ID, PW).await;
    let (p, _rx) = started(&sim, cfg(sim.port())).await;
    let text = "رمز پویا: ۱۲۳۴۵۶ (۲ دقیقه)";
    p.send(&mobile(), text, None, 0).await.unwrap();

    let subs = sim.submits();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].sm.data_coding, 0x08);
    assert_eq!(subs[0].sm.short_message, utf16be(text));
    assert_eq!(sim.messages()[0].text, text);
    // One character outside the GSM-safe set is enough for UCS-2.
    p.send(&mobile(), "code_123456", None, 0).await.unwrap();
    assert_eq!(sim.submits()[1].sm.data_coding, 0x08);
    assert_eq!(sim.messages()[1].text, "code_123456");
    p.shutdown().await;
}

#[tokio::test]
async fn long_messages_arrive_as_numbered_parts_that_reassemble() {
    let sim = Simulator::start(ID, PW).await;
    let (p, _rx) = started(&sim, cfg(sim.port())).await;

    let fa = "کد فعال‌سازی اپلیکیشن پویا: ۴۸۲۹۱۷. این کد را به هیچ‌کس ندهید. ".repeat(3);
    let units = fa.encode_utf16().count();
    p.send(&mobile(), &fa, None, 0).await.unwrap();
    let ascii = "Pooya: ".repeat(60); // 420 characters
    p.send(&mobile(), &ascii, None, 0).await.unwrap();

    let subs = sim.submits();
    let ucs: Vec<_> = subs.iter().filter(|s| s.sm.data_coding == 8).collect();
    assert_eq!(ucs.len(), units.div_ceil(67));
    let reference = ucs[0].concat.unwrap().reference;
    for (i, s) in ucs.iter().enumerate() {
        assert_eq!(s.sm.esm_class, 0x40);
        let udh = &s.sm.short_message[..6];
        assert_eq!(
            udh,
            &[5, 0, 3, reference as u8, ucs.len() as u8, i as u8 + 1]
        );
        assert!(s.sm.short_message.len() <= 140);
    }
    let gsm: Vec<_> = subs.iter().filter(|s| s.sm.data_coding == 0).collect();
    assert_eq!(gsm.len(), 3); // 153 + 153 + 114
    assert_eq!(gsm[0].sm.short_message.len(), 6 + 153);
    assert_ne!(gsm[0].concat.unwrap().reference, reference);

    let msgs = sim.messages();
    assert_eq!(msgs.len(), 2);
    assert_eq!(
        (msgs[0].text.as_str(), msgs[0].parts),
        (fa.as_str(), ucs.len())
    );
    assert_eq!((msgs[1].text.as_str(), msgs[1].parts), (ascii.as_str(), 3));
    assert_eq!(p.stats().submitted, 2);
    p.shutdown().await;
}

#[tokio::test]
async fn wrong_password_keeps_retrying_and_sends_fail_clearly() {
    let sim = Simulator::start(ID, "other").await;
    let (p, _rx) = SmppProvider::start(cfg(sim.port()));
    assert!(sim.wait_until(WAIT, |s| s.binds_refused >= 2).await);

    let e = temporary(p.send(&mobile(), "Your code 1", None, 0).await.unwrap_err());
    assert!(e.contains("ESME_RINVPASWD"), "{e}");
    assert!(e.contains("no bound SMPP session"), "{e}");
    assert!(!e.contains(PW) && !e.contains("Your code"), "{e}");
    let st = p.stats();
    assert_eq!((st.failed, st.submitted, st.bound), (1, 0, false));
    assert!(st.reconnects >= 1);
    assert!(sim.submits().is_empty());

    // Once the SMSC takes the password the provider binds by itself.
    sim.set_password(PW);
    assert!(sim.wait_until(WAIT, |s| s.bound).await);
    p.send(&mobile(), "Your code 2", None, 0).await.unwrap();
    assert_eq!(sim.messages().len(), 1);
    p.shutdown().await;
}

#[tokio::test]
async fn an_error_status_is_an_error_and_the_session_stays() {
    let sim = Simulator::start(ID, PW).await;
    let (p, _rx) = started(&sim, cfg(sim.port())).await;
    sim.on_next_submit(OnSubmit::Status(status::ESME_RTHROTTLED));
    let e = temporary(p.send(&mobile(), "Your code 1", None, 0).await.unwrap_err());
    assert!(e.contains("ESME_RTHROTTLED (0x00000058)"), "{e}");

    // A refused later part fails the whole message: the outbox sends it again.
    sim.on_next_submit(OnSubmit::Accept);
    sim.on_next_submit(OnSubmit::Status(status::ESME_RMSGQFUL));
    let e = temporary(
        p.send(&mobile(), &"x".repeat(200), None, 0)
            .await
            .unwrap_err(),
    );
    assert!(
        e.contains("part 2 of 2") && e.contains("ESME_RMSGQFUL"),
        "{e}"
    );

    p.send(&mobile(), "Your code 2", None, 0).await.unwrap();
    assert_eq!(sim.stats().connections, 1);
    let st = p.stats();
    assert_eq!((st.submitted, st.failed, st.reconnects), (1, 2, 0));
    p.shutdown().await;
}

/// Issue 19: an SMSC that holds a message (the phone off, the network busy) must not deliver its
/// code after the code died. Every part goes with the code's remaining life as its relative
/// validity period (SMPP 3.4 §7.1.1.2), as the simulator read it off the wire.
#[tokio::test]
async fn a_code_goes_with_its_remaining_life_as_validity_period() {
    let sim = Simulator::start(ID, PW).await;
    let (p, _rx) = started(&sim, cfg(sim.port())).await;
    // Sent at 1 000 ms, the code dies at 61 500 ms: 60 whole seconds left.
    p.send(&mobile(), "Your code 123456", Some(61_500), 1_000)
        .await
        .unwrap();
    assert_eq!(sim.submits()[0].sm.validity_period, "000000000100000R");
    assert_eq!(sim.messages()[0].validity, vec![Validity::Relative(60)]);

    // Activation codes live hours: 2 h 30 min.
    let t = 1_770_000_000_000;
    p.send(&mobile(), "Activation 482917", Some(t + 9_000_000), t)
        .await
        .unwrap();
    assert_eq!(sim.submits()[1].sm.validity_period, "000000023000000R");

    // Every part of a long message, none longer than the code.
    let fa = "رمز پویا: ۴۸۲۹۱۷. این رمز را به هیچ‌کس ندهید. ".repeat(4);
    p.send(&mobile(), &fa, Some(t + 120_000), t).await.unwrap();
    let m = sim.messages().pop().unwrap();
    assert!(m.parts > 1, "{m:?}");
    assert_eq!(m.validity.len(), m.parts);
    for v in &m.validity {
        let Validity::Relative(secs) = v else {
            panic!("{v:?}")
        };
        assert!((119..=120).contains(secs), "{secs}");
    }

    // No code (the reply to an ambiguous card): the SMSC's default.
    p.send(&mobile(), "Send the last 8 digits", None, t)
        .await
        .unwrap();
    let last = sim.submits().pop().unwrap();
    assert_eq!(last.sm.validity_period, "");
    assert_eq!(last.validity, Validity::Default);

    // Less than a second left: not worth sending, and nothing goes.
    let before = sim.stats().submits_accepted;
    let e = p
        .send(&mobile(), "Your code 1", Some(t + 999), t)
        .await
        .unwrap_err();
    assert!(e.is_permanent(), "{e:?}");
    assert!(e.reason().contains("expires"), "{e}");
    assert_eq!(sim.stats().submits_accepted, before);
    p.shutdown().await;
}

/// The simulator refuses a validity period an SMSC could not read, as an SMSC does.
#[tokio::test]
async fn the_simulator_refuses_a_malformed_validity_period() {
    let sim = Simulator::start(ID, PW).await;
    let bad = ShortMessage {
        destination_addr: "989121234567".into(),
        validity_period: "000000000060000R".into(),
        short_message: b"x".to_vec(),
        ..ShortMessage::default()
    };
    assert_eq!(raw_submit(&sim, &bad).await, status::ESME_RINVEXPIRY);
    assert!(sim.submits().is_empty());
    let good = ShortMessage {
        validity_period: "000000000100000R".into(),
        ..bad
    };
    assert_eq!(raw_submit(&sim, &good).await, status::ESME_ROK);
    assert_eq!(sim.submits()[0].validity, Validity::Relative(60));
}

/// Binds a bare client of its own and submits `sm`: the status of the answer.
async fn raw_submit(sim: &Simulator, sm: &ShortMessage) -> u32 {
    use tokio::io::AsyncWriteExt;
    let mut tcp = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    let bind = pdu::Bind {
        system_id: ID.into(),
        password: PW.into(),
        interface_version: 0x34,
        ..pdu::Bind::default()
    };
    let (rd, mut wr) = tcp.split();
    let mut framer = pdu::Framer::new(rd);
    wr.write_all(&pdu::Pdu::new(pdu::BIND_TRANSCEIVER, 0, 1, bind.encode()).encode())
        .await
        .unwrap();
    let resp = framer.read_pdu().await.unwrap().unwrap();
    assert_eq!(
        (resp.command_id, resp.status),
        (pdu::BIND_TRANSCEIVER_RESP, 0)
    );
    let body = sm.encode().unwrap();
    wr.write_all(&pdu::Pdu::new(pdu::SUBMIT_SM, 0, 2, body).encode())
        .await
        .unwrap();
    let resp = framer.read_pdu().await.unwrap().unwrap();
    assert_eq!(resp.command_id, pdu::SUBMIT_SM_RESP);
    resp.status
}

#[tokio::test]
async fn a_refusal_of_the_message_itself_is_permanent_and_others_are_not() {
    let sim = Simulator::start(ID, PW).await;
    let (p, _rx) = started(&sim, cfg(sim.port())).await;
    // The SMSC refuses the destination, the length or the esm_class: no retry can change that.
    for st in [
        status::ESME_RINVDSTADR,
        status::ESME_RINVDSTTON,
        status::ESME_RINVDSTNPI,
        status::ESME_RINVMSGLEN,
        status::ESME_RINVESMCLASS,
        status::ESME_RINVEXPIRY,
    ] {
        sim.on_next_submit(OnSubmit::Status(st));
        let e = p.send(&mobile(), "Your code 1", None, 0).await.unwrap_err();
        assert!(e.is_permanent(), "{e:?}");
        assert!(e.reason().contains(pdu::status_name(st)), "{e}");
        assert!(!e.reason().contains("Your code"), "{e}");
    }
    // Throttling, a full queue, a system error, a vague or a vendor-specific status may pass.
    for st in [
        status::ESME_RTHROTTLED,
        status::ESME_RMSGQFUL,
        status::ESME_RSYSERR,
        status::ESME_RSUBMITFAIL,
        status::ESME_RUNKNOWNERR,
        0x0000_0401,
    ] {
        sim.on_next_submit(OnSubmit::Status(st));
        let e = p.send(&mobile(), "Your code 1", None, 0).await.unwrap_err();
        assert!(!e.is_permanent(), "{e:?}");
    }
    // A text that needs more than 255 parts never fits; nothing of it is submitted.
    let e = p
        .send(&mobile(), &"x".repeat(153 * 255 + 1), None, 0)
        .await
        .unwrap_err();
    assert!(e.is_permanent() && e.reason().contains("255"), "{e:?}");
    assert!(!e.reason().contains("xxx"));
    assert!(sim.submits().is_empty());
    // None of these touched the session.
    p.send(&mobile(), "Your code 2", None, 0).await.unwrap();
    assert_eq!(sim.stats().connections, 1);
    p.shutdown().await;
}

#[tokio::test]
async fn a_connection_dropped_mid_submit_is_an_error_then_the_provider_reconnects() {
    let sim = Simulator::start(ID, PW).await;
    let (p, _rx) = started(&sim, cfg(sim.port())).await;
    sim.on_next_submit(OnSubmit::Drop);
    let e = temporary(p.send(&mobile(), "Your code 1", None, 0).await.unwrap_err());
    assert!(e.contains("closed the connection"), "{e}");
    assert!(e.contains("may or may not have been accepted"), "{e}");

    // The retry goes through once the provider has reconnected by itself.
    p.send(&mobile(), "Your code 1", None, 0).await.unwrap();
    let msgs = sim.messages();
    assert_eq!(msgs.len(), 1, "sent exactly once");
    assert_eq!(msgs[0].text, "Your code 1");
    assert_eq!(sim.stats().connections, 2);
    let st = p.stats();
    assert_eq!((st.submitted, st.failed, st.reconnects), (1, 1, 1));
    p.shutdown().await;
}

#[tokio::test]
async fn a_silent_smsc_times_out_and_the_session_is_rebuilt() {
    let sim = Simulator::start(ID, PW).await;
    let mut c = cfg(sim.port());
    c.response_timeout_ms = 300;
    let (p, _rx) = started(&sim, c).await;
    sim.on_next_submit(OnSubmit::Silent);
    let t0 = Instant::now();
    let e = temporary(p.send(&mobile(), "Your code 1", None, 0).await.unwrap_err());
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(e.contains("did not answer within 300 ms"), "{e}");
    p.send(&mobile(), "Your code 1", None, 0).await.unwrap();
    assert_eq!(sim.stats().connections, 2);
    assert_eq!(sim.messages().len(), 1);
    p.shutdown().await;
}

#[tokio::test]
async fn garbage_from_the_smsc_is_a_clear_error_and_a_reconnect() {
    let sim = Simulator::start(ID, PW).await;
    let (p, _rx) = started(&sim, cfg(sim.port())).await;
    sim.on_next_submit(OnSubmit::Garbage(
        b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
    ));
    let e = temporary(p.send(&mobile(), "Your code 1", None, 0).await.unwrap_err());
    assert!(e.contains("invalid SMPP PDU"), "{e}");
    assert!(e.contains("may or may not have been accepted"), "{e}");
    p.send(&mobile(), "Your code 1", None, 0).await.unwrap();
    assert_eq!(sim.stats().connections, 2);

    // Unsolicited: a header too short to be SMPP while idle.
    sim.send_raw(&[0, 0, 0, 3, 0xde, 0xad]).unwrap();
    assert!(
        sim.wait_until(WAIT, |s| s.connections == 3 && s.bound)
            .await
    );
    // A response to nothing is ignored, not fatal.
    sim.send_raw(&pdu::Pdu::new(pdu::SUBMIT_SM_RESP, 0, 9999, pdu::cstr_body("x")).encode())
        .unwrap();
    // An unknown request is answered with generic_nack.
    sim.send_raw(&pdu::Pdu::new(0x0000_0103, 0, 77, vec![]).encode())
        .unwrap();
    assert!(sim.wait_until(WAIT, |s| s.generic_nacks == 1).await);
    p.send(&mobile(), "Your code 2", None, 0).await.unwrap();
    assert_eq!(sim.stats().connections, 3);
    assert_eq!(sim.messages().len(), 2);
    p.shutdown().await;
}

#[tokio::test]
async fn an_unbind_from_the_smsc_is_followed_by_a_new_bind() {
    let sim = Simulator::start(ID, PW).await;
    let (p, _rx) = started(&sim, cfg(sim.port())).await;
    sim.unbind_client().unwrap();
    assert!(
        sim.wait_until(WAIT, |s| s.connections == 2 && s.bound)
            .await
    );
    p.send(&mobile(), "Your code 1", None, 0).await.unwrap();
    p.shutdown().await;
}

#[tokio::test]
async fn enquire_link_is_sent_when_idle_and_answered_both_ways() {
    let sim = Simulator::start(ID, PW).await;
    let mut c = cfg(sim.port());
    c.enquire_link_secs = 1;
    let (p, _rx) = started(&sim, c).await;
    assert!(sim.wait_until(WAIT, |s| s.enquire_links >= 2).await);
    // The first answer arrived in time, or the provider would have reconnected.
    assert_eq!(sim.stats().connections, 1);
    assert_eq!(p.stats().reconnects, 0);
    assert_eq!(sim.enquire_link().await, Ok(0));
    p.shutdown().await;
}

#[tokio::test]
async fn a_deliver_sm_with_persian_digits_reaches_the_receiver() {
    let sim = Simulator::start(ID, PW).await;
    let (p, mut rx) = started(&sim, cfg(sim.port())).await;
    assert_eq!(sim.deliver("989121234567", SHORT, "۱۲۳۴").await, Ok(0));
    let m = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        m,
        InboundSms {
            from: "989121234567".into(),
            to: SHORT.into(),
            text: "۱۲۳۴".into()
        }
    );
    assert!(Mobile::parse(&m.from).is_ok());
    assert!(!format!("{m:?}").contains("۱۲۳۴"));
    // ASCII digits as data_coding 0 too.
    assert_eq!(sim.deliver("09121234567", SHORT, "5678").await, Ok(0));
    assert_eq!(rx.recv().await.unwrap().text, "5678");
    assert_eq!(p.stats().inbound, 2);
    p.shutdown().await;
}

#[tokio::test]
async fn a_concatenated_deliver_sm_is_reassembled() {
    let sim = Simulator::start(ID, PW).await;
    let (p, mut rx) = started(&sim, cfg(sim.port())).await;
    let part = |seq: u8, text: &str| ShortMessage {
        source_addr: "989121234567".into(),
        destination_addr: SHORT.into(),
        esm_class: 0x40,
        data_coding: 8,
        short_message: [vec![5, 0, 3, 42, 2, seq], utf16be(text)].concat(),
        ..ShortMessage::default()
    };
    // Out of order; the first to arrive is only kept.
    assert_eq!(sim.deliver_sm(part(2, "۳۴")).await, Ok(0));
    assert!(rx.try_recv().is_err());
    assert_eq!(sim.deliver_sm(part(1, "۱۲")).await, Ok(0));
    assert_eq!(rx.recv().await.unwrap().text, "۱۲۳۴");
    p.shutdown().await;
}

#[tokio::test]
async fn undecodable_or_unwanted_incoming_messages_are_refused() {
    let sim = Simulator::start(ID, PW).await;
    let (p, rx) = started(&sim, cfg(sim.port())).await;
    let bad = ShortMessage {
        source_addr: "989121234567".into(),
        destination_addr: SHORT.into(),
        data_coding: 8,
        short_message: vec![0x06], // odd UCS-2
        ..ShortMessage::default()
    };
    assert_eq!(sim.deliver_sm(bad).await, Ok(status::ESME_RX_P_APPN));
    drop(rx);
    assert_eq!(
        sim.deliver("989121234567", SHORT, "1234").await,
        Ok(status::ESME_RX_P_APPN)
    );
    assert_eq!(p.stats().inbound, 0);
    assert_eq!(sim.stats().connections, 1);
    p.shutdown().await;
}

#[tokio::test]
async fn a_delivery_receipt_is_counted_not_delivered() {
    let sim = Simulator::start(ID, PW).await;
    let (p, mut rx) = started(&sim, cfg(sim.port())).await;
    p.send(&mobile(), "Your code 123456", None, 0)
        .await
        .unwrap();
    let id = sim.submits()[0].message_id.clone();
    assert_eq!(sim.deliver_receipt(&id, "DELIVRD").await, Ok(0));
    assert_eq!(sim.deliver_receipt(&id, "UNDELIV").await, Ok(0));
    let st = p.stats();
    assert_eq!((st.receipts, st.inbound), (2, 0));
    assert!(rx.try_recv().is_err());
    p.shutdown().await;
}

#[tokio::test]
async fn no_smsc_means_a_clear_error_within_the_timeout() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut c = cfg(port);
    c.response_timeout_ms = 300;
    let (p, _rx) = SmppProvider::start(c);
    let t0 = Instant::now();
    let e = temporary(p.send(&mobile(), "Your code 1", None, 0).await.unwrap_err());
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(e.contains("cannot connect to the SMSC"), "{e}");
    let t0 = Instant::now();
    p.shutdown().await;
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn shutdown_unbinds_and_later_sends_fail() {
    let sim = Simulator::start(ID, PW).await;
    let (p, _rx) = started(&sim, cfg(sim.port())).await;
    p.send(&mobile(), "Your code 1", None, 0).await.unwrap();
    p.shutdown().await;
    assert!(sim.wait_until(WAIT, |s| s.unbinds == 1 && !s.bound).await);
    let e = temporary(p.send(&mobile(), "Your code 2", None, 0).await.unwrap_err());
    assert!(e.contains("shut down"), "{e}");
    assert!(!p.stats().bound);
}

#[tokio::test]
async fn config_parses_with_defaults_and_hides_the_password() {
    let c: SmppConfig = serde_json::from_value(serde_json::json!({
        "host": "smsc.example", "port": 2775, "system_id": "pooya",
        "password": "hunter2", "source_addr": "10002516"
    }))
    .unwrap();
    assert_eq!(
        (
            c.enquire_link_secs,
            c.response_timeout_ms,
            c.reconnect_max_secs
        ),
        (30, 10_000, 30)
    );
    assert_eq!(c.system_type, "");
    assert!(c.validate().is_ok());
    let dbg = format!("{c:?}");
    assert!(
        dbg.contains("[redacted]") && !dbg.contains("hunter2"),
        "{dbg}"
    );
    let bad = serde_json::from_value::<SmppConfig>(serde_json::json!({
        "host": "h", "port": 1, "system_id": "a", "password": "b", "source_addr": "1", "pasword": "x"
    }));
    assert!(bad.is_err());
}

/// Prints the throughput of 2,000 submits; run with
/// `cargo test -p pooya-sms --release --test smpp throughput -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throughput_of_2000_submits() {
    let sim = Simulator::start(ID, PW).await;
    let (p, _rx) = started(&sim, cfg(sim.port())).await;
    let p = Arc::new(p);
    let n = 2_000;

    let t0 = Instant::now();
    for i in 0..n {
        p.send(&mobile(), &format!("Your code {i:06}"), None, 0)
            .await
            .unwrap();
    }
    let one_by_one = n as f64 / t0.elapsed().as_secs_f64();

    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..10 {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..n / 10 {
                p.send(&mobile(), &format!("کد شما {w}{i:05}"), None, 0)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let windowed = n as f64 / t0.elapsed().as_secs_f64();

    assert_eq!(sim.messages().len(), 2 * n);
    assert_eq!(p.stats().submitted, 2 * n as u64);
    println!(
        "SMPP throughput against the simulator: {one_by_one:.0} msg/s one at a time (as the outbox worker sends), {windowed:.0} msg/s with 10 concurrent senders"
    );
    p.shutdown().await;
}
