//! The key hierarchy (docs/keys.md) from outside: `pooya keys rotate` while the switch keeps
//! verifying, a restart with only the new KEK, a missing, wrong or world-readable KEK refused at
//! start with nothing changed, and a KEK inside a PKCS#11 token (SoftHSM2) end to end.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// Enough allowed failures that the wrong codes of the loop never lock the card.
fn config() -> String {
    format!("{TEST_CONFIG}\n[policy.lockout]\nmax_failures = 100000\n")
}

/// Runs `pooya keys ARGS` against `srv`'s database with `config_path` as `--config`.
fn keys_cmd(srv: &TestServer, config_path: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pooya"));
    cmd.arg("keys")
        .args(args)
        .arg("--data-dir")
        .arg(srv.data_dir())
        .arg("--config")
        .arg(config_path)
        .env_remove("POOYA_DATABASE_URL");
    if let Some(db) = &srv.db {
        cmd.arg("--database-url").arg(&db.url);
    }
    cmd.output().expect("run pooya keys")
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts `pooya serve` on `srv`'s data with `config` and expects it to refuse: returns its
/// standard error. It never gets to listen.
fn start_refused(srv: &TestServer, config: &str) -> String {
    let cfg = srv.dir.path().join("refused.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pooya"));
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(srv.data_dir())
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--config")
        .arg(&cfg)
        .env_remove("POOYA_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(db) = &srv.db {
        cmd.arg("--database-url").arg(&db.url);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("pooya serve did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "it never listened");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn with_kek_file(path: &Path) -> String {
    format!(
        "{}\n[keys]\nfile = {:?}\n",
        config(),
        path.display().to_string()
    )
}

/// The switch's traffic across restarts: the clock of each round is a step past the last one's
/// (a restarted server's fake clock starts at the real time again).
#[derive(Default)]
struct Rounds {
    n: usize,
    last_ms: i64,
}

/// One round of the switch's traffic: the right second password approved, a wrong one refused,
/// on a fresh step. Panics on any other answer.
async fn round(srv: &TestServer, token: &Token, r: &mut Rounds) {
    let step = i64::from(token.step_secs) * 1000;
    let from = r.last_ms.max(srv.now_ms().await);
    let now = (from / step + 1) * step + 1_000;
    let (s, _) = srv
        .post(
            "/v1/test/clock",
            "admin",
            serde_json::json!({ "set_unix_ms": now }),
        )
        .await;
    assert_eq!(s, 200);
    r.last_ms = now;
    let i = r.n;
    r.n += 1;
    let code = token.code("second", now);
    let v = srv.verify(PAN, "second", &code, &format!("R{i}")).await;
    assert_eq!(v.reason, "approved", "round {i}: {v:?}");
    let wrong: String = code
        .chars()
        .map(|c| char::from(b'0' + (c as u8 - b'0' + 1) % 10))
        .collect();
    let v = srv.verify(PAN, "second", &wrong, &format!("W{i}")).await;
    assert_eq!(v.reason, "wrong_password", "round {i}: {v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_under_load_then_only_the_new_kek_is_needed() {
    let mut srv = TestServer::start_with(&config(), &[]).await;
    let token = srv.enrolled_card().await;
    let mut r = Rounds::default();
    let old_kek = srv.data_dir().join("master.key");
    let new_kek = srv.dir.path().join("new-kek.key");
    let cfg = srv.dir.path().join("pooya.toml");

    // The switch keeps verifying while the KEK is rotated beside it.
    let rotation = {
        let (srv_data, db, cfg, new_kek) = (
            srv.data_dir(),
            srv.db.as_ref().map(|d| d.url.clone()),
            cfg.clone(),
            new_kek.clone(),
        );
        std::thread::spawn(move || {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_pooya"));
            cmd.args(["keys", "rotate", "--data-dir"])
                .arg(srv_data)
                .arg("--config")
                .arg(cfg)
                .arg("--new-kek-file")
                .arg(new_kek)
                .env_remove("POOYA_DATABASE_URL");
            if let Some(url) = db {
                cmd.arg("--database-url").arg(url);
            }
            cmd.output().expect("pooya keys rotate")
        })
    };
    // At least one round overlaps the command (it was just started); as many as it takes.
    loop {
        round(&srv, &token, &mut r).await;
        if rotation.is_finished() {
            break;
        }
    }
    eprintln!("{} verification rounds ran during the rotation", r.n);
    let out = rotation.join().unwrap();
    let text = ok(&out);
    assert!(
        text.contains("re-wrapped data key generation(s) [1]"),
        "{text}"
    );
    // And after it, the running server (holding the same data keys) answers as before.
    for _ in 0..3 {
        round(&srv, &token, &mut r).await;
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&new_kek).unwrap().permissions(),
    );
    assert_eq!(mode & 0o077, 0, "the new key file is private: {mode:o}");
    let status = ok(&keys_cmd(&srv, &cfg, &["status"]));
    assert!(
        status.contains("does NOT open under the configured KEK"),
        "{status}"
    );

    // The old KEK is destroyed; the server restarts with the new one alone.
    srv.kill9();
    std::fs::remove_file(&old_kek).unwrap();
    srv.config = with_kek_file(&new_kek);
    srv.restart();
    assert!(
        !old_kek.exists(),
        "no key file is made beside data keys that exist"
    );
    round(&srv, &token, &mut r).await;
    assert_eq!(srv.card_info(PAN).await.pan_masked, "628023******7898");
    let status = ok(&keys_cmd(
        &srv,
        &srv.dir.path().join("pooya.toml"),
        &["status"],
    ));
    assert!(
        status.contains("(opens under the configured KEK)"),
        "{status}"
    );
}

#[tokio::test]
async fn a_missing_wrong_or_readable_kek_stops_the_start_and_changes_nothing() {
    let mut srv = TestServer::start_with(&config(), &[]).await;
    let token = srv.enrolled_card().await;
    let mut r = Rounds::default();
    round(&srv, &token, &mut r).await;
    srv.kill9();
    let kek = srv.data_dir().join("master.key");
    let saved = std::fs::read(&kek).unwrap();

    // Missing: not made again, and the reason given.
    std::fs::remove_file(&kek).unwrap();
    let err = start_refused(&srv, &config());
    assert!(err.contains("master.key does not exist"), "{err}");
    assert!(!kek.exists(), "no new key file");

    // Another key: refused.
    let other = srv.dir.path().join("other.key");
    ok(&keys_cmd(
        &srv,
        &{
            let p = srv.dir.path().join("other.toml");
            std::fs::write(&p, with_kek_file(&other)).unwrap();
            p
        },
        &["create-kek"],
    ));
    let err = start_refused(&srv, &with_kek_file(&other));
    assert!(
        err.contains("is not the one this database was made with"),
        "{err}"
    );

    // Its own key, but readable by others: refused with the fix named.
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&kek)
            .unwrap();
        f.write_all(&saved).unwrap();
    }
    let err = start_refused(&srv, &config());
    assert!(
        err.contains("has mode 0644") && err.contains("chmod 600"),
        "{err}"
    );

    // Put right, it serves the same card with the same seed: nothing was changed.
    std::fs::set_permissions(&kek, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    srv.restart();
    round(&srv, &token, &mut r).await;
}

// ------------------------------------------------------------------ PKCS#11 (SoftHSM2)

const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A SoftHSM2 token directory for this test process (the module reads `SOFTHSM2_CONF` when a
/// process first loads it; servers and commands this process starts inherit it). `None`, with
/// the reason printed, when SoftHSM2 is not installed (`.ci/run` installs it, so CI runs these).
fn softhsm() -> Option<PathBuf> {
    static DIR: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let tool = Command::new("softhsm2-util").arg("--version").output();
        if tool.is_err() || !Path::new(SOFTHSM_MODULE).exists() {
            eprintln!(
                "SoftHSM2 is not installed (apt-get install -y softhsm2): PKCS#11 test skipped"
            );
            return None;
        }
        let dir = std::env::temp_dir().join(format!("pooya-bb-softhsm-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("tokens")).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.join("tokens").display()
            ),
        )
        .unwrap();
        // Set once, before any server is started with it; every test's token has its own label.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        Some(dir)
    })
    .clone()
}

fn init_token(label: &str) {
    let out = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", label])
        .args(["--pin", "24680", "--so-pin", "13579"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn hsm_config(srv: &TestServer, token: &str, key_label: &str) -> String {
    let pin = srv.dir.path().join("pin");
    if !pin.exists() {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&pin)
            .unwrap();
        f.write_all(b"24680\n").unwrap();
    }
    format!(
        "{}\n[keys]\nkek = \"pkcs11\"\n[keys.pkcs11]\nmodule = {SOFTHSM_MODULE:?}\n\
         token_label = {token:?}\nkey_label = {key_label:?}\npin_file = {:?}\n",
        config(),
        pin.display().to_string()
    )
}

#[tokio::test]
async fn a_kek_in_a_pkcs11_token_end_to_end() {
    if softhsm().is_none() {
        return;
    }
    let token_label = format!("bb-{}", &pooya_issuer::keys::random_id()[..12]);
    init_token(&token_label);
    let mut srv = TestServer::start_with(&config(), &[]).await;
    let token = srv.enrolled_card().await;
    let mut r = Rounds::default();
    round(&srv, &token, &mut r).await;
    let write = |name: &str, text: String| {
        let p = srv.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let hsm1 = write("hsm1.toml", hsm_config(&srv, &token_label, "kek-1"));
    let hsm2 = write("hsm2.toml", hsm_config(&srv, &token_label, "kek-2"));

    // The KEK is made inside the token, once.
    let made = ok(&keys_cmd(&srv, &hsm1, &["create-kek"]));
    assert!(made.contains("kek-1"), "{made}");
    let again = keys_cmd(&srv, &hsm1, &["create-kek"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));

    // File → HSM while serving.
    let file_cfg = srv.dir.path().join("pooya.toml");
    let text = ok(&keys_cmd(
        &srv,
        &file_cfg,
        &["rotate", "--new-config", hsm1.to_str().unwrap()],
    ));
    assert!(text.contains("kek-1"), "{text}");
    round(&srv, &token, &mut r).await;
    srv.kill9();
    std::fs::remove_file(srv.data_dir().join("master.key")).unwrap();
    srv.config = std::fs::read_to_string(&hsm1).unwrap();
    srv.restart();
    round(&srv, &token, &mut r).await;

    // HSM → HSM: another key of the token; then the first key is not accepted any more.
    ok(&keys_cmd(&srv, &hsm2, &["create-kek"]));
    ok(&keys_cmd(
        &srv,
        &hsm1,
        &["rotate", "--new-config", hsm2.to_str().unwrap()],
    ));
    round(&srv, &token, &mut r).await;
    srv.kill9();
    let err = start_refused(&srv, &std::fs::read_to_string(&hsm1).unwrap());
    assert!(
        err.contains("is not the one this database was made with"),
        "{err}"
    );
    srv.config = std::fs::read_to_string(&hsm2).unwrap();
    srv.restart();
    round(&srv, &token, &mut r).await;

    // A wrong PIN or a missing key: a clear refusal.
    let bad = hsm_config(&srv, &token_label, "no-such-key");
    let err = start_refused(&srv, &bad);
    assert!(
        err.contains("no secret key labelled \"no-such-key\""),
        "{err}"
    );
    std::fs::write(srv.dir.path().join("pin"), "99999\n").unwrap();
    let err = start_refused(&srv, &std::fs::read_to_string(&hsm2).unwrap());
    assert!(err.contains("PIN"), "{err}");

    let _ = Command::new("softhsm2-util")
        .args(["--delete-token", "--token", &token_label])
        .output();
}
