//! Operations: Prometheus metrics at `/metrics`, request ids, JSON logs, `pooya config check` and
//! the files in `contrib/` (a systemd unit and an example configuration).

use crate::common::*;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn contrib(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contrib")
        .join(name)
}

async fn metrics_text(srv: &TestServer, role: Option<&str>) -> (u16, String) {
    let mut req = srv.http.get(format!("{}/metrics", srv.url));
    if let Some(r) = role {
        req = req.bearer_auth(srv.key(r));
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.text().await.expect("body"))
}

/// The value of the sample of `name` whose labels include every one of `labels` (`k="v"`).
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = match series.split_once('{') {
                Some((n, rest)) => (n, rest),
                None => (series, ""),
            };
            (n == name && labels.iter().all(|want| rest.contains(want)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .next()
}

#[tokio::test]
async fn metrics_need_the_admin_key_and_count_the_issuer() {
    let srv = TestServer::start().await;

    let (s, _) = metrics_text(&srv, None).await;
    assert_eq!(s, 401);
    let (s, _) = metrics_text(&srv, Some("switch")).await;
    assert_eq!(s, 403);
    let res = srv
        .http
        .get(format!("{}/metrics", srv.url))
        .bearer_auth("not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);

    // An enrolled card (one app activation, one enrollment), an approval, a replay, an unknown
    // card, and five wrong passwords that lock the service.
    let token = srv.enrolled_card().await;
    let now = srv.now_ms().await;
    let code = token.code("second", now);
    assert!(srv.verify(PAN, "second", &code, "T1").await.approved);
    assert_eq!(
        srv.verify(PAN, "second", &code, "T2").await.reason,
        "replayed"
    );
    assert_eq!(
        srv.verify(PAN2, "second", "12345678", "T3")
            .await
            .response_code,
        "14"
    );
    for i in 0..4 {
        let wrong = if code == "00000000" {
            "11111111"
        } else {
            "00000000"
        };
        let v = srv.verify(PAN, "second", wrong, &format!("W{i}")).await;
        assert_eq!(v.response_code, "55", "{v:?}");
    }
    let v = srv.verify(PAN, "second", "99999999", "W5").await;
    assert_eq!(v.response_code, "75", "{v:?}");

    let (s, text) = metrics_text(&srv, Some("admin")).await;
    assert_eq!(s, 200, "{text}");
    let v = |labels: &[&str]| sample(&text, "pooya_verifications_total", labels);
    assert_eq!(
        v(&["code=\"00\"", "reason=\"approved\""]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        v(&["code=\"55\"", "reason=\"replayed\""]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        v(&["code=\"14\"", "reason=\"unknown_card\""]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        v(&["code=\"75\"", "reason=\"locked\""]),
        Some(1.0),
        "{text}"
    );
    assert!(
        v(&["code=\"55\"", "reason=\"wrong_password\""]).is_some(),
        "{text}"
    );
    assert_eq!(
        sample(&text, "pooya_activations_total", &["channel=\"app\""]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "pooya_enrollments_total", &[]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "pooya_lockouts_total", &[]),
        Some(1.0),
        "{text}"
    );
    // The activation SMS left: nothing waits.
    assert_eq!(
        sample(&text, "pooya_outbox_queued", &[]),
        Some(0.0),
        "{text}"
    );
    assert!(
        sample(&text, "pooya_sms_sent_total", &[]).unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    // Request latency by route template, never by the path sent.
    assert!(
        sample(
            &text,
            "pooya_http_request_duration_seconds_count",
            &["route=\"/v1/verify\"", "method=\"POST\""]
        )
        .unwrap_or(0.0)
            >= 7.0,
        "{text}"
    );
    assert!(
        text.contains("pooya_http_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(
        text.contains("route=\"/v1/app/enrollments/{enrollment_id}/confirm\""),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "pooya_http_requests_total",
            &["route=\"/metrics\"", "status=\"401\""]
        )
        .is_some(),
        "{text}"
    );
    assert!(!text.contains(PAN), "a PAN in the metrics");
    assert!(!text.contains(MOBILE), "a mobile number in the metrics");
}

#[tokio::test]
async fn outbox_depth_and_delivery_failures() {
    // A gateway that refuses every connection: messages stay queued and each try is a failure.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let config = format!(
        "{TEST_CONFIG}\n[sms_provider]\nkind = \"http\"\n[sms_provider.http]\nurl = \"http://127.0.0.1:{port}/send\"\nbody_template = '{{\"to\": \"{{to}}\", \"text\": \"{{text}}\"}}'\ntimeout_ms = 500\n"
    );
    let srv = TestServer::start_with(&config, &[]).await;
    srv.with_card().await;
    let (s, v) = srv
        .post(
            "/v1/atm/activate-app",
            "atm",
            json!({"pan": PAN, "pin": PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (s, text) = metrics_text(&srv, Some("admin")).await;
        assert_eq!(s, 200);
        let failures = sample(
            &text,
            "pooya_sms_delivery_failures_total",
            &["outcome=\"retry\""],
        );
        if failures.unwrap_or(0.0) >= 1.0 {
            assert_eq!(
                sample(&text, "pooya_outbox_queued", &[]),
                Some(1.0),
                "{text}"
            );
            assert!(
                sample(&text, "pooya_outbox_oldest_age_seconds", &[]).is_some(),
                "{text}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no delivery failure counted:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let srv = TestServer::start().await;
    let res = srv
        .http
        .get(format!("{}/v1/time", srv.url))
        .header("x-request-id", "ops-req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "ops-req-42");

    let mut made = Vec::new();
    for given in [None, Some("has a space"), Some(&*"x".repeat(65))] {
        let mut req = srv.http.get(format!("{}/v1/nowhere", srv.url));
        if let Some(g) = given {
            req = req.header("x-request-id", g);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), 404);
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(!id.is_empty() && id.len() <= 64, "{id:?}");
        assert!(id.bytes().all(|b| b.is_ascii_graphic()), "{id:?}");
        assert_ne!(Some(id.as_str()), given);
        made.push(id);
    }
    made.sort();
    made.dedup();
    assert_eq!(made.len(), 3, "ids must differ: {made:?}");

    // An error answer carries it too.
    let res = srv
        .http
        .post(format!("{}/v1/verify", srv.url))
        .header("x-request-id", "ops-req-43")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(res.headers()["x-request-id"], "ops-req-43");
}

#[tokio::test]
async fn json_logs_carry_the_request_id() {
    let srv = TestServer::start_with(TEST_CONFIG, &["--log-format", "json"]).await;
    srv.with_card().await;
    let res = srv
        .http
        .get(format!("{}/v1/cards/{PAN}", srv.url))
        .bearer_auth(srv.key("branch"))
        .header("x-request-id", "ops-json-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(srv.log_path()).unwrap_or_default();
        let lines: Vec<Value> = log
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        let ours = lines.iter().find(|l| {
            l["span"]["request_id"] == "ops-json-1" && l["fields"]["message"] == "request"
        });
        if let Some(line) = ours {
            assert_eq!(line["fields"]["route"], "/v1/cards/{pan}", "{line}");
            assert_eq!(line["fields"]["status"], 200, "{line}");
            assert!(
                line["level"].is_string() && line["timestamp"].is_string(),
                "{line}"
            );
            assert!(!log.contains(PAN), "a full PAN in the log");
            break;
        }
        assert!(Instant::now() < deadline, "no JSON request line:\n{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Text is the default: its lines are not JSON.
    let plain = TestServer::start().await;
    plain.now_ms().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(plain.log_path()).unwrap_or_default();
        if let Some(l) = log.lines().find(|l| l.contains("request")) {
            assert!(serde_json::from_str::<Value>(l).is_err(), "{l}");
            break;
        }
        assert!(Instant::now() < deadline, "no request line:\n{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn config_check(file: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pooya"));
    cmd.args(["config", "check"]).arg(file);
    for (k, _) in std::env::vars() {
        if k.starts_with("POOYA_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run pooya config check")
}

#[test]
fn config_check_prints_the_effective_settings_masked() {
    let out = config_check(&contrib("pooya.toml"), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Effective: the defaults the example leaves out are filled in.
    let eff: toml::Table = toml::from_str(&stdout).expect("TOML");
    assert_eq!(eff["profile"].as_str(), Some("central-bank"));
    assert_eq!(eff["policy"]["otp"]["lifetime_secs"].as_integer(), Some(60));
    assert_eq!(
        eff["policy"]["activation"]["ttl_secs"].as_integer(),
        Some(86400)
    );
    assert_eq!(eff["server"]["pool_size"].as_integer(), Some(8));
    // Masked: the gateway's header and the database password.
    assert!(!stdout.contains("change-me"), "{stdout}");
    assert_eq!(
        eff["sms_provider"]["http"]["headers"]["Authorization"].as_str(),
        Some("********")
    );
    assert!(
        eff["server"]["database_url"]
            .as_str()
            .unwrap()
            .contains(":********@"),
        "{stdout}"
    );

    // An environment variable wins over the file.
    let out = config_check(
        &contrib("pooya.toml"),
        &[
            ("POOYA_POLICY__OTP__LIFETIME_SECS", "120"),
            ("POOYA_SERVER__POOL_SIZE", "4"),
        ],
    );
    assert!(out.status.success());
    let eff: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(
        eff["policy"]["otp"]["lifetime_secs"].as_integer(),
        Some(120)
    );
    assert_eq!(eff["server"]["pool_size"].as_integer(), Some(4));

    // The Maskan profile, by environment alone.
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let out = config_check(&empty, &[("POOYA_PROFILE", "maskan")]);
    assert!(out.status.success());
    let eff: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(
        eff["policy"]["otp"]["lifetime_secs"].as_integer(),
        Some(120)
    );
}

#[test]
fn config_check_refuses_bad_settings() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("unknown-key.toml", "nonsense = 1\n", "nonsense"),
        (
            "bad-type.toml",
            "[server]\npool_size = \"many\"\n",
            "pool_size",
        ),
        (
            "bad-policy.toml",
            "[policy.otp]\nlifetime_secs = 0\n",
            "lifetime",
        ),
        ("not-toml.toml", "[server\n", ""),
    ];
    for (name, text, mentions) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let out = config_check(&file, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(mentions), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}");
    }
    let out = config_check(&dir.path().join("missing.toml"), &[]);
    assert_eq!(out.status.code(), Some(1));
    // A bad environment value is refused too.
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "").unwrap();
    let out = config_check(&good, &[("POOYA_POLICY__OTP__LIFETIME_SECS", "soon")]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn systemd_unit_parses() {
    let path = contrib("pooya.service");
    let text = std::fs::read_to_string(&path).expect("contrib/pooya.service");
    // A minimal INI reading: sections, key=value lines.
    let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push((name.to_owned(), Vec::new()));
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("line {}: not key=value: {line}", n + 1));
        sections
            .last_mut()
            .unwrap_or_else(|| panic!("line {}: outside a section", n + 1))
            .1
            .push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let names: Vec<&str> = sections.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Unit", "Service", "Install"]);
    let get = |sec: &str, key: &str| -> Vec<String> {
        sections
            .iter()
            .filter(|(n, _)| n == sec)
            .flat_map(|(_, kv)| kv.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()))
            .collect()
    };
    let exec = get("Service", "ExecStart");
    assert_eq!(exec.len(), 1);
    assert!(exec[0].contains("pooya serve"), "{exec:?}");
    assert!(
        exec[0].contains("--config /etc/pooya/pooya.toml"),
        "{exec:?}"
    );
    for (key, want) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("StateDirectory", "pooya"),
        ("User", "pooya"),
    ] {
        assert_eq!(get("Service", key), [want], "{key}");
    }
    assert!(get("Service", "ReadWritePaths")[0].contains("/var/lib/pooya"));
    assert_eq!(get("Install", "WantedBy"), ["multi-user.target"]);

    // systemd's own check, where systemd-analyze is installed; the binary is the one just built.
    let have = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        eprintln!("systemd-analyze not found: only the INI reading was checked");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("pooya.service");
    std::fs::write(
        &unit,
        text.replace("/usr/bin/pooya", env!("CARGO_BIN_EXE_pooya")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    assert!(
        !stderr.contains("pooya.service:"),
        "systemd-analyze verify: {stderr}"
    );
}
