//! `pooya operator add | disable | enable | list`: the bank's staff accounts, straight in the
//! store with the server's keys (an operator's TOTP secret is sealed by them). The console's
//! admins do the same in a browser; this is how the first admin is made.

use std::process::ExitCode;
use std::sync::Arc;

use pooya_issuer::audit::Actor;
use pooya_issuer::clock::{Clock, SystemClock};
use pooya_issuer::Issuer;
use pooya_server::ServeOptions;
use pooya_staff::{BranchCode, OperatorName, Password, StaffRole, Standing};

#[derive(clap::Subcommand)]
pub enum OperatorCommand {
    /// Adds an operator and prints, once, their password (unless given in POOYA_OPERATOR_PASSWORD)
    /// and the TOTP secret to enrol in an authenticator app (as an otpauth:// URI and a QR code).
    Add {
        #[command(flatten)]
        store: crate::StoreArgs,
        /// The sign-in name: 3 to 32 letters a-z, digits, '.', '_' or '-'.
        #[arg(long)]
        name: String,
        /// teller, supervisor or admin.
        #[arg(long)]
        role: String,
        /// The operator's branch (required for a teller or supervisor).
        #[arg(long)]
        branch: Option<String>,
        /// The password (12 to 128 characters); without it, one is made and printed once.
        #[arg(long, env = "POOYA_OPERATOR_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Disables an operator at once: no sign-in, every session ended.
    Disable {
        #[command(flatten)]
        store: crate::StoreArgs,
        #[arg(long)]
        name: String,
    },
    /// Enables a disabled operator again (also lifts a lock after failed sign-ins).
    Enable {
        #[command(flatten)]
        store: crate::StoreArgs,
        #[arg(long)]
        name: String,
    },
    /// Lists the operators: name, role, branch, standing.
    List {
        #[command(flatten)]
        store: crate::StoreArgs,
    },
}

async fn issuer(store: crate::StoreArgs) -> Result<Issuer, String> {
    let opts = ServeOptions {
        data_dir: store.data_dir,
        database_url: store.database_url,
        config: store.config,
        ..ServeOptions::default()
    };
    let opened = pooya_server::open(&opts).await.map_err(|e| e.to_string())?;
    let policy = opened.config.policy().map_err(|e| e.to_string())?;
    let staff = opened.config.staff_policy();
    Ok(Issuer::new(
        opened.store,
        opened.keyring,
        policy,
        Arc::new(SystemClock) as Arc<dyn Clock>,
    )
    .with_staff_policy(staff))
}

/// The text of a QR code for a terminal: two rows of modules a character.
fn qr_text(data: &str) -> Option<String> {
    let code = qrcode::QrCode::new(data.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .build(),
    )
}

async fn run_async(cmd: OperatorCommand) -> Result<String, String> {
    match cmd {
        OperatorCommand::Add {
            store,
            name,
            role,
            branch,
            password,
        } => {
            let name = OperatorName::parse(&name).map_err(|e| e.to_string())?;
            let role = StaffRole::parse(&role).map_err(|e| e.to_string())?;
            let branch = branch
                .map(|b| BranchCode::parse(&b))
                .transpose()
                .map_err(|e| e.to_string())?;
            let (password, made) = match password {
                Some(p) => (Password::new(&p).map_err(|e| e.to_string())?, false),
                None => (Password::generate(), true),
            };
            let issuer = issuer(store).await?;
            let bank = issuer.policy().bank_name.clone();
            let added = issuer
                .add_operator(&Actor::Command, name, role, branch, &password)
                .await
                .map_err(|e| e.to_string())?;
            let op = &added.operator;
            let uri = added.secret.otpauth_uri(&bank, &op.name);
            let mut out = format!(
                "operator {} added: {}, branch {}\n",
                op.name,
                op.role.as_str(),
                op.branch.as_ref().map_or("-", |b| b.as_str())
            );
            if made {
                out.push_str(&format!("password (shown once): {}\n", password.expose()));
            }
            out.push_str(&format!(
                "totp secret (shown once): {}\notpauth uri: {}\n",
                &*added.secret.base32(),
                &*uri
            ));
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                if let Some(qr) = qr_text(&uri) {
                    out.push_str("scan with an authenticator app:\n");
                    out.push_str(&qr);
                }
            }
            Ok(out.trim_end().to_owned())
        }
        OperatorCommand::Disable { store, name } => set_disabled(store, &name, true).await,
        OperatorCommand::Enable { store, name } => set_disabled(store, &name, false).await,
        OperatorCommand::List { store } => {
            let issuer = issuer(store).await?;
            let now = issuer.now_ms();
            let mut out = String::new();
            for op in issuer.operators().await.map_err(|e| e.to_string())? {
                let standing = match op.standing {
                    Standing::Active { .. } => "active".to_owned(),
                    Standing::Locked { until } if until > now => "locked".to_owned(),
                    Standing::Locked { .. } => "active".to_owned(),
                    Standing::Disabled => "disabled".to_owned(),
                };
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\n",
                    op.name,
                    op.role.as_str(),
                    op.branch.as_ref().map_or("-", |b| b.as_str()),
                    standing
                ));
            }
            Ok(out.trim_end().to_owned())
        }
    }
}

async fn set_disabled(
    store: crate::StoreArgs,
    name: &str,
    disabled: bool,
) -> Result<String, String> {
    let name = OperatorName::parse(name).map_err(|e| e.to_string())?;
    let issuer = issuer(store).await?;
    issuer
        .set_operator_disabled(&Actor::Command, &name, disabled)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "operator {name} {}",
        if disabled { "disabled" } else { "enabled" }
    ))
}

pub fn run(cmd: OperatorCommand) -> ExitCode {
    let result = crate::runtime()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(run_async(cmd)));
    match result {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pooya operator: {e}");
            ExitCode::FAILURE
        }
    }
}
