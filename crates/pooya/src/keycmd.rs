//! `pooya keys create-kek | rotate | status`: the key encryption key (docs/keys.md).

use std::path::PathBuf;
use std::process::ExitCode;

use pooya_issuer::clock::{Clock, SystemClock};
use pooya_keys::KekSpec;
use pooya_server::config::ConfigFile;
use pooya_server::{ServeError, ServeOptions};

use crate::StoreArgs;

/// Where a new KEK is: a key file, or the `[keys]` section of another configuration file.
#[derive(clap::Args, Clone)]
#[group(required = true, multiple = false)]
pub struct NewKek {
    /// The new KEK is this key file (created, 32 random bytes, mode 0600, if absent).
    #[arg(long)]
    new_kek_file: Option<PathBuf>,
    /// The new KEK is the one FILE's `[keys]` section names (e.g. a PKCS#11 key); FILE is the
    /// configuration the servers will run with after the rotation.
    #[arg(long, value_name = "FILE")]
    new_config: Option<PathBuf>,
}

#[derive(clap::Args, Clone)]
pub struct CreateKekArgs {
    /// `--config`'s `[keys]` section names the KEK to create (default: the key file
    /// `DATA_DIR/master.key`). Nothing is ever overwritten.
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(clap::Args, Clone)]
pub struct RotateArgs {
    /// The database and the KEK in use now (`--config`'s `[keys]`).
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    new: NewKek,
}

#[derive(clap::Args, Clone)]
pub struct StatusArgs {
    #[command(flatten)]
    store: StoreArgs,
}

fn options(store: &StoreArgs) -> ServeOptions {
    ServeOptions {
        data_dir: store.data_dir.clone(),
        database_url: store.database_url.clone(),
        config: store.config.clone(),
        ..ServeOptions::default()
    }
}

fn load_config(path: &Option<PathBuf>) -> Result<ConfigFile, ServeError> {
    Ok(match path {
        Some(p) => ConfigFile::load(p)?,
        None => ConfigFile::from_env()?,
    })
}

fn finish(command: &str, result: Result<String, ServeError>) -> ExitCode {
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pooya keys {command}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn block_on<T>(
    f: impl std::future::Future<Output = Result<T, ServeError>>,
) -> Result<T, ServeError> {
    crate::runtime()?.block_on(f)
}

pub fn create_kek(args: CreateKekArgs) -> ExitCode {
    let result = (|| {
        let config = load_config(&args.store.config)?;
        let data_dir = args
            .store
            .data_dir
            .clone()
            .or_else(|| config.server.data_dir.clone())
            .ok_or_else(|| ServeError::Usage("--data-dir is required".into()))?;
        let spec = pooya_server::kek_spec(&config, &data_dir)?;
        let made = pooya_keys::create_kek(&spec)?;
        Ok(format!("created {made}"))
    })();
    finish("create-kek", result)
}

pub fn rotate(args: RotateArgs) -> ExitCode {
    let result = block_on(async {
        let opened = pooya_server::open_store(&options(&args.store)).await?;
        let old = pooya_server::kek_spec(&opened.config, &opened.data_dir)?;
        let new = match (&args.new.new_kek_file, &args.new.new_config) {
            (Some(file), _) => KekSpec::File(file.clone()),
            (None, Some(cfg)) => {
                let config = load_config(&Some(cfg.clone()))?;
                pooya_server::kek_spec(&config, &opened.data_dir)?
            }
            (None, None) => unreachable!("clap requires one"),
        };
        let done = pooya_keys::rotate(
            opened.store.as_ref(),
            &old,
            &new,
            opened.config.hashing.unwrap_or_default(),
            SystemClock.now_ms(),
        )
        .await?;
        Ok(if done.already {
            format!(
                "every data key is wrapped under {} already; nothing to do",
                done.new_kek
            )
        } else {
            format!(
                "re-wrapped data key generation(s) {:?} from {} to {}. Running servers keep \
                 serving; start them with the new KEK from now on, then the old KEK may be \
                 destroyed",
                done.generations, done.old_kek, done.new_kek
            )
        })
    });
    finish("rotate", result)
}

pub fn status(args: StatusArgs) -> ExitCode {
    let result = block_on(async {
        let opened = pooya_server::open_store(&options(&args.store)).await?;
        let spec = pooya_server::kek_spec(&opened.config, &opened.data_dir)?;
        let (rows, kek_err) = pooya_keys::status(opened.store.as_ref(), &spec).await?;
        let mut out = format!("configured KEK: {}\n", spec.describe());
        if let Some(e) = kek_err {
            out.push_str(&format!("  it cannot be opened: {e}\n"));
        }
        if rows.is_empty() {
            out.push_str("no data keys yet (the first start makes them)");
        }
        for r in &rows {
            let opens = match r.opens {
                Some(true) => "opens under the configured KEK",
                Some(false) => "does NOT open under the configured KEK",
                None => "not checked",
            };
            out.push_str(&format!(
                "data key generation {}: wrapped under {} ({opens})\n",
                r.generation, r.kek_id
            ));
        }
        Ok(out.trim_end().to_owned())
    });
    finish("status", result)
}
