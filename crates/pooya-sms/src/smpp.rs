//! SMPP 3.4 to an SMSC: one transceiver session that carries the bank's outgoing codes
//! (submit_sm) and the holders' incoming requests (deliver_sm, R21), kept alive with enquire_link
//! and re-established with growing delay whenever it breaks.
//!
//! # Delivery guarantees
//!
//! [`SmppProvider::send`](crate::SmsProvider::send) returns `Ok` only after every part of the
//! message was answered by a submit_sm_resp with status 0: that answer is the SMSC taking
//! responsibility for the message.
//! Any other outcome is an `Err`, and the outbox tries the whole message again later, unless the
//! error is [`SendError::Permanent`](crate::SendError::Permanent): a text that needs more than 255
//! parts, a code with less than a second to live, or an error status about the message itself
//! (ESME_RINVDSTADR, ESME_RINVDSTTON, ESME_RINVDSTNPI, ESME_RINVMSGLEN, ESME_RINVESMCLASS,
//! ESME_RINVEXPIRY), which no retry can change; the outbox gives such a message up.
//!
//! Every part of a message that carries a code goes with a relative `validity_period`
//! ([`validity`]): the code's remaining life when the part is submitted, so that an SMSC holding
//! the message (the phone off, a congested network) drops it rather than deliver a dead code.
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
//! it keeps the default [`SmsProvider::send_queued`](crate::SmsProvider::send_queued), which simply
//! sends.
//!
//! Incoming deliver_sm are acknowledged only once they are in the receiver's queue (a full queue
//! answers ESME_RX_T_APPN so the SMSC redelivers later). Delivery receipts are counted and logged
//! (message id and state only), never passed on as requests.
//!
//! Message texts and the password are never logged; numbers are logged masked.
//!
//! The wire format is written here ([`pdu`]) rather than taken from a crate: the few PDUs pooya
//! needs are small, and owning them keeps the error handling above exact.
//!
//! # Modules
//!
//! - `config`: [`SmppConfig`], the `[sms_provider.smpp]` table and its SMPP 3.4 limits;
//! - `provider`: [`SmppProvider`], the handle `send` goes through: it cuts a text into parts
//!   ([`text`]) and submits them, a window of requests at a time;
//! - `session`: the task that owns the TCP connection: bind, request/response matching,
//!   enquire_link, reconnection with backoff;
//! - `link`: what the handle and the task share (link state, counters, requests in flight);
//! - `inbound`: deliver_sm from the SMSC: holders' messages ([`InboundSms`]) and delivery receipts;
//! - [`pdu`]: the wire format; [`text`]: GSM/UCS-2 encoding and concatenation; [`validity`]:
//!   the validity period's time format;
//! - [`simulator`]: an SMSC for tests.

mod config;
mod inbound;
mod link;
pub mod pdu;
mod provider;
mod session;
pub mod simulator;
pub mod text;
pub mod validity;

pub use config::SmppConfig;
pub use inbound::InboundSms;
pub use provider::{SmppProvider, SmppStats};
