//! SMS providers: where the outbox's messages leave the bank. One trait, one implementation per
//! kind of gateway, chosen by configuration (`[sms_provider] kind`): [`FileProvider`] (a JSON-lines
//! file, the default), [`http::HttpProvider`] (a JSON-over-HTTP gateway) and
//! [`smpp::SmppProvider`] (an SMPP 3.4 session to the bank's SMSC, which also brings the holders'
//! messages in). A provider that fails says whether the failure is temporary ([`SendError`]): the
//! delivery worker tries a temporary one again later and gives a permanent one up.

use async_trait::async_trait;
use pooya_issuer::domain::Mobile;

mod file;
pub mod http;
pub mod smpp;

pub use file::FileProvider;

/// Why a provider did not take a message. The text names what happened and never holds any part
/// of the message; the outbox records it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: the gateway or the SMSC may take the message then (a timeout, a
    /// lost or refused connection, throttling, a full queue, an answer whose cause may pass).
    #[error("{0}")]
    Temporary(String),
    /// The message can never go as it is: sending it again could only be refused again (the SMSC
    /// refused its destination or its length, the text needs more parts than SMS allows).
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Permanent(_))
    }

    /// What happened, in words that hold no part of the message.
    pub fn reason(&self) -> &str {
        match self {
            SendError::Temporary(why) | SendError::Permanent(why) => why,
        }
    }
}

#[async_trait]
pub trait SmsProvider: Send + Sync + 'static {
    /// Hands one message to the network.
    async fn send(&self, to: &Mobile, text: &str, sent_at_ms: i64) -> Result<(), SendError>;

    /// Hands over message `id` of the outbox, queued at `queued_at_ms`. The delivery worker calls
    /// this one. A provider that can tell it already took this very message (the server died
    /// between the provider taking it and the outbox marking it sent) answers `Ok` without
    /// sending it again; by default it simply sends.
    async fn send_queued(
        &self,
        id: i64,
        queued_at_ms: i64,
        to: &Mobile,
        text: &str,
        sent_at_ms: i64,
    ) -> Result<(), SendError> {
        let _ = (id, queued_at_ms);
        self.send(to, text, sent_at_ms).await
    }
}
