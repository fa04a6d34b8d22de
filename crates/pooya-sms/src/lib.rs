//! SMS providers: where the outbox's messages leave the bank. One trait, one implementation per
//! kind of gateway, chosen by configuration (`[sms_provider] kind`).

use std::io::Write;
use std::path::PathBuf;

use async_trait::async_trait;
use pooya_issuer::domain::Mobile;

#[async_trait]
pub trait SmsProvider: Send + Sync + 'static {
    /// Hands one message to the network. `Err` holds a reason that contains no part of the text.
    async fn send(&self, to: &Mobile, text: &str, sent_at_ms: i64) -> Result<(), String>;
}

/// The default provider: every message appended to a JSON-lines file (API.md), synced to disk.
pub struct FileProvider {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl FileProvider {
    pub fn new(path: PathBuf) -> FileProvider {
        FileProvider {
            path,
            lock: tokio::sync::Mutex::new(()),
        }
    }
}

#[async_trait]
impl SmsProvider for FileProvider {
    async fn send(&self, to: &Mobile, text: &str, sent_at_ms: i64) -> Result<(), String> {
        let mut line = serde_json::to_string(&serde_json::json!({
            "to": to.as_str(),
            "text": text,
            "sent_at": pooya_issuer::clock::rfc3339(sent_at_ms),
        }))
        .map_err(|e| e.to_string())?;
        line.push('\n');
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            f.write_all(line.as_bytes())?;
            f.sync_data()
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot append to the outbox file: {e}"))
    }
}

pub mod http;
pub mod smpp;
