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
    /// Hands one message to the network. `expires_at_ms`: the moment the code it carries dies
    /// (`None`: it carries none); a provider whose network can be told so asks it not to deliver
    /// the message after then ([`validity_secs`]), so that a code is never delivered dead.
    async fn send(
        &self,
        to: &Mobile,
        text: &str,
        expires_at_ms: Option<i64>,
        sent_at_ms: i64,
    ) -> Result<(), SendError>;

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
        expires_at_ms: Option<i64>,
        sent_at_ms: i64,
    ) -> Result<(), SendError> {
        let _ = (id, queued_at_ms);
        self.send(to, text, expires_at_ms, sent_at_ms).await
    }
}

/// How long the network may keep a message sent at `now_ms` before delivering it: the whole
/// seconds its code has left (rounded down, so that it never outlives the code), or `None` for a
/// message that carries no code (the network's default applies). A code with less than a second
/// left is not worth sending: a permanent failure, which the outbox gives up.
pub fn validity_secs(expires_at_ms: Option<i64>, now_ms: i64) -> Result<Option<u32>, SendError> {
    let Some(expires) = expires_at_ms else {
        return Ok(None);
    };
    let left_ms = expires.saturating_sub(now_ms);
    if left_ms < 1000 {
        return Err(SendError::Permanent(
            "its code expires before it could be delivered".into(),
        ));
    }
    Ok(Some(u32::try_from(left_ms / 1000).unwrap_or(u32::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_is_the_codes_remaining_life_rounded_down() {
        assert_eq!(validity_secs(None, 5), Ok(None));
        assert_eq!(validity_secs(Some(61_000), 1_000), Ok(Some(60)));
        assert_eq!(validity_secs(Some(61_999), 1_000), Ok(Some(60)));
        assert_eq!(validity_secs(Some(2_000), 1_000), Ok(Some(1)));
        for expires in [1_999, 1_000, 0, i64::MIN] {
            let e = validity_secs(Some(expires), 1_000).unwrap_err();
            assert!(e.is_permanent(), "{expires}");
        }
        assert_eq!(validity_secs(Some(i64::MAX), 0), Ok(Some(u32::MAX)));
    }
}
