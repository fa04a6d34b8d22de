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

/// `pooya app --vault VAULT ARGS…` in a pseudo-terminal of ROWS×COLS, with the suite's cheap
/// Argon2; `password` in `POOYA_APP_PASSWORD`, or `None` to type it at the prompt.
struct Tui {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    screen: Screen,
}

impl Tui {
    fn start(
        vault: &std::path::Path,
        password: Option<&str>,
        args: &[&str],
        setup: impl FnOnce(&mut CommandBuilder),
    ) -> Tui {
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
        cmd.arg(vault);
        cmd.args(args);
        match password {
            Some(pw) => cmd.env("POOYA_APP_PASSWORD", pw),
            None => cmd.env_remove("POOYA_APP_PASSWORD"),
        }
        cmd.env("POOYA_APP_KDF_FAST", "1");
        cmd.env("TERM", "xterm-256color");
        cmd.env("LANG", "C.UTF-8");
        cmd.env_remove("LC_ALL");
        cmd.env_remove("DISPLAY");
        cmd.env_remove("WAYLAND_DISPLAY");
        setup(&mut cmd);
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer = pair.master.take_writer().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Tui {
            child,
            writer,
            screen: Screen {
                parser: vt100::Parser::new(ROWS, COLS, 0),
                rx,
            },
        }
    }

    fn keys(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.writer.flush().unwrap();
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

    let path = std::env::var("PATH").unwrap_or_default();
    let mut tui = Tui::start(&vault.path, Some(APP_PASSWORD), &[], |cmd| {
        cmd.env("DISPLAY", ":99");
        cmd.env("PATH", format!("{}:{path}", tools.path().display()));
    });

    // The first card is selected: both its passwords, the masked number, the time bar.
    let text = tui
        .screen
        .until("the first card's codes", |t| t.contains(&second));
    assert!(text.contains(&first), "{text}");
    assert!(
        text.contains("salary") && text.contains("savings"),
        "{text}"
    );
    assert!(text.contains("628023******7898"), "{text}");
    assert!(!text.contains(PAN) && !text.contains(PAN2), "{text}");
    assert!(text.contains("s left"), "{text}");
    // The bar is green early in the step (it turns orange, then red, as the step ends).
    let s = tui.screen.parser.screen();
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
    tui.keys(b"\x1b[B");
    tui.screen
        .until("the second card's code", |t| t.contains(&savings));

    // c: the second password goes to the clipboard.
    tui.keys(b"c");
    tui.screen
        .until("the copy's confirmation", |t| t.contains("copied"));
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        format!("{savings}|\n")
    );

    // q: quits, and the clipboard is wiped first (before its 20 s are up).
    tui.keys(b"q");
    let status = tui.child.wait().unwrap();
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

    let mut tui = Tui::start(&vault.path, Some(APP_PASSWORD), &[], |_| {});
    tui.screen
        .until("the card", |t| t.contains("salary") && t.contains("s left"));
    tui.keys(b"f");
    tui.screen.until("the no-clipboard message", |t| {
        t.contains("no clipboard here")
    });
    tui.keys(b"q");
    assert!(tui.child.wait().unwrap().success());
}

/// The first column of `needle` on `row`, left of column `before`. A cell holds a character and
/// the zero-width ones after it (a Persian label's zero-width non-joiner), as on a terminal.
fn column_of(screen: &vt100::Screen, row: u16, needle: &str, before: u16) -> Option<u16> {
    let mut text = String::new();
    let mut starts = Vec::new();
    for col in 0..before {
        let cell = screen.cell(row, col)?;
        starts.push((text.len(), col));
        text.push_str(if cell.has_contents() {
            cell.contents()
        } else {
            " "
        });
    }
    let at = text.find(needle)?;
    starts.iter().find(|(o, _)| *o == at).map(|(_, col)| *col)
}

#[tokio::test]
async fn the_full_screen_app_asks_at_start_whether_the_bank_still_takes_a_card() {
    let mut srv = TestServer::start().await;
    srv.with_card().await;
    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    let vault = fresh_vault();
    succeeds(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &add_args(&srv.url, PAN, &receipt, &sms, "salary"),
    ));
    // In force: the full screen starts with no warning.
    let mut tui = Tui::start(&vault.path, Some(APP_PASSWORD), &[], |_| {});
    let text = tui
        .screen
        .until("the card's codes", |t| t.contains("s left"));
    assert!(!text.contains("no longer takes"), "{text}");
    tui.keys(b"q");
    assert!(tui.child.wait().unwrap().success());

    // The card is activated for SMS: the app's token is dead. No sync is run; the full screen
    // asks the bank as it starts and marks the card.
    let (s, v) = srv
        .post(
            "/v1/atm/activate-sms",
            "atm",
            serde_json::json!({"pan": PAN, "pin": PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let mut tui = Tui::start(&vault.path, Some(APP_PASSWORD), &[], |_| {});
    let text = tui
        .screen
        .until("the card marked", |t| t.contains("no longer takes"));
    assert!(!text.contains(PAN), "{text}");
    tui.keys(b"q");
    assert!(tui.child.wait().unwrap().success());
    // The answer is kept: `code` warns offline too.
    srv.kill9();
    let o = succeeds(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &["code", "salary", "--plain"],
    ));
    assert!(
        err(&o).contains("no longer takes the codes of salary"),
        "{}",
        err(&o)
    );
}

#[tokio::test]
async fn the_card_list_keeps_its_columns_with_persian_labels_and_banks() {
    // Two banks (R25), one with a Persian name; labels whose widths differ, one with a
    // zero-width non-joiner (8 characters, 7 cells).
    let bank = |name: &str| format!("{TEST_CONFIG}\n[policy]\nbank_name = \"{name}\"\n");
    let maskan = TestServer::start_with(&bank("بانک مسکن"), &[]).await;
    let saman = TestServer::start_with(&bank("Saman"), &[]).await;
    maskan.with_card().await;
    maskan.card(PAN2, "C1").await;
    saman.customer("C2", MOBILE2).await;
    saman.card(PAN3, "C2").await;
    let vault = fresh_vault();
    let cards = [
        (&maskan, PAN, MOBILE, "حقوق", "بانک مسکن"),
        (&saman, PAN3, MOBILE2, "salary", "Saman"),
        (&maskan, PAN2, MOBILE, "پس\u{200c}انداز", "بانک مسکن"),
    ];
    for (srv, pan, mobile, label, _) in cards {
        srv.align_to_step(60, 2_000).await;
        let (r, s) = srv.activate_app(pan, mobile).await;
        succeeds(app_env(
            &vault.path,
            APP_PASSWORD,
            &[],
            &add_args(&srv.url, pan, &r, &s, label),
        ));
    }

    let mut tui = Tui::start(&vault.path, Some(APP_PASSWORD), &["--lang", "fa"], |_| {});
    let masked = ["628023******7898", "628023******7872", "628023******7880"];
    let text = tui.screen.until("the three cards", |t| {
        masked.iter().all(|m| t.contains(m)) && t.contains("پس\u{200c}انداز")
    });
    assert!(
        ![PAN, PAN2, PAN3].iter().any(|p| text.contains(p)),
        "{text}"
    );
    // The list is the left 45 % of the screen; each card is one row of it.
    let list_cols = COLS * 45 / 100;
    let screen = tui.screen.parser.screen();
    let mut found = Vec::new();
    for ((_, _, _, label, bank), masked) in cards.iter().zip(masked) {
        let row = (0..ROWS)
            .find(|&r| column_of(screen, r, masked, list_cols).is_some())
            .unwrap_or_else(|| panic!("{masked} in the list:\n{text}"));
        let at = |what: &str| {
            column_of(screen, row, what, list_cols)
                .unwrap_or_else(|| panic!("{what} on row {row}:\n{text}"))
        };
        found.push((row, at(label), at(bank), at(masked)));
    }
    let rows: std::collections::BTreeSet<_> = found.iter().map(|f| f.0).collect();
    assert_eq!(rows.len(), 3, "one row per card: {found:?}\n{text}");
    for f in &found[1..] {
        assert_eq!(
            (f.1, f.2, f.3),
            (found[0].1, found[0].2, found[0].3),
            "labels, banks and numbers each start in one column: {found:?}\n{text}"
        );
    }
    tui.keys(b"q");
    assert!(tui.child.wait().unwrap().success());
}

#[test]
fn a_wrong_password_is_asked_again_up_to_three_times() {
    let vault = fresh_vault();
    let prompt = "App password:";
    let prompts = |t: &str| t.matches(prompt).count();

    // Two wrong passwords, then the right one: the app opens.
    let mut tui = Tui::start(&vault.path, None, &[], |_| {});
    for (attempt, wrong) in ["wrong pass 1", "wrong pass 2"].into_iter().enumerate() {
        tui.screen
            .until("the prompt", |t| prompts(t) == attempt + 1);
        tui.keys(format!("{wrong}\r").as_bytes());
        let left = format!("attempts left: {}", 2 - attempt);
        tui.screen.until("another try", |t| t.contains(&left));
    }
    tui.screen.until("the third prompt", |t| prompts(t) == 3);
    tui.keys(format!("{APP_PASSWORD}\r").as_bytes());
    let text = tui.screen.until("the app", |t| t.contains("no cards yet"));
    assert!(!text.contains("wrong pass"), "never echoed:\n{text}");
    tui.keys(b"q");
    assert!(tui.child.wait().unwrap().success());

    // Three wrong passwords: a clear error, no fourth prompt, the vault untouched.
    let before = std::fs::read(&vault.path).unwrap();
    let mut tui = Tui::start(&vault.path, None, &[], |_| {});
    for attempt in 1..=3 {
        tui.screen.until("the prompt", |t| prompts(t) == attempt);
        tui.keys(b"wrong pass 9\r");
    }
    let status = tui.child.wait().unwrap();
    assert!(!status.success(), "{status:?}");
    let text = tui
        .screen
        .until("the last refusal", |t| t.contains("error: cannot open"));
    assert_eq!(prompts(&text), 3, "{text}");
    assert!(text.contains("wrong app password"), "{text}");
    assert_eq!(std::fs::read(&vault.path).unwrap(), before);
}
