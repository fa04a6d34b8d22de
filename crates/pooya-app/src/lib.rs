//! # pooya-app — the pooya authenticator on the command line
//!
//! The app holds the bank cards of one person (R15), each as a *token*: the seed agreed with the
//! issuer server during enrollment (R16), from which it makes the first and the second dynamic
//! password of the card offline (R13, R17).
//!
//! ```text
//! pooya app --vault FILE init
//! pooya app --vault FILE add --server URL --pan PAN --receipt-code CODE --sms-code CODE [--label L]
//! pooya app --vault FILE list
//! pooya app --vault FILE code CARD [--first | --second] [--plain]
//! pooya app --vault FILE remove CARD [--forget]
//! ```
//!
//! CARD is a label, a full card number or its last 4 digits.
//!
//! ## The vault
//! Everything lives in one file, encrypted under the app password (Argon2id, then
//! XChaCha20-Poly1305 with the header as associated data, atomic writes, mode 0600). See
//! [`vault`] for what it holds and how it is protected. The full card number is kept only inside
//! the ciphertext; `list` and `code` show the masked form.
//!
//! ## Environment
//! * `POOYA_APP_PASSWORD`: when set, the app password; otherwise the app asks on the terminal
//!   (twice for `init`). R13's policy applies when the vault is created: at least 8 characters
//!   with at least one letter and one digit.
//! * `POOYA_APP_KDF_FAST=1`: **tests only**: `init` uses cheap Argon2 parameters (8 MiB, 1 pass)
//!   instead of 64 MiB and 3 passes. The parameters are stored in the vault.
//!
//! ## Network
//! Only `add` and `remove` talk to the server (HTTP/1.1 + JSON, see [`client`]), directly: no
//! proxy is ever used, as the bank refuses provisioning through VPNs and IP changers (R18).
//! Codes use the local clock corrected by the offset to the server's clock measured at
//! enrollment (R19).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cards;
pub mod client;
pub mod error;
pub mod password;
pub mod vault;

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use crate::cards::PasswordKind;
pub use crate::error::AppError;
use crate::error::Result;
use crate::vault::{KdfParams, LockedVault, Token, Vault};

/// `pooya app`: the authenticator. Flatten or nest it into the binary's command line.
#[derive(Args, Debug)]
pub struct AppArgs {
    /// The vault file that holds the cards, encrypted under the app password.
    #[arg(long, value_name = "FILE")]
    pub vault: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: AppCommand,
}

/// The app's subcommands.
#[derive(Subcommand)]
pub enum AppCommand {
    /// Create a new, empty vault (asks for the app password, or reads POOYA_APP_PASSWORD).
    Init,
    /// Add a card activated at an ATM: the receipt code and the SMS code (needs the internet).
    Add {
        /// The bank's server address, e.g. `https://pooya.bank.example`.
        #[arg(long, value_name = "URL")]
        server: String,
        /// The card number.
        #[arg(long, value_name = "PAN")]
        pan: String,
        /// The code printed on the ATM receipt.
        #[arg(long, value_name = "CODE")]
        receipt_code: String,
        /// The code that came by SMS.
        #[arg(long, value_name = "CODE")]
        sms_code: String,
        /// A name for the card (default: "card-" and its last 4 digits).
        #[arg(long, value_name = "L")]
        label: Option<String>,
    },
    /// List the cards: label, bank, masked card number, server.
    List,
    /// Show a card's current dynamic password and the time it has left.
    Code {
        /// The card: its label, its full number, or its last 4 digits.
        card: String,
        /// The first password (the dynamic PIN).
        #[arg(long, conflicts_with = "second")]
        first: bool,
        /// The second password (the default).
        #[arg(long)]
        second: bool,
        /// Print the code alone on one line.
        #[arg(long)]
        plain: bool,
    },
    /// Remove a card: the server revokes the token, then the app forgets it (needs the internet).
    Remove {
        /// The card: its label, its full number, or its last 4 digits.
        card: String,
        /// Delete the card from this vault only, without asking the server (for a token the
        /// server no longer knows, e.g. after a new activation replaced it).
        #[arg(long)]
        forget: bool,
    },
}

impl fmt::Debug for AppCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Init => f.write_str("Init"),
            Self::Add { server, label, .. } => f
                .debug_struct("Add")
                .field("server", server)
                .field("label", label)
                .finish_non_exhaustive(),
            Self::List => f.write_str("List"),
            Self::Code {
                first,
                second,
                plain,
                ..
            } => f
                .debug_struct("Code")
                .field("first", first)
                .field("second", second)
                .field("plain", plain)
                .finish_non_exhaustive(),
            Self::Remove { forget, .. } => f
                .debug_struct("Remove")
                .field("forget", forget)
                .finish_non_exhaustive(),
        }
    }
}

/// Runs one app command. Errors go to standard error as one line; the exit code is 1.
///
/// Call it from a synchronous `main` (it builds its own single-threaded runtime for the network
/// commands; inside a running tokio runtime it uses a helper thread).
pub fn run(args: AppArgs) -> ExitCode {
    // reqwest is built with rustls and no provider: install ring (fails harmlessly if some
    // provider is already installed).
    let _ = rustls::crypto::ring::default_provider().install_default();
    match execute(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// [`run`] without the printing: the command's outcome.
pub fn execute(args: AppArgs) -> Result<()> {
    let path = args.vault.as_path();
    match args.command {
        AppCommand::Init => cmd_init(path),
        AppCommand::Add {
            server,
            pan,
            receipt_code,
            sms_code,
            label,
        } => {
            let pan = Zeroizing::new(pan);
            let receipt_code = Zeroizing::new(receipt_code);
            let sms_code = Zeroizing::new(sms_code);
            cmd_add(
                path,
                &server,
                &pan,
                &receipt_code,
                &sms_code,
                label.as_deref(),
            )
        }
        AppCommand::List => cmd_list(path),
        AppCommand::Code {
            card,
            first,
            second: _,
            plain,
        } => {
            let kind = if first {
                PasswordKind::First
            } else {
                PasswordKind::Second
            };
            cmd_code(path, &card, kind, plain)
        }
        AppCommand::Remove { card, forget } => cmd_remove(path, &card, forget),
    }
}

/// The local clock, Unix milliseconds.
pub fn unix_ms_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// Reads the vault file first (so a wrong path fails before any prompt), then the password.
fn open_vault(path: &Path) -> Result<Vault> {
    let locked = LockedVault::read(path)?;
    let password = password::read_existing()?;
    locked.unlock(&password)
}

fn cmd_init(path: &Path) -> Result<()> {
    if path.symlink_metadata().is_ok() {
        return Err(AppError::VaultExists(path.to_owned()));
    }
    let password = password::read_new()?;
    let kdf = KdfParams::for_new_vault();
    if kdf == KdfParams::FAST_FOR_TESTS {
        eprintln!(
            "warning: {}=1: this vault uses weak key derivation, meant for tests only",
            vault::KDF_FAST_ENV
        );
    }
    Vault::create(path, &password, kdf)?;
    println!("created an empty vault at {}", path.display());
    Ok(())
}

fn cmd_add(
    path: &Path,
    server: &str,
    pan: &str,
    receipt_code: &str,
    sms_code: &str,
    label: Option<&str>,
) -> Result<()> {
    // Everything that can be checked locally is checked before the server counts a try.
    let server = client::normalize_server(server)?;
    let pan = Zeroizing::new(cards::normalize_pan(pan)?);
    for (what, code) in [("receipt code", receipt_code), ("SMS code", sms_code)] {
        if code.trim().is_empty() {
            return Err(AppError::Invalid(format!("the {what} is empty")));
        }
    }
    let label = match label {
        Some(l) => l.to_owned(),
        None => cards::default_label(&pan),
    };
    cards::check_label(&label)?;
    let mut vault = open_vault(path)?;
    if vault.tokens().iter().any(|t| t.label == label) {
        return Err(AppError::DuplicateLabel(label));
    }
    if !is_https_or_loopback(&server) {
        eprintln!("warning: {server} is not an https address; the connection is not encrypted");
    }

    let transport = client::HttpTransport::new(&server)?;
    let request = client::EnrollRequest {
        pan: &pan,
        receipt_code,
        sms_code,
        label: &label,
    };
    let enrolled = block_on(|| client::enroll(&transport, &request, unix_ms_now))?;
    let token = enrolled.token;

    let older: Vec<String> = vault
        .tokens()
        .iter()
        .filter(|t| t.pan.expose() == pan.as_str() && t.server == token.server)
        .map(|t| t.label.clone())
        .collect();
    let (label, masked, bank, offset) = (
        token.label.clone(),
        token.pan_masked.clone(),
        token.bank_name.clone(),
        token.clock_offset_ms,
    );
    vault.add(token)?;
    vault.save()?;
    println!("added {label}: {bank} {masked}");
    if offset.abs() > 30_000 {
        eprintln!(
            "note: this device's clock is {} s {} the bank's; codes are corrected for it, but \
             set the clock to update automatically",
            offset.abs() / 1000,
            if offset > 0 { "behind" } else { "ahead of" }
        );
    }
    if !older.is_empty() {
        eprintln!(
            "note: the new activation replaced this card's older token ({}); delete it with \
             `remove --forget`",
            older.join(", ")
        );
    }
    Ok(())
}

fn is_https_or_loopback(server: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(server) else {
        return false;
    };
    url.scheme() == "https"
        || match url.host_str() {
            Some("localhost") => true,
            Some(host) => host
                .trim_matches(|c| c == '[' || c == ']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()),
            None => false,
        }
}

fn cmd_list(path: &Path) -> Result<()> {
    let vault = open_vault(path)?;
    if vault.tokens().is_empty() {
        eprintln!("no cards yet: add one with `add`");
    }
    for line in cards::list_lines(vault.tokens()) {
        println!("{line}");
    }
    Ok(())
}

/// The code of `token` at local time `local_ms` (corrected by the token's clock offset) and the
/// milliseconds it has left.
pub fn token_code(token: &Token, kind: PasswordKind, local_ms: i64) -> Result<(String, i64)> {
    let bad = |what: &str| AppError::Crypto(format!("the card {} has {what}", token.label));
    let alg: pooya_otp::Algorithm = token
        .algorithm
        .parse()
        .map_err(|_| bad("an unknown algorithm"))?;
    let digits = match kind {
        PasswordKind::First => token.first_digits,
        PasswordKind::Second => token.second_digits,
    };
    let digits = pooya_otp::Digits::new(digits).map_err(|_| bad("a bad code length"))?;
    let totp = pooya_otp::Totp::new(token.lifetime_secs, digits, alg)
        .map_err(|_| bad("a bad code lifetime"))?;
    let keys = pooya_otp::derive_password_keys(token.seed.expose());
    let key = match kind {
        PasswordKind::First => &keys.first,
        PasswordKind::Second => &keys.second,
    };
    let now = local_ms.saturating_add(token.clock_offset_ms);
    let code = totp.code_at(key, now);
    Ok((code.as_str().to_owned(), totp.remaining_ms(now)))
}

fn cmd_code(path: &Path, card: &str, kind: PasswordKind, plain: bool) -> Result<()> {
    let vault = open_vault(path)?;
    let token = cards::resolve(vault.tokens(), card)?;
    let (code, remaining) = token_code(token, kind, unix_ms_now())?;
    let code = Zeroizing::new(code);
    if plain {
        println!("{}", code.as_str());
    } else {
        println!("{}", cards::format_code_line(kind, token, &code, remaining));
    }
    Ok(())
}

fn cmd_remove(path: &Path, card: &str, forget: bool) -> Result<()> {
    let mut vault = open_vault(path)?;
    let token = cards::resolve(vault.tokens(), card)?.clone();
    if forget {
        eprintln!(
            "warning: deleting {} from this vault only; if the server still holds the token, \
             ask the bank or deactivate the card at an ATM",
            token.label
        );
    } else {
        let transport = client::HttpTransport::new(&token.server)?;
        block_on(|| client::remove_token(&transport, &token))?;
    }
    vault.remove(&token.token_id);
    vault.save()?;
    println!("removed {} ({})", token.label, token.pan_masked);
    Ok(())
}

/// Runs the future `make` builds to completion on a fresh single-threaded runtime. When the
/// caller is already inside a tokio runtime (where a nested `block_on` would panic), it does so
/// on a helper thread.
fn block_on<M, F, T>(make: M) -> Result<T>
where
    M: FnOnce() -> F + Send,
    F: Future<Output = Result<T>>,
    T: Send,
{
    let go = move || -> Result<T> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AppError::Internal(format!("cannot start the network runtime: {e}")))?;
        rt.block_on(make())
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return go();
    }
    std::thread::scope(|s| {
        s.spawn(go)
            .join()
            .unwrap_or_else(|_| Err(AppError::Internal("the network thread failed".into())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::{SecretBytes, SecretString};

    fn token(label: &str, pan: &str, offset: i64) -> Token {
        Token {
            label: label.to_owned(),
            token_id: format!("id-{label}"),
            server: "http://127.0.0.1:9".to_owned(),
            bank_name: "Maskan".to_owned(),
            pan: SecretString::new(pan.to_owned()),
            pan_masked: cards::mask_pan(pan),
            seed: SecretBytes::from_slice(&[3; 32]),
            lifetime_secs: 120,
            algorithm: "SHA256".to_owned(),
            first_digits: 4,
            second_digits: 8,
            clock_offset_ms: offset,
            added_at_unix_ms: 0,
        }
    }

    #[test]
    fn codes_use_the_clock_offset_and_the_right_key() {
        let t = token("a", "6280231234567898", 90_000);
        let keys = pooya_otp::derive_password_keys(&[3; 32]);
        let alg = pooya_otp::Algorithm::Sha256;
        let second = pooya_otp::Totp::new(120, pooya_otp::Digits::new(8).unwrap(), alg).unwrap();
        let first = pooya_otp::Totp::new(120, pooya_otp::Digits::new(4).unwrap(), alg).unwrap();
        let local = 1_700_000_000_000;
        let server = local + 90_000;

        let (code, left) = token_code(&t, PasswordKind::Second, local).unwrap();
        assert_eq!(code, second.code_at(&keys.second, server).as_str());
        assert_eq!(code.len(), 8);
        assert_eq!(left, second.remaining_ms(server));

        let (code, _) = token_code(&t, PasswordKind::First, local).unwrap();
        assert_eq!(code, first.code_at(&keys.first, server).as_str());
        assert_eq!(code.len(), 4);

        let mut broken = t.clone();
        broken.algorithm = "MD5".into();
        assert!(token_code(&broken, PasswordKind::Second, local).is_err());
    }

    #[test]
    fn https_or_loopback() {
        assert!(is_https_or_loopback("https://bank.example"));
        assert!(is_https_or_loopback("http://127.0.0.1:8080"));
        assert!(is_https_or_loopback("http://[::1]:8080"));
        assert!(is_https_or_loopback("http://localhost"));
        assert!(!is_https_or_loopback("http://bank.example"));
    }

    /// The only test that touches the process environment (POOYA_APP_PASSWORD).
    #[test]
    fn commands_on_a_vault() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault");
        let pw = "app pass 123";
        std::env::set_var(password::PASSWORD_ENV, pw);
        std::env::set_var(vault::KDF_FAST_ENV, "1");
        let args = |command| AppArgs {
            vault: path.clone(),
            command,
        };

        execute(args(AppCommand::Init)).unwrap();
        assert!(matches!(
            execute(args(AppCommand::Init)),
            Err(AppError::VaultExists(_))
        ));
        let mut v = Vault::open(&path, pw).unwrap();
        v.add(token("salary", "6280231234567898", 0)).unwrap();
        v.add(token("other", "6037991234567898", 0)).unwrap();
        v.save().unwrap();

        execute(args(AppCommand::List)).unwrap();
        let code = |card: &str, first| {
            execute(args(AppCommand::Code {
                card: card.into(),
                first,
                second: !first,
                plain: true,
            }))
        };
        code("salary", false).unwrap();
        code("salary", true).unwrap();
        assert!(matches!(
            code("7898", false),
            Err(AppError::AmbiguousCard(..))
        ));
        assert!(matches!(code("0000", false), Err(AppError::UnknownCard(_))));

        // A duplicate label is refused before any network traffic.
        let add = AppCommand::Add {
            server: "http://127.0.0.1:9".into(),
            pan: "6280231234567898".into(),
            receipt_code: "1".into(),
            sms_code: "2".into(),
            label: Some("salary".into()),
        };
        assert!(matches!(
            execute(args(add)),
            Err(AppError::DuplicateLabel(_))
        ));

        // Without --forget the (unreachable) server must agree first: the card stays.
        let remove = |forget| AppCommand::Remove {
            card: "salary".into(),
            forget,
        };
        assert!(matches!(
            execute(args(remove(false))),
            Err(AppError::Unreachable(..))
        ));
        assert_eq!(Vault::open(&path, pw).unwrap().tokens().len(), 2);
        execute(args(remove(true))).unwrap();
        let v = Vault::open(&path, pw).unwrap();
        assert_eq!(v.tokens().len(), 1);
        assert_eq!(v.tokens()[0].label, "other");
        code("7898", false).unwrap();
    }

    #[test]
    fn block_on_inside_a_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let r = rt.block_on(async { block_on(|| async { Ok(42) }) });
        assert_eq!(r.unwrap(), 42);
        assert_eq!(block_on(|| async { Ok(7) }).unwrap(), 7);
    }

    #[test]
    fn debug_of_args_hides_codes() {
        let a = AppCommand::Add {
            server: "https://b".into(),
            pan: "6280231234567898".into(),
            receipt_code: "4711".into(),
            sms_code: "9876".into(),
            label: None,
        };
        let d = format!("{a:?}");
        assert!(!d.contains("6280231234567898") && !d.contains("4711") && !d.contains("9876"));
    }
}
