//! The SMPP 3.4 wire format, as much of it as pooya uses: the 16-octet header, the bodies of
//! bind_transceiver, submit_sm and deliver_sm (one layout for both), the C-octet-string bodies of
//! their responses, and a framer that cuts a byte stream into PDUs and refuses garbage.

use std::fmt;

use tokio::io::{AsyncRead, AsyncReadExt};

pub const GENERIC_NACK: u32 = 0x8000_0000;
pub const BIND_TRANSCEIVER: u32 = 0x0000_0009;
pub const BIND_TRANSCEIVER_RESP: u32 = 0x8000_0009;
pub const SUBMIT_SM: u32 = 0x0000_0004;
pub const SUBMIT_SM_RESP: u32 = 0x8000_0004;
pub const DELIVER_SM: u32 = 0x0000_0005;
pub const DELIVER_SM_RESP: u32 = 0x8000_0005;
pub const UNBIND: u32 = 0x0000_0006;
pub const UNBIND_RESP: u32 = 0x8000_0006;
pub const ENQUIRE_LINK: u32 = 0x0000_0015;
pub const ENQUIRE_LINK_RESP: u32 = 0x8000_0015;
pub const ALERT_NOTIFICATION: u32 = 0x0000_0102;
/// Set in the command_id of every response.
pub const RESPONSE: u32 = 0x8000_0000;

/// SMPP 3.4 interface version sent in bind_transceiver.
pub const INTERFACE_VERSION: u8 = 0x34;
pub const HEADER_LEN: usize = 16;
/// Largest PDU accepted from a peer. SMPP PDUs are a few hundred octets; a deliver_sm carrying a
/// message_payload TLV can reach 64 KiB. Anything larger is not SMPP.
pub const MAX_PDU_LEN: usize = HEADER_LEN + 0x1_0000 + 512;

/// Optional parameter tags used here.
pub mod tag {
    pub const RECEIPTED_MESSAGE_ID: u16 = 0x001E;
    pub const SAR_MSG_REF_NUM: u16 = 0x020C;
    pub const SAR_TOTAL_SEGMENTS: u16 = 0x020E;
    pub const SAR_SEGMENT_SEQNUM: u16 = 0x020F;
    pub const MESSAGE_PAYLOAD: u16 = 0x0424;
    pub const MESSAGE_STATE: u16 = 0x0427;
}

/// command_status values (SMPP 3.4 §5.1.3) that pooya sends or names in its errors.
pub mod status {
    pub const ESME_ROK: u32 = 0x0000_0000;
    pub const ESME_RINVMSGLEN: u32 = 0x0000_0001;
    pub const ESME_RINVCMDLEN: u32 = 0x0000_0002;
    pub const ESME_RINVCMDID: u32 = 0x0000_0003;
    pub const ESME_RINVBNDSTS: u32 = 0x0000_0004;
    pub const ESME_RALYBND: u32 = 0x0000_0005;
    pub const ESME_RSYSERR: u32 = 0x0000_0008;
    pub const ESME_RINVSRCADR: u32 = 0x0000_000A;
    pub const ESME_RINVDSTADR: u32 = 0x0000_000B;
    pub const ESME_RBINDFAIL: u32 = 0x0000_000D;
    pub const ESME_RINVPASWD: u32 = 0x0000_000E;
    pub const ESME_RINVSYSID: u32 = 0x0000_000F;
    pub const ESME_RMSGQFUL: u32 = 0x0000_0014;
    pub const ESME_RINVESMCLASS: u32 = 0x0000_0043;
    pub const ESME_RSUBMITFAIL: u32 = 0x0000_0045;
    pub const ESME_RINVDSTTON: u32 = 0x0000_0050;
    pub const ESME_RINVDSTNPI: u32 = 0x0000_0051;
    pub const ESME_RTHROTTLED: u32 = 0x0000_0058;
    pub const ESME_RINVEXPIRY: u32 = 0x0000_0062;
    pub const ESME_RX_T_APPN: u32 = 0x0000_0064;
    pub const ESME_RX_P_APPN: u32 = 0x0000_0065;
    pub const ESME_RX_R_APPN: u32 = 0x0000_0066;
    pub const ESME_RUNKNOWNERR: u32 = 0x0000_00FF;
}

/// The name of a command_status, for errors and logs.
pub fn status_name(s: u32) -> &'static str {
    use status::*;
    match s {
        ESME_ROK => "ESME_ROK",
        ESME_RINVMSGLEN => "ESME_RINVMSGLEN",
        ESME_RINVCMDLEN => "ESME_RINVCMDLEN",
        ESME_RINVCMDID => "ESME_RINVCMDID",
        ESME_RINVBNDSTS => "ESME_RINVBNDSTS",
        ESME_RALYBND => "ESME_RALYBND",
        0x06 => "ESME_RINVPRTFLG",
        0x07 => "ESME_RINVREGDLVFLG",
        ESME_RSYSERR => "ESME_RSYSERR",
        ESME_RINVSRCADR => "ESME_RINVSRCADR",
        ESME_RINVDSTADR => "ESME_RINVDSTADR",
        0x0C => "ESME_RINVMSGID",
        ESME_RBINDFAIL => "ESME_RBINDFAIL",
        ESME_RINVPASWD => "ESME_RINVPASWD",
        ESME_RINVSYSID => "ESME_RINVSYSID",
        ESME_RMSGQFUL => "ESME_RMSGQFUL",
        0x15 => "ESME_RINVSERTYP",
        0x33 => "ESME_RINVNUMDESTS",
        ESME_RINVESMCLASS => "ESME_RINVESMCLASS",
        ESME_RSUBMITFAIL => "ESME_RSUBMITFAIL",
        0x48 => "ESME_RINVSRCTON",
        0x49 => "ESME_RINVSRCNPI",
        ESME_RINVDSTTON => "ESME_RINVDSTTON",
        ESME_RINVDSTNPI => "ESME_RINVDSTNPI",
        0x53 => "ESME_RINVSYSTYP",
        ESME_RTHROTTLED => "ESME_RTHROTTLED",
        0x61 => "ESME_RINVSCHED",
        ESME_RINVEXPIRY => "ESME_RINVEXPIRY",
        ESME_RX_T_APPN => "ESME_RX_T_APPN",
        ESME_RX_P_APPN => "ESME_RX_P_APPN",
        ESME_RX_R_APPN => "ESME_RX_R_APPN",
        0xC0 => "ESME_RINVOPTPARSTREAM",
        0xC1 => "ESME_ROPTPARNOTALLWD",
        0xC2 => "ESME_RINVPARLEN",
        0xC3 => "ESME_RMISSINGOPTPARAM",
        0xC4 => "ESME_RINVOPTPARAMVAL",
        0xFE => "ESME_RDELIVERYFAILURE",
        ESME_RUNKNOWNERR => "ESME_RUNKNOWNERR",
        _ => "unknown status",
    }
}

/// `ESME_RTHROTTLED (0x00000058)`.
pub fn describe_status(s: u32) -> String {
    format!("{} ({s:#010x})", status_name(s))
}

/// The name of a command_id, for errors and logs.
pub fn command_name(id: u32) -> &'static str {
    match id {
        GENERIC_NACK => "generic_nack",
        BIND_TRANSCEIVER => "bind_transceiver",
        BIND_TRANSCEIVER_RESP => "bind_transceiver_resp",
        0x0000_0001 => "bind_receiver",
        0x0000_0002 => "bind_transmitter",
        SUBMIT_SM => "submit_sm",
        SUBMIT_SM_RESP => "submit_sm_resp",
        DELIVER_SM => "deliver_sm",
        DELIVER_SM_RESP => "deliver_sm_resp",
        UNBIND => "unbind",
        UNBIND_RESP => "unbind_resp",
        ENQUIRE_LINK => "enquire_link",
        ENQUIRE_LINK_RESP => "enquire_link_resp",
        ALERT_NOTIFICATION => "alert_notification",
        0x0000_000B => "outbind",
        0x0000_0103 => "data_sm",
        0x8000_0103 => "data_sm_resp",
        _ => "unknown command",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PduError {
    #[error(
        "invalid SMPP PDU (command_length {0}): the peer does not speak SMPP or the stream is corrupt"
    )]
    BadLength(u32),
    #[error("malformed {pdu} body: {what}")]
    Malformed { pdu: &'static str, what: String },
    #[error("the connection closed in the middle of a PDU")]
    Truncated,
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
}

/// One PDU: the header fields and the raw body.
#[derive(Clone, PartialEq, Eq)]
pub struct Pdu {
    pub command_id: u32,
    pub status: u32,
    pub seq: u32,
    pub body: Vec<u8>,
}

impl fmt::Debug for Pdu {
    // The body can hold a message text or a password: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pdu")
            .field("command", &command_name(self.command_id))
            .field("status", &format_args!("{:#010x}", self.status))
            .field("seq", &self.seq)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Pdu {
    pub fn new(command_id: u32, status: u32, seq: u32, body: Vec<u8>) -> Pdu {
        Pdu {
            command_id,
            status,
            seq,
            body,
        }
    }

    pub fn is_response(&self) -> bool {
        self.command_id & RESPONSE != 0
    }

    pub fn encode(&self) -> Vec<u8> {
        let len = HEADER_LEN + self.body.len();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.extend_from_slice(&self.command_id.to_be_bytes());
        out.extend_from_slice(&self.status.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// Decodes exactly one PDU from `frame`.
    pub fn decode(frame: &[u8]) -> Result<Pdu, PduError> {
        if frame.len() < HEADER_LEN {
            return Err(PduError::BadLength(frame.len() as u32));
        }
        let word =
            |i: usize| u32::from_be_bytes([frame[i], frame[i + 1], frame[i + 2], frame[i + 3]]);
        let len = word(0);
        if len as usize != frame.len() || frame.len() > MAX_PDU_LEN {
            return Err(PduError::BadLength(len));
        }
        Ok(Pdu {
            command_id: word(4),
            status: word(8),
            seq: word(12),
            body: frame[HEADER_LEN..].to_vec(),
        })
    }
}

/// Reads the fields of a body in order.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    pdu: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], pdu: &'static str) -> Reader<'a> {
        Reader { buf, pos: 0, pdu }
    }

    fn malformed(&self, what: impl Into<String>) -> PduError {
        PduError::Malformed {
            pdu: self.pdu,
            what: what.into(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn u8(&mut self, field: &str) -> Result<u8, PduError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| self.malformed(format!("ends before {field}")))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn u16(&mut self, field: &str) -> Result<u16, PduError> {
        let b = self.bytes(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn bytes(&mut self, n: usize, field: &str) -> Result<&'a [u8], PduError> {
        if self.buf.len() - self.pos < n {
            return Err(self.malformed(format!("ends inside {field}")));
        }
        let b = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    /// A C-octet string of at most `max` octets including its NUL.
    pub fn cstr(&mut self, max: usize, field: &str) -> Result<String, PduError> {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        let Some(nul) = rest.iter().position(|&b| b == 0) else {
            return Err(self.malformed(format!("{field} is not NUL-terminated")));
        };
        if nul + 1 > max {
            return Err(self.malformed(format!("{field} is longer than {} octets", max - 1)));
        }
        let s = std::str::from_utf8(&rest[..nul])
            .map_err(|_| self.malformed(format!("{field} is not ASCII")))?
            .to_owned();
        self.pos += nul + 1;
        Ok(s)
    }
}

fn put_cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

/// A body that is one C-octet string: bind_transceiver_resp's system_id (its optional TLVs are
/// ignored), submit_sm_resp's and deliver_sm_resp's message_id.
pub fn cstr_body(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 1);
    put_cstr(&mut out, s);
    out
}

pub fn decode_cstr_body(body: &[u8], max: usize, pdu: &'static str) -> Result<String, PduError> {
    Reader::new(body, pdu).cstr(max, "its first field")
}

/// The body of bind_transceiver.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Bind {
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub interface_version: u8,
    pub addr_ton: u8,
    pub addr_npi: u8,
    pub address_range: String,
}

impl fmt::Debug for Bind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bind")
            .field("system_id", &self.system_id)
            .field("password", &"[redacted]")
            .field("system_type", &self.system_type)
            .field("interface_version", &self.interface_version)
            .finish_non_exhaustive()
    }
}

impl Bind {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        put_cstr(&mut out, &self.system_id);
        put_cstr(&mut out, &self.password);
        put_cstr(&mut out, &self.system_type);
        out.push(self.interface_version);
        out.push(self.addr_ton);
        out.push(self.addr_npi);
        put_cstr(&mut out, &self.address_range);
        out
    }

    pub fn decode(body: &[u8]) -> Result<Bind, PduError> {
        let mut r = Reader::new(body, "bind_transceiver");
        Ok(Bind {
            system_id: r.cstr(16, "system_id")?,
            password: r.cstr(9, "password")?,
            system_type: r.cstr(13, "system_type")?,
            interface_version: r.u8("interface_version")?,
            addr_ton: r.u8("addr_ton")?,
            addr_npi: r.u8("addr_npi")?,
            address_range: r.cstr(41, "address_range")?,
        })
    }
}

/// An optional parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tlv {
    pub tag: u16,
    pub value: Vec<u8>,
}

/// The body of submit_sm and deliver_sm, which share one layout (SMPP 3.4 §4.4.1, §4.6.1).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ShortMessage {
    pub service_type: String,
    pub source_addr_ton: u8,
    pub source_addr_npi: u8,
    pub source_addr: String,
    pub dest_addr_ton: u8,
    pub dest_addr_npi: u8,
    pub destination_addr: String,
    pub esm_class: u8,
    pub protocol_id: u8,
    pub priority_flag: u8,
    pub schedule_delivery_time: String,
    pub validity_period: String,
    pub registered_delivery: u8,
    pub replace_if_present_flag: u8,
    pub data_coding: u8,
    pub sm_default_msg_id: u8,
    pub short_message: Vec<u8>,
    pub tlvs: Vec<Tlv>,
}

impl fmt::Debug for ShortMessage {
    // The short message is a text that may hold a code: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShortMessage")
            .field("esm_class", &format_args!("{:#04x}", self.esm_class))
            .field("data_coding", &format_args!("{:#04x}", self.data_coding))
            .field("sm_length", &self.short_message.len())
            .finish_non_exhaustive()
    }
}

impl ShortMessage {
    /// Fails when the short message is longer than the 254 octets sm_length can say.
    pub fn encode(&self) -> Result<Vec<u8>, PduError> {
        if self.short_message.len() > 254 {
            return Err(PduError::Malformed {
                pdu: "submit_sm",
                what: format!(
                    "short_message is {} octets, more than 254",
                    self.short_message.len()
                ),
            });
        }
        let mut out = Vec::with_capacity(64 + self.short_message.len());
        put_cstr(&mut out, &self.service_type);
        out.push(self.source_addr_ton);
        out.push(self.source_addr_npi);
        put_cstr(&mut out, &self.source_addr);
        out.push(self.dest_addr_ton);
        out.push(self.dest_addr_npi);
        put_cstr(&mut out, &self.destination_addr);
        out.push(self.esm_class);
        out.push(self.protocol_id);
        out.push(self.priority_flag);
        put_cstr(&mut out, &self.schedule_delivery_time);
        put_cstr(&mut out, &self.validity_period);
        out.push(self.registered_delivery);
        out.push(self.replace_if_present_flag);
        out.push(self.data_coding);
        out.push(self.sm_default_msg_id);
        out.push(self.short_message.len() as u8);
        out.extend_from_slice(&self.short_message);
        for t in &self.tlvs {
            out.extend_from_slice(&t.tag.to_be_bytes());
            out.extend_from_slice(&(t.value.len() as u16).to_be_bytes());
            out.extend_from_slice(&t.value);
        }
        Ok(out)
    }

    /// `pdu` names the PDU in errors: "submit_sm" or "deliver_sm".
    pub fn decode(body: &[u8], pdu: &'static str) -> Result<ShortMessage, PduError> {
        let mut r = Reader::new(body, pdu);
        let mut sm = ShortMessage {
            service_type: r.cstr(6, "service_type")?,
            source_addr_ton: r.u8("source_addr_ton")?,
            source_addr_npi: r.u8("source_addr_npi")?,
            source_addr: r.cstr(21, "source_addr")?,
            dest_addr_ton: r.u8("dest_addr_ton")?,
            dest_addr_npi: r.u8("dest_addr_npi")?,
            destination_addr: r.cstr(21, "destination_addr")?,
            esm_class: r.u8("esm_class")?,
            protocol_id: r.u8("protocol_id")?,
            priority_flag: r.u8("priority_flag")?,
            schedule_delivery_time: r.cstr(17, "schedule_delivery_time")?,
            validity_period: r.cstr(17, "validity_period")?,
            registered_delivery: r.u8("registered_delivery")?,
            replace_if_present_flag: r.u8("replace_if_present_flag")?,
            data_coding: r.u8("data_coding")?,
            sm_default_msg_id: r.u8("sm_default_msg_id")?,
            short_message: Vec::new(),
            tlvs: Vec::new(),
        };
        let len = r.u8("sm_length")? as usize;
        // SMPP 3.4 §5.2.21: 0 to 254 octets, what `encode` also holds to.
        if len > 254 {
            return Err(r.malformed("sm_length 255 is more than the 254 octets SMPP allows"));
        }
        sm.short_message = r.bytes(len, "short_message")?.to_vec();
        while !r.is_empty() {
            let tag = r.u16("a TLV tag")?;
            let len = r.u16("a TLV length")? as usize;
            let value = r.bytes(len, "a TLV value")?.to_vec();
            sm.tlvs.push(Tlv { tag, value });
        }
        Ok(sm)
    }

    pub fn tlv(&self, tag: u16) -> Option<&[u8]> {
        self.tlvs
            .iter()
            .find(|t| t.tag == tag)
            .map(|t| t.value.as_slice())
    }

    /// The user data: short_message, or the message_payload TLV when short_message is empty.
    pub fn payload(&self) -> &[u8] {
        if self.short_message.is_empty() {
            self.tlv(tag::MESSAGE_PAYLOAD).unwrap_or(&[])
        } else {
            &self.short_message
        }
    }
}

/// Cuts a byte stream into PDUs.
pub struct Framer<R> {
    io: R,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Framer<R> {
    pub fn new(io: R) -> Framer<R> {
        Framer {
            io,
            buf: Vec::with_capacity(4096),
        }
    }

    /// The next PDU; `None` when the peer closed the connection between PDUs. A command_length
    /// below 16 or above [`MAX_PDU_LEN`] is an error at once, before the rest arrives.
    /// Cancel safe: bytes read so far stay in the framer.
    pub async fn read_pdu(&mut self) -> Result<Option<Pdu>, PduError> {
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                if (len as usize) < HEADER_LEN || len as usize > MAX_PDU_LEN {
                    return Err(PduError::BadLength(len));
                }
                if self.buf.len() >= len as usize {
                    let pdu = Pdu::decode(&self.buf[..len as usize]);
                    self.buf.drain(..len as usize);
                    return pdu.map(Some);
                }
            }
            self.buf.reserve(4096);
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(PduError::Truncated)
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_message_round_trips() {
        let sm = ShortMessage {
            source_addr: "10002516".into(),
            dest_addr_ton: 1,
            dest_addr_npi: 1,
            destination_addr: "989121234567".into(),
            esm_class: 0x40,
            registered_delivery: 1,
            data_coding: 8,
            short_message: vec![5, 0, 3, 7, 2, 1, 0x06, 0x31],
            tlvs: vec![Tlv {
                tag: tag::SAR_MSG_REF_NUM,
                value: vec![0, 7],
            }],
            ..ShortMessage::default()
        };
        let body = sm.encode().unwrap();
        assert_eq!(ShortMessage::decode(&body, "submit_sm").unwrap(), sm);
        let pdu = Pdu::new(SUBMIT_SM, 0, 42, body);
        assert_eq!(Pdu::decode(&pdu.encode()).unwrap(), pdu);
    }

    #[test]
    fn truncated_and_oversized_bodies_are_errors() {
        assert!(ShortMessage::decode(&[0, 1, 1], "deliver_sm").is_err());
        let sm = ShortMessage {
            short_message: vec![b'a'; 255],
            ..ShortMessage::default()
        };
        assert!(sm.encode().is_err());
        let mut body = ShortMessage::default().encode().unwrap();
        *body.last_mut().unwrap() = 9; // sm_length says 9, nothing follows
        assert!(ShortMessage::decode(&body, "deliver_sm").is_err());
    }

    /// Found by the `smpp_pdu` fuzz target: a body whose sm_length is 255 decoded, but a short
    /// message that long does not encode (SMPP allows 254 octets): decoding refuses it too.
    #[test]
    fn sm_length_255_is_refused() {
        let mut body = ShortMessage::default().encode().unwrap();
        *body.last_mut().unwrap() = 255;
        body.extend_from_slice(&[b'a'; 255]);
        assert!(matches!(
            ShortMessage::decode(&body, "deliver_sm"),
            Err(PduError::Malformed { .. })
        ));
        // The fuzzer's own input: it decodes no more.
        let crash: String = [
            "0073656500150000033421730000ffffffffffffff1900000000000000000000000000000000000000000200",
            "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "0000000000000000000000000000000000000000000000000500010000000000000010000000000000000000",
            "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "0000000000070001010000000000000000000000000000000000000000000000010000000000000000000000",
            "000000000000000000000000000000000000",
        ]
        .concat();
        let crash: Vec<u8> = (0..crash.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&crash[i..i + 2], 16).unwrap())
            .collect();
        assert!(ShortMessage::decode(&crash, "deliver_sm").is_err());
        let mut body = ShortMessage::default().encode().unwrap();
        *body.last_mut().unwrap() = 254;
        body.extend_from_slice(&[b'a'; 254]);
        let sm = ShortMessage::decode(&body, "deliver_sm").unwrap();
        assert_eq!(sm.encode().unwrap(), body);
    }

    #[test]
    fn bind_round_trips_and_debug_hides_the_password() {
        let b = Bind {
            system_id: "pooya".into(),
            password: "s3cret".into(),
            interface_version: INTERFACE_VERSION,
            ..Bind::default()
        };
        assert_eq!(Bind::decode(&b.encode()).unwrap(), b);
        assert!(!format!("{b:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn framer_splits_a_stream_and_refuses_garbage() {
        let a = Pdu::new(ENQUIRE_LINK, 0, 1, vec![]).encode();
        let b = Pdu::new(SUBMIT_SM_RESP, 0, 2, cstr_body("id-1")).encode();
        let stream: Vec<u8> = [a, b].concat();
        let mut f = Framer::new(&stream[..]);
        assert_eq!(
            f.read_pdu().await.unwrap().unwrap().command_id,
            ENQUIRE_LINK
        );
        let p = f.read_pdu().await.unwrap().unwrap();
        assert_eq!(
            decode_cstr_body(&p.body, 65, "submit_sm_resp").unwrap(),
            "id-1"
        );
        assert!(f.read_pdu().await.unwrap().is_none());

        let mut f = Framer::new(&b"HTTP/1.1 400 Bad Request\r\n\r\n"[..]);
        assert!(matches!(f.read_pdu().await, Err(PduError::BadLength(_))));
        let mut f = Framer::new(&[0u8, 0, 0, 4, 1, 2][..]);
        assert!(matches!(f.read_pdu().await, Err(PduError::BadLength(4))));
        let mut f = Framer::new(&[0u8, 0, 0, 20, 0, 0, 0, 21][..]);
        assert!(matches!(f.read_pdu().await, Err(PduError::Truncated)));
    }
}
