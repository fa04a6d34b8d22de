//! # pooya-app — the pooya authenticator on the command line
//!
//! The app holds the bank cards of one person (R15), of any number of banks (R25), each as a
//! *token*: the seed agreed with its bank's issuer server during enrollment (R16), from which it
//! makes the first and the second dynamic password of the card offline (R13, R17).
//!
//! ```text
//! pooya app --vault FILE [--lang fa|en]            (a terminal: the full-screen app)
//! pooya app --vault FILE init
//! pooya app --vault FILE add --server URL --pan PAN --receipt-code CODE --sms-code CODE [--label L]
//!                            [--allow-plain-http]
//! pooya app --vault FILE list
//! pooya app --vault FILE code CARD [--first | --second] [--plain] [--watch]
//! pooya app --vault FILE remove CARD [--local-only]
//! pooya app --vault FILE sync
//! pooya app --vault FILE passwd
//! pooya app --vault FILE keystore enable|disable|status
//! ```
//!
//! CARD is a label, a full card number or its last 4 digits.
//!
//! * The vault and its file: [`vault`] (`docs/vault.md`); the OS key store: [`keystore`].
//! * The server protocol: [`client`] (no proxy is ever used: R18).
//! * Codes on the server's time: [`clock`] (R19).
//! * Messages in English and Persian: [`i18n`].
//! * The full-screen app: [`tui`].
//!
//! ## Environment
//! * `POOYA_APP_PASSWORD`: the app password; otherwise the app asks on the terminal (twice for
//!   `init`; up to three times for an existing vault). `POOYA_APP_NEW_PASSWORD`: the new password
//!   of `passwd`. R13's policy applies to new passwords: at least 8 characters with at least one
//!   letter and one digit.
//! * Tests only: `POOYA_APP_KDF_FAST=1` (cheap Argon2 for new vaults; test and debug builds),
//!   `POOYA_APP_TEST_CRASH_BEFORE_RENAME=1` (every save dies before its rename),
//!   `POOYA_APP_TEST_CLOCK_SKEW_MS=N` (the app's wall clock is off by N ms).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod clock;
mod in_force;
pub mod keystore;
pub mod password;
pub mod tui;
pub mod vault;

// The core, shared with the web app: `pooya_app::cards` and the rest keep their paths.
pub use pooya_app_core::{
    cards, codes, correction_for, correction_warnings, error, i18n, rounded_secs, token_code, tr,
};

use std::fmt;
use std::future::Future;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use crate::cards::PasswordKind;
use crate::clock::{boot_now, local_now_ms};
pub use crate::error::AppError;
use crate::error::Result;
use crate::i18n::Lang;
use crate::keystore::{KeyStore, OsKeyStore};
use crate::vault::{KdfParams, LockedVault, LockedVaultFile, Token, Vault, VaultFile};

/// `pooya app`: the authenticator. Flatten or nest it into the binary's command line.
#[derive(Args, Debug)]
pub struct AppArgs {
    /// The vault file that holds the cards, encrypted under the app password.
    #[arg(long, value_name = "FILE")]
    pub vault: PathBuf,
    /// The language of the messages (default: from the locale, LC_ALL / LC_MESSAGES / LANG).
    #[arg(long, value_enum)]
    pub lang: Option<Lang>,
    /// What to do; none in a terminal opens the full-screen app.
    #[command(subcommand)]
    pub command: Option<AppCommand>,
}

/// What `keystore` does with the platform slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeystoreAction {
    /// Let the OS key store open the vault (asks for the app password once).
    Enable,
    /// Remove the platform slot and its key.
    Disable,
    /// Say whether the vault has a platform slot and whether the key store holds its key.
    Status,
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
        /// Talk plain http to a server that is not this machine (loopback always may): the
        /// card number and the enrollment cross the network unencrypted.
        #[arg(long)]
        allow_plain_http: bool,
        /// This card is already in the vault for this bank (the label, or another entry):
        /// once the new activation succeeds, replace the old entry (asked in a terminal).
        #[arg(long)]
        replace: bool,
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
        #[arg(long, conflicts_with = "watch")]
        plain: bool,
        /// Keep showing the code and its time, rolling to the next code (Ctrl-C ends).
        #[arg(long)]
        watch: bool,
    },
    /// Remove a card: the server revokes the token, then the app forgets it (needs the internet).
    Remove {
        /// The card: its label, its full number, or its last 4 digits.
        card: String,
        /// Delete the card from this vault only, without asking the server (for a token whose
        /// server is gone or no longer knows it).
        #[arg(long = "local-only", alias = "forget")]
        local_only: bool,
    },
    /// Measure every issuer's clock now (needs the internet), so codes follow the server's time.
    Sync,
    /// Change the app password (and the master key: the cards are re-encrypted). The current
    /// password is read as for every command (POOYA_APP_PASSWORD); the new one from the terminal
    /// twice, or, without a terminal, from POOYA_APP_NEW_PASSWORD.
    Passwd,
    /// The platform slot: let the OS key store open the vault instead of the password.
    Keystore {
        /// enable, disable or status.
        #[arg(value_enum)]
        action: KeystoreAction,
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
                watch,
                ..
            } => f
                .debug_struct("Code")
                .field("first", first)
                .field("second", second)
                .field("plain", plain)
                .field("watch", watch)
                .finish_non_exhaustive(),
            Self::Remove { local_only, .. } => f
                .debug_struct("Remove")
                .field("local_only", local_only)
                .finish_non_exhaustive(),
            Self::Sync => f.write_str("Sync"),
            Self::Passwd => f.write_str("Passwd"),
            Self::Keystore { action } => {
                f.debug_struct("Keystore").field("action", action).finish()
            }
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
            let prefix = tr!("error", "خطا");
            eprintln!("{prefix}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// [`run`] without the printing: the command's outcome.
pub fn execute(args: AppArgs) -> Result<()> {
    if let Some(lang) = args.lang {
        i18n::set(lang);
    }
    let path = args.vault.as_path();
    let Some(command) = args.command else {
        if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
            return Err(AppError::NoTerminal);
        }
        let mut vault = open_vault(path, Unlock::KeystoreOrPassword)?;
        in_force::check_at_start(&mut vault);
        return tui::run(vault);
    };
    match command {
        AppCommand::Init => cmd_init(path),
        AppCommand::Add {
            server,
            pan,
            receipt_code,
            sms_code,
            label,
            allow_plain_http,
            replace,
        } => {
            let pan = Zeroizing::new(pan);
            let receipt_code = Zeroizing::new(receipt_code);
            let sms_code = Zeroizing::new(sms_code);
            cmd_add(
                path,
                &server,
                &pan,
                (&receipt_code, &sms_code),
                label.as_deref(),
                (allow_plain_http, replace),
            )
        }
        AppCommand::List => cmd_list(path),
        AppCommand::Code {
            card,
            first,
            second: _,
            plain,
            watch,
        } => {
            let kind = if first {
                PasswordKind::First
            } else {
                PasswordKind::Second
            };
            cmd_code(path, &card, kind, plain, watch)
        }
        AppCommand::Remove { card, local_only } => cmd_remove(path, &card, local_only),
        AppCommand::Sync => cmd_sync(path),
        AppCommand::Passwd => cmd_passwd(path),
        AppCommand::Keystore { action } => cmd_keystore(path, action),
    }
}

/// How a command may open the vault.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unlock {
    /// The platform slot if the vault has one and the key store holds its key, else the password.
    KeystoreOrPassword,
    /// The app password only (changing the slots needs it).
    PasswordOnly,
}

/// Reads the vault file first (so a wrong path fails before any prompt), then unlocks it.
fn open_vault(path: &Path, how: Unlock) -> Result<Vault> {
    let locked = LockedVault::read(path)?;
    if how == Unlock::KeystoreOrPassword && locked.has_platform_slot() {
        match LockedVault::read(path)?.unlock_with_keystore(&OsKeyStore) {
            Ok(Some(vault)) => return Ok(vault),
            Ok(None) => {}
            Err(e @ (AppError::KeystoreEntryMissing(_) | AppError::KeystoreUnavailable(_))) => {
                let note = tr!("note", "یادآوری");
                eprintln!("{note}: {e}");
            }
            Err(e) => return Err(e),
        }
    }
    password::unlock(&locked, &OsKeyStore)
}

fn cmd_init(path: &Path) -> Result<()> {
    vault::refuse_existing(path)?;
    let password = password::read_new()?;
    let kdf = KdfParams::for_new_vault()?;
    if kdf == KdfParams::FAST_FOR_TESTS {
        let var = vault::KDF_FAST_ENV;
        eprintln!(
            "{}",
            tr!(
                "warning: {var}=1: this vault uses weak key derivation, meant for tests only",
                "هشدار: {var}=1: این گاوصندوق کلید را ضعیف می‌سازد و فقط برای آزمون است"
            )
        );
    }
    Vault::create(path, &password, kdf)?;
    let p = path.display();
    println!(
        "{}",
        tr!(
            "created an empty vault at {p}",
            "گاوصندوق خالی در {p} ساخته شد"
        )
    );
    Ok(())
}

fn cmd_add(
    path: &Path,
    server: &str,
    pan: &str,
    (receipt_code, sms_code): (&str, &str),
    label: Option<&str>,
    (allow_plain_http, replace): (bool, bool),
) -> Result<()> {
    // Everything that can be checked locally is checked before the server counts a try (the
    // codes' lengths, once the bank's are known: `client::enroll`).
    let server = client::normalize_server(server)?;
    let plain = !is_https_or_loopback(&server);
    if plain && !allow_plain_http {
        return Err(AppError::Invalid(tr!(
            "{server} is not an https address: the card number and the enrollment would cross \
             the network unencrypted. Use the bank's https address (or --allow-plain-http, for a \
             test server you trust)",
            "{server} نشانی https نیست: شمارهٔ کارت و ثبت رمزنگاری‌نشده از شبکه می‌گذرند. نشانی \
             https بانک را به کار ببرید (یا --allow-plain-http، برای کارساز آزمایشی مورد اعتماد)"
        )));
    }
    let pan = Zeroizing::new(cards::normalize_pan(pan)?);
    codes::normalize(codes::Which::Receipt, receipt_code)?;
    codes::normalize(codes::Which::Sms, sms_code)?;
    let label = match label {
        Some(l) => l.to_owned(),
        None => cards::default_label(&pan),
    };
    cards::check_label(&label)?;
    let mut vault = open_vault(path, Unlock::KeystoreOrPassword)?;
    // The same card at the same bank already here: a new activation replaces its token, so the
    // old entry's codes are dead once this one is added. Offer to replace it.
    let older: Vec<String> = vault
        .tokens()
        .iter()
        .filter(|t| t.pan.expose() == pan.as_str() && t.server == server)
        .map(|t| t.label.clone())
        .collect();
    let replace = replace || (!older.is_empty() && ask_replace(&older.join(", ")));
    if vault
        .tokens()
        .iter()
        .any(|t| t.label == label && !(replace && older.contains(&t.label)))
    {
        return Err(if older.contains(&label) {
            AppError::Invalid(tr!(
                "{label} is already in this vault, for this card at this bank: add --replace to \
                 replace it once the new activation succeeds",
                "{label} هم‌اکنون در این گاوصندوق است، برای همین کارت و همین بانک: برای جایگزینی \
                 آن پس از فعال‌سازی تازه --replace را بیفزایید"
            ))
        } else {
            AppError::DuplicateLabel(label)
        });
    }
    if plain {
        eprintln!(
            "{}",
            tr!(
                "warning: {server} is not an https address; the connection is not encrypted",
                "هشدار: {server} نشانی https نیست؛ اتصال رمزنگاری نشده است"
            )
        );
    }

    let transport = client::HttpTransport::new(&server)?;
    let request = client::EnrollRequest {
        pan: &pan,
        receipt_code,
        sms_code,
        label: &label,
    };
    let enrolled = block_on(|| client::enroll(&transport, &request, local_now_ms, boot_now))?;
    let token = enrolled.token;

    if replace {
        let ids: Vec<String> = vault
            .tokens()
            .iter()
            .filter(|t| older.contains(&t.label))
            .map(|t| t.token_id.clone())
            .collect();
        for id in ids {
            vault.remove(&id);
        }
    }
    let (label, masked, bank) = (
        token.label.clone(),
        token.pan_masked.clone(),
        token.bank_name.clone(),
    );
    let lifetime = token.lifetime_secs;
    vault.add(token)?;
    vault.set_clock(enrolled.clock.clone());
    vault.save()?;
    println!(
        "{}",
        tr!(
            "added {label}: {bank} {masked}",
            "{label} افزوده شد: {bank} {masked}"
        )
    );
    warn_offset(&bank, enrolled.clock.offset_ms, lifetime);
    if replace && !older.is_empty() {
        let older = older.join(", ");
        eprintln!(
            "{}",
            tr!(
                "replaced the older entry of this card ({older})",
                "نوشتهٔ قدیمی‌تر این کارت ({older}) جایگزین شد"
            )
        );
    } else if !older.is_empty() {
        let older = older.join(", ");
        eprintln!(
            "{}",
            tr!(
                "note: the new activation replaced this card's older token ({older}); delete it \
                 with `remove --local-only`",
                "یادآوری: فعال‌سازی تازه جای رمزساز قدیمی این کارت ({older}) را گرفت؛ آن را با \
                 `remove --local-only` پاک کنید"
            )
        );
    }
    Ok(())
}

/// In a terminal, asks whether the new token should replace the card's older entries `older`;
/// elsewhere the answer is no (`--replace` says yes).
fn ask_replace(older: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!(
        "{}",
        tr!(
            "this card is already in the vault for this bank ({older}); its token dies with the \
             new activation. Replace the old entry once the new one is added? [y/N] ",
            "این کارت برای همین بانک در گاوصندوق هست ({older})؛ رمزساز آن با فعال‌سازی تازه از کار \
             می‌افتد. پس از افزودن تازه، نوشتهٔ قدیمی جایگزین شود؟ [y/N] "
        )
    );
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok()
        && matches!(answer.trim(), "y" | "Y" | "yes" | "بله" | "آری")
}

/// What to do about a card whose issuer no longer takes its codes.
pub(crate) fn not_in_force_warning(token: &Token) -> String {
    let (label, masked, bank) = (&token.label, &token.pan_masked, &token.bank_name);
    tr!(
        "warning: {bank} no longer takes the codes of {label} ({masked}) (at the last sync): a \
         newer activation replaced its token, or it was removed or locked. Activate again at an \
         ATM and add the card anew, and remove this entry: `remove {label} --local-only`",
        "هشدار: {bank} دیگر رمزهای {label} ({masked}) را نمی‌پذیرد (در آخرین همگام‌سازی): \
         فعال‌سازی تازه‌تری جای رمزساز آن را گرفته، یا حذف یا قفل شده است. دوباره در خودپرداز \
         فعال کنید و کارت را از نو بیفزایید، و این نوشته را پاک کنید: `remove {label} --local-only`"
    )
}

/// R19: a clock more than a code's lifetime off the bank's is worth a word.
fn warn_offset(bank: &str, offset_ms: i64, lifetime_secs: u32) {
    if offset_ms.abs() <= i64::from(lifetime_secs) * 1000 {
        return;
    }
    let secs = rounded_secs(offset_ms);
    let msg = if offset_ms > 0 {
        tr!(
            "note: this device's clock is {secs} s behind {bank}'s; codes are made on the bank's \
             time, but set the clock to update automatically",
            "یادآوری: ساعت این دستگاه {secs} ثانیه از ساعت {bank} عقب است؛ رمزها با ساعت بانک ساخته \
             می‌شوند، ولی ساعت را روی تنظیم خودکار بگذارید"
        )
    } else {
        tr!(
            "note: this device's clock is {secs} s ahead of {bank}'s; codes are made on the \
             bank's time, but set the clock to update automatically",
            "یادآوری: ساعت این دستگاه {secs} ثانیه از ساعت {bank} جلو است؛ رمزها با ساعت بانک \
             ساخته می‌شوند، ولی ساعت را روی تنظیم خودکار بگذارید"
        )
    };
    eprintln!("{msg}");
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
    let vault = open_vault(path, Unlock::KeystoreOrPassword)?;
    if vault.tokens().is_empty() {
        eprintln!(
            "{}",
            tr!(
                "no cards yet: add one with `add`",
                "هنوز کارتی نیست: با `add` یکی بیفزایید"
            )
        );
    }
    for line in cards::list_lines(vault.tokens()) {
        println!("{line}");
    }
    for t in vault
        .tokens()
        .iter()
        .filter(|t| vault.not_in_force(&t.token_id))
    {
        eprintln!("{}", not_in_force_warning(t));
    }
    Ok(())
}

fn cmd_code(path: &Path, card: &str, kind: PasswordKind, plain: bool, watch: bool) -> Result<()> {
    let vault = open_vault(path, Unlock::KeystoreOrPassword)?;
    let token = cards::resolve(vault.tokens(), card)?;
    if vault.not_in_force(&token.token_id) {
        eprintln!("{}", not_in_force_warning(token));
    }
    let correction = correction_for(&vault, token, local_now_ms(), boot_now().as_ref());
    for w in correction_warnings(&token.bank_name, &correction, token.lifetime_secs) {
        eprintln!("{w}");
    }
    let server_now = || local_now_ms().saturating_add(correction.offset_ms);
    if !watch {
        let (code, remaining) = token_code(token, kind, server_now())?;
        let code = Zeroizing::new(code);
        if plain {
            println!("{}", code.as_str());
        } else {
            println!("{}", cards::format_code_line(kind, token, &code, remaining));
        }
        return Ok(());
    }
    // --watch: in a terminal, one line redrawn in place; elsewhere, a line per new code.
    let tty = std::io::stdout().is_terminal();
    let mut last = Zeroizing::new(String::new());
    loop {
        let (code, remaining) = token_code(token, kind, server_now())?;
        let code = Zeroizing::new(code);
        let mut out = std::io::stdout().lock();
        let line = Zeroizing::new(cards::format_code_line(kind, token, &code, remaining));
        let written = if tty {
            write!(out, "\r\x1b[2K{}", line.as_str())
        } else if *code != *last {
            writeln!(out, "{}", line.as_str())
        } else {
            Ok(())
        };
        if written.and_then(|()| out.flush()).is_err() {
            // The reader went away (a closed pipe): nothing more to show.
            return Ok(());
        }
        drop(out);
        last = code;
        // Wake at the next whole second of the code's time, or at its end.
        let wait = (remaining.rem_euclid(1000)).clamp(50, 1000);
        std::thread::sleep(std::time::Duration::from_millis(wait as u64));
    }
}

fn cmd_remove(path: &Path, card: &str, local_only: bool) -> Result<()> {
    let mut vault = open_vault(path, Unlock::KeystoreOrPassword)?;
    let token = cards::resolve(vault.tokens(), card)?.clone();
    let label = &token.label;
    if local_only {
        eprintln!(
            "{}",
            tr!(
                "warning: deleting {label} from this vault only; if the server still holds the \
                 token, its codes stay valid: ask the bank or deactivate the card's dynamic \
                 password at an ATM",
                "هشدار: {label} فقط از این گاوصندوق پاک می‌شود؛ اگر کارساز هنوز رمزساز را دارد، \
                 رمزهایش معتبر می‌مانند: از بانک بخواهید یا رمز پویای کارت را در خودپرداز غیرفعال \
                 کنید"
            )
        );
    } else {
        let transport = client::HttpTransport::new(&token.server)?;
        // Every online action measures the clock too (R19).
        let clock = block_on(|| client::measure_clock(&transport, local_now_ms, boot_now))?;
        block_on(|| client::remove_token(&transport, &token))?;
        vault.set_clock(clock);
    }
    vault.remove(&token.token_id);
    vault.save()?;
    let masked = &token.pan_masked;
    println!(
        "{}",
        tr!("removed {label} ({masked})", "{label} ({masked}) حذف شد")
    );
    Ok(())
}

fn cmd_sync(path: &Path) -> Result<()> {
    let mut vault = open_vault(path, Unlock::KeystoreOrPassword)?;
    let mut servers: Vec<(String, String, u32)> = Vec::new();
    for t in vault.tokens() {
        if !servers.iter().any(|(s, ..)| *s == t.server) {
            servers.push((t.server.clone(), t.bank_name.clone(), t.lifetime_secs));
        }
    }
    if servers.is_empty() {
        eprintln!(
            "{}",
            tr!(
                "no cards yet: nothing to sync",
                "هنوز کارتی نیست: چیزی برای همگام‌سازی نیست"
            )
        );
        return Ok(());
    }
    let mut failed = None;
    for (server, bank, lifetime) in servers {
        let transport = match client::HttpTransport::new(&server) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{}: {bank}: {e}", tr!("error", "خطا"));
                failed = Some(e);
                continue;
            }
        };
        let measured = block_on(|| client::measure_clock(&transport, local_now_ms, boot_now));
        match measured {
            Ok(clock) => {
                let (off, rtt) = (clock.offset_ms, clock.round_trip_ms);
                println!(
                    "{}",
                    tr!(
                        "{bank} ({server}): server clock minus this device's = {off} ms (± {rtt} ms)",
                        "{bank} ({server}): ساعت کارساز منهای ساعت این دستگاه = {off} میلی‌ثانیه (± {rtt})"
                    )
                );
                warn_offset(&bank, off, lifetime);
                vault.set_clock(clock);
                if let Err(e) = in_force::check_in_force(&mut vault, &transport, &server, off) {
                    eprintln!("{}: {bank}: {e}", tr!("error", "خطا"));
                    failed = Some(e);
                }
            }
            Err(e) => {
                let prefix = tr!("error", "خطا");
                eprintln!("{prefix}: {bank}: {e}");
                failed = Some(e);
            }
        }
    }
    // What was measured is kept even when another issuer failed.
    vault.save()?;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn cmd_passwd(path: &Path) -> Result<()> {
    let mut vault = open_vault(path, Unlock::PasswordOnly)?;
    let new = password::read_new_from(password::NEW_PASSWORD_ENV)?;
    let platform = vault.rekey(&new, KdfParams::for_new_vault()?, &OsKeyStore)?;
    vault.save()?;
    println!(
        "{}",
        tr!(
            "the app password is changed; the cards are re-encrypted under a new key",
            "رمز برنامه عوض شد؛ کارت‌ها با کلید تازه‌ای دوباره رمزنگاری شدند"
        )
    );
    if let Some(line) = platform.note() {
        let note = tr!("note", "یادآوری");
        eprintln!("{note}: {line}");
    }
    Ok(())
}

fn cmd_keystore(path: &Path, action: KeystoreAction) -> Result<()> {
    let store = OsKeyStore;
    let name = store.name();
    match action {
        KeystoreAction::Enable => {
            let mut vault = open_vault(path, Unlock::PasswordOnly)?;
            vault.enable_platform_slot(&store)?;
            vault.save()?;
            println!(
                "{}",
                tr!(
                    "{name} now opens this vault without the password",
                    "{name} از این پس این گاوصندوق را بی‌رمز باز می‌کند"
                )
            );
            if cfg!(target_os = "linux") {
                eprintln!(
                    "{}",
                    tr!(
                        "note: the Linux kernel keeps this key until a reboot or the end of the \
                         login session; then the app asks for the password again",
                        "یادآوری: هستهٔ لینوکس این کلید را تا راه‌اندازی دوباره یا پایان نشست ورود \
                         نگه می‌دارد؛ پس از آن برنامه دوباره رمز را می‌پرسد"
                    )
                );
            }
        }
        KeystoreAction::Disable => {
            // Re-keying the vault needs the password slot's key.
            let mut vault = open_vault(path, Unlock::PasswordOnly)?;
            if vault.disable_platform_slot(&store)? {
                vault.save()?;
                println!(
                    "{}",
                    tr!(
                        "the platform slot is removed; only the password opens this vault",
                        "جایگاه سامانه حذف شد؛ فقط رمز این گاوصندوق را باز می‌کند"
                    )
                );
            } else {
                println!(
                    "{}",
                    tr!(
                        "this vault has no platform slot",
                        "این گاوصندوق جایگاه سامانه ندارد"
                    )
                );
            }
        }
        KeystoreAction::Status => {
            let locked = LockedVault::read(path)?;
            if !locked.has_platform_slot() {
                println!(
                    "{}",
                    tr!(
                        "no platform slot: the password opens this vault",
                        "جایگاه سامانه ندارد: رمز این گاوصندوق را باز می‌کند"
                    )
                );
                return Ok(());
            }
            match locked.unlock_with_keystore(&store) {
                Ok(_) => println!(
                    "{}",
                    tr!(
                        "platform slot: {name} opens this vault",
                        "جایگاه سامانه: {name} این گاوصندوق را باز می‌کند"
                    )
                ),
                Err(e) => println!(
                    "{}",
                    tr!(
                        "platform slot present, but unusable now: {e}",
                        "جایگاه سامانه هست، ولی اکنون کار نمی‌کند: {e}"
                    )
                ),
            }
        }
    }
    Ok(())
}

/// Runs the future `make` builds to completion on a fresh single-threaded runtime. When the
/// caller is already inside a tokio runtime (where a nested `block_on` would panic), it does so
/// on a helper thread.
pub(crate) fn block_on<M, F, T>(make: M) -> Result<T>
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

    fn token(label: &str, pan: &str) -> Token {
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
            added_at_unix_ms: 0,
        }
    }

    #[test]
    fn codes_use_the_right_key_and_time() {
        let t = token("a", "6280231234567898");
        let keys = pooya_otp::derive_password_keys(&[3; 32]);
        let alg = pooya_otp::Algorithm::Sha256;
        let second = pooya_otp::Totp::new(120, pooya_otp::Digits::new(8).unwrap(), alg).unwrap();
        let first = pooya_otp::Totp::new(120, pooya_otp::Digits::new(4).unwrap(), alg).unwrap();
        let server = 1_700_000_090_000;

        let (code, left) = token_code(&t, PasswordKind::Second, server).unwrap();
        assert_eq!(code, second.code_at(&keys.second, server).as_str());
        assert_eq!(code.len(), 8);
        assert_eq!(left, second.remaining_ms(server));

        let (code, _) = token_code(&t, PasswordKind::First, server).unwrap();
        assert_eq!(code, first.code_at(&keys.first, server).as_str());
        assert_eq!(code.len(), 4);

        let mut broken = t.clone();
        broken.algorithm = "MD5".into();
        assert!(token_code(&broken, PasswordKind::Second, server).is_err());
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
            lang: None,
            command: Some(command),
        };

        execute(args(AppCommand::Init)).unwrap();
        assert!(matches!(
            execute(args(AppCommand::Init)),
            Err(AppError::VaultExists(_))
        ));
        let mut v = Vault::open(&path, pw).unwrap();
        v.add(token("salary", "6280231234567898")).unwrap();
        v.add(token("other", "6037991234567898")).unwrap();
        v.save().unwrap();

        execute(args(AppCommand::List)).unwrap();
        let code = |card: &str, first| {
            execute(args(AppCommand::Code {
                card: card.into(),
                first,
                second: !first,
                plain: true,
                watch: false,
            }))
        };
        code("salary", false).unwrap();
        code("salary", true).unwrap();
        assert!(matches!(
            code("7898", false),
            Err(AppError::AmbiguousCard(..))
        ));
        assert!(matches!(code("0000", false), Err(AppError::UnknownCard(_))));

        // A duplicate label is refused before any network traffic. (The same card's at the same
        // bank is asked about in a terminal: the black-box test app_in_force runs it without.)
        let add = |pan: &str| AppCommand::Add {
            server: "http://127.0.0.1:9".into(),
            pan: pan.into(),
            receipt_code: "1".into(),
            sms_code: "2".into(),
            label: Some("salary".into()),
            allow_plain_http: false,
            replace: false,
        };
        assert!(matches!(
            execute(args(add("6280231234567872"))),
            Err(AppError::DuplicateLabel(_))
        ));
        // Plain http to anything but this machine is refused unless asked for, before anything.
        let add = |allow_plain_http| AppCommand::Add {
            server: "http://bank.example".into(),
            pan: "6280231234567898".into(),
            receipt_code: "1".into(),
            sms_code: "2".into(),
            label: Some("salary".into()),
            allow_plain_http,
            replace: false,
        };
        let refused = execute(args(add(false))).unwrap_err().to_string();
        assert!(refused.contains("not an https address"), "{refused}");
        assert!(matches!(
            execute(args(add(true))),
            Err(AppError::DuplicateLabel(_))
        ));

        // Without --forget the (unreachable) server must agree first: the card stays.
        let remove = |local_only| AppCommand::Remove {
            card: "salary".into(),
            local_only,
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
            allow_plain_http: false,
            replace: false,
        };
        let d = format!("{a:?}");
        assert!(!d.contains("6280231234567898") && !d.contains("4711") && !d.contains("9876"));
    }
}
