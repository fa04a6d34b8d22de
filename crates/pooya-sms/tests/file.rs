//! The file provider: one JSON line per message (docs/api.md), and an outbox message written once
//! even when the delivery worker hands it over again after a crash — also by another server
//! sharing the file.

use pooya_issuer::domain::Mobile;
use pooya_sms::{FileProvider, SendError, SmsProvider};
use serde_json::Value;

/// The reason of a failure that the outbox must try again.
fn temporary(e: SendError) -> String {
    assert!(!e.is_permanent(), "{e:?} should be temporary");
    e.to_string()
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn an_outbox_message_is_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sms-outbox.jsonl");
    let to = Mobile::parse("+989121234567").unwrap();
    let a = FileProvider::new(path.clone());
    a.send_queued(1, 100, &to, "code 1234", None, 1_000)
        .await
        .unwrap();
    a.send_queued(1, 100, &to, "code 1234", None, 2_000)
        .await
        .unwrap();
    a.send_queued(2, 100, &to, "code 5678", None, 2_000)
        .await
        .unwrap();
    // Another server sharing the file, or this one after a restart.
    let b = FileProvider::new(path.clone());
    b.send_queued(2, 100, &to, "code 5678", None, 3_000)
        .await
        .unwrap();
    b.send_queued(1, 100, &to, "code 1234", None, 3_000)
        .await
        .unwrap();
    // The first learns of what the other wrote.
    b.send_queued(3, 100, &to, "code 9999", None, 3_000)
        .await
        .unwrap();
    a.send_queued(3, 100, &to, "code 9999", None, 4_000)
        .await
        .unwrap();
    // Same row id, another queue time: another message (a database started afresh).
    a.send_queued(1, 200, &to, "code 1234", None, 4_000)
        .await
        .unwrap();
    let got = lines(&path);
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[0]["to"], "09121234567");
    assert_eq!(got[0]["text"], "code 1234");
    assert_eq!(got[0]["sent_at"], "1970-01-01T00:00:01Z");
    assert_eq!(got[0]["message_id"], "1-100");
    assert_eq!(got[3]["message_id"], "1-200");
    // A message from outside the outbox carries no id and is always written.
    a.send(&to, "hello", None, 5_000).await.unwrap();
    a.send(&to, "hello", None, 5_000).await.unwrap();
    assert_eq!(lines(&path).len(), 6);
    // No code, no expiry.
    assert!(lines(&path).iter().all(|l| l.get("expires_at").is_none()));
}

/// Issue 19: a message that carries a code says when the code dies, so that whatever forwards
/// the file can drop it rather than deliver it late.
#[tokio::test]
async fn a_code_says_when_it_dies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sms-outbox.jsonl");
    let to = Mobile::parse("09121234567").unwrap();
    let p = FileProvider::new(path.clone());
    p.send_queued(1, 100, &to, "code 1234", Some(61_000), 1_000)
        .await
        .unwrap();
    p.send(&to, "code 5678", Some(121_000), 1_000)
        .await
        .unwrap();
    let got = lines(&path);
    assert_eq!(got[0]["expires_at"], "1970-01-01T00:01:01Z");
    assert_eq!(got[0]["message_id"], "1-100");
    assert_eq!(got[1]["expires_at"], "1970-01-01T00:02:01Z");
}

#[tokio::test]
async fn a_file_that_was_replaced_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sms-outbox.jsonl");
    let to = Mobile::parse("09121234567").unwrap();
    let p = FileProvider::new(path.clone());
    p.send_queued(1, 100, &to, "one", None, 0).await.unwrap();
    std::fs::remove_file(&path).unwrap();
    p.send_queued(1, 100, &to, "one", None, 0).await.unwrap();
    assert_eq!(lines(&path).len(), 1, "written again into the new file");
}

#[tokio::test]
async fn a_missing_folder_is_an_error_without_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let p = FileProvider::new(dir.path().join("nope").join("sms-outbox.jsonl"));
    let to = Mobile::parse("09121234567").unwrap();
    let why = temporary(
        p.send_queued(1, 100, &to, "code 1234", None, 0)
            .await
            .unwrap_err(),
    );
    assert!(!why.contains("1234"), "{why}");
}

/// Prints the file provider's rate (each message appended and synced to disk before `Ok`); run with
/// `cargo test -p pooya-sms --release --test file throughput -- --nocapture`.
#[tokio::test]
async fn throughput_of_2000_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sms-outbox.jsonl");
    let p = FileProvider::new(path.clone());
    let to = Mobile::parse("09121234567").unwrap();
    let n = 2_000;
    let t0 = std::time::Instant::now();
    for i in 0..n {
        p.send_queued(i, 0, &to, &format!("کد شما {i:06}"), None, 0)
            .await
            .unwrap();
    }
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    assert_eq!(lines(&path).len(), n as usize);
    println!(
        "file provider: {rate:.0} msg/s, each synced to disk (one at a time, as the worker sends)"
    );
}
