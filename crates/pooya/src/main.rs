//! `pooya`: the issuer server (`serve`), the card holder's authenticator (`app`), and key
//! administration (`keys`, `audit`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pooya_issuer::domain::Role;
use pooya_server::ServeOptions;

mod audit_cmd;
mod keycmd;
mod operator_cmd;

// The server allocates and frees small buffers on every request from two threads or more;
// glibc's allocator spent about 12 % of the verification path's time in malloc and free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "pooya",
    version,
    about = "An open dynamic-password platform for banks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
pub(crate) struct StoreArgs {
    /// Directory of the SQLite database, the master key, bootstrap keys and the SMS outbox file.
    /// Required: this, or `[server] data_dir` in the --config file.
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,
    /// PostgreSQL instead of the embedded SQLite: postgres://user@host/db
    #[arg(long, env = "POOYA_DATABASE_URL")]
    pub(crate) database_url: Option<String>,
    /// TOML configuration file; every setting has a default (docs/configuration.md).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the issuer server.
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
        #[arg(long)]
        listen: Option<String>,
        /// TESTS ONLY: a clock that moves only through POST /v1/test/clock (admin key).
        #[arg(long, hide = true)]
        unsafe_fake_clock: bool,
        /// Serve HTTPS with this certificate chain (PEM); needs --tls-key ([tls] cert_file).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1) ([tls] key_file).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Log lines on standard error: `text` (human-readable) or `json` (one object a line).
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// The configuration file.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// The card holder's authenticator app.
    App(pooya_app::AppArgs),
    /// Administration of a running server (role `admin`).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The tamper-evident audit trail: verify its chain, export it.
    Audit {
        #[command(subcommand)]
        command: audit_cmd::AuditCommand,
    },
    /// The bank's staff: operator accounts for the console (docs/console.md).
    Operator {
        #[command(subcommand)]
        command: operator_cmd::OperatorCommand,
    },
    /// Channel keys of the bank's systems, and the key encryption key (docs/keys.md).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The card holder's web app as plain files, for any static web host (docs/web-app.md).
    WebApp {
        /// A new or empty directory to write the app's files into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validates FILE (with the POOYA_… environment overrides) and prints the effective settings
    /// as TOML, secrets masked; exits 1 with the reason if they are refused.
    Check {
        /// The TOML configuration file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Imports the hardware tokens of a PSKC (RFC 6030) file: each serial's key becomes the
    /// second-password token of the card assigned to it (POST /v1/admin/pskc). All or nothing.
    ImportPskc {
        /// The PSKC file (a <KeyContainer>).
        file: PathBuf,
        /// SERIAL=PAN: the card a token goes to; once per key package of the file.
        #[arg(long = "assign", value_name = "SERIAL=PAN", required = true)]
        assign: Vec<String>,
        /// The pre-shared key of an encrypted file, in hex (RFC 6030 §6.1).
        #[arg(long, env = "POOYA_PSKC_PRESHARED_KEY_HEX", hide_env_values = true)]
        preshared_key_hex: Option<String>,
        /// The password of a file encrypted with a PBKDF2-derived key (RFC 6030 §6.2).
        #[arg(long, env = "POOYA_PSKC_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// The server, e.g. http://127.0.0.1:8080
        #[arg(long)]
        server: String,
        /// An admin key.
        #[arg(long, env = "POOYA_ADMIN_KEY", hide_env_values = true)]
        key: String,
    },
}

/// `pooya admin import-pskc`: posts the file and prints the answer.
async fn import_pskc(cmd: AdminCommand) -> Result<String, String> {
    let AdminCommand::ImportPskc {
        file,
        assign,
        preshared_key_hex,
        password,
        server,
        key,
    } = cmd;
    let pskc = std::fs::read_to_string(&file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut map = serde_json::Map::new();
    for a in &assign {
        let (serial, pan) = a
            .split_once('=')
            .filter(|(s, p)| !s.is_empty() && !p.is_empty())
            .ok_or_else(|| format!("--assign {a:?}: expected SERIAL=PAN"))?;
        if map.insert(serial.to_owned(), pan.into()).is_some() {
            return Err(format!("serial {serial} is assigned twice"));
        }
    }
    let mut body = serde_json::json!({ "pskc": pskc, "assign": map });
    if let Some(h) = preshared_key_hex {
        body["preshared_key_hex"] = h.into();
    }
    if let Some(p) = password {
        body["password"] = p.into();
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let url = format!("{}/v1/admin/pskc", server.trim_end_matches('/'));
    let resp = client
        .post(url)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("{server}: {e}"))?;
    let status = resp.status();
    let answer: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| format!("{server}: unreadable answer ({status}): {e}"))?;
    if status.is_success() {
        Ok(format!("imported {}", answer["imported"]))
    } else {
        Err(format!(
            "{} ({}): {}",
            answer["error"]["code"].as_str().unwrap_or("error"),
            status.as_u16(),
            answer["error"]["message"].as_str().unwrap_or("")
        ))
    }
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Creates a key and prints it once; only its hash is kept.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// admin, branch, atm, sms or switch
        #[arg(long)]
        role: String,
        /// A note on who holds the key.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Creates a key encryption key (KEK): a new key file, or an AES key in the PKCS#11 token.
    CreateKek(keycmd::CreateKekArgs),
    /// Re-wraps every data key under a new KEK while servers keep serving (docs/keys.md).
    Rotate(keycmd::RotateArgs),
    /// Shows the data keys and whether each opens under the configured KEK.
    Status(keycmd::StatusArgs),
}

/// Logs go to stderr through a thread of their own: a request formats its line and queues it;
/// the log thread writes whatever is queued in one `write` (a buffer flushed each time the queue
/// is empty), so a busy server makes one system call per batch of lines instead of one per request.
/// Never lossy: a full queue makes the request wait rather than drop its line. The lines still
/// queued are written when the returned guard is dropped.
fn init_logs(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("POOYA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("pooya-logs")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Text => builder.with_ansi(ansi).init(),
    }
    guard
}

pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Writes the web app's files into `out` (made if missing; refused if it holds anything).
fn export_web_app(out: &std::path::Path) -> Result<usize, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot make {}: {e}", out.display()))?;
    let mut entries = std::fs::read_dir(out).map_err(|e| format!("{}: {e}", out.display()))?;
    if entries.next().is_some() {
        return Err(format!(
            "{} is not empty; the app's files go into a new or empty directory",
            out.display()
        ));
    }
    for a in pooya_web::ASSETS {
        let path = out.join(a.path);
        std::fs::write(&path, a.bytes)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(pooya_web::ASSETS.len())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::App(args) => pooya_app::run(args),
        Command::Audit { command } => audit_cmd::run(command),
        Command::WebApp { out } => match export_web_app(&out) {
            Ok(n) => {
                println!("wrote the web app's {n} files to {}", out.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Operator { command } => operator_cmd::run(command),
        Command::Serve {
            store,
            listen,
            unsafe_fake_clock,
            tls_cert,
            tls_key,
            log_format,
        } => {
            let logs = init_logs(log_format);
            let opts = ServeOptions {
                data_dir: store.data_dir,
                listen,
                database_url: store.database_url,
                config: store.config,
                unsafe_fake_clock,
                tls_cert,
                tls_key,
            };
            let result = runtime()
                .map_err(pooya_server::ServeError::from)
                .and_then(|rt| rt.block_on(pooya_server::serve(opts)));
            // Every queued log line out before the last word.
            drop(logs);
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pooya serve: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Config {
            command: ConfigCommand::Check { file },
        } => match pooya_server::config_check(&file) {
            Ok(effective) => {
                print!("{effective}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("pooya config check: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Admin { command } => {
            let result = runtime()
                .map_err(|e| e.to_string())
                .and_then(|rt| rt.block_on(import_pskc(command)));
            match result {
                Ok(line) => {
                    println!("{line}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("pooya admin import-pskc: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Keys {
            command: KeysCommand::CreateKek(args),
        } => keycmd::create_kek(args),
        Command::Keys {
            command: KeysCommand::Rotate(args),
        } => keycmd::rotate(args),
        Command::Keys {
            command: KeysCommand::Status(args),
        } => keycmd::status(args),
        Command::Keys {
            command: KeysCommand::Create { store, role, label },
        } => {
            let Some(role) = Role::parse(&role) else {
                eprintln!(
                    "pooya keys create: unknown role {role:?} (admin, branch, atm, sms, switch)"
                );
                return ExitCode::from(2);
            };
            let opts = ServeOptions {
                data_dir: store.data_dir,
                database_url: store.database_url,
                config: store.config,
                ..ServeOptions::default()
            };
            let result = runtime()
                .map_err(pooya_server::ServeError::from)
                .and_then(|rt| rt.block_on(pooya_server::create_key(&opts, role, &label)));
            match result {
                Ok(key) => {
                    println!("{key}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("pooya keys create: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
