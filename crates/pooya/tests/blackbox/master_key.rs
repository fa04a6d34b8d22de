//! Every server of one database must hold the master key the database was made with: one with
//! another key would find no card and open no seed, so it refuses to start and says why.

use crate::common::*;

#[tokio::test]
async fn a_server_with_another_master_key_refuses_to_start() {
    let mut srv = TestServer::start().await;
    srv.with_card().await;
    srv.kill9();
    let key = srv.data_dir().join("master.key");
    let original = std::fs::read(&key).unwrap();
    std::fs::write(&key, [9u8; 32]).unwrap();
    let cfg = srv.dir.path().join("pooya.toml");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pooya"));
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(srv.data_dir())
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--config")
        .arg(&cfg);
    if let Some(db) = &srv.db {
        cmd.arg("--database-url").arg(&db.url);
    } else {
        cmd.env_remove("POOYA_DATABASE_URL");
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not the one this database was made with"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "it never listened");
    // With its own key back, it starts and knows the card.
    std::fs::write(&key, original).unwrap();
    srv.restart();
    assert_eq!(srv.card_info(PAN).await.pan_masked, "628023******7898");
}
