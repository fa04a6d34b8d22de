//! What every request handler shares.

use std::sync::Arc;

use pooya_issuer::clock::FakeClock;
use pooya_issuer::Issuer;

use crate::apikeys::ApiKeys;

pub struct AppState {
    pub issuer: Arc<Issuer>,
    pub keys: ApiKeys,
    /// Present only under `--unsafe-fake-clock` (tests): `/v1/test/clock` moves it.
    pub fake_clock: Option<FakeClock>,
    /// R18: who may use `/v1/app/*`, and which proxies are believed.
    pub net: crate::netpolicy::NetPolicy,
    /// Abuse limits.
    pub limits: Arc<crate::limits::Limits>,
    /// Roles whose keys must come with a client certificate (mTLS).
    pub client_certs: crate::tls::ClientCerts,
}
