//! Adding cards and showing codes, in the ways they go wrong (R16, R17): an expired activation,
//! no connection, a server that answers garbage; and `code --watch`.

use crate::app_support::*;
use crate::common::*;

use std::io::BufRead;

#[tokio::test]
async fn an_expired_activation_is_named_and_adds_nothing() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    srv.advance(2 * 24 * 3600 * 1000).await;
    let vault = fresh_vault();
    let before = std::fs::read(&vault.path).unwrap();
    let o = refused(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &add_args(&srv.url, PAN, &receipt, &sms, "salary"),
    ));
    assert!(err(&o).contains("expired"), "{}", err(&o));
    assert!(err(&o).contains("ATM"), "says what to do: {}", err(&o));
    assert_eq!(std::fs::read(&vault.path).unwrap(), before);
}

#[test]
fn no_connection_and_garbage_are_named_and_add_nothing() {
    let vault = fresh_vault();
    let before = std::fs::read(&vault.path).unwrap();

    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let o = refused(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &add_args(&url, PAN, "123456", "654321", "salary"),
    ));
    assert!(err(&o).contains("cannot reach"), "{}", err(&o));
    assert!(err(&o).contains("internet"), "{}", err(&o));

    // A server that answers anything but pooya's protocol.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        // One connection is all the app makes before it gives up.
        if let Ok((mut s, _)) = listener.accept() {
            use std::io::{Read, Write};
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            let body = "<html>hello</html>";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let o = refused(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &add_args(&url, PAN, "123456", "654321", "salary"),
    ));
    assert!(err(&o).contains("does not understand"), "{}", err(&o));
    server.join().unwrap();
    assert_eq!(std::fs::read(&vault.path).unwrap(), before);
}

#[tokio::test]
async fn code_watch_shows_the_live_code() {
    let srv = TestServer::start().await;
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
    let code = the_code(
        app_env(
            &vault.path,
            APP_PASSWORD,
            &[],
            &["code", "salary", "--plain"],
        ),
        8,
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pooya"))
        .args(["app", "--vault"])
        .arg(&vault.path)
        .args(["code", "salary", "--watch"])
        .env("POOYA_APP_PASSWORD", APP_PASSWORD)
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains(&code), "{first}");
    assert!(first.contains("s left") && first.contains('['), "{first}");
    // It keeps running (a new line per new code when not on a terminal) until stopped.
    assert!(child.try_wait().unwrap().is_none(), "still watching");
    child.kill().unwrap();
    child.wait().unwrap();
    // --watch and --plain do not go together.
    refused(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &["code", "salary", "--watch", "--plain"],
    ));
}
