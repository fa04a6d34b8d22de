//! Incoming deliver_sm: holders' messages to the short number (R21), reassembled when they come in
//! parts and handed to the receiver, and delivery receipts, counted and logged.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::link::Counters;
use super::pdu::{self, status, Pdu, ShortMessage};
use super::text;

/// Unfinished concatenated incoming messages kept, and for how long.
const MAX_PARTIAL: usize = 64;
const PARTIAL_TTL: Duration = Duration::from_secs(600);

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

struct Partial {
    parts: Vec<Option<Vec<u8>>>,
    data_coding: u8,
    to: String,
    started: Instant,
}

pub(super) struct InboundState {
    tx: mpsc::Sender<InboundSms>,
    /// Unfinished concatenated messages by (sender, reference, total).
    partial: HashMap<(String, u16, u8), Partial>,
}

impl InboundState {
    pub(super) fn new(tx: mpsc::Sender<InboundSms>) -> InboundState {
        InboundState {
            tx,
            partial: HashMap::new(),
        }
    }

    /// Handles a deliver_sm; returns the status for its deliver_sm_resp.
    pub(super) fn on_deliver(&mut self, p: &Pdu, counters: &Counters) -> u32 {
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

/// A number for logs: the first 4 and last 2 characters.
pub(super) fn mask(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}*****{tail}")
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
    fn receipt_fields_skip_the_text() {
        let sm = ShortMessage {
            esm_class: 0x04,
            short_message: b"id:abc123 sub:001 dlvrd:001 submit date:2501011200 done date:2501011201 stat:DELIVRD err:000 text:Your code 123456".to_vec(),
            ..ShortMessage::default()
        };
        assert_eq!(receipt_fields(&sm), ("abc123".into(), "DELIVRD".into()));
    }
}
