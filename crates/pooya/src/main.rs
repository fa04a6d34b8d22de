//! `pooya`: the issuer server (`serve`), the card holder's authenticator (`app`), and key
//! administration (`keys`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pooya_issuer::domain::Role;
use pooya_server::ServeOptions;

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
struct StoreArgs {
    /// Directory of the SQLite database, the master key, bootstrap keys and the SMS outbox file.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL instead of the embedded SQLite: postgres://user@host/db
    #[arg(long, env = "POOYA_DATABASE_URL")]
    database_url: Option<String>,
    /// TOML configuration file; every setting has a default (docs/configuration.md).
    #[arg(long)]
    config: Option<PathBuf>,
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
    },
    /// The card holder's authenticator app.
    App(pooya_app::AppArgs),
    /// Channel keys of the bank's systems.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
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
}

fn init_logs() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("POOYA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::App(args) => pooya_app::run(args),
        Command::Serve {
            store,
            listen,
            unsafe_fake_clock,
        } => {
            init_logs();
            let opts = ServeOptions {
                data_dir: store.data_dir,
                listen,
                database_url: store.database_url,
                config: store.config,
                unsafe_fake_clock,
            };
            let result = runtime()
                .map_err(pooya_server::ServeError::from)
                .and_then(|rt| rt.block_on(pooya_server::serve(opts)));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pooya serve: {e}");
                    ExitCode::FAILURE
                }
            }
        }
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
