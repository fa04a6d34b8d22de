//! Builds the app for the browser from this repository, with no tool to install beyond rustup's
//! wasm32 target (`rust-toolchain.toml` lists it): a nested `cargo build` of this crate for
//! `wasm32-unknown-unknown` (release, its own target directory so the outer build's lock is not
//! in the way), then wasm-bindgen's library (pinned to the same version as the `wasm-bindgen`
//! dependency: they must match) for the JS glue and the final `.wasm`. `src/assets.rs` embeds
//! the results with the pages of `static/`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    if target.starts_with("wasm32") {
        // This is the nested build itself (or CI's wasm check): nothing to embed.
        return;
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace = manifest.join("../..");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    for dir in [
        "crates/pooya-web/src",
        "crates/pooya-web/static",
        "crates/pooya-web/Cargo.toml",
        "crates/pooya-app-core",
        "crates/pooya-wire/src",
        "crates/pooya-otp/src",
        "crates/pooya-enroll/src",
        "Cargo.lock",
        ".cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }

    // One wasm build shared by every profile and tool of the outer build (test, clippy, run):
    // `<target dir>/pooya-web-wasm`, found from OUT_DIR (<target dir>/<profile>/build/<pkg>/out).
    let wasm_dir = out
        .ancestors()
        .nth(4)
        .map(|t| t.join("pooya-web-wasm"))
        .unwrap_or_else(|| out.join("wasm"));
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--release",
            "--lib",
            "-p",
            "pooya-web",
            "--target",
            "wasm32-unknown-unknown",
            // Small and fast: one codegen unit, whole-program optimisation.
            "--config",
            "profile.release.lto=true",
            "--config",
            "profile.release.codegen-units=1",
        ])
        .arg("--target-dir")
        .arg(&wasm_dir);
    // The outer build's flags and wrappers (clippy's driver, coverage, RUSTFLAGS for the host)
    // are not the wasm build's: it takes .cargo/config.toml's for its target.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("cannot run cargo for the web app's wasm build");
    assert!(
        status.success(),
        "the web app's wasm build failed (is the wasm32-unknown-unknown target installed? \
         `rustup target add wasm32-unknown-unknown`)"
    );
    let wasm = wasm_dir.join("wasm32-unknown-unknown/release/pooya_web.wasm");

    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    bindgen
        .input_path(&wasm)
        .out_name("pooya_web")
        .typescript(false)
        .web(true)
        .expect("wasm-bindgen web target")
        .generate(&out)
        .expect("wasm-bindgen");

    // The build's id: a digest of everything the app loads, so the service worker's cache
    // changes exactly when the app does.
    let mut digest = Sha256::new();
    for f in ["pooya_web.js", "pooya_web_bg.wasm"] {
        digest.update(std::fs::read(out.join(f)).expect("wasm-bindgen output"));
    }
    let static_dir = manifest.join("static");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&static_dir)
        .expect("static/")
        .map(|e| e.expect("static/ entry").path())
        .collect();
    names.sort();
    for p in &names {
        digest.update(
            p.file_name()
                .map(|n| n.as_encoded_bytes())
                .unwrap_or_default(),
        );
        digest.update(std::fs::read(p).expect("static file"));
    }
    let id: String = digest.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(out.join("build_id.txt"), &id).expect("build id");
    let sw = std::fs::read_to_string(static_dir.join("sw.js")).expect("static/sw.js");
    write_if_changed(&out.join("sw.js"), &sw.replace("__POOYA_BUILD__", &id));
}

fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).expect("write");
    }
}
