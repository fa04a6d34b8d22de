//! The provider's handle: [`SmppProvider::start`] spawns the session task, `send` cuts a message
//! into its parts and submits them through the session, one window of requests at a time.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pooya_issuer::domain::Mobile;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::time::{timeout, Instant};

use super::config::SmppConfig;
use super::inbound::InboundSms;
use super::link::{Counters, LinkState, Request, Shared};
use super::pdu::{self, status, Pdu, ShortMessage};
use super::session::session_task;
use super::text;
use super::validity;
use crate::{SendError, SmsProvider};

/// Requests in flight at once (the SMPP "window"); SMSCs commonly allow 10.
const WINDOW: usize = 10;
/// Incoming messages waiting for the receiver.
const INBOUND_QUEUE: usize = 256;

/// Counters since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SmppStats {
    /// Messages the SMSC accepted (all parts).
    pub submitted: u64,
    /// `send` calls that returned an error.
    pub failed: u64,
    /// Delivery receipts received.
    pub receipts: u64,
    /// Incoming messages handed to the receiver.
    pub inbound: u64,
    /// Connection attempts after the first (after a failed bind or a lost session).
    pub reconnects: u64,
    /// Whether a session is bound now.
    pub bound: bool,
}

/// The SMPP provider: a handle on the session task.
pub struct SmppProvider {
    shared: Arc<Shared>,
    requests: mpsc::Sender<Request>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    window: Semaphore,
    next_ref: AtomicU32,
}

impl SmppProvider {
    /// Starts the session task (connects, binds, keeps alive, reconnects with backoff). Returns at
    /// once; `send` waits (bounded by `response_timeout_ms`) for a bound session. Incoming
    /// deliver_sm that are not delivery receipts are decoded and sent to the returned receiver;
    /// drop it to refuse incoming messages (they are then answered ESME_RX_P_APPN).
    /// Must be called inside a Tokio runtime.
    pub fn start(cfg: SmppConfig) -> (SmppProvider, mpsc::Receiver<InboundSms>) {
        if let Err(e) = cfg.validate() {
            tracing::error!(error = %e, "SMPP configuration is invalid; every bind will fail");
        }
        let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_QUEUE);
        let (req_tx, req_rx) = mpsc::channel(WINDOW);
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            cfg,
            state: watch::Sender::new(LinkState::Down),
            last_error: Mutex::new("not connected yet".into()),
            counters: Counters::default(),
        });
        let task = tokio::spawn(session_task(shared.clone(), req_rx, stop_rx, inbound_tx));
        // Seed the concatenation reference so that a restart does not reuse the last one at once.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let provider = SmppProvider {
            shared,
            requests: req_tx,
            stop: stop_tx,
            task: Mutex::new(Some(task)),
            window: Semaphore::new(WINDOW),
            next_ref: AtomicU32::new(seed),
        };
        (provider, inbound_rx)
    }

    pub fn stats(&self) -> SmppStats {
        let c = &self.shared.counters;
        SmppStats {
            submitted: c.submitted.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            receipts: c.receipts.load(Ordering::Relaxed),
            inbound: c.inbound.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
            bound: *self.shared.state.borrow() == LinkState::Bound,
        }
    }

    /// Stops taking messages, waits for the answers still due (bounded by the response timeout),
    /// unbinds and closes. Later sends fail.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    async fn wait_bound(&self) -> Result<(), String> {
        let t = self.shared.cfg.response_timeout();
        let mut rx = self.shared.state.subscribe();
        let state = match timeout(t, rx.wait_for(|s| *s != LinkState::Down)).await {
            Ok(Ok(s)) => *s,
            Ok(Err(_)) => LinkState::Closed,
            Err(_) => {
                return Err(format!(
                    "no bound SMPP session within {} ms (last error: {})",
                    t.as_millis(),
                    self.shared.last_error()
                ))
            }
        };
        match state {
            LinkState::Bound => Ok(()),
            _ => Err("the SMPP provider is shut down".into()),
        }
    }

    /// Sends one request through the session and waits for its response.
    async fn request(&self, command_id: u32, body: Vec<u8>) -> Result<Pdu, String> {
        let _permit = self
            .window
            .acquire()
            .await
            .map_err(|_| "the SMPP provider is shut down".to_string())?;
        let t = self.shared.cfg.response_timeout();
        let (reply, answer) = oneshot::channel();
        let req = Request {
            command_id,
            body,
            deadline: Instant::now() + t,
            reply,
        };
        self.requests
            .send(req)
            .await
            .map_err(|_| "the SMPP provider is shut down".to_string())?;
        // The session task answers by the deadline; the margin only guards against a wedged task.
        match timeout(t + Duration::from_secs(2), answer).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(
                "the SMPP session ended before the SMSC answered; the message may or may not have been accepted"
                    .into(),
            ),
            Err(_) => Err(
                "the SMPP session did not answer in time; the message may or may not have been accepted"
                    .into(),
            ),
        }
    }

    /// Submits every part of `text`, each with the code's remaining life at its submission as its
    /// validity period (`expires_at_ms` on the clock of `sent_at_ms`).
    async fn submit(
        &self,
        to: &Mobile,
        text: &str,
        expires_at_ms: Option<i64>,
        sent_at_ms: i64,
    ) -> Result<Vec<String>, SendError> {
        let started = Instant::now();
        let reference = self.next_ref.fetch_add(1, Ordering::Relaxed) as u8;
        // A text that does not fit, or a part that does not encode, never will.
        let parts = text::split(text, reference).map_err(SendError::Permanent)?;
        let cfg = &self.shared.cfg;
        let (source_addr_ton, source_addr_npi) = cfg.source_ton_npi();
        // National 09xxxxxxxxx to international 989xxxxxxxxx.
        let destination_addr = format!("98{}", &to.as_str()[1..]);
        self.wait_bound().await.map_err(SendError::Temporary)?;
        let total = parts.len();
        let mut ids = Vec::with_capacity(total);
        for (i, part) in parts.into_iter().enumerate() {
            let which = if total > 1 {
                format!(" (part {} of {total})", i + 1)
            } else {
                String::new()
            };
            let elapsed_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
            let validity_period =
                crate::validity_secs(expires_at_ms, sent_at_ms.saturating_add(elapsed_ms))?
                    .map(|secs| validity::relative(secs.into()))
                    .unwrap_or_default();
            let body = ShortMessage {
                source_addr_ton,
                source_addr_npi,
                source_addr: cfg.source_addr.trim_start_matches('+').to_owned(),
                dest_addr_ton: 1,
                dest_addr_npi: 1,
                destination_addr: destination_addr.clone(),
                esm_class: part.esm_class,
                validity_period,
                registered_delivery: 1,
                data_coding: part.data_coding,
                short_message: part.short_message,
                ..ShortMessage::default()
            }
            .encode()
            .map_err(|e| SendError::Permanent(e.to_string()))?;
            let resp = self
                .request(pdu::SUBMIT_SM, body)
                .await
                .map_err(|e| SendError::Temporary(format!("submit_sm{which}: {e}")))?;
            if resp.command_id == pdu::GENERIC_NACK {
                return Err(refusal(
                    resp.status,
                    format!(
                        "the SMSC refused submit_sm{which} with generic_nack {}",
                        pdu::describe_status(resp.status)
                    ),
                ));
            }
            if resp.status != status::ESME_ROK {
                return Err(refusal(
                    resp.status,
                    format!(
                        "the SMSC refused the message{which}: {}",
                        pdu::describe_status(resp.status)
                    ),
                ));
            }
            // Status 0 is the acceptance; a malformed message_id only costs receipt matching.
            match pdu::decode_cstr_body(&resp.body, 65, "submit_sm_resp") {
                Ok(id) => ids.push(id),
                Err(e) => {
                    tracing::warn!(error = %e, "SMSC accepted a message with a malformed message_id");
                    ids.push(String::new());
                }
            }
        }
        Ok(ids)
    }
}

impl Drop for SmppProvider {
    fn drop(&mut self) {
        // Ends the session task (with an unbind) if `shutdown` was not called.
        self.stop.send_replace(true);
    }
}

#[async_trait]
impl SmsProvider for SmppProvider {
    async fn send(
        &self,
        to: &Mobile,
        text: &str,
        expires_at_ms: Option<i64>,
        sent_at_ms: i64,
    ) -> Result<(), SendError> {
        match self.submit(to, text, expires_at_ms, sent_at_ms).await {
            Ok(ids) => {
                self.shared
                    .counters
                    .submitted
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(to = %to.masked(), parts = ids.len(), message_id = %ids.join(","), "SMS accepted by the SMSC");
                Ok(())
            }
            Err(e) => {
                self.shared.counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(to = %to.masked(), error = %e, "SMPP submit failed");
                Err(e)
            }
        }
    }
}

/// The SMSC's refusal of a part, permanent when its status is about the message itself, so that
/// sending the message again could only be refused again: a destination the SMSC does not serve
/// or does not take in the form pooya writes it, a length, an esm_class (the UDH of a long
/// message) or a validity period (pooya's relative form) it does not take. Any other status — throttling, a full queue, a system error, an
/// unknown or vendor-specific code — may pass, and the outbox tries again.
fn refusal(command_status: u32, why: String) -> SendError {
    match command_status {
        status::ESME_RINVMSGLEN
        | status::ESME_RINVDSTADR
        | status::ESME_RINVESMCLASS
        | status::ESME_RINVDSTTON
        | status::ESME_RINVDSTNPI
        | status::ESME_RINVEXPIRY => SendError::Permanent(why),
        _ => SendError::Temporary(why),
    }
}
