//! Issue 6, item 5: the tamper-evident audit trail, through the real binary. `pooya audit verify`
//! passes on an untouched database and names the first broken record after an edit, a deletion
//! or a reordering made with SQL; `pooya audit export` writes JSON lines that hold no secret.

use std::process::Command;

use serde_json::{json, Value};

use crate::common::*;

/// Runs `pooya audit ARGS` on `srv`'s data: (exit code, stdout, stderr).
fn audit_cli(srv: &TestServer, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pooya"))
        .arg("audit")
        .args(args)
        .arg("--data-dir")
        .arg(srv.data_dir())
        .arg("--config")
        .arg(srv.dir.path().join("pooya.toml"))
        .args(
            srv.db
                .iter()
                .flat_map(|d| ["--database-url".to_owned(), d.url.clone()]),
        )
        .env_remove("POOYA_DATABASE_URL")
        .output()
        .expect("run pooya audit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn export(srv: &TestServer) -> Vec<Value> {
    let (code, out, err) = audit_cli(srv, &["export"]);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// A server with some history: a card enrolled, good and wrong codes, an unknown card, a refused
/// mobile. Returns every secret it handled, for the export check.
async fn busy_server() -> (TestServer, Vec<String>) {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let (receipt, sms_code) = srv.activate_app(PAN, MOBILE).await;
    let token = srv.enroll(PAN, &receipt, &sms_code).await.expect("enroll");
    let now = srv.now_ms().await;
    let good = token.code("second", now);
    assert!(srv.verify(PAN, "second", &good, "t1").await.approved);
    assert!(!srv.verify(PAN, "second", "00000000", "t2").await.approved);
    let unknown = pan_with("603799", "001122334");
    let v = srv.verify(&unknown, "second", "12345678", "t3").await;
    assert_eq!(v.reason, "unknown_card", "{v:?}");
    let (s, _) = srv
        .post(
            "/v1/atm/activate-sms",
            "atm",
            json!({"pan": PAN, "pin": PIN, "mobile": MOBILE2}),
        )
        .await;
    assert_eq!(s, 403);
    let secrets = vec![
        PAN.to_owned(),
        unknown,
        receipt,
        sms_code,
        good,
        STATIC_SECOND.to_owned(),
    ];
    (srv, secrets)
}

#[tokio::test]
async fn verify_passes_and_export_writes_json_lines_without_secrets() {
    let (srv, secrets) = busy_server().await;
    let (code, out, err) = audit_cli(&srv, &["verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("audit chain ok: "), "{out}");

    let lines = export(&srv);
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    for e in [
        "customer.created",
        "card.created",
        "atm.activate_app",
        "app.enroll_start",
        "app.enrolled",
        "verify",
        "atm.mobile_mismatch",
    ] {
        assert!(events.contains(&e), "{e} missing from {events:?}");
    }
    // Every verification outcome is there, the unknown card's too (masked).
    let verifies: Vec<&Value> = lines.iter().filter(|l| l["event"] == "verify").collect();
    assert_eq!(verifies.len(), 3, "{verifies:?}");
    assert!(verifies.iter().any(|v| v["detail"]
        .as_str()
        .unwrap()
        .contains("reason=unknown_card")
        && v["pan_masked"].as_str().unwrap().starts_with("603799")));
    for l in &lines {
        assert_eq!(l["mac"].as_str().map(str::len), Some(64), "{l}");
        // The time as RFC 3339 beside `at` (unix ms), the same instant.
        let time = l["time"].as_str().unwrap_or_else(|| panic!("no time: {l}"));
        let parsed =
            time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|e| panic!("{time}: {e}"));
        assert_eq!(
            (parsed.unix_timestamp_nanos() / 1_000_000) as i64,
            l["at"].as_i64().unwrap(),
            "{l}"
        );
        // Secrets as whole words of the record: a 64-hex MAC or a 13-digit time holds digit runs
        // that can equal a short code by chance.
        let text = l.to_string();
        let words: Vec<&str> = text.split(|c: char| !c.is_ascii_alphanumeric()).collect();
        for s in &secrets {
            assert!(!words.contains(&s.as_str()), "secret in the export: {text}");
        }
    }
}

/// Which record `verify` names as broken (exit code 1), from its report.
fn broken_record(srv: &TestServer) -> String {
    let (code, out, err) = audit_cli(srv, &["verify"]);
    assert_eq!(code, 1, "expected a broken chain: {out}{err}");
    assert!(out.starts_with("audit chain BROKEN at "), "{out}");
    out
}

#[tokio::test]
async fn verify_names_the_first_record_an_sql_edit_deletion_or_reordering_broke() {
    let (srv, _) = busy_server().await;
    let lines = export(&srv);
    let id = |l: &Value| l["id"].as_i64().unwrap();
    // A verification record somewhere in the middle, and the next record of its lane.
    let victim = lines
        .iter()
        .position(|l| l["event"] == "verify")
        .expect("a verify record");
    let v = &lines[victim];
    let next_in_lane = lines[victim + 1..]
        .iter()
        .find(|l| l["lane"] == v["lane"])
        .expect("a later record in the lane");

    // Edited: an approval turned into a refusal.
    sql(
        &srv,
        &format!("UPDATE audit SET detail = 'forged' WHERE id = {}", id(v)),
    )
    .await;
    let out = broken_record(&srv);
    assert!(out.contains(&format!("record {} ", id(v))), "{out}");
    sql(
        &srv,
        &format!(
            "UPDATE audit SET detail = '{}' WHERE id = {}",
            v["detail"].as_str().unwrap(),
            id(v)
        ),
    )
    .await;
    let (code, out, _) = audit_cli(&srv, &["verify"]);
    assert_eq!(code, 0, "restored: {out}");

    // Reordered: two records of one lane swap their places.
    let (a, b) = (
        v["seq"].as_i64().unwrap(),
        next_in_lane["seq"].as_i64().unwrap(),
    );
    sql(
        &srv,
        &format!("UPDATE audit SET seq = -1 WHERE id = {}", id(v)),
    )
    .await;
    sql(
        &srv,
        &format!("UPDATE audit SET seq = {a} WHERE id = {}", id(next_in_lane)),
    )
    .await;
    sql(
        &srv,
        &format!("UPDATE audit SET seq = {b} WHERE id = {}", id(v)),
    )
    .await;
    let out = broken_record(&srv);
    assert!(out.contains(&format!("record {} ", id(v))), "{out}");
    sql(
        &srv,
        &format!("UPDATE audit SET seq = -1 WHERE id = {}", id(v)),
    )
    .await;
    sql(
        &srv,
        &format!("UPDATE audit SET seq = {b} WHERE id = {}", id(next_in_lane)),
    )
    .await;
    sql(
        &srv,
        &format!("UPDATE audit SET seq = {a} WHERE id = {}", id(v)),
    )
    .await;
    let (code, out, _) = audit_cli(&srv, &["verify"]);
    assert_eq!(code, 0, "restored: {out}");

    // Deleted: the next record of the lane is the first broken one.
    sql(&srv, &format!("DELETE FROM audit WHERE id = {}", id(v))).await;
    let out = broken_record(&srv);
    assert!(
        out.contains(&format!("record {} ", id(next_in_lane))),
        "{out}"
    );
    assert!(out.contains("deleted"), "{out}");
}

#[tokio::test]
async fn a_cut_tail_is_named_against_the_lane_head() {
    let (srv, _) = busy_server().await;
    let lines = export(&srv);
    let last = lines.last().unwrap();
    sql(
        &srv,
        &format!(
            "DELETE FROM audit WHERE id = {}",
            last["id"].as_i64().unwrap()
        ),
    )
    .await;
    let out = broken_record(&srv);
    assert!(
        out.contains(&format!("(lane {}, seq {})", last["lane"], last["seq"])),
        "{out}"
    );
}

/// The limit of the chain alone, and what saved heads add: a cut tail with its head row rewound
/// passes a plain `verify`, and fails one given the report saved before the cut.
#[tokio::test]
async fn a_cut_tail_with_a_rewound_head_is_caught_only_by_saved_anchors() {
    let (srv, _) = busy_server().await;
    let (code, report, err) = audit_cli(&srv, &["verify"]);
    assert_eq!(code, 0, "{report}{err}");
    let anchors = srv.dir.path().join("audit-anchors.txt");
    std::fs::write(&anchors, &report).unwrap();
    let anchors = anchors.to_str().unwrap();
    let (code, out, err) = audit_cli(&srv, &["verify", "--anchors", anchors]);
    assert_eq!(code, 0, "{out}{err}");

    let lines = export(&srv);
    let last = lines.last().unwrap();
    let lane = last["lane"].as_i64().unwrap();
    let before = lines
        .iter()
        .rev()
        .skip(1)
        .find(|l| l["lane"] == last["lane"])
        .expect("an earlier record in the lane");
    sql(
        &srv,
        &format!(
            "DELETE FROM audit WHERE id = {}",
            last["id"].as_i64().unwrap()
        ),
    )
    .await;
    sql(
        &srv,
        &format!(
            "UPDATE audit_chains SET seq = {}, mac = '{}' WHERE lane = {lane}",
            before["seq"],
            before["mac"].as_str().unwrap()
        ),
    )
    .await;
    let (code, out, _) = audit_cli(&srv, &["verify"]);
    assert_eq!(code, 0, "undetectable without anchors: {out}");
    let (code, out, err) = audit_cli(&srv, &["verify", "--anchors", anchors]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!("(lane {lane}, seq {})", last["seq"])),
        "{out}"
    );
}
