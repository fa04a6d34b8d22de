//! # pooya-web — the card holder's app in the browser
//!
//! Built for `wasm32-unknown-unknown`, this crate is the app itself: [`pooya_app_core`] behind
//! wasm-bindgen (`src/wasm.rs`; the passkey slot in `src/passkey.rs`). Built for the server, it
//! is the app's files: its `build.rs` compiles the wasm build (a nested `cargo build` with its
//! own target directory) and runs wasm-bindgen's library on it; [`asset`] hands out those files
//! and the pages of `static/` as `pooya serve` serves them at `/app/`, and [`ASSETS`] lists them
//! for a copy to any static web host. See `docs/web-app.md`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(target_arch = "wasm32")]
mod passkey;
#[cfg(target_arch = "wasm32")]
mod wasm;

#[cfg(not(target_arch = "wasm32"))]
mod assets;
#[cfg(not(target_arch = "wasm32"))]
pub use assets::{asset, Asset, ASSETS, BUILD_ID};
