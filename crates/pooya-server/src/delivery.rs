//! SMS delivery: a worker that takes due messages from the store's outbox and hands them to the
//! configured provider. A message is marked sent only after the provider took it; one that fails is
//! tried again later with growing delay; one whose code expired before it could leave is given up,
//! with the reason recorded. A crash between the provider taking a message and the mark being
//! written hands it to the provider again once its lease (a minute) runs out: a provider that can
//! tell it took that message already (the file provider: by the message id in its lines) does not
//! send it twice; for the others delivery is at least once. Several servers on one database share
//! the outbox: each message is leased to one worker at a time.
//! A message the provider refuses for good (a permanent failure: the SMSC refused its
//! destination, say) is given up at once, with the provider's reason.

use std::sync::Arc;
use std::time::Duration;

use pooya_issuer::Issuer;
use pooya_sms::SendError;
pub use pooya_sms::{FileProvider, SmsProvider};

/// How long a worker owns the messages it claimed: time enough to hand 100 messages over.
const LEASE_MS: i64 = 60_000;

/// Delay before the `attempts`-th retry: 1 s, 2 s, 4 s … capped at 5 minutes.
fn backoff_ms(attempts: i64) -> i64 {
    (1000i64 << attempts.clamp(0, 9)).min(300_000)
}

/// Sends every due message once; returns how many left.
pub async fn deliver_due(issuer: &Issuer, provider: &dyn SmsProvider) -> usize {
    let now = issuer.now_ms();
    let outbox = issuer.outbox();
    let due = match outbox.claim(now, LEASE_MS, 100).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "outbox unreadable");
            metrics::counter!("pooya_store_errors_total").increment(1);
            return 0;
        }
    };
    let mut sent = 0;
    for m in due {
        if m.sms.expires_at.is_some_and(|t| t <= now) {
            tracing::warn!(id = m.id, to = %m.sms.to.masked(), "SMS given up: its code expired before delivery");
            metrics::counter!("pooya_sms_delivery_failures_total", "outcome" => "given_up")
                .increment(1);
            let _ = outbox.give_up(m.id, "expired before delivery", now).await;
            continue;
        }
        let text = match issuer.open_sms_text(&m.sms) {
            Ok(t) => t,
            Err(_) => {
                // Its row was altered (recipient changed, body moved from another row): whoever
                // it would reach now, it is not sent, nor tried again.
                tracing::warn!(
                    id = m.id,
                    to = %m.sms.to.masked(),
                    "SMS refused: its sealed body does not open for its id and recipient; \
                     the outbox row was altered"
                );
                metrics::counter!("pooya_sms_delivery_failures_total", "outcome" => "refused")
                    .increment(1);
                if let Err(e) = outbox.refuse(m.id, now).await {
                    tracing::warn!(id = m.id, error = %e, "refused SMS not marked; refused again later");
                }
                continue;
            }
        };
        match provider
            .send_queued(
                m.id,
                m.sms.created_at,
                &m.sms.to,
                &text,
                m.sms.expires_at,
                now,
            )
            .await
        {
            Ok(()) => {
                sent += 1;
                metrics::counter!("pooya_sms_sent_total").increment(1);
                tracing::info!(id = m.id, to = %m.sms.to.masked(), "SMS sent");
                if let Err(e) = outbox.sent(m.id, now).await {
                    tracing::error!(id = m.id, error = %e, "SMS sent but not marked; it may be sent again");
                }
            }
            Err(SendError::Permanent(why)) => {
                tracing::warn!(id = m.id, to = %m.sms.to.masked(), %why, "SMS given up: the provider refused it for good");
                metrics::counter!("pooya_sms_delivery_failures_total", "outcome" => "given_up")
                    .increment(1);
                let _ = outbox.give_up(m.id, &why, now).await;
            }
            Err(SendError::Temporary(why)) => {
                tracing::warn!(id = m.id, attempts = m.attempts + 1, %why, "SMS not sent; will retry");
                metrics::counter!("pooya_sms_delivery_failures_total", "outcome" => "retry")
                    .increment(1);
                let _ = outbox.retry(m.id, &why, now + backoff_ms(m.attempts)).await;
            }
        }
    }
    sent
}

/// Runs until `shutdown` turns true, then delivers what is due one last time.
pub async fn run(
    issuer: Arc<Issuer>,
    provider: Arc<dyn SmsProvider>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let signal = issuer.outbox_signal();
    let mut gauge_read_at: Option<std::time::Instant> = None;
    loop {
        deliver_due(&issuer, provider.as_ref()).await;
        // The outbox gauges, at most once a second.
        if gauge_read_at.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            gauge_read_at = Some(std::time::Instant::now());
            match issuer.outbox_status().await {
                Ok((st, now)) => {
                    crate::telemetry::record_outbox(st.queued, st.oldest_queued_at, now)
                }
                Err(_) => metrics::counter!("pooya_store_errors_total").increment(1),
            }
        }
        tokio::select! {
            _ = signal.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => {
                deliver_due(&issuer, provider.as_ref()).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_ms(0), 1000);
        assert_eq!(backoff_ms(3), 8000);
        assert_eq!(backoff_ms(50), 300_000);
    }
}
