//! The full-screen app (`pooya app` with no subcommand) driven through a pseudo-terminal, its
//! screen read by a terminal emulator (vt100), as a person would see it. Set
//! `POOYA_TUI_CAPTURE=FILE` to keep the screen as text (the README's capture comes from there).

use crate::app_support::*;
use crate::common::*;

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, PtySize};

const ROWS: u16 = 16;
const COLS: u16 = 100;

struct Screen {
    parser: vt100::Parser,
    rx: mpsc::Receiver<Vec<u8>>,
}

impl Screen {
    /// Feeds the terminal until `pred` holds on the screen's text (bounded: 20 s).
    #[track_caller]
    fn until(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.parser.screen().contents();
            if pred(&text) {
                return text;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "waiting for {what}; the screen:\n{text}");
            if let Ok(bytes) = self.rx.recv_timeout(left.min(Duration::from_millis(200))) {
                self.parser.process(&bytes);
            }
        }
    }
}

#[tokio::test]
async fn the_full_screen_app_shows_codes_switches_cards_and_copies() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    srv.card(PAN2, "C1").await;
    srv.align_to_step(60, 2_000).await;
    let (r1, s1) = srv.activate_app(PAN, MOBILE).await;
    let (r2, s2) = srv.activate_app(PAN2, MOBILE).await;
    let vault = fresh_vault();
    succeeds(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &add_args(&srv.url, PAN, &r1, &s1, "salary"),
    ));
    succeeds(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &add_args(&srv.url, PAN2, &r2, &s2, "savings"),
    ));
    let second = the_code(
        app_env(
            &vault.path,
            APP_PASSWORD,
            &[],
            &["code", "salary", "--plain"],
        ),
        8,
    );
    let first = the_code(
        app_env(
            &vault.path,
            APP_PASSWORD,
            &[],
            &["code", "salary", "--first", "--plain"],
        ),
        4,
    );
    let savings = the_code(
        app_env(
            &vault.path,
            APP_PASSWORD,
            &[],
            &["code", "savings", "--plain"],
        ),
        8,
    );

    // A clipboard tool stand-in that records what it is given, and a display for it to use.
    let tools = tempfile::tempdir().unwrap();
    let record = tools.path().join("clipboard.log");
    let xclip = tools.path().join("xclip");
    std::fs::write(
        &xclip,
        format!(
            "#!/bin/sh\ncat >> '{}'\necho '|' >> '{}'\n",
            record.display(),
            record.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&xclip, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    let pty = native_pty_system();
    let pair = pty
        .openpty(PtySize {
            rows: ROWS,
            cols: COLS,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_pooya"));
    cmd.args(["app", "--vault"]);
    cmd.arg(&vault.path);
    cmd.env("POOYA_APP_PASSWORD", APP_PASSWORD);
    cmd.env("TERM", "xterm-256color");
    cmd.env("LANG", "C.UTF-8");
    cmd.env_remove("LC_ALL");
    cmd.env_remove("WAYLAND_DISPLAY");
    cmd.env("DISPLAY", ":99");
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", tools.path().display()));
    let mut child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let mut writer = pair.master.take_writer().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut screen = Screen {
        parser: vt100::Parser::new(ROWS, COLS, 0),
        rx,
    };

    // The first card is selected: both its passwords, the masked number, the time bar.
    let text = screen.until("the first card's codes", |t| t.contains(&second));
    assert!(text.contains(&first), "{text}");
    assert!(
        text.contains("salary") && text.contains("savings"),
        "{text}"
    );
    assert!(text.contains("628023******7898"), "{text}");
    assert!(!text.contains(PAN) && !text.contains(PAN2), "{text}");
    assert!(text.contains("s left"), "{text}");
    // The bar is green early in the step (it turns orange, then red, as the step ends).
    let s = screen.parser.screen();
    let green = (0..ROWS).any(|r| {
        (0..COLS).any(|c| {
            s.cell(r, c).is_some_and(|cell| {
                cell.contents() == "█" && cell.fgcolor() == vt100::Color::Idx(2)
            })
        })
    });
    assert!(green, "a green bar:\n{text}");
    if let Ok(path) = std::env::var("POOYA_TUI_CAPTURE") {
        std::fs::write(path, &text).unwrap();
    }

    // ↓: the second card.
    writer.write_all(b"\x1b[B").unwrap();
    writer.flush().unwrap();
    screen.until("the second card's code", |t| t.contains(&savings));

    // c: the second password goes to the clipboard.
    writer.write_all(b"c").unwrap();
    writer.flush().unwrap();
    screen.until("the copy's confirmation", |t| t.contains("copied"));
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        format!("{savings}|\n")
    );

    // q: quits, and the clipboard is wiped first (before its 20 s are up).
    writer.write_all(b"q").unwrap();
    writer.flush().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        format!("{savings}|\n|\n"),
        "the code, then an empty clipboard"
    );
}

#[tokio::test]
async fn without_a_clipboard_the_app_says_so() {
    let vault = fresh_vault();
    // Not a terminal: a clear refusal, not a broken screen.
    let o = refused(app_env(&vault.path, APP_PASSWORD, &[], &[]));
    assert!(err(&o).contains("terminal"), "{}", err(&o));

    let srv = TestServer::start().await;
    srv.with_card().await;
    srv.align_to_step(60, 2_000).await;
    let (r1, s1) = srv.activate_app(PAN, MOBILE).await;
    succeeds(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &add_args(&srv.url, PAN, &r1, &s1, "salary"),
    ));

    let pair = native_pty_system()
        .openpty(PtySize {
            rows: ROWS,
            cols: COLS,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_pooya"));
    cmd.args(["app", "--vault"]);
    cmd.arg(&vault.path);
    cmd.env("POOYA_APP_PASSWORD", APP_PASSWORD);
    cmd.env("TERM", "xterm-256color");
    cmd.env("LANG", "C.UTF-8");
    cmd.env_remove("LC_ALL");
    cmd.env_remove("DISPLAY");
    cmd.env_remove("WAYLAND_DISPLAY");
    let mut child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let mut writer = pair.master.take_writer().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut screen = Screen {
        parser: vt100::Parser::new(ROWS, COLS, 0),
        rx,
    };
    screen.until("the card", |t| t.contains("salary") && t.contains("s left"));
    writer.write_all(b"f").unwrap();
    writer.flush().unwrap();
    screen.until("the no-clipboard message", |t| {
        t.contains("no clipboard here")
    });
    writer.write_all(b"q").unwrap();
    writer.flush().unwrap();
    assert!(child.wait().unwrap().success());
}
