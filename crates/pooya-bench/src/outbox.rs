//! The SMS outbox file of the server (the file provider): the activation codes the setup reads.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pooya_bench::Res;
use serde_json::Value;

/// Reads `sms-outbox.jsonl` as it grows and keeps the texts by recipient.
pub struct Outbox {
    pub path: PathBuf,
    pub state: Mutex<OutboxState>,
}

#[derive(Default)]
pub struct OutboxState {
    pub offset: u64,
    /// Bytes after the last complete line (the server may be in the middle of appending one).
    pub partial: Vec<u8>,
    pub by_mobile: HashMap<String, Vec<String>>,
}

impl Outbox {
    pub fn new(path: PathBuf) -> Outbox {
        Outbox {
            path,
            state: Mutex::new(OutboxState::default()),
        }
    }

    pub fn refresh(&self, st: &mut OutboxState) -> Res<()> {
        let mut f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("{}: {e}", self.path.display())),
        };
        f.seek(SeekFrom::Start(st.offset))
            .map_err(|e| e.to_string())?;
        let n = f.read_to_end(&mut st.partial).map_err(|e| e.to_string())?;
        st.offset += n as u64;
        while let Some(i) = st.partial.iter().position(|&b| b == b'\n') {
            let bytes: Vec<u8> = st.partial.drain(..=i).collect();
            let line =
                String::from_utf8(bytes).map_err(|_| "an outbox line is not UTF-8".to_string())?;
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(&line)
                .map_err(|e| format!("outbox line is not JSON ({e}): {line:?}"))?;
            let to = v["to"].as_str().unwrap_or_default().to_owned();
            let text = v["text"].as_str().unwrap_or_default().to_owned();
            st.by_mobile.entry(to).or_default().push(text);
        }
        Ok(())
    }

    /// The 6-digit code of the first SMS to `mobile`, waiting for it up to 30 s.
    pub async fn sms_code(&self, mobile: &str) -> Res<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            {
                let mut st = self.state.lock().unwrap();
                self.refresh(&mut st)?;
                if let Some(text) = st.by_mobile.get(mobile).and_then(|t| t.first()) {
                    return first_digit_run(text, 6)
                        .ok_or_else(|| format!("no 6-digit code in the SMS to {mobile}"));
                }
            }
            if Instant::now() > deadline {
                return Err(format!("no SMS to {mobile} within 30 s"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The first run of exactly `n` ASCII digits in `text`.
pub fn first_digit_run(text: &str, n: usize) -> Option<String> {
    let mut run = String::new();
    for ch in text.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_digit() {
            run.push(ch);
        } else {
            if run.len() == n {
                return Some(run);
            }
            run.clear();
        }
    }
    None
}
