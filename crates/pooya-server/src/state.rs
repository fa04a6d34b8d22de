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
}
