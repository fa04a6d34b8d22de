//! Makes a vault for BENCHMARKS.md: `cargo run --release -p pooya-app --example bench_vault -- FILE`.
//!
//! The vault is created as `pooya app init` creates one (Argon2 calibrated on this machine;
//! `POOYA_APP_KDF_FAST=1` counts in debug builds only), under the password in
//! `POOYA_APP_PASSWORD`, and holds one card labelled `bench` with a random seed and a measured
//! clock, so `pooya app code bench` runs exactly the path of a real card without a server. It
//! prints the chosen Argon2 cost.

use std::time::Instant;

use pooya_app::clock::{boot_now, local_now_ms, IssuerClock};
use pooya_app::vault::{KdfParams, SecretBytes, SecretString, Token, Vault, VaultFile};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: bench_vault FILE (POOYA_APP_PASSWORD holds the password)")?;
    let password = std::env::var("POOYA_APP_PASSWORD")?;
    pooya_app::password::check_policy(&password)?;
    let start = Instant::now();
    let kdf = KdfParams::for_new_vault()?;
    println!(
        "Argon2id {} KiB, {} passes, {} lane(s) (calibrated in {:?})",
        kdf.m_kib,
        kdf.t,
        kdf.p,
        start.elapsed()
    );
    let mut vault = Vault::create(std::path::Path::new(&path), &password, kdf)?;
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut seed);
    let server = "http://127.0.0.1:9".to_owned();
    let pan = "6280231234567898";
    vault.add(Token {
        label: "bench".into(),
        token_id: "bench".into(),
        server: server.clone(),
        bank_name: "Bench Bank".into(),
        pan: SecretString::new(pan.into()),
        pan_masked: pooya_app::cards::mask_pan(pan),
        seed: SecretBytes::from_slice(&seed),
        lifetime_secs: 60,
        algorithm: "SHA256".into(),
        first_digits: 4,
        second_digits: 8,
        added_at_unix_ms: local_now_ms(),
    })?;
    let now = local_now_ms();
    vault.set_clock(IssuerClock::measured(&server, now, now, now, boot_now()));
    vault.save()?;
    let start = Instant::now();
    Vault::open(std::path::Path::new(&path), &password)?;
    println!("one unlock with the password: {:?}", start.elapsed());
    Ok(())
}
