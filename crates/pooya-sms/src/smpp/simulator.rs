//! A small SMSC for tests: it listens on 127.0.0.1 (port 0), takes bind_transceiver with one set
//! of credentials, records every submit_sm it accepts (with its validity period, which it checks
//! as an SMSC does: a malformed one is refused with ESME_RINVEXPIRY), answers enquire_link and
//! unbind, and can be told to misbehave on the next submit_sm (refuse it, drop the connection,
//! answer garbage, stay silent). It can also deliver incoming messages and receipts to the bound
//! client.
//!
//! ```no_run
//! # async fn demo() {
//! use pooya_sms::smpp::{simulator::Simulator, SmppConfig, SmppProvider};
//! let sim = Simulator::start("pooya", "secret").await;
//! let (provider, mut inbound) =
//!     SmppProvider::start(SmppConfig::new("127.0.0.1", sim.port(), "pooya", "secret", "10002516"));
//! // … provider.send(…) …  sim.messages()  …  sim.deliver("989121234567", "10002516", "۱۲۳۴")
//! # }
//! ```
//!
//! Not a real SMSC: one bound client at a time receives what is injected (the latest), nothing
//! is routed anywhere, and a submit_sm that was dropped or left unanswered is not recorded.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::AbortHandle;

use super::pdu::{self, status, Framer, Pdu, ShortMessage, Tlv};
use super::text::{self, Concat};
use super::validity::{self, Validity};

/// What the simulator does with the next submit_sm it gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnSubmit {
    /// Record it and answer status 0 with a fresh message id (the default).
    Accept,
    /// Answer with this error status; nothing recorded.
    Status(u32),
    /// Close the connection without answering; nothing recorded.
    Drop,
    /// Write these bytes instead of an answer; nothing recorded.
    Garbage(Vec<u8>),
    /// Never answer, keep the connection; nothing recorded.
    Silent,
}

/// A submit_sm the simulator accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedSubmit {
    pub sm: ShortMessage,
    /// The concatenation element of its UDH, if it has one.
    pub concat: Option<Concat>,
    /// The text of this part alone, decoded.
    pub text: String,
    pub message_id: String,
    /// Its `validity_period`, read.
    pub validity: Validity,
}

/// A whole message: a single submit_sm, or all parts of a concatenated one, joined in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimMessage {
    pub from: String,
    pub to: String,
    pub text: String,
    pub data_coding: u8,
    pub parts: usize,
    pub message_ids: Vec<String>,
    /// The validity period of each part, in order.
    pub validity: Vec<Validity>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    pub connections: u64,
    pub bind_attempts: u64,
    pub binds_refused: u64,
    /// Whether a client is bound now.
    pub bound: bool,
    pub submits_accepted: u64,
    pub submits_refused: u64,
    /// submit_sm dropped, answered with garbage or left unanswered on purpose.
    pub submits_unanswered: u64,
    /// enquire_link received from the client.
    pub enquire_links: u64,
    /// enquire_link_resp received from the client.
    pub enquire_link_resps: u64,
    pub unbinds: u64,
    pub generic_nacks: u64,
}

/// A concatenated message's parts: (destination, reference, total).
type GroupKey = (String, u16, u8);

enum Out {
    Bytes(Vec<u8>),
    Close,
}

#[derive(Default)]
struct Inner {
    stats: SimStats,
    password: String,
    submits: Vec<ReceivedSubmit>,
    script: VecDeque<OnSubmit>,
    /// The latest bound connection: its id and its outgoing queue.
    current: Option<(u64, mpsc::UnboundedSender<Out>)>,
    waiting: HashMap<u32, oneshot::Sender<Pdu>>,
    next_seq: u32,
    next_msg: u64,
    next_conn: u64,
}

struct State {
    system_id: String,
    inner: Mutex<Inner>,
    changed: Notify,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl State {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct Simulator {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Simulator {
    /// Listens on 127.0.0.1, a free port; binds succeed with these credentials only.
    pub async fn start(system_id: &str, password: &str) -> Simulator {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("simulator: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("simulator: local address");
        let state = Arc::new(State {
            system_id: system_id.to_owned(),
            inner: Mutex::new(Inner {
                password: password.to_owned(),
                next_seq: 1,
                ..Inner::default()
            }),
            changed: Notify::new(),
            tasks: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let id = {
                    let mut i = st.lock();
                    i.next_conn += 1;
                    i.stats.connections += 1;
                    i.next_conn
                };
                st.changed.notify_waiters();
                let h = tokio::spawn(serve(st.clone(), stream, id));
                st.tasks
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(h.abort_handle());
            }
        });
        state
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(accept.abort_handle());
        Simulator { addr, state }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn stats(&self) -> SimStats {
        self.state.lock().stats
    }

    /// Changes the password binds must give from now on.
    pub fn set_password(&self, password: &str) {
        self.state.lock().password = password.to_owned();
    }

    /// Queues a behaviour for the next submit_sm (then the next queued one, then `Accept`).
    pub fn on_next_submit(&self, what: OnSubmit) {
        self.state.lock().script.push_back(what);
    }

    /// Every submit_sm accepted so far, in order.
    pub fn submits(&self) -> Vec<ReceivedSubmit> {
        self.state.lock().submits.clone()
    }

    /// Accepted messages with concatenated parts joined, in order of their first part; a
    /// concatenated message with a part missing is left out.
    pub fn messages(&self) -> Vec<SimMessage> {
        let submits = self.submits();
        let mut out: Vec<SimMessage> = Vec::new();
        let mut groups: Vec<(GroupKey, Vec<&ReceivedSubmit>)> = Vec::new();
        let mut order: Vec<Result<usize, usize>> = Vec::new(); // Ok: single index, Err: group index
        for (i, s) in submits.iter().enumerate() {
            match s.concat {
                Some(c) if c.total > 1 => {
                    let key = (s.sm.destination_addr.clone(), c.reference, c.total);
                    // A retried message reuses no reference, but a key can recur after 256
                    // messages: start a new group when this part number is already taken.
                    let found = groups.iter().rposition(|(k, parts)| {
                        *k == key && !parts.iter().any(|p| p.concat.map(|x| x.seq) == Some(c.seq))
                    });
                    match found {
                        Some(g) => groups[g].1.push(s),
                        None => {
                            groups.push((key, vec![s]));
                            order.push(Err(groups.len() - 1));
                        }
                    }
                }
                _ => order.push(Ok(i)),
            }
        }
        for o in order {
            match o {
                Ok(i) => {
                    let s = &submits[i];
                    out.push(SimMessage {
                        from: s.sm.source_addr.clone(),
                        to: s.sm.destination_addr.clone(),
                        text: s.text.clone(),
                        data_coding: s.sm.data_coding,
                        parts: 1,
                        message_ids: vec![s.message_id.clone()],
                        validity: vec![s.validity],
                    });
                }
                Err(g) => {
                    let (key, parts) = &groups[g];
                    if parts.len() != key.2 as usize {
                        continue;
                    }
                    let mut parts = parts.clone();
                    parts.sort_by_key(|p| p.concat.map(|c| c.seq));
                    let mut bytes = Vec::new();
                    for p in &parts {
                        if let Ok((_, body)) = text::strip_udh(&p.sm.short_message) {
                            bytes.extend_from_slice(body);
                        }
                    }
                    let first = &parts[0].sm;
                    out.push(SimMessage {
                        from: first.source_addr.clone(),
                        to: first.destination_addr.clone(),
                        text: text::decode(first.data_coding, &bytes)
                            .unwrap_or_else(|e| format!("<undecodable: {e}>")),
                        data_coding: first.data_coding,
                        parts: parts.len(),
                        message_ids: parts.iter().map(|p| p.message_id.clone()).collect(),
                        validity: parts.iter().map(|p| p.validity).collect(),
                    });
                }
            }
        }
        out
    }

    /// Waits until `cond` holds for the stats, at most `within`; returns whether it held.
    pub async fn wait_until(&self, within: Duration, cond: impl Fn(&SimStats) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.state.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if cond(&self.stats()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return cond(&self.stats());
            }
        }
    }

    /// Sends a deliver_sm with `text` (data_coding 0 if GSM-safe ASCII, else UCS-2) from `from`
    /// to `to`; returns the status of the client's deliver_sm_resp.
    pub async fn deliver(&self, from: &str, to: &str, text: &str) -> Result<u32, String> {
        let parts = text::split(text, 0)?;
        if parts.len() != 1 {
            return Err("deliver: text too long for one part; use deliver_sm".into());
        }
        let p = parts.into_iter().next().expect("one part");
        self.deliver_sm(ShortMessage {
            source_addr_ton: 1,
            source_addr_npi: 1,
            source_addr: from.into(),
            destination_addr: to.into(),
            data_coding: p.data_coding,
            short_message: p.short_message,
            ..ShortMessage::default()
        })
        .await
    }

    /// Sends a delivery receipt (esm_class 0x04) for `message_id` with state `stat` (`DELIVRD`,
    /// `UNDELIV` …); returns the status of the deliver_sm_resp.
    pub async fn deliver_receipt(&self, message_id: &str, stat: &str) -> Result<u32, String> {
        let (from, to) = {
            let i = self.state.lock();
            i.submits
                .iter()
                .find(|s| s.message_id == message_id)
                .map(|s| (s.sm.destination_addr.clone(), s.sm.source_addr.clone()))
                .unwrap_or_default()
        };
        let body = format!(
            "id:{message_id} sub:001 dlvrd:{} submit date:2501011200 done date:2501011201 stat:{stat} err:000 text:",
            if stat == "DELIVRD" { "001" } else { "000" }
        );
        let mut id = message_id.as_bytes().to_vec();
        id.push(0);
        self.deliver_sm(ShortMessage {
            source_addr_ton: 1,
            source_addr_npi: 1,
            source_addr: from,
            destination_addr: to,
            esm_class: 0x04,
            short_message: body.into_bytes(),
            tlvs: vec![
                Tlv {
                    tag: pdu::tag::RECEIPTED_MESSAGE_ID,
                    value: id,
                },
                Tlv {
                    tag: pdu::tag::MESSAGE_STATE,
                    value: vec![if stat == "DELIVRD" { 2 } else { 5 }],
                },
            ],
            ..ShortMessage::default()
        })
        .await
    }

    /// Sends any deliver_sm; returns the status of the deliver_sm_resp (waits at most 5 s).
    pub async fn deliver_sm(&self, sm: ShortMessage) -> Result<u32, String> {
        let body = sm.encode().map_err(|e| e.to_string())?;
        self.request(pdu::DELIVER_SM, body).await.map(|p| p.status)
    }

    /// Sends enquire_link to the client; returns the status of its answer.
    pub async fn enquire_link(&self) -> Result<u32, String> {
        self.request(pdu::ENQUIRE_LINK, vec![])
            .await
            .map(|p| p.status)
    }

    async fn request(&self, command_id: u32, body: Vec<u8>) -> Result<Pdu, String> {
        let (tx, rx) = oneshot::channel();
        {
            let mut i = self.state.lock();
            let Some((_, out)) = i.current.clone() else {
                return Err("no client is bound".into());
            };
            let seq = i.next_seq;
            i.next_seq += 1;
            i.waiting.insert(seq, tx);
            let _ = out.send(Out::Bytes(Pdu::new(command_id, 0, seq, body).encode()));
        }
        match tokio::time::timeout(Duration::from_secs(5), rx).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(_)) => Err("the connection closed before the client answered".into()),
            Err(_) => Err("the client did not answer within 5 s".into()),
        }
    }

    /// Writes raw bytes to the bound client.
    pub fn send_raw(&self, bytes: &[u8]) -> Result<(), String> {
        let i = self.state.lock();
        let (_, out) = i.current.as_ref().ok_or("no client is bound")?;
        out.send(Out::Bytes(bytes.to_vec()))
            .map_err(|_| "the connection is gone".to_string())
    }

    /// Sends unbind to the bound client (its answer is counted, not awaited).
    pub fn unbind_client(&self) -> Result<(), String> {
        let mut i = self.state.lock();
        let seq = i.next_seq;
        i.next_seq += 1;
        let (_, out) = i.current.as_ref().ok_or("no client is bound")?;
        out.send(Out::Bytes(Pdu::new(pdu::UNBIND, 0, seq, vec![]).encode()))
            .map_err(|_| "the connection is gone".to_string())
    }

    /// Closes the bound client's connection.
    pub fn drop_connection(&self) {
        if let Some((_, out)) = self.state.lock().current.as_ref() {
            let _ = out.send(Out::Close);
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for t in self
            .state
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

async fn serve(state: Arc<State>, stream: TcpStream, conn: u64) {
    let _ = stream.set_nodelay(true);
    let (r, mut w) = stream.into_split();
    let mut framer = Framer::new(r);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut bound = false;
    loop {
        tokio::select! {
            p = framer.read_pdu() => match p {
                Ok(Some(p)) => {
                    handle(&state, conn, &mut bound, &tx, p);
                    state.changed.notify_waiters();
                }
                _ => break,
            },
            out = rx.recv() => match out {
                Some(Out::Bytes(b)) => {
                    if w.write_all(&b).await.is_err() {
                        break;
                    }
                }
                Some(Out::Close) | None => break,
            },
        }
    }
    {
        let mut i = state.lock();
        if i.current.as_ref().is_some_and(|(c, _)| *c == conn) {
            i.current = None;
            i.stats.bound = false;
            i.waiting.clear();
        }
    }
    state.changed.notify_waiters();
}

fn handle(state: &State, conn: u64, bound: &mut bool, out: &mpsc::UnboundedSender<Out>, p: Pdu) {
    let seq = p.seq;
    let reply = |command_id: u32, status: u32, body: Vec<u8>| {
        let _ = out.send(Out::Bytes(Pdu::new(command_id, status, seq, body).encode()));
    };
    let mut i = state.lock();
    match p.command_id {
        pdu::BIND_TRANSCEIVER => {
            i.stats.bind_attempts += 1;
            let st = match pdu::Bind::decode(&p.body) {
                Err(_) => status::ESME_RBINDFAIL,
                Ok(_) if *bound => status::ESME_RALYBND,
                Ok(b) if b.system_id != state.system_id => status::ESME_RINVSYSID,
                Ok(b) if b.password != i.password => status::ESME_RINVPASWD,
                Ok(_) => status::ESME_ROK,
            };
            if st == status::ESME_ROK {
                *bound = true;
                i.stats.bound = true;
                i.current = Some((conn, out.clone()));
                reply(pdu::BIND_TRANSCEIVER_RESP, st, pdu::cstr_body("pooya-sim"));
            } else {
                i.stats.binds_refused += 1;
                reply(pdu::BIND_TRANSCEIVER_RESP, st, vec![]);
            }
        }
        pdu::SUBMIT_SM if !*bound => reply(pdu::SUBMIT_SM_RESP, status::ESME_RINVBNDSTS, vec![]),
        pdu::SUBMIT_SM => {
            let sm = match ShortMessage::decode(&p.body, "submit_sm") {
                Ok(sm) => sm,
                Err(_) => {
                    i.stats.submits_refused += 1;
                    return reply(pdu::SUBMIT_SM_RESP, status::ESME_RSYSERR, vec![]);
                }
            };
            let Ok(validity) = validity::parse(&sm.validity_period) else {
                i.stats.submits_refused += 1;
                return reply(pdu::SUBMIT_SM_RESP, status::ESME_RINVEXPIRY, vec![]);
            };
            match i.script.pop_front().unwrap_or(OnSubmit::Accept) {
                OnSubmit::Accept => {
                    let (concat, body) = if sm.esm_class & text::ESM_UDHI != 0 {
                        text::strip_udh(&sm.short_message).unwrap_or((None, &[]))
                    } else {
                        (None, &sm.short_message[..])
                    };
                    let text = text::decode(sm.data_coding, body)
                        .unwrap_or_else(|e| format!("<undecodable: {e}>"));
                    i.next_msg += 1;
                    let message_id = format!("sim{:06}", i.next_msg);
                    i.stats.submits_accepted += 1;
                    i.submits.push(ReceivedSubmit {
                        sm,
                        concat,
                        text,
                        message_id: message_id.clone(),
                        validity,
                    });
                    reply(pdu::SUBMIT_SM_RESP, 0, pdu::cstr_body(&message_id));
                }
                OnSubmit::Status(st) => {
                    i.stats.submits_refused += 1;
                    reply(pdu::SUBMIT_SM_RESP, st, vec![]);
                }
                OnSubmit::Drop => {
                    i.stats.submits_unanswered += 1;
                    let _ = out.send(Out::Close);
                }
                OnSubmit::Garbage(bytes) => {
                    i.stats.submits_unanswered += 1;
                    let _ = out.send(Out::Bytes(bytes));
                }
                OnSubmit::Silent => i.stats.submits_unanswered += 1,
            }
        }
        pdu::ENQUIRE_LINK => {
            i.stats.enquire_links += 1;
            reply(pdu::ENQUIRE_LINK_RESP, 0, vec![]);
        }
        pdu::UNBIND => {
            i.stats.unbinds += 1;
            reply(pdu::UNBIND_RESP, 0, vec![]);
            let _ = out.send(Out::Close);
        }
        c if c & pdu::RESPONSE != 0 => {
            if c == pdu::ENQUIRE_LINK_RESP {
                i.stats.enquire_link_resps += 1;
            }
            if c == pdu::GENERIC_NACK {
                i.stats.generic_nacks += 1;
            }
            if let Some(w) = i.waiting.remove(&p.seq) {
                let _ = w.send(p);
            }
        }
        _ => reply(pdu::GENERIC_NACK, status::ESME_RINVCMDID, vec![]),
    }
}
