//! HTTPS (`--tls-cert`/`--tls-key` or `[tls]`) and client certificates per role (`[tls.client_ca]`).
//! Certificates are made here with rcgen: a server CA, a CA for the switch's clients, one for the
//! SMS gateway's, and one the server has never heard of.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;

struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, name.to_owned());
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca {
        cert_pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

/// A leaf certificate for `names`, signed by `ca`: (certificate PEM, key PEM).
fn leaf(ca: &Ca, names: &[&str], client: bool) -> (String, String) {
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.extended_key_usages = vec![if client {
        rcgen::ExtendedKeyUsagePurpose::ClientAuth
    } else {
        rcgen::ExtendedKeyUsagePurpose::ServerAuth
    }];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

struct Pki {
    dir: tempfile::TempDir,
    server_ca: Ca,
    switch_ca: Ca,
    sms_ca: Ca,
    rogue_ca: Ca,
}

impl Pki {
    fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
            server_ca: ca("bank server CA"),
            switch_ca: ca("switch clients CA"),
            sms_ca: ca("sms gateway CA"),
            rogue_ca: ca("nobody's CA"),
        };
        let (cert, key) = leaf(&pki.server_ca, &["localhost", "127.0.0.1"], false);
        pki.write("server.pem", &cert);
        pki.write("server.key", &key);
        pki.write("switch-ca.pem", &pki.switch_ca.cert_pem);
        pki.write("sms-ca.pem", &pki.sms_ca.cert_pem);
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    /// The `[tls]` table: HTTPS, with client certificates required of `switch` and `sms`.
    fn config(&self, with_files: bool) -> String {
        let files = if with_files {
            format!(
                "cert_file = {:?}\nkey_file = {:?}\n",
                self.path("server.pem").display().to_string(),
                self.path("server.key").display().to_string()
            )
        } else {
            String::new()
        };
        format!(
            "{TEST_CONFIG}[tls]\n{files}[tls.client_ca]\nswitch = {:?}\nsms = {:?}\n",
            self.path("switch-ca.pem").display().to_string(),
            self.path("sms-ca.pem").display().to_string(),
        )
    }

    /// An HTTPS client that trusts the server's CA and shows `identity` (certificate, key PEM).
    fn client(&self, identity: Option<(String, String)>) -> reqwest::Client {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.server_ca.cert_pem.as_bytes()).unwrap())
            .unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .tls_backend_preconfigured(config)
            .build()
            .unwrap()
    }
}

fn assert_https(srv: &TestServer) {
    assert!(srv.url.starts_with("https://"), "{}", srv.url);
}

async fn verify_status(srv: &TestServer, client: &reqwest::Client) -> Result<u16, String> {
    client
        .post(format!("{}/v1/verify", srv.url))
        .bearer_auth(srv.key("switch"))
        .json(&json!({"pan": PAN, "kind": "second", "password": STATIC_SECOND, "txn": txn("T1")}))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn https_from_the_command_line_flags() {
    let pki = Pki::new();
    let cert = pki.path("server.pem").display().to_string();
    let key = pki.path("server.key").display().to_string();
    let mut srv =
        TestServer::start_with(TEST_CONFIG, &["--tls-cert", &cert, "--tls-key", &key]).await;
    assert_https(&srv);
    // The harness's plain client does not know the bank's CA: refused.
    assert!(srv
        .http
        .get(format!("{}/v1/health", srv.url))
        .send()
        .await
        .is_err());
    srv.http = pki.client(None);
    let (s, v) = srv.call("GET", "/v1/health", None, None).await;
    assert_eq!(s, 200, "{v}");
    // With no client CA configured every channel works on its key alone.
    srv.with_card().await;
    let v = srv.verify(PAN, "second", STATIC_SECOND, "T1").await;
    assert!(v.approved, "{v:?}");
    // Plain HTTP to the HTTPS port gets no answer.
    let plain = srv.url.replacen("https://", "http://", 1);
    let r = reqwest::Client::new()
        .get(format!("{plain}/v1/health"))
        .send()
        .await;
    assert!(r.map(|r| r.status().as_u16() != 200).unwrap_or(true));
}

#[tokio::test]
async fn roles_with_a_client_ca_need_a_certificate_from_it() {
    let pki = Pki::new();
    let mut srv = TestServer::start_with(&pki.config(true), &[]).await;
    assert_https(&srv);
    let anonymous = pki.client(None);
    srv.http = anonymous.clone();
    // The branch and ATM channels have no CA: their keys alone still work, without certificate.
    srv.with_card().await;

    // The switch's key without a certificate: refused.
    let (s, v) = srv
        .post(
            "/v1/verify",
            "switch",
            json!({"pan": PAN, "kind": "second", "password": STATIC_SECOND, "txn": txn("T1")}),
        )
        .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "client_certificate_required", "{v}");

    // A certificate from a CA the server does not know: the handshake fails.
    let rogue = pki.client(Some(leaf(&pki.rogue_ca, &["switch.bank"], true)));
    let e = verify_status(&srv, &rogue).await;
    assert!(e.is_err(), "{e:?}");

    // A certificate of the SMS gateway's CA does not stand in for the switch's.
    let sms_client = pki.client(Some(leaf(&pki.sms_ca, &["sms.bank"], true)));
    assert_eq!(verify_status(&srv, &sms_client).await, Ok(403));
    // ... but does for the SMS gateway's own key.
    let r = sms_client
        .post(format!("{}/v1/sms/inbound", srv.url))
        .bearer_auth(srv.key("sms"))
        .json(&json!({"from": MOBILE, "to": "10002516", "text": "7898"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);

    // The switch with its own certificate: served.
    let switch = pki.client(Some(leaf(&pki.switch_ca, &["switch.bank"], true)));
    let r = switch
        .post(format!("{}/v1/verify", srv.url))
        .bearer_auth(srv.key("switch"))
        .json(&json!({"pan": PAN, "kind": "second", "password": STATIC_SECOND, "txn": txn("T1")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["approved"], true, "{v}");

    // The app needs no certificate; admin has no CA here either.
    let (s, _) = srv
        .call(
            "POST",
            "/v1/app/tokens/nosuchtoken/removal-challenge",
            None,
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = srv.get("/v1/admin/outbox", "admin").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn tls_settings_that_do_not_hold_together_stop_the_server() {
    let pki = Pki::new();
    let run = |config: &str, args: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("pooya.toml");
        std::fs::write(&cfg, config).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pooya"))
            .arg("serve")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(&cfg)
            .args(args)
            .env_remove("POOYA_DATABASE_URL")
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // Client CAs without a certificate of the server's own.
    let e = run(&pki.config(false), &[]);
    assert!(e.contains("[tls.client_ca] needs HTTPS"), "{e}");
    // A certificate without its key.
    let cert = pki.path("server.pem").display().to_string();
    let e = run(TEST_CONFIG, &["--tls-cert", &cert]);
    assert!(e.contains("--tls-key"), "{e}");
    // A key file that holds no key.
    let e = run(TEST_CONFIG, &["--tls-cert", &cert, "--tls-key", &cert]);
    assert!(e.contains("TLS"), "{e}");
    let missing: &Path = &pki.path("nope.pem");
    let e = run(
        TEST_CONFIG,
        &[
            "--tls-cert",
            &missing.display().to_string(),
            "--tls-key",
            &cert,
        ],
    );
    assert!(e.contains("nope.pem"), "{e}");
}
