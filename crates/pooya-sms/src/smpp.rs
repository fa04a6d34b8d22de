//! SMPP 3.4 to an SMSC: one transceiver session that carries the bank's outgoing codes
//! (submit_sm) and the holders' incoming requests (deliver_sm, R21), kept alive with enquire_link
//! and re-established with growing delay whenever it breaks.
//!
//! # Delivery guarantees
//!
//! [`SmppProvider::send`] returns `Ok` only after every part of the message was answered by a
//! submit_sm_resp with status 0: that answer is the SMSC taking responsibility for the message.
//! Any other outcome is an `Err`, and the outbox tries the whole message again later:
//! - an error status (throttling, a full queue, a refused address …): the SMSC said no, so the
//!   retry cannot duplicate that part;
//! - no answer in time, a dropped connection, garbage on the wire: the SMSC may or may not have
//!   taken the message, and the retry may deliver it twice. SMPP gives a client no way to ask
//!   "did you get submit_sm #N?", so this is the at-least-once edge; the error says so. After a
//!   missing answer the session is closed and rebuilt, so a late answer can never be mistaken for
//!   another message's;
//! - a long message whose later part fails: the parts already accepted are sent again with the
//!   retry (under a new concatenation reference).
//!
//! SMPP has no idempotency key, so the provider cannot recognise a message it already handed over:
//! it keeps the default [`SmsProvider::send_queued`], which simply sends.
//!
//! Incoming deliver_sm are acknowledged only once they are in the receiver's queue (a full queue
//! answers ESME_RX_T_APPN so the SMSC redelivers later). Delivery receipts are counted and logged
//! (message id and state only), never passed on as requests.
//!
//! Message texts and the password are never logged; numbers are logged masked.
//!
//! The wire format is written here ([`pdu`]) rather than taken from a crate: the few PDUs pooya
//! needs are small, and owning them keeps the error handling above exact.

pub mod pdu;
pub mod simulator;
pub mod text;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pooya_issuer::domain::Mobile;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::time::{sleep_until, timeout, timeout_at, Instant};

use crate::SmsProvider;
use pdu::{status, Framer, Pdu, ShortMessage};

/// Requests in flight at once (the SMPP "window"); SMSCs commonly allow 10.
const WINDOW: usize = 10;
/// First delay before reconnecting; it doubles up to `reconnect_max_secs`.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// A session that stayed up this long resets the backoff when it ends.
const STABLE_SESSION: Duration = Duration::from_secs(10);
/// Incoming messages waiting for the receiver.
const INBOUND_QUEUE: usize = 256;
/// Unfinished concatenated incoming messages kept, and for how long.
const MAX_PARTIAL: usize = 64;
const PARTIAL_TTL: Duration = Duration::from_secs(600);

fn default_enquire_link_secs() -> u64 {
    30
}
fn default_response_timeout_ms() -> u64 {
    10_000
}
fn default_reconnect_max_secs() -> u64 {
    30
}

/// `[sms_provider] kind = "smpp"`.
#[derive(Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmppConfig {
    pub host: String,
    pub port: u16,
    /// At most 15 characters.
    pub system_id: String,
    /// At most 8 characters (SMPP 3.4). Never logged; `Debug` shows `[redacted]`.
    pub password: String,
    /// At most 12 characters; usually empty.
    #[serde(default)]
    pub system_type: String,
    /// The bank's short number (R21), the sender of every SMS and where requests are texted to.
    pub source_addr: String,
    /// TON of `source_addr`. Unset: 5 (alphanumeric) if it holds a letter, else 0 (unknown).
    #[serde(default)]
    pub source_addr_ton: Option<u8>,
    /// NPI of `source_addr`. Unset: 0 (unknown) for alphanumeric, else 1 (ISDN/E.164).
    #[serde(default)]
    pub source_addr_npi: Option<u8>,
    /// Idle time before an enquire_link; 0 turns keep-alive off.
    #[serde(default = "default_enquire_link_secs")]
    pub enquire_link_secs: u64,
    /// How long to wait for connecting, for a bound session, and for each response.
    #[serde(default = "default_response_timeout_ms")]
    pub response_timeout_ms: u64,
    /// Ceiling of the delay between reconnection attempts.
    #[serde(default = "default_reconnect_max_secs")]
    pub reconnect_max_secs: u64,
}

impl fmt::Debug for SmppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmppConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("system_id", &self.system_id)
            .field("password", &"[redacted]")
            .field("system_type", &self.system_type)
            .field("source_addr", &self.source_addr)
            .field("source_addr_ton", &self.source_addr_ton)
            .field("source_addr_npi", &self.source_addr_npi)
            .field("enquire_link_secs", &self.enquire_link_secs)
            .field("response_timeout_ms", &self.response_timeout_ms)
            .field("reconnect_max_secs", &self.reconnect_max_secs)
            .finish()
    }
}

impl SmppConfig {
    /// A configuration with the defaults for everything optional.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        system_id: impl Into<String>,
        password: impl Into<String>,
        source_addr: impl Into<String>,
    ) -> SmppConfig {
        SmppConfig {
            host: host.into(),
            port,
            system_id: system_id.into(),
            password: password.into(),
            system_type: String::new(),
            source_addr: source_addr.into(),
            source_addr_ton: None,
            source_addr_npi: None,
            enquire_link_secs: default_enquire_link_secs(),
            response_timeout_ms: default_response_timeout_ms(),
            reconnect_max_secs: default_reconnect_max_secs(),
        }
    }

    /// Checks what SMPP 3.4 limits; the server should call it when loading its configuration.
    pub fn validate(&self) -> Result<(), String> {
        fn field(name: &str, v: &str, max: usize, empty_ok: bool) -> Result<(), String> {
            if !v.is_ascii() || v.bytes().any(|b| b.is_ascii_control()) {
                return Err(format!("smpp {name} must be printable ASCII"));
            }
            if v.len() > max {
                return Err(format!("smpp {name} is longer than {max} characters"));
            }
            if v.is_empty() && !empty_ok {
                return Err(format!("smpp {name} is empty"));
            }
            Ok(())
        }
        if self.host.is_empty() {
            return Err("smpp host is empty".into());
        }
        field("system_id", &self.system_id, 15, false)?;
        // The password's content is not echoed, whatever is wrong with it.
        field("password", &self.password, 8, true)?;
        field("system_type", &self.system_type, 12, true)?;
        field("source_addr", &self.source_addr, 20, false)?;
        if self.response_timeout_ms == 0 {
            return Err("smpp response_timeout_ms must be at least 1".into());
        }
        if self.reconnect_max_secs == 0 {
            return Err("smpp reconnect_max_secs must be at least 1".into());
        }
        Ok(())
    }

    fn response_timeout(&self) -> Duration {
        Duration::from_millis(self.response_timeout_ms.max(1))
    }

    fn source_ton_npi(&self) -> (u8, u8) {
        let alpha = self
            .source_addr
            .trim_start_matches('+')
            .bytes()
            .any(|b| !b.is_ascii_digit());
        let (ton, npi) = if alpha { (5, 0) } else { (0, 1) };
        (
            self.source_addr_ton.unwrap_or(ton),
            self.source_addr_npi.unwrap_or(npi),
        )
    }
}

/// An SMS a holder sent to the bank, as the SMSC delivered it.
#[derive(Clone, PartialEq, Eq)]
pub struct InboundSms {
    /// The sender as the SMSC wrote it (often `98912…`); `Mobile::parse` reads all its forms.
    pub from: String,
    /// The number it was sent to: the bank's short number.
    pub to: String,
    pub text: String,
}

impl fmt::Debug for InboundSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundSms")
            .field("from", &mask(&self.from))
            .field("to", &self.to)
            .field("text", &"[redacted]")
            .finish()
    }
}

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LinkState {
    Down,
    Bound,
    Closed,
}

#[derive(Default)]
struct Counters {
    submitted: AtomicU64,
    failed: AtomicU64,
    receipts: AtomicU64,
    inbound: AtomicU64,
    reconnects: AtomicU64,
}

struct Shared {
    cfg: SmppConfig,
    state: watch::Sender<LinkState>,
    last_error: Mutex<String>,
    counters: Counters,
}

impl Shared {
    fn set_error(&self, e: &str) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = e.to_owned();
    }
    fn last_error(&self) -> String {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// What `send` asks of the session task: write this request, hand back its response.
struct Request {
    command_id: u32,
    body: Vec<u8>,
    deadline: Instant,
    reply: oneshot::Sender<Result<Pdu, String>>,
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

    async fn submit(&self, to: &Mobile, text: &str) -> Result<Vec<String>, String> {
        let reference = self.next_ref.fetch_add(1, Ordering::Relaxed) as u8;
        let parts = text::split(text, reference)?;
        let cfg = &self.shared.cfg;
        let (source_addr_ton, source_addr_npi) = cfg.source_ton_npi();
        // National 09xxxxxxxxx to international 989xxxxxxxxx.
        let destination_addr = format!("98{}", &to.as_str()[1..]);
        self.wait_bound().await?;
        let total = parts.len();
        let mut ids = Vec::with_capacity(total);
        for (i, part) in parts.into_iter().enumerate() {
            let which = if total > 1 {
                format!(" (part {} of {total})", i + 1)
            } else {
                String::new()
            };
            let body = ShortMessage {
                source_addr_ton,
                source_addr_npi,
                source_addr: cfg.source_addr.trim_start_matches('+').to_owned(),
                dest_addr_ton: 1,
                dest_addr_npi: 1,
                destination_addr: destination_addr.clone(),
                esm_class: part.esm_class,
                registered_delivery: 1,
                data_coding: part.data_coding,
                short_message: part.short_message,
                ..ShortMessage::default()
            }
            .encode()
            .map_err(|e| e.to_string())?;
            let resp = self
                .request(pdu::SUBMIT_SM, body)
                .await
                .map_err(|e| format!("submit_sm{which}: {e}"))?;
            if resp.command_id == pdu::GENERIC_NACK {
                return Err(format!(
                    "the SMSC refused submit_sm{which} with generic_nack {}",
                    pdu::describe_status(resp.status)
                ));
            }
            if resp.status != status::ESME_ROK {
                return Err(format!(
                    "the SMSC refused the message{which}: {}",
                    pdu::describe_status(resp.status)
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
    async fn send(&self, to: &Mobile, text: &str, _sent_at_ms: i64) -> Result<(), String> {
        match self.submit(to, text).await {
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

/// A number for logs: the first 4 and last 2 characters.
fn mask(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}*****{tail}")
}

/// Resolves once a stop was asked for (or the provider is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn session_task(
    shared: Arc<Shared>,
    mut requests: mpsc::Receiver<Request>,
    mut stop: watch::Receiver<bool>,
    inbound: mpsc::Sender<InboundSms>,
) {
    let cfg = &shared.cfg;
    let max_backoff = Duration::from_secs(cfg.reconnect_max_secs.max(1));
    let mut backoff = FIRST_BACKOFF.min(max_backoff);
    let mut inbound = InboundState {
        tx: inbound,
        partial: HashMap::new(),
    };
    'outer: loop {
        let bound = tokio::select! {
            r = connect_and_bind(cfg) => r,
            _ = stopped(&mut stop) => break 'outer,
        };
        match bound {
            Ok((framer, writer, smsc)) => {
                tracing::info!(host = %cfg.host, port = cfg.port, smsc = %smsc, "SMPP session bound");
                let since = Instant::now();
                shared.state.send_replace(LinkState::Bound);
                let session = Session {
                    shared: &shared,
                    framer,
                    writer,
                    seq: 1,
                    pending: HashMap::new(),
                    last_rx: Instant::now(),
                    enquire_outstanding: false,
                    inbound: &mut inbound,
                };
                let end = session.run(&mut requests, &mut stop).await;
                shared.state.send_replace(LinkState::Down);
                match end {
                    End::Shutdown => break 'outer,
                    End::Lost(e) => {
                        tracing::warn!(error = %e, "SMPP session lost; reconnecting");
                        shared.set_error(&e);
                    }
                }
                if since.elapsed() >= STABLE_SESSION {
                    backoff = FIRST_BACKOFF.min(max_backoff);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "SMPP bind failed");
                shared.set_error(&e);
            }
        }
        // Wait before the next attempt; requests that slip in now fail at once.
        let until = Instant::now() + backoff;
        loop {
            tokio::select! {
                _ = sleep_until(until) => break,
                _ = stopped(&mut stop) => break 'outer,
                r = requests.recv() => match r {
                    Some(r) => {
                        let _ = r.reply.send(Err(format!("no bound SMPP session ({})", shared.last_error())));
                    }
                    None => break 'outer,
                },
            }
        }
        backoff = (backoff * 2).min(max_backoff);
        shared.counters.reconnects.fetch_add(1, Ordering::Relaxed);
    }
    shared.state.send_replace(LinkState::Closed);
    requests.close();
    while let Ok(r) = requests.try_recv() {
        let _ = r.reply.send(Err("the SMPP provider is shut down".into()));
    }
}

async fn connect_and_bind(
    cfg: &SmppConfig,
) -> Result<(Framer<OwnedReadHalf>, OwnedWriteHalf, String), String> {
    cfg.validate()?;
    let t = cfg.response_timeout();
    let at = format!("{}:{}", cfg.host, cfg.port);
    let stream = timeout(t, TcpStream::connect((cfg.host.as_str(), cfg.port)))
        .await
        .map_err(|_| format!("connecting to the SMSC at {at} timed out"))?
        .map_err(|e| format!("cannot connect to the SMSC at {at}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (r, mut w) = stream.into_split();
    let mut framer = Framer::new(r);
    let bind = pdu::Bind {
        system_id: cfg.system_id.clone(),
        password: cfg.password.clone(),
        system_type: cfg.system_type.clone(),
        interface_version: pdu::INTERFACE_VERSION,
        addr_ton: 0,
        addr_npi: 0,
        address_range: String::new(),
    };
    let deadline = Instant::now() + t;
    let frame = Pdu::new(pdu::BIND_TRANSCEIVER, 0, 1, bind.encode()).encode();
    timeout_at(deadline, w.write_all(&frame))
        .await
        .map_err(|_| "writing bind_transceiver timed out".to_string())?
        .map_err(|e| format!("writing bind_transceiver: {e}"))?;
    loop {
        let p = match timeout_at(deadline, framer.read_pdu()).await {
            Err(_) => {
                return Err(format!(
                    "no bind_transceiver_resp within {} ms",
                    t.as_millis()
                ))
            }
            Ok(Err(e)) => return Err(format!("while binding: {e}")),
            Ok(Ok(None)) => return Err("the SMSC closed the connection during bind".into()),
            Ok(Ok(Some(p))) => p,
        };
        match p.command_id {
            pdu::BIND_TRANSCEIVER_RESP if p.seq == 1 => {
                if p.status != status::ESME_ROK {
                    return Err(format!(
                        "bind_transceiver refused by the SMSC: {}",
                        pdu::describe_status(p.status)
                    ));
                }
                // system_id of the SMSC, for the log only: tolerate a sloppy one.
                let smsc =
                    pdu::decode_cstr_body(&p.body, 16, "bind_transceiver_resp").unwrap_or_default();
                return Ok((framer, w, smsc));
            }
            pdu::GENERIC_NACK => {
                return Err(format!(
                    "the SMSC answered bind_transceiver with generic_nack {}",
                    pdu::describe_status(p.status)
                ))
            }
            pdu::ENQUIRE_LINK => {
                let resp = Pdu::new(pdu::ENQUIRE_LINK_RESP, 0, p.seq, vec![]).encode();
                timeout_at(deadline, w.write_all(&resp))
                    .await
                    .map_err(|_| "writing enquire_link_resp timed out".to_string())?
                    .map_err(|e| format!("writing enquire_link_resp: {e}"))?;
            }
            other => {
                tracing::debug!(
                    command = pdu::command_name(other),
                    "ignored a PDU while binding"
                );
            }
        }
    }
}

enum End {
    Shutdown,
    Lost(String),
}

struct Pending {
    expect: u32,
    reply: Option<oneshot::Sender<Result<Pdu, String>>>,
    deadline: Instant,
}

struct Session<'a> {
    shared: &'a Shared,
    framer: Framer<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    seq: u32,
    pending: HashMap<u32, Pending>,
    last_rx: Instant,
    enquire_outstanding: bool,
    inbound: &'a mut InboundState,
}

impl Session<'_> {
    async fn run(
        mut self,
        requests: &mut mpsc::Receiver<Request>,
        stop: &mut watch::Receiver<bool>,
    ) -> End {
        let t = self.shared.cfg.response_timeout();
        let enquire_every = Duration::from_secs(self.shared.cfg.enquire_link_secs);
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        let mut closing = false;
        let end = loop {
            if closing && self.pending.is_empty() {
                self.unbind().await;
                break End::Shutdown;
            }
            let next_deadline = self.pending.values().map(|p| p.deadline).min();
            let enquire_at = (!enquire_every.is_zero() && !self.enquire_outstanding && !closing)
                .then(|| self.last_rx + enquire_every);
            tokio::select! {
                r = self.framer.read_pdu() => match r {
                    Ok(Some(p)) => {
                        self.last_rx = Instant::now();
                        if let Err(e) = self.on_pdu(p).await {
                            break End::Lost(e);
                        }
                    }
                    Ok(None) => break End::Lost("the SMSC closed the connection".into()),
                    Err(e) => break End::Lost(e.to_string()),
                },
                r = requests.recv(), if !closing => match r {
                    Some(r) => {
                        if let Err(e) = self.on_request(r).await {
                            break End::Lost(e);
                        }
                    }
                    None => closing = true,
                },
                _ = sleep_until(next_deadline.unwrap_or(far)), if next_deadline.is_some() => {
                    break End::Lost(format!("the SMSC did not answer within {} ms", t.as_millis()));
                }
                _ = sleep_until(enquire_at.unwrap_or(far)), if enquire_at.is_some() => {
                    self.enquire_outstanding = true;
                    let seq = self.next_seq();
                    self.pending.insert(seq, Pending {
                        expect: pdu::ENQUIRE_LINK_RESP,
                        reply: None,
                        deadline: Instant::now() + t,
                    });
                    if let Err(e) = self.write(&Pdu::new(pdu::ENQUIRE_LINK, 0, seq, vec![])).await {
                        break End::Lost(e);
                    }
                }
                _ = stopped(stop), if !closing => closing = true,
            }
        };
        if let End::Lost(reason) = &end {
            for (_, p) in self.pending.drain() {
                if let Some(reply) = p.reply {
                    let _ = reply.send(Err(format!(
                        "{reason} before it answered; the message may or may not have been accepted"
                    )));
                }
            }
        }
        end
    }

    fn next_seq(&mut self) -> u32 {
        let s = self.seq;
        self.seq = if s >= 0x7FFF_FFFF { 1 } else { s + 1 };
        s
    }

    async fn write(&mut self, p: &Pdu) -> Result<(), String> {
        let t = self.shared.cfg.response_timeout();
        match timeout(t, self.writer.write_all(&p.encode())).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!(
                "writing {} to the SMSC: {e}",
                pdu::command_name(p.command_id)
            )),
            Err(_) => Err(format!("the SMSC took no data for {} ms", t.as_millis())),
        }
    }

    async fn on_request(&mut self, r: Request) -> Result<(), String> {
        if r.reply.is_closed() {
            return Ok(()); // its sender gave up; never send what nobody waits for
        }
        if Instant::now() >= r.deadline {
            let _ = r
                .reply
                .send(Err("timed out waiting for the SMPP session".into()));
            return Ok(());
        }
        let seq = self.next_seq();
        self.pending.insert(
            seq,
            Pending {
                expect: r.command_id | pdu::RESPONSE,
                reply: Some(r.reply),
                deadline: r.deadline,
            },
        );
        self.write(&Pdu::new(r.command_id, 0, seq, r.body)).await
    }

    async fn on_pdu(&mut self, p: Pdu) -> Result<(), String> {
        if p.is_response() {
            let Some(pending) = self.pending.remove(&p.seq) else {
                tracing::warn!(
                    command = pdu::command_name(p.command_id),
                    seq = p.seq,
                    status = %pdu::describe_status(p.status),
                    "SMSC sent a response to no outstanding request; ignored"
                );
                return Ok(());
            };
            if pending.expect == pdu::ENQUIRE_LINK_RESP {
                self.enquire_outstanding = false;
            }
            if p.command_id != pending.expect && p.command_id != pdu::GENERIC_NACK {
                let why = format!(
                    "the SMSC answered with {} where {} was due",
                    pdu::command_name(p.command_id),
                    pdu::command_name(pending.expect)
                );
                if let Some(reply) = pending.reply {
                    let _ = reply.send(Err(format!(
                        "{why}; the message may or may not have been accepted"
                    )));
                }
                return Err(why);
            }
            if let Some(reply) = pending.reply {
                let _ = reply.send(Ok(p));
            }
            return Ok(());
        }
        match p.command_id {
            pdu::ENQUIRE_LINK => {
                self.write(&Pdu::new(pdu::ENQUIRE_LINK_RESP, 0, p.seq, vec![]))
                    .await
            }
            pdu::DELIVER_SM => {
                let st = self.inbound.on_deliver(&p, &self.shared.counters);
                self.write(&Pdu::new(
                    pdu::DELIVER_SM_RESP,
                    st,
                    p.seq,
                    pdu::cstr_body(""),
                ))
                .await
            }
            pdu::UNBIND => {
                self.write(&Pdu::new(pdu::UNBIND_RESP, 0, p.seq, vec![]))
                    .await?;
                Err("the SMSC unbound the session".into())
            }
            pdu::ALERT_NOTIFICATION => Ok(()),
            other => {
                tracing::warn!(
                    command_id = %format_args!("{other:#010x}"),
                    command = pdu::command_name(other),
                    "SMSC sent a request pooya does not handle; answered generic_nack"
                );
                self.write(&Pdu::new(
                    pdu::GENERIC_NACK,
                    status::ESME_RINVCMDID,
                    p.seq,
                    vec![],
                ))
                .await
            }
        }
    }

    /// unbind, a bounded wait for unbind_resp, close.
    async fn unbind(&mut self) {
        let seq = self.next_seq();
        let t = self
            .shared
            .cfg
            .response_timeout()
            .min(Duration::from_secs(2));
        if self
            .write(&Pdu::new(pdu::UNBIND, 0, seq, vec![]))
            .await
            .is_ok()
        {
            let _ = timeout(t, async {
                while let Ok(Some(p)) = self.framer.read_pdu().await {
                    if p.command_id == pdu::UNBIND_RESP
                        || (p.command_id == pdu::GENERIC_NACK && p.seq == seq)
                    {
                        break;
                    }
                }
            })
            .await;
        }
        let _ = self.writer.shutdown().await;
        tracing::info!("SMPP session unbound");
    }
}

struct Partial {
    parts: Vec<Option<Vec<u8>>>,
    data_coding: u8,
    to: String,
    started: Instant,
}

struct InboundState {
    tx: mpsc::Sender<InboundSms>,
    /// Unfinished concatenated messages by (sender, reference, total).
    partial: HashMap<(String, u16, u8), Partial>,
}

impl InboundState {
    /// Handles a deliver_sm; returns the status for its deliver_sm_resp.
    fn on_deliver(&mut self, p: &Pdu, counters: &Counters) -> u32 {
        let sm = match ShortMessage::decode(&p.body, "deliver_sm") {
            Ok(sm) => sm,
            Err(e) => {
                tracing::warn!(error = %e, "undecodable deliver_sm refused");
                return status::ESME_RX_P_APPN;
            }
        };
        match sm.esm_class & 0x3C {
            0x00 => self.on_message(&sm, counters),
            0x04 => {
                counters.receipts.fetch_add(1, Ordering::Relaxed);
                let (id, state) = receipt_fields(&sm);
                tracing::info!(to = %mask(&sm.source_addr), message_id = %id, state = %state, "SMS delivery receipt");
                status::ESME_ROK
            }
            kind => {
                tracing::debug!(
                    esm_class = %format_args!("{kind:#04x}"),
                    "deliver_sm of another message type acknowledged and ignored"
                );
                status::ESME_ROK
            }
        }
    }

    fn on_message(&mut self, sm: &ShortMessage, counters: &Counters) -> u32 {
        let payload = sm.payload();
        let (udh_concat, body) = if sm.esm_class & text::ESM_UDHI != 0 {
            match text::strip_udh(payload) {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(from = %mask(&sm.source_addr), error = %e, "incoming SMS refused");
                    return status::ESME_RX_P_APPN;
                }
            }
        } else {
            (None, payload)
        };
        let concat = udh_concat.or_else(|| sar_concat(sm));
        let mut key = None;
        let (bytes, data_coding, to) = match concat {
            Some(c) if c.total > 1 => {
                if c.seq == 0 || c.seq > c.total {
                    tracing::warn!(from = %mask(&sm.source_addr), "incoming SMS part has an impossible number; refused");
                    return status::ESME_RX_P_APPN;
                }
                let k = (sm.source_addr.clone(), c.reference, c.total);
                self.expire(&k);
                let entry = self.partial.entry(k.clone()).or_insert_with(|| Partial {
                    parts: vec![None; c.total as usize],
                    data_coding: sm.data_coding,
                    to: sm.destination_addr.clone(),
                    started: Instant::now(),
                });
                entry.parts[c.seq as usize - 1] = Some(body.to_vec());
                if entry.parts.iter().any(Option::is_none) {
                    return status::ESME_ROK; // kept until the other parts arrive
                }
                let bytes = entry.parts.iter().flatten().flatten().copied().collect();
                let r = (bytes, entry.data_coding, entry.to.clone());
                key = Some((k, c.seq));
                r
            }
            _ => (body.to_vec(), sm.data_coding, sm.destination_addr.clone()),
        };
        let text = match text::decode(data_coding, &bytes) {
            Ok(t) => t,
            Err(e) => {
                if let Some((k, _)) = &key {
                    self.partial.remove(k);
                }
                tracing::warn!(from = %mask(&sm.source_addr), error = %e, "incoming SMS refused");
                return status::ESME_RX_P_APPN;
            }
        };
        let msg = InboundSms {
            from: sm.source_addr.clone(),
            to,
            text,
        };
        match self.tx.try_send(msg) {
            Ok(()) => {
                if let Some((k, _)) = &key {
                    self.partial.remove(k);
                }
                counters.inbound.fetch_add(1, Ordering::Relaxed);
                tracing::info!(from = %mask(&sm.source_addr), "SMS received");
                status::ESME_ROK
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                // Forget this part so that its redelivery completes the message.
                if let Some((k, seq)) = &key {
                    if let Some(e) = self.partial.get_mut(k) {
                        e.parts[*seq as usize - 1] = None;
                    }
                }
                tracing::warn!(from = %mask(&sm.source_addr), "incoming SMS queue full; SMSC asked to redeliver");
                status::ESME_RX_T_APPN
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                if let Some((k, _)) = &key {
                    self.partial.remove(k);
                }
                tracing::warn!(from = %mask(&sm.source_addr), "incoming SMS refused: nobody takes incoming messages");
                status::ESME_RX_P_APPN
            }
        }
    }

    /// Drops stale unfinished messages, and the oldest one if there is no room for `keep`.
    fn expire(&mut self, keep: &(String, u16, u8)) {
        self.partial
            .retain(|_, p| p.started.elapsed() < PARTIAL_TTL);
        if self.partial.len() >= MAX_PARTIAL && !self.partial.contains_key(keep) {
            if let Some(oldest) = self
                .partial
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| k.clone())
            {
                self.partial.remove(&oldest);
            }
        }
    }
}

/// Concatenation by the sar_* TLVs instead of a UDH.
fn sar_concat(sm: &ShortMessage) -> Option<text::Concat> {
    let reference = sm.tlv(pdu::tag::SAR_MSG_REF_NUM)?;
    let total = sm.tlv(pdu::tag::SAR_TOTAL_SEGMENTS)?;
    let seq = sm.tlv(pdu::tag::SAR_SEGMENT_SEQNUM)?;
    match (reference, total, seq) {
        ([a, b], [total], [seq]) => Some(text::Concat {
            reference: u16::from_be_bytes([*a, *b]),
            total: *total,
            seq: *seq,
        }),
        _ => None,
    }
}

/// The message id and final state of a delivery receipt, from its TLVs or its text
/// (`id:… sub:… dlvrd:… submit date:… done date:… stat:DELIVRD err:… text:…`). The `text:` field
/// can quote the message, so it is never read.
fn receipt_fields(sm: &ShortMessage) -> (String, String) {
    let body = String::from_utf8_lossy(sm.payload());
    let field = |name: &str| {
        body.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .map(|v| v.chars().take(64).collect::<String>())
    };
    let id = sm
        .tlv(pdu::tag::RECEIPTED_MESSAGE_ID)
        .map(|v| String::from_utf8_lossy(v.strip_suffix(&[0]).unwrap_or(v)).into_owned())
        .or_else(|| field("id:"))
        .unwrap_or_default();
    let state = field("stat:")
        .or_else(|| {
            sm.tlv(pdu::tag::MESSAGE_STATE)
                .and_then(|v| v.first())
                .map(|s| format!("message_state {s}"))
        })
        .unwrap_or_default();
    (id, state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_numbers() {
        assert_eq!(mask("989121234567"), "9891*****67");
        assert_eq!(mask("09121234567"), "0912*****67");
        assert_eq!(mask("1234"), "****");
    }

    #[test]
    fn config_validation() {
        let ok = SmppConfig::new("127.0.0.1", 2775, "pooya", "secret", "10002516");
        assert!(ok.validate().is_ok());
        let mut c = ok.clone();
        c.password = "123456789".into();
        let e = c.validate().unwrap_err();
        assert!(e.contains("password") && !e.contains("123456789"));
        let mut c = ok.clone();
        c.system_id = "x".repeat(16);
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.source_addr = String::new();
        assert!(c.validate().is_err());
        assert_eq!(ok.source_ton_npi(), (0, 1));
        let mut c = ok;
        c.source_addr = "MaskanBank".into();
        assert_eq!(c.source_ton_npi(), (5, 0));
        c.source_addr_ton = Some(3);
        assert_eq!(c.source_ton_npi(), (3, 0));
    }

    #[test]
    fn receipt_fields_skip_the_text() {
        let sm = ShortMessage {
            esm_class: 0x04,
            short_message: b"id:abc123 sub:001 dlvrd:001 submit date:2501011200 done date:2501011201 stat:DELIVRD err:000 text:Your code 123456".to_vec(),
            ..ShortMessage::default()
        };
        assert_eq!(receipt_fields(&sm), ("abc123".into(), "DELIVRD".into()));
    }
}
