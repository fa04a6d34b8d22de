//! The SMS channel's operation (`routes/sms.rs`): a message to the bank's short number asking for
//! a variable part (R21, R22).

use super::base::{Effects, Issuer};
use crate::audit::{AuditEvent, AuditRecord};
use crate::card::{CardRecord, PAN_TAIL_MAX, PAN_TAIL_MIN};
use crate::domain::Mobile;
use crate::error::IssuerError;
use crate::messages;
use crate::store::Commit;

impl Issuer {
    /// R21, R22: a message to the bank's short number. Answers nothing about cards: a reply, if
    /// any, goes through the outbox to the sender, and only when the sender is the registered
    /// mobile of an SMS-activated card.
    ///
    /// The text is the last 4 digits of the card (Persian or Arabic-Indic digits and spaces
    /// allowed), or up to 8 when two of the sender's SMS cards end in the same 4: those get a reply
    /// that asks for more digits and no code. A second request for one card within
    /// `sms.request_interval_secs`, while the variable part it got is unused and alive, issues and
    /// sends nothing new.
    pub async fn sms_inbound(
        &self,
        from: &Mobile,
        to: &str,
        text: &str,
    ) -> Result<(), IssuerError> {
        if to != self.policy.sms.short_number {
            return Err(IssuerError::UnknownShortNumber);
        }
        let Some(digits) =
            normalize_sms_digits(text).filter(|d| (PAN_TAIL_MIN..=PAN_TAIL_MAX).contains(&d.len()))
        else {
            tracing::info!(from = %from.masked(), "inbound SMS ignored: not a card request");
            return Ok(());
        };
        // An SMS channel served on the sender's number: live (not locked) and SMS-activated.
        let served = |c: &CardRecord| c.svc.sms().is_some_and(|s| &s.mobile == from);
        let candidates: Vec<CardRecord> = self
            .store
            .cards_by_mobile(from)
            .await?
            .into_iter()
            .filter(|c| served(c) && c.number_ends_with(&digits, &self.keys))
            .collect();
        let now = self.clock.now_ms();
        match candidates.as_slice() {
            [] => {
                tracing::info!(from = %from.masked(), "inbound SMS: no SMS-activated card matches");
                Ok(())
            }
            [card] => {
                let policy = &self.policy;
                self.update_card(&card.pan_hash, false, |card, _, now| {
                    if !served(card) {
                        return (Ok(()), None);
                    }
                    if card.variable_part_recently_sent(now, policy) {
                        let mut e = Effects::default();
                        e.audit.push(self.audit(
                            now,
                            AuditEvent::SmsRequestRepeated,
                            Some(card),
                            format!(
                                "within {} s of the last one: nothing new sent",
                                policy.sms.request_interval_secs
                            ),
                        ));
                        return (Ok(()), Some(e));
                    }
                    let Some((var, expires_at)) = card.issue_variable_part(now, policy, &self.keys)
                    else {
                        return (Ok(()), None);
                    };
                    let text = messages::variable_part(
                        policy.sms.language,
                        &policy.bank_name,
                        &card.last4,
                        &var,
                        policy.otp.lifetime_secs,
                    );
                    let mut e = Effects::default();
                    e.outbox.push(self.sms(from, &text, now, Some(expires_at)));
                    e.audit.push(self.audit(
                        now,
                        AuditEvent::SmsVariablePart,
                        Some(card),
                        String::new(),
                    ));
                    (Ok(()), Some(e))
                })
                .await
            }
            _ => {
                let p = &self.policy;
                let text = if digits.len() < PAN_TAIL_MAX {
                    messages::ambiguous_card(
                        p.sms.language,
                        &p.bank_name,
                        &digits,
                        &p.sms.short_number,
                        PAN_TAIL_MAX,
                    )
                } else {
                    messages::ambiguous_card_final(p.sms.language, &p.bank_name, &digits)
                };
                let commit = Commit {
                    outbox: vec![self.sms(from, &text, now, None)],
                    audit: vec![AuditRecord::new(
                        AuditEvent::SmsAmbiguousCard,
                        now,
                        None,
                        Some(candidates[0].customer_id.as_str().to_owned()),
                        format!(
                            "{} cards end in the {} digits given",
                            candidates.len(),
                            digits.len()
                        ),
                    )],
                    ..Commit::default()
                };
                self.commit(commit).await.map_err(Into::into)
            }
        }
    }
}

/// Digits of an inbound SMS: Persian (۰–۹) and Arabic-Indic (٠–٩) digits become ASCII, spaces
/// and dashes go; anything else makes it no card request.
pub fn normalize_sms_digits(text: &str) -> Option<String> {
    let skip = |c: char| c.is_whitespace() || c == '-' || c == '\u{200c}';
    let out: String = pooya_enroll::latin_digits(text, skip).collect();
    (!out.is_empty() && out.bytes().all(|b| b.is_ascii_digit())).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::normalize_sms_digits;

    #[test]
    fn an_sms_gives_its_digits_in_any_script_or_none() {
        for (text, digits) in [
            ("7898", Some("7898")),
            ("۷۸۹۸", Some("7898")),
            ("٧٨٩٨", Some("7898")),
            (" 78-98\n", Some("7898")),
            ("۷۸\u{200c}۹۸", Some("7898")),
            ("78a98", None),
            ("", None),
            (" - ", None),
        ] {
            assert_eq!(normalize_sms_digits(text).as_deref(), digits, "{text:?}");
        }
    }
}
