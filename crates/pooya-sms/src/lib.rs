//! SMS providers: where the outbox's messages leave the bank. One trait, one implementation per
//! kind of gateway, chosen by configuration (`[sms_provider] kind`): [`FileProvider`] (a JSON-lines
//! file, the default), [`http::HttpProvider`] (a JSON-over-HTTP gateway) and
//! [`smpp::SmppProvider`] (an SMPP 3.4 session to the bank's SMSC, which also brings the holders'
//! messages in).

use async_trait::async_trait;
use pooya_issuer::domain::Mobile;

mod file;
pub mod http;
pub mod smpp;

pub use file::FileProvider;

#[async_trait]
pub trait SmsProvider: Send + Sync + 'static {
    /// Hands one message to the network. `Err` holds a reason that contains no part of the text.
    async fn send(&self, to: &Mobile, text: &str, sent_at_ms: i64) -> Result<(), String>;

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
    ) -> Result<(), String> {
        let _ = (id, queued_at_ms);
        self.send(to, text, sent_at_ms).await
    }
}
