//! `pooya-bench`: how many verifications per second one `pooya serve` decides, and how long each
//! answer takes; or, with `--target health`, its bare HTTP rate on `GET /v1/health`.
//!
//! ```sh
//! cargo build --release -p pooya -p pooya-bench       # the server binary it starts, and itself
//! $CARGO_TARGET_DIR/release/pooya-bench \
//!     [--database-url postgres://USER@HOST/DB [--nodes N]] [--cards N] [--setup enroll|pskc] \
//!     [--connections C] [--seconds T] [--pool-size P] [--wrong-share F] \
//!     [--target verify|health] [--csv FILE] [--label TEXT]
//! $CARGO_TARGET_DIR/release/pooya-bench chart FILE.csv OUT.svg   # the chart of BENCHMARKS.md
//! ```
//!
//! It starts the release `pooya` binary that sits beside its own executable on a temporary data
//! directory, on SQLite or, with `--database-url`, on a fresh PostgreSQL database it creates
//! through that URL (`CREATE DATABASE pooya_load_…`) and drops at the end. Setup plays the bank and
//! the holders through the HTTP contract: N customers and cards at the branch, an app activation of
//! each at the ATM (the SMS code read from the file outbox) and an enrollment of each with the real
//! SPAKE2 client library, so the driver knows every token's seed without any public endpoint being
//! weakened. Static secrets use a cheap Argon2 cost; only setup and wrong codes hash them.
//!
//! That costs a few ms per card, too much for 10^5 or 10^6 cards: `--setup pskc` (the bulk setup;
//! never chosen by itself: the default stays `enroll`, which drives both passwords, and only
//! prints a note pointing here above 20 000 cards, as the two loads differ) registers the
//! N customers and cards at the branch over 16 connections, then imports a TOTP hardware token for
//! each through the admin PSKC import (`POST /v1/admin/pskc`, plain RFC 6030 files of 2 000 key
//! packages, two requests at once; the bench server's `[server] max_body_bytes` is raised to
//! 4 MiB for them). Token `i`'s seed is HMAC-SHA256 of the index under a random key of the run
//! (`pooya_bench::HardwareCards`), and card `i`'s number comes from `i` too, so the driver keeps
//! nothing per card. A hardware token is the card's second password only (8 digits, HMAC-SHA1,
//! the same 300 s step as the server's codes, so the clock stepping below holds); the first
//! password of such a card is the static PIN, so the load of this setup is second passwords
//! only, one per card and step.
//!
//! Then C workers, each with its own keep-alive HTTP connection, send `POST /v1/verify` for T
//! seconds, every request with a RIGHT, UNUSED dynamic password (first or second) of a card, on a
//! transaction id of its own — or, for a share F of the requests, a WRONG code of that card. A code
//! is good once per card, kind and TOTP step, so the server runs on its test-only fake clock
//! (`--unsafe-fake-clock`) standing in the middle of a 300 s step: when every card has given its
//! answers of the step (two with app tokens, one with hardware tokens), the driver waits for the
//! requests in flight, moves the clock one step on (`POST /v1/test/clock`, admin key) and goes on.
//! The lockout window is set shorter than a step (`[policy.lockout] window_secs = 200`), so a
//! card's wrong codes of one step (two at most) never lock it, and the PIN lock, which counts wrong
//! first passwords over 90 days, is off (`[policy.pin_lock] max_failures = 0`). The per-address
//! limit on `/v1/app/*` is off (`[limits] app_per_ip` burst 0): every holder of the setup enrolls
//! from the one loopback address.
//!
//! With `--nodes N` (PostgreSQL only) N `pooya serve` processes share the database and one master
//! key file (`[server] master_key_file`, made by the first): the setup goes through the first,
//! the other N-1 start after it, every node's fake clock is set and moved together, and worker w
//! talks to node w % N. The server CPU is then the nodes' sum (each node's shown too): against
//! one node's figures, it shows whether the database or the node is the limit.
//!
//! Every answer is checked (`pooya_bench::judge`): a right code must be approved, a wrong one
//! declined as `wrong_password`; anything else — a wrong approval as much as a wrong decline — is
//! an error, reported and never a data point. The exit status is 1 when there was any error.
//!
//! # Modules
//!
//! - `cli`: the command line (clap);
//! - `run`: one run from start to figures: the server's configuration, the setup, the clock stood
//!   mid-step, the workers, the report and the CSV line;
//! - `server`: the `pooya serve` process (found, started, stopped) and its role keys;
//!   the temporary PostgreSQL database of `--database-url` is `pooya_store_sql::test_support`'s;
//! - `setup`: the cards set up through the HTTP contract (`enroll`, or `pskc` in bulk);
//!   `outbox`: the SMS file the activation codes are read from;
//! - `cards`: the cards of the load and the codes each gives;
//! - `load`: the workers and the clock's steps; `http`: the JSON calls of setup and clock;
//! - `cpu`: CPU and memory from `/proc`;
//! - the library (`pooya_bench`): judging answers, percentiles, the CSV and the chart.

mod cards;
mod cli;
mod cpu;
mod http;
mod load;
mod outbox;
mod run;
mod server;
mod setup;

use std::path::Path;

use pooya_bench::Res;

use crate::cli::{Cli, Command};

/// `chart FILE.csv OUT.svg`: throughput against connections, one line per label, from the lines
/// `--csv` appended (`label,store,target,cards,connections,seconds,rate,p50,p90,p99,p999,errors`).
fn chart(csv: &Path, out: &Path) -> Res<()> {
    let text = std::fs::read_to_string(csv).map_err(|e| format!("{}: {e}", csv.display()))?;
    let (series, left_out) = pooya_bench::series_by_connections(&text)?;
    for name in left_out {
        eprintln!(
            "{name}: every point has the same number of connections (a sweep by cards): not drawn"
        );
    }
    let svg = pooya_bench::svg_chart(
        "pooya: right-code verifications/s (and bare /v1/health) by connections",
        "keep-alive connections (log scale)",
        "answers per second",
        &series,
    );
    std::fs::write(out, svg).map_err(|e| format!("{}: {e}", out.display()))
}

fn main() -> std::process::ExitCode {
    // A bad command line: clap's message and exit status 2.
    let cli = Cli::try_parse_checked(std::env::args_os()).unwrap_or_else(|e| e.exit());
    if let Some(Command::Chart { csv, out }) = &cli.command {
        return match chart(csv, out) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pooya-bench chart: {e}");
                std::process::ExitCode::from(1)
            }
        };
    }
    let args = cli.load;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run::run(args)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("pooya-bench: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
