//! The stored form of [`DynamicService`]: one JSON document (the `svc` column) in the shape it had
//! before the service was an enum — a `mode`, a `locked` flag and one optional object per
//! credential. A document is read once, at load, into [`Service`] (as kanidm reads its
//! `DbTotpV1`), and written back in the same shape, byte for byte what the code before wrote for
//! the same state: servers of either version read each other's rows.
//!
//! Absent optional values, an empty `txn_codes` or `pin_lock_failures` and a false `pin_locked`
//! are left out of the document rather than written as `null` / `[]` / `false`: less to write and
//! to read on every request. Readers, this code and the code before it alike, take a missing
//! optional field as `None` and a missing list as empty, and documents with the `null`s (every
//! row written before) read as they always did.
//!
//! The old shape could say more than a card can be (a token beside an SMS channel, credentials on
//! a locked card); the code before never wrote such a document, and would have used none of those
//! extra credentials. Read here, each becomes the state the code before acted on:
//! locked first, then by mode: app with a hardware token, else a token, else an activation; SMS
//! with its channel; anything else none.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::service::{
    Activation, AppToken, DynamicService, HardwareToken, Mode, Service, SmsService, TxnCode,
};

/// The document's fields, in the order they have always been written. Borrowed from a
/// [`DynamicService`] to write it, owned when read.
#[derive(Serialize, Deserialize)]
struct Document<'a> {
    mode: Mode,
    locked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    activation: Option<Cow<'a, Activation>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<Cow<'a, AppToken>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sms: Option<Cow<'a, SmsService>>,
    static_second_disabled: bool,
    failures: Cow<'a, [i64]>,
    pin_failures: Cow<'a, [i64]>,
    #[serde(default, skip_serializing_if = "is_empty")]
    txn_codes: Cow<'a, [TxnCode]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hardware: Option<Cow<'a, HardwareToken>>,
    #[serde(default, skip_serializing_if = "is_empty")]
    pin_lock_failures: Cow<'a, [i64]>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pin_locked: bool,
}

// serde's `skip_serializing_if` hands the field itself by reference.
#[allow(clippy::ptr_arg)]
fn is_empty<T: Clone>(v: &Cow<'_, [T]>) -> bool {
    v.is_empty()
}

impl<'a> From<&'a DynamicService> for Document<'a> {
    fn from(svc: &'a DynamicService) -> Self {
        let s = &svc.service;
        Document {
            mode: s.mode(),
            locked: svc.is_locked(),
            activation: svc.activation().map(Cow::Borrowed),
            token: svc.token().map(Cow::Borrowed),
            sms: svc.sms().map(Cow::Borrowed),
            static_second_disabled: svc.static_second_disabled,
            failures: Cow::Borrowed(&svc.failures),
            pin_failures: Cow::Borrowed(&svc.pin_failures),
            txn_codes: Cow::Borrowed(&svc.txn_codes),
            hardware: svc.hardware().map(Cow::Borrowed),
            pin_lock_failures: Cow::Borrowed(&svc.pin_lock_failures),
            pin_locked: svc.pin_locked,
        }
    }
}

impl From<Document<'_>> for DynamicService {
    fn from(d: Document<'_>) -> Self {
        let service = if d.locked {
            Service::Locked(d.mode)
        } else {
            match (d.mode, d.hardware, d.token, d.activation, d.sms) {
                (Mode::App, Some(h), _, _, _) => Service::Hardware(h.into_owned()),
                (Mode::App, None, Some(t), _, _) => Service::App(t.into_owned()),
                (Mode::App, None, None, Some(a), _) => Service::AppPending(a.into_owned()),
                (Mode::Sms, _, _, _, Some(s)) => Service::Sms(s.into_owned()),
                _ => Service::None,
            }
        };
        DynamicService {
            service,
            static_second_disabled: d.static_second_disabled,
            failures: d.failures.into_owned(),
            pin_failures: d.pin_failures.into_owned(),
            txn_codes: d.txn_codes.into_owned(),
            pin_lock_failures: d.pin_lock_failures.into_owned(),
            pin_locked: d.pin_locked,
        }
    }
}

impl Serialize for DynamicService {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Document::from(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for DynamicService {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Document::deserialize(d).map(DynamicService::from)
    }
}
