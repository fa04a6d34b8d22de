//! `pooya serve`: the issuer behind HTTP. Wires the store, the keys, the issuer, the SMS delivery
//! worker and the routes, and shuts down cleanly on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use pooya_issuer::at_rest::AtRestUpgrade;
use pooya_issuer::clock::{Clock, FakeClock, SystemClock};
use pooya_issuer::keys::Keyring;
use pooya_issuer::store::Store;
use pooya_issuer::Issuer;
use pooya_keys::{KekSpec, LoadEvent};
use pooya_store_sql::{SqlOptions, SqlStore};

pub mod apikeys;
pub mod app_guard;
pub mod config;
pub mod datadir;
pub mod delivery;
pub mod error;
pub mod extract;
pub mod limits;
pub mod netpolicy;
pub mod openapi;
pub mod router;
pub mod routes;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod web_app;

use config::ConfigFile;

/// What `pooya serve` was told on its command line.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub config: Option<PathBuf>,
    /// Tests only: the clock stands still unless `/v1/test/clock` moves it.
    pub unsafe_fake_clock: bool,
    /// HTTPS: the certificate chain and key (PEM); over `[tls] cert_file` and `key_file`.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Key(#[from] pooya_issuer::keys::KeyError),
    #[error(transparent)]
    Keys(#[from] pooya_keys::KeysError),
    #[error("store: {0}")]
    Store(#[from] pooya_issuer::store::StoreError),
    #[error(transparent)]
    Bootstrap(#[from] apikeys::BootstrapError),
    #[error("cannot listen on {0}: {1}")]
    Listen(String, std::io::Error),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// The parts every command that touches the data needs.
pub struct Opened {
    pub data_dir: PathBuf,
    pub store: Arc<dyn Store>,
    pub keyring: Arc<Keyring>,
    pub config: ConfigFile,
}

/// The configuration, the data directory and the store, before any key is loaded.
pub struct OpenedStore {
    pub data_dir: PathBuf,
    pub store: Arc<dyn Store>,
    pub config: ConfigFile,
}

/// The configuration file of `--config`, else the defaults with the environment's overrides.
fn load_config(opts: &ServeOptions) -> Result<ConfigFile, ServeError> {
    Ok(match &opts.config {
        Some(p) => ConfigFile::load(p)?,
        None => ConfigFile::from_env()?,
    })
}

/// `--data-dir`, else `[server] data_dir`; one of them is required.
fn data_dir_of(opts: &ServeOptions, config: &ConfigFile) -> Result<PathBuf, ServeError> {
    opts.data_dir
        .clone()
        .or_else(|| config.server.data_dir.clone())
        .ok_or_else(|| {
            ServeError::Usage(
                "a data directory is required: --data-dir DIR, or [server] data_dir in the \
                 configuration file"
                    .into(),
            )
        })
}

/// Reads the configuration, creates the data directory and opens (migrates) the store.
pub async fn open_store(opts: &ServeOptions) -> Result<OpenedStore, ServeError> {
    open_store_with(opts, load_config(opts)?).await
}

/// [`open_store`] with the configuration already read.
async fn open_store_with(
    opts: &ServeOptions,
    config: ConfigFile,
) -> Result<OpenedStore, ServeError> {
    let data_dir = data_dir_of(opts, &config)?;
    datadir::prepare(&data_dir)?;
    let url = opts
        .database_url
        .clone()
        .or_else(|| config.server.database_url.clone());
    let sql = SqlOptions {
        pool_size: config.server.pool_size,
        ..SqlOptions::default()
    };
    let store = match url {
        Some(url) => SqlStore::connect(&url, &sql).await?,
        None => SqlStore::open_sqlite(&data_dir.join("pooya.sqlite3"), &sql).await?,
    };
    Ok(OpenedStore {
        data_dir,
        store: Arc::new(store),
        config,
    })
}

/// The KEK `config`'s `[keys]` section names; a key file defaults to `[server] master_key_file`,
/// else `DATA_DIR/master.key`.
pub fn kek_spec(config: &ConfigFile, data_dir: &std::path::Path) -> Result<KekSpec, ServeError> {
    let default_file = config
        .server
        .master_key_file
        .clone()
        .unwrap_or_else(|| data_dir.join("master.key"));
    config
        .keys
        .spec(&default_file)
        .map_err(|e| ServeError::Config(config::ConfigError::Invalid(e)))
}

/// Reads the configuration, creates the data directory, opens the store and the keys: the data
/// keys from the store, unwrapped under the KEK (docs/keys.md).
pub async fn open(opts: &ServeOptions) -> Result<Opened, ServeError> {
    open_with(opts, load_config(opts)?).await
}

/// [`open`] with the configuration already read.
async fn open_with(opts: &ServeOptions, config: ConfigFile) -> Result<Opened, ServeError> {
    let OpenedStore {
        data_dir,
        store,
        config,
    } = open_store_with(opts, config).await?;
    let spec = kek_spec(&config, &data_dir)?;
    let loaded = pooya_keys::load_keyring(
        store.as_ref(),
        &spec,
        config.hashing.unwrap_or_default(),
        SystemClock.now_ms(),
        true,
    )
    .await?;
    match loaded.event {
        LoadEvent::Opened => tracing::info!(
            generation = loaded.generation,
            kek = %loaded.kek.describe(),
            "data keys unwrapped"
        ),
        LoadEvent::Created => tracing::info!(
            kek = %loaded.kek.describe(),
            "new database: data key generation 1 made and wrapped under the KEK"
        ),
        LoadEvent::Adopted => tracing::warn!(
            kek = %loaded.kek.describe(),
            "this database's keys came from its master key file: they are now data key \
             generation 1, wrapped under that file. Move to a new KEK with `pooya keys rotate` \
             and then destroy the old file, which is the data key itself (docs/keys.md)"
        ),
    }
    Ok(Opened {
        data_dir,
        store,
        keyring: Arc::new(loaded.keyring),
        config,
    })
}

pub async fn serve(opts: ServeOptions) -> Result<(), ServeError> {
    if telemetry::install_metrics().is_none() {
        tracing::warn!("another metrics recorder is installed: /metrics will answer 503");
    }
    // Bind before anything is created: a start on a port in use leaves no database, master key
    // or bootstrap keys behind.
    let config = load_config(&opts)?;
    data_dir_of(&opts, &config)?;
    let listen = opts
        .listen
        .clone()
        .or_else(|| config.server.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| ServeError::Listen(listen.clone(), e))?;
    let opened = open_with(&opts, config).await?;
    let policy = opened.config.policy()?;
    let fake_clock = opts
        .unsafe_fake_clock
        .then(|| FakeClock::new(SystemClock.now_ms()));
    let clock: Arc<dyn Clock> = match &fake_clock {
        Some(f) => {
            tracing::warn!(
                "UNSAFE: the clock is fake and can be moved through /v1/test/clock; tests only"
            );
            Arc::new(f.clone())
        }
        None => Arc::new(SystemClock),
    };
    upgrade_at_rest(&opened, clock.now_ms()).await?;
    let issuer = Arc::new(
        Issuer::new(
            opened.store.clone(),
            opened.keyring.clone(),
            policy,
            clock.clone(),
        )
        .with_staff_policy(opened.config.staff_policy()),
    );
    let keys = apikeys::ApiKeys::new(opened.store.clone());
    if keys.bootstrap(&opened.data_dir, clock.now_ms()).await? {
        tracing::info!(
            file = %opened.data_dir.join("bootstrap-keys.json").display(),
            "first start: one key per role written"
        );
    }
    let net =
        netpolicy::NetPolicy::from_section(&opened.config.network).map_err(ServeError::Usage)?;
    if net.allows_everything() {
        tracing::warn!(
            "network.app_allow lets every address add and remove tokens; \
             list the bank's networks there (R18)"
        );
    }
    let limits = Arc::new(limits::Limits::new(&opened.config.limits, clock.clone()));
    let tls = {
        let cert = opts
            .tls_cert
            .clone()
            .or(opened.config.tls.cert_file.clone());
        let key = opts.tls_key.clone().or(opened.config.tls.key_file.clone());
        match (cert, key) {
            (Some(c), Some(k)) => Some(tls::Tls::load(&opened.config.tls, &c, &k)?),
            (None, None) if opened.config.tls.client_ca.is_empty() => None,
            (None, None) => {
                return Err(ServeError::Usage(
                    "[tls.client_ca] needs HTTPS: give a certificate and key \
                     (--tls-cert and --tls-key, or [tls] cert_file and key_file)"
                        .into(),
                ))
            }
            _ => {
                return Err(ServeError::Usage(
                    "HTTPS needs both a certificate and a key (--tls-cert and --tls-key)".into(),
                ))
            }
        }
    };
    // After every setting that can refuse to start: SMPP opens its session here.
    let built = opened.config.sms_provider.build(&opened.data_dir)?;
    let provider = built.provider;
    let smpp_session = built.smpp.map(|(session, inbound)| {
        tokio::spawn(smpp_inbound(issuer.clone(), limits.clone(), inbound));
        session
    });
    let addr: SocketAddr = listener.local_addr()?;
    let (acceptor, client_certs) = match tls {
        Some(t) => (Some(t.acceptor), t.client_certs),
        None => (None, tls::ClientCerts::none()),
    };
    let console_keys = keys.clone();
    let state = Arc::new(state::AppState {
        issuer: issuer.clone(),
        keys,
        fake_clock,
        net,
        limits: limits.clone(),
        client_certs,
    });
    let console = opened.config.console.enabled.then(|| {
        let ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Arc::new(pooya_console::Console {
            issuer: issuer.clone(),
            idle_ms: ms(opened.config.console.idle_timeout_secs),
            absolute_ms: ms(opened.config.console.absolute_timeout_secs),
            secure: opened
                .config
                .console
                .secure_cookies
                .unwrap_or(acceptor.is_some()),
            keys: Some(Arc::new(console_keys.clone())),
        })
    });
    let origins = Arc::new(opened.config.web_app.cors_origins.clone());
    let app = router::router(state, opened.config.server.max_body_bytes, console)
        .merge(web_app::routes(&opened.config.web_app))
        .layer(axum::middleware::from_fn(move |req, next| {
            web_app::cors(origins.clone(), req, next)
        }));
    let forget = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            limits.forget_idle();
        }
    });

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(delivery::run(issuer.clone(), provider, stop_rx));

    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        writeln!(out, "pooya listening on {scheme}://{addr}")?;
        out.flush()?;
    }
    tracing::info!(%addr, tls = acceptor.is_some(), "listening");
    match acceptor {
        Some(acceptor) => tls::serve(listener, acceptor, app, shutdown_signal()).await?,
        None => {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown_signal())
            .await?
        }
    }
    forget.abort();
    tracing::info!("shutting down: delivering the SMS that are due");
    let _ = stop_tx.send(true);
    let _ = worker.await;
    if let Some(session) = smpp_session {
        session.shutdown().await;
    }
    Ok(())
}

/// Before serving: seals and binds the values of a database written before they were bound to
/// their rows (`pooya_issuer::at_rest`), and says what it did or found.
async fn upgrade_at_rest(opened: &Opened, now: i64) -> Result<(), ServeError> {
    match opened.store.upgrade_at_rest(&opened.keyring, now).await? {
        AtRestUpgrade::Current { plain_cards: 0 } => {}
        AtRestUpgrade::Current { plain_cards } => tracing::warn!(
            plain_cards,
            "cards hold a plain PIN or second-password hash beside sealed ones (written by an \
             older server after the upgrade, or planted in the database): never accepted"
        ),
        AtRestUpgrade::Upgraded {
            cards,
            sms_resealed,
            sms_refused,
        } => {
            tracing::info!(
                cards,
                sms_resealed,
                "database upgraded: PIN and second-password hashes sealed to their cards, SMS \
                 channel MACs bound to them, queued SMS sealed to their rows"
            );
            if sms_refused > 0 {
                tracing::warn!(
                    sms_refused,
                    "queued SMS whose body did not open were refused, not sent (GET /v1/admin/outbox)"
                );
            }
        }
    }
    Ok(())
}

/// Holders' requests that arrive over SMPP go where `/v1/sms/inbound`'s go (R21, R22).
async fn smpp_inbound(
    issuer: Arc<Issuer>,
    limits: Arc<limits::Limits>,
    mut inbound: tokio::sync::mpsc::Receiver<pooya_sms::smpp::InboundSms>,
) {
    while let Some(m) = inbound.recv().await {
        let Ok(from) = pooya_issuer::domain::Mobile::parse(&m.from) else {
            tracing::info!("inbound SMS over SMPP from a number that is no mobile: ignored");
            continue;
        };
        // SMPP has no answer to refuse with: a sender over its limit is not answered.
        if let Err(l) = limits.sms_inbound(&from) {
            tracing::info!(
                from = %from.masked(),
                retry_after_secs = l.retry_after_secs(),
                "inbound SMS over SMPP dropped: over the per-mobile limit"
            );
            continue;
        }
        if let Err(e) = issuer.sms_inbound(&from, &m.to, &m.text).await {
            tracing::warn!(from = %from.masked(), error = %e, "inbound SMS over SMPP not taken");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// `pooya config check FILE`: the effective settings (the file, the environment's `POOYA_…`
/// overrides, the defaults) as TOML with secrets masked, or why they are refused.
pub fn config_check(path: &std::path::Path) -> Result<String, config::ConfigError> {
    ConfigFile::load(path)?.effective_toml()
}

/// `pooya keys create`: a new key of `role`, printed once.
pub async fn create_key(
    opts: &ServeOptions,
    role: pooya_issuer::domain::Role,
    label: &str,
) -> Result<String, ServeError> {
    let opened = open(opts).await?;
    let keys = apikeys::ApiKeys::new(opened.store.clone());
    keys.create(role, label, SystemClock.now_ms())
        .await
        .map_err(|e| ServeError::Usage(e.to_string()))
}
