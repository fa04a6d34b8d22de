//! Values at rest bound to their rows, and the one-time upgrade of databases written before.
//!
//! - A queued SMS's body is sealed with associated data naming the message's own id (`msg_id`, a
//!   random id stored beside it) and its recipient. A row whose `to_mobile` was changed, or a body
//!   moved to another row, does not open; the delivery worker refuses it: never sent, never
//!   retried, counted as refused in the outbox's status and logged without the body.
//! - Static PINs and second passwords are Argon2id hashes sealed to their card and kind
//!   ([`Keyring::hash_static`]); SMS-channel MACs are bound to their card
//!   ([`Keyring::card_code_mac`]).
//!
//! Databases written before kept plain Argon2id hashes, MACs of the codes alone and SMS bodies
//! sealed under one constant associated data. The store's `upgrade_at_rest`, run once at start,
//! seals and binds all of them in one transaction, without knowing any PIN or code
//! ([`bind_card`], [`reseal_legacy_sms`]). It runs only on a database where no card holds a sealed
//! hash yet: after it, a plain value (planted by someone who can write the database but holds no
//! key, or written by an older server) is refused, never adopted. Restoring a whole database from a
//! backup taken before the upgrade undoes it like any rollback (docs/security.md).

use zeroize::Zeroizing;

use crate::audit::{AuditEvent, AuditRecord};
use crate::card::{DynamicService, Service};
use crate::domain::Mobile;
use crate::keys::{is_sealed_static_hash, random_id, CardCode, Keyring, StaticSecret};
pub use crate::store::AtRestUpgrade;
use crate::store::OutgoingSms;

/// The associated data every SMS body was sealed with before bodies were bound to their rows.
const LEGACY_SMS_AAD: &[u8] = b"pooya/v1/sms";

/// What the last error of a refused SMS says (never its text).
pub const SMS_REFUSED: &str =
    "refused: its sealed body does not open for its id and recipient (the row was altered)";

fn sms_aad(msg_id: &str, to: &Mobile) -> Vec<u8> {
    format!("pooya/v2/sms/{msg_id}/{}", to.as_str()).into_bytes()
}

fn seal_body(keys: &Keyring, msg_id: &str, to: &Mobile, text: &[u8]) -> String {
    data_encoding::BASE64.encode(&keys.seal(&sms_aad(msg_id, to), text))
}

/// An SMS to queue: `text` sealed to a new message id and to its recipient.
pub fn seal_sms(
    keys: &Keyring,
    to: &Mobile,
    text: &str,
    now: i64,
    expires_at: Option<i64>,
) -> OutgoingSms {
    let msg_id = random_id();
    OutgoingSms {
        text: seal_body(keys, &msg_id, to, text.as_bytes()),
        msg_id,
        to: to.clone(),
        created_at: now,
        expires_at,
    }
}

/// A queued SMS whose body does not open for its id and recipient (or is no text at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{SMS_REFUSED}")]
pub struct SmsRefused;

/// The text of a queued SMS, if its body opens for the message's own id and recipient.
pub fn open_sms(keys: &Keyring, sms: &OutgoingSms) -> Result<Zeroizing<String>, SmsRefused> {
    if sms.msg_id.is_empty() {
        return Err(SmsRefused);
    }
    let sealed = data_encoding::BASE64
        .decode(sms.text.as_bytes())
        .map_err(|_| SmsRefused)?;
    let plain = keys
        .open(&sms_aad(&sms.msg_id, &sms.to), &sealed)
        .map_err(|_| SmsRefused)?;
    String::from_utf8(plain.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| SmsRefused)
}

/// The upgrade of a body queued before: `(msg_id, body)` sealed to a new message id and to `to`,
/// or `None` when it does not open as such a body.
pub fn reseal_legacy_sms(keys: &Keyring, to: &Mobile, body: &str) -> Option<(String, String)> {
    let sealed = data_encoding::BASE64.decode(body.as_bytes()).ok()?;
    let plain = keys.open(LEGACY_SMS_AAD, &sealed).ok()?;
    let msg_id = random_id();
    let body = seal_body(keys, &msg_id, to, &plain);
    Some((msg_id, body))
}

/// The upgrade of a card written before: its plain PIN and second-password hashes sealed to it,
/// and its SMS channel's MACs bound to it. Returns the new `(pin_hash, second_hash)`; `svc` is
/// changed in place. A value sealed already is left as it is.
pub fn bind_card(
    keys: &Keyring,
    pan_hash: &str,
    pin_hash: &str,
    second_hash: &str,
    svc: &mut DynamicService,
) -> (String, String) {
    let seal = |kind, stored: &str| {
        if is_sealed_static_hash(stored) {
            stored.to_owned()
        } else {
            keys.seal_static_hash(kind, pan_hash, stored)
        }
    };
    if let Service::Sms(sms) = &mut svc.service {
        sms.fixed_mac = keys.bind_code_mac(CardCode::SmsFixed, pan_hash, &sms.fixed_mac);
        if let Some(v) = sms.variable.as_mut() {
            v.mac = keys.bind_code_mac(CardCode::SmsVariable, pan_hash, &v.mac);
        }
    }
    (
        seal(StaticSecret::Pin, pin_hash),
        seal(StaticSecret::SecondPassword, second_hash),
    )
}

/// A stored card's columns after [`bind_card`].
pub struct BoundCard {
    pub pin_hash: String,
    pub second_hash: String,
    /// The service document (JSON), written again only when it had MACs to bind.
    pub svc: String,
}

/// [`bind_card`] on a card's columns as stored: its service document as JSON.
pub fn bind_stored_card(
    keys: &Keyring,
    pan_hash: &str,
    pin_hash: &str,
    second_hash: &str,
    svc_json: &str,
) -> serde_json::Result<BoundCard> {
    let mut svc: DynamicService = serde_json::from_str(svc_json)?;
    let (pin_hash, second_hash) = bind_card(keys, pan_hash, pin_hash, second_hash, &mut svc);
    let svc = if svc.sms().is_some() {
        serde_json::to_string(&svc)?
    } else {
        svc_json.to_owned()
    };
    Ok(BoundCard {
        pin_hash,
        second_hash,
        svc,
    })
}

impl AtRestUpgrade {
    /// The audit record of an upgrade, written in its transaction; none when nothing was upgraded.
    pub fn audit_record(&self, now: i64) -> Option<AuditRecord> {
        let AtRestUpgrade::Upgraded {
            cards,
            sms_resealed,
            sms_refused,
        } = *self
        else {
            return None;
        };
        Some(AuditRecord {
            at: now,
            event: AuditEvent::StoreUpgradedAtRest.as_str().into(),
            pan_masked: None,
            customer_id: None,
            detail: format!("cards={cards} sms_resealed={sms_resealed} sms_refused={sms_refused}"),
            actor: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::{SmsService, VariablePart};
    use crate::keys::HashCost;

    fn ring() -> Keyring {
        Keyring::from_master(
            &[7u8; 32],
            HashCost {
                m_kib: 64,
                t: 1,
                p: 1,
            },
        )
        .unwrap()
    }

    fn mobile(m: &str) -> Mobile {
        Mobile::parse(m).unwrap()
    }

    #[test]
    fn a_body_opens_only_for_its_own_id_and_recipient() {
        let k = ring();
        let a = seal_sms(&k, &mobile("09121234567"), "code 1234", 1, None);
        let b = seal_sms(&k, &mobile("09351234567"), "code 9876", 1, None);
        assert_eq!(&open_sms(&k, &a).unwrap()[..], "code 1234");
        let mut redirected = a.clone();
        redirected.to = b.to.clone();
        assert_eq!(open_sms(&k, &redirected), Err(SmsRefused));
        let mut swapped = a.clone();
        swapped.text = b.text.clone();
        assert_eq!(open_sms(&k, &swapped), Err(SmsRefused));
        let mut same_to = seal_sms(&k, &a.to, "code 5555", 1, None);
        same_to.text = a.text.clone();
        assert_eq!(open_sms(&k, &same_to), Err(SmsRefused), "another row's id");
        let mut no_id = a.clone();
        no_id.msg_id.clear();
        assert_eq!(open_sms(&k, &no_id), Err(SmsRefused));
    }

    #[test]
    fn a_body_queued_before_is_resealed_to_its_row() {
        let k = ring();
        let to = mobile("09121234567");
        let legacy = data_encoding::BASE64.encode(&k.seal(LEGACY_SMS_AAD, b"code 1234"));
        // As it was, it opens no more.
        let as_was = OutgoingSms {
            to: to.clone(),
            text: legacy.clone(),
            msg_id: String::new(),
            created_at: 1,
            expires_at: None,
        };
        assert_eq!(open_sms(&k, &as_was), Err(SmsRefused));
        let (msg_id, body) = reseal_legacy_sms(&k, &to, &legacy).unwrap();
        let up = OutgoingSms {
            msg_id,
            text: body,
            ..as_was
        };
        assert_eq!(&open_sms(&k, &up).unwrap()[..], "code 1234");
        assert!(reseal_legacy_sms(&k, &to, &up.text).is_none(), "not twice");
        assert!(reseal_legacy_sms(&k, &to, "not base64!").is_none());
    }

    #[test]
    fn a_card_written_before_is_bound_without_its_secrets() {
        let k = ring();
        let pin = k.argon_hash("1234").unwrap();
        let second = k.argon_hash("55555").unwrap();
        let mut svc = DynamicService {
            service: Service::Sms(SmsService {
                mobile: mobile("09121234567"),
                fixed_mac: k.code_mac("sms-fixed", &[b"4321"]),
                variable: Some(VariablePart {
                    mac: k.code_mac("sms-variable", &[b"8765"]),
                    issued_at: 1,
                    expires_at: 2,
                    used: false,
                }),
            }),
            ..DynamicService::default()
        };
        let (p, s) = bind_card(&k, "card-a", &pin, &second, &mut svc);
        assert!(k.static_matches(StaticSecret::Pin, "card-a", "1234", &p));
        assert!(k.static_matches(StaticSecret::SecondPassword, "card-a", "55555", &s));
        let sms = svc.sms().unwrap();
        assert_eq!(
            sms.fixed_mac,
            k.card_code_mac(CardCode::SmsFixed, "card-a", "4321")
        );
        assert_eq!(
            sms.variable.as_ref().unwrap().mac,
            k.card_code_mac(CardCode::SmsVariable, "card-a", "8765")
        );
        // Sealed hashes stay as they are.
        let (p2, s2) = bind_card(&k, "card-a", &p, &s, &mut DynamicService::default());
        assert_eq!((p2, s2), (p, s));
    }
}
