//! The session task: connects and binds (bind_transceiver), writes the provider's requests and
//! matches their responses by sequence number, answers the SMSC's requests, keeps the link alive
//! with enquire_link, and rebuilds a lost session with growing delay.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, timeout, timeout_at, Instant};

use super::config::SmppConfig;
use super::inbound::{InboundSms, InboundState};
use super::link::{LinkState, Request, Shared};
use super::pdu::{self, status, Framer, Pdu};

/// First delay before reconnecting; it doubles up to `reconnect_max_secs`.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// A session that stayed up this long resets the backoff when it ends.
const STABLE_SESSION: Duration = Duration::from_secs(10);

/// Resolves once a stop was asked for (or the provider is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

pub(super) async fn session_task(
    shared: Arc<Shared>,
    mut requests: mpsc::Receiver<Request>,
    mut stop: watch::Receiver<bool>,
    inbound: mpsc::Sender<InboundSms>,
) {
    let cfg = &shared.cfg;
    let max_backoff = Duration::from_secs(cfg.reconnect_max_secs.max(1));
    let mut backoff = FIRST_BACKOFF.min(max_backoff);
    let mut inbound = InboundState::new(inbound);
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
