//! `pooya app add` against mistakes and meddling (issue 20): a code typed in Persian digits or
//! with a typo costs no try, a confirm reply changed on the way is refused, and plain http goes
//! only to this machine unless asked for.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};

use crate::app_support::*;
use crate::common::*;
use pooya_enroll::{b64_encode, ClientEnrollment};
use serde_json::{json, Value};

/// `code` in Persian digits.
fn persian(code: &str) -> String {
    code.chars()
        .map(|c| char::from_u32(u32::from('۰') + c.to_digit(10).unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_typo_costs_no_try_and_persian_digits_enroll() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    let vault = fresh_vault();
    let before = std::fs::read(&vault.path).unwrap();
    // One digit short: the app names the code and sends nothing that counts.
    let o = refused(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &add_args(&srv.url, PAN, &receipt[1..], &sms, "salary"),
    ));
    assert!(
        err(&o).contains("the receipt code has 5 digits"),
        "{}",
        err(&o)
    );
    assert!(err(&o).contains("no try used"), "{}", err(&o));
    assert_eq!(std::fs::read(&vault.path).unwrap(), before);
    // Not a digit: the same.
    let o = refused(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &add_args(
            &srv.url,
            PAN,
            &receipt,
            &format!("{}x", &sms[1..]),
            "salary",
        ),
    ));
    assert!(
        err(&o).contains("the SMS code must be digits only"),
        "{}",
        err(&o)
    );
    // Neither cost a try: a start now finds two left of three.
    let (_, msg) = ClientEnrollment::start(PAN, "000000", "000000");
    let (s, v) = srv
        .call(
            "POST",
            "/v1/app/enrollments",
            None,
            Some(json!({"pan": PAN, "spake_msg": b64_encode(&msg)})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["tries_left"], 2, "{v}");
    // The codes as a Persian keyboard types them, with a space: they are the codes.
    let receipt_fa = format!("{} {}", persian(&receipt[..3]), persian(&receipt[3..]));
    succeeds(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &add_args(&srv.url, PAN, &receipt_fa, &persian(&sms), "salary"),
    ));
    assert_eq!(srv.card_info(PAN).await.dynamic.state, DynamicState::Active);
}

#[tokio::test]
async fn a_changed_confirm_reply_is_refused() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let vault = fresh_vault();
    let before = std::fs::read(&vault.path).unwrap();
    for (field, value) in [
        ("lifetime_secs", json!(3600)),
        ("second_digits", json!(6)),
        ("token_id", json!("someoneelses")),
        ("server_unix_ms", json!(0)),
    ] {
        let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
        let proxy = tampering_proxy(&srv.url, field, value);
        let o = refused(app_env(
            &vault.path,
            APP_PASSWORD,
            &[],
            &add_args(&proxy, PAN, &receipt, &sms, "salary"),
        ));
        assert!(
            err(&o).contains("does not check out"),
            "{field}: {}",
            err(&o)
        );
        assert!(err(&o).contains("was not added"), "{field}: {}", err(&o));
        assert_eq!(std::fs::read(&vault.path).unwrap(), before, "{field}");
    }
    // The same proxy changing nothing lets the enrollment through.
    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    let proxy = tampering_proxy(&srv.url, "", Value::Null);
    succeeds(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &add_args(&proxy, PAN, &receipt, &sms, "salary"),
    ));
}

#[test]
fn plain_http_to_another_machine_is_refused_before_anything() {
    let vault = fresh_vault();
    let before = std::fs::read(&vault.path).unwrap();
    // Nothing is resolved or connected: the refusal comes first.
    let o = refused(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &add_args("http://bank.invalid", PAN, "123456", "654321", "salary"),
    ));
    assert!(err(&o).contains("not an https address"), "{}", err(&o));
    assert!(err(&o).contains("--allow-plain-http"), "{}", err(&o));
    assert_eq!(std::fs::read(&vault.path).unwrap(), before);
}

/// A proxy on this machine between the app and `upstream` (an `http://` address) that hands every
/// answer on, changing `field` of the enrollment's confirm reply to `value` (none when `field` is
/// empty). It serves until the test process ends.
fn tampering_proxy(upstream: &str, field: &'static str, value: Value) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream.trim_start_matches("http://").to_owned();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut app) = conn else { return };
            let (upstream, value) = (upstream.clone(), value.clone());
            std::thread::spawn(move || {
                // The app keeps its connection for several requests; one each way upstream.
                while relay(&mut app, &upstream, field, &value).is_ok() {}
            });
        }
    });
    url
}

/// One request from the app to the server and its answer back, changed where asked.
fn relay(app: &mut TcpStream, upstream: &str, field: &str, value: &Value) -> io::Result<()> {
    let (head, body) = read_message(app)?;
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(with_headers(&head, &[("connection", "close")]).as_bytes())?;
    server.write_all(&body)?;
    let (head, mut body) = read_message(&mut server)?;
    if !field.is_empty() && path.ends_with("/confirm") && head.starts_with("HTTP/1.1 200") {
        let mut v: Value = serde_json::from_slice(&body).expect("a JSON reply");
        v[field] = value.clone();
        body = serde_json::to_vec(&v).unwrap();
    }
    let length = body.len().to_string();
    let head = with_headers(&head, &[("content-length", &length)]);
    app.write_all(head.as_bytes())?;
    app.write_all(&body)
}

/// `head` (a request or status line and headers) with `set` in place of any headers of the same
/// names, ended by the blank line.
fn with_headers(head: &str, set: &[(&str, &str)]) -> String {
    let mut out: Vec<String> = head
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .filter(|l| {
            let name = l.split(':').next().unwrap_or_default().trim();
            !set.iter().any(|(n, _)| name.eq_ignore_ascii_case(n))
        })
        .map(str::to_owned)
        .collect();
    out.extend(set.iter().map(|(n, v)| format!("{n}: {v}")));
    out.join("\r\n") + "\r\n\r\n"
}

/// One HTTP/1.1 message: its head and its body (by `content-length`; pooya's answers have one).
fn read_message(s: &mut TcpStream) -> io::Result<(String, Vec<u8>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let length = head
        .split("\r\n")
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    s.read_exact(&mut body)?;
    Ok((head, body))
}
