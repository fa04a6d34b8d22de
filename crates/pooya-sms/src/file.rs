//! The file provider: the outbox's messages appended to a JSON-lines file, the default and the
//! tests' (docs/api.md).

use std::io::Write;
use std::path::PathBuf;

use async_trait::async_trait;
use pooya_issuer::domain::Mobile;

use crate::{SendError, SmsProvider};

/// The default provider: every message appended to a JSON-lines file (docs/api.md), synced to disk.
/// A message that carries a code also has `"expires_at"`, when the code dies (RFC 3339), so that
/// whatever forwards the file can drop it rather than deliver it late.
/// A line of an outbox message also carries `"message_id"` (the outbox row and the time it was
/// queued): a message found in the file already is not written again, so a crash between the
/// write and the outbox's mark does not send it twice — also when several servers share the file.
pub struct FileProvider {
    path: PathBuf,
    /// The ids seen in the file, and how far it has been read.
    seen: tokio::sync::Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    offset: u64,
    ids: std::collections::HashSet<String>,
}

impl FileProvider {
    pub fn new(path: PathBuf) -> FileProvider {
        FileProvider {
            path,
            seen: tokio::sync::Mutex::new(Seen::default()),
        }
    }

    /// Every failure is temporary: a file that cannot be written now (a full disk, a permission)
    /// may be later.
    async fn append(&self, line: serde_json::Value) -> Result<(), SendError> {
        let mut line =
            serde_json::to_string(&line).map_err(|e| SendError::Temporary(e.to_string()))?;
        line.push('\n');
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            // It holds live codes: readable by the server's user only.
            let mut f = pooya_issuer::fsutil::open_private(&path, true)?;
            f.write_all(line.as_bytes())?;
            f.sync_data()
        })
        .await
        .map_err(|e| SendError::Temporary(e.to_string()))?
        .map_err(|e| SendError::Temporary(format!("cannot append to the outbox file: {e}")))
    }
}

/// One line of the file.
fn line(
    to: &Mobile,
    text: &str,
    expires_at_ms: Option<i64>,
    sent_at_ms: i64,
    message_id: Option<&str>,
) -> serde_json::Value {
    let mut line = serde_json::json!({
        "to": to.as_str(),
        "text": text,
        "sent_at": pooya_issuer::clock::rfc3339(sent_at_ms),
    });
    if let Some(t) = expires_at_ms {
        line["expires_at"] = pooya_issuer::clock::rfc3339(t).into();
    }
    if let Some(id) = message_id {
        line["message_id"] = id.into();
    }
    line
}

/// Reads the lines appended to `path` since `seen.offset` and notes their message ids.
fn catch_up(path: &std::path::Path, seen: &mut Seen) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            *seen = Seen::default();
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    if len < seen.offset {
        // Truncated or replaced: read it again from the start.
        *seen = Seen::default();
    }
    f.seek(SeekFrom::Start(seen.offset))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    // Only whole lines: another writer may be half-way through one.
    let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
        return Ok(());
    };
    for line in buf[..end].split(|&b| b == b'\n') {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) {
            if let Some(id) = v.get("message_id").and_then(|i| i.as_str()) {
                seen.ids.insert(id.to_owned());
            }
        }
    }
    seen.offset += end as u64 + 1;
    Ok(())
}

#[async_trait]
impl SmsProvider for FileProvider {
    async fn send(
        &self,
        to: &Mobile,
        text: &str,
        expires_at_ms: Option<i64>,
        sent_at_ms: i64,
    ) -> Result<(), SendError> {
        let _guard = self.seen.lock().await;
        self.append(line(to, text, expires_at_ms, sent_at_ms, None))
            .await
    }

    async fn send_queued(
        &self,
        id: i64,
        queued_at_ms: i64,
        to: &Mobile,
        text: &str,
        expires_at_ms: Option<i64>,
        sent_at_ms: i64,
    ) -> Result<(), SendError> {
        let message_id = format!("{id}-{queued_at_ms}");
        let mut seen = self.seen.lock().await;
        let path = self.path.clone();
        let mut state = std::mem::take(&mut *seen);
        let (state, read) = tokio::task::spawn_blocking(move || {
            let r = catch_up(&path, &mut state);
            (state, r)
        })
        .await
        .map_err(|e| SendError::Temporary(e.to_string()))?;
        *seen = state;
        read.map_err(|e| SendError::Temporary(format!("cannot read the outbox file: {e}")))?;
        if seen.ids.contains(&message_id) {
            tracing::info!(id, "SMS already in the outbox file; not written again");
            return Ok(());
        }
        self.append(line(to, text, expires_at_ms, sent_at_ms, Some(&message_id)))
            .await?;
        seen.ids.insert(message_id);
        Ok(())
    }
}
