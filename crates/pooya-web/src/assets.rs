//! The app's files, embedded: the pages of `static/` and what `build.rs` made.

/// One file of the app.
#[derive(Debug)]
pub struct Asset {
    /// Its name under `/app/` (`index.html` for the directory itself).
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

macro_rules! stat {
    ($name:literal, $ty:literal) => {
        Asset {
            path: $name,
            content_type: $ty,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/static/", $name)),
        }
    };
}

macro_rules! built {
    ($name:literal, $ty:literal) => {
        Asset {
            path: $name,
            content_type: $ty,
            bytes: include_bytes!(concat!(env!("OUT_DIR"), "/", $name)),
        }
    };
}

/// Every file of the app, as a static host would serve it.
pub static ASSETS: &[Asset] = &[
    stat!("index.html", "text/html; charset=utf-8"),
    stat!("app.css", "text/css; charset=utf-8"),
    stat!("app.js", "text/javascript; charset=utf-8"),
    stat!("i18n.js", "text/javascript; charset=utf-8"),
    stat!("store.js", "text/javascript; charset=utf-8"),
    stat!("manifest.webmanifest", "application/manifest+json"),
    stat!("icon.svg", "image/svg+xml"),
    stat!("icon-192.png", "image/png"),
    stat!("icon-512.png", "image/png"),
    built!("sw.js", "text/javascript; charset=utf-8"),
    built!("pooya_web.js", "text/javascript; charset=utf-8"),
    // application/wasm: the browser compiles it while it streams in (and CSP allows that with
    // 'wasm-unsafe-eval' alone).
    built!("pooya_web_bg.wasm", "application/wasm"),
];

/// A digest of the build (the service worker's cache name carries it).
pub const BUILD_ID: &str = include_str!(concat!(env!("OUT_DIR"), "/build_id.txt"));

/// The file at `path` under `/app/` (`""` is `index.html`).
pub fn asset(path: &str) -> Option<&'static Asset> {
    let path = if path.is_empty() { "index.html" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}
