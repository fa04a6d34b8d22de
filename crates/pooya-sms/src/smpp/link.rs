//! What the provider's handle and its session task share: the link's state, the counters, the last
//! error, and the requests the handle passes to the task.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::config::SmppConfig;
use super::pdu::Pdu;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LinkState {
    Down,
    Bound,
    Closed,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) submitted: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) receipts: AtomicU64,
    pub(super) inbound: AtomicU64,
    pub(super) reconnects: AtomicU64,
}

pub(super) struct Shared {
    pub(super) cfg: SmppConfig,
    pub(super) state: watch::Sender<LinkState>,
    pub(super) last_error: Mutex<String>,
    pub(super) counters: Counters,
}

impl Shared {
    pub(super) fn set_error(&self, e: &str) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = e.to_owned();
    }
    pub(super) fn last_error(&self) -> String {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// What `send` asks of the session task: write this request, hand back its response.
pub(super) struct Request {
    pub(super) command_id: u32,
    pub(super) body: Vec<u8>,
    pub(super) deadline: Instant,
    pub(super) reply: oneshot::Sender<Result<Pdu, String>>,
}
