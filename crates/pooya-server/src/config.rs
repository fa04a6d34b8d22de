//! The server's settings: a TOML file (`--config`), every setting defaulted, each overridable by an
//! environment variable `POOYA_SECTION__KEY` ([`apply_env`]). Command-line flags win over both. The
//! `[policy]` table changes the rules' numbers on top of a named `profile` (`central-bank`: 60 s
//! codes; `maskan`: 120 s). See `docs/configuration.md`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pooya_issuer::keys::HashCost;
use pooya_issuer::policy::Policy;
use pooya_sms::http::{HttpProvider, HttpProviderConfig};
use pooya_sms::smpp::{InboundSms, SmppConfig, SmppProvider};
use pooya_sms::{FileProvider, SmsProvider};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigFile {
    /// `central-bank` (default) or `maskan`.
    pub profile: Option<String>,
    pub server: ServerSection,
    pub hashing: Option<HashCost>,
    pub sms_provider: SmsProviderSection,
    /// Where the key encryption key is (docs/keys.md).
    pub keys: pooya_keys::KeysSection,
    /// Who may provision (R18) and which proxies are believed.
    pub network: crate::netpolicy::NetworkSection,
    /// Abuse limits.
    pub limits: crate::limits::LimitsSection,
    /// HTTPS and client certificates per role.
    pub tls: crate::tls::TlsSection,
    /// The web app at `/app/` and the origins of apps served elsewhere (CORS).
    pub web_app: crate::web_app::WebAppSection,
    /// Overrides of [`Policy`] fields, e.g. `[policy.otp] lifetime_secs = 90`.
    pub policy: toml::Table,
    /// The branches' staff: four eyes on a mobile change.
    pub branch: BranchSection,
    /// The staff's web console at `/console/`.
    pub console: ConsoleSection,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BranchSection {
    /// A teller's change of a customer's mobile waits for a supervisor other than the requester.
    pub mobile_change_approval: bool,
}

impl Default for BranchSection {
    fn default() -> Self {
        BranchSection {
            mobile_change_approval: true,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSection {
    /// Serve the console at `/console/`.
    pub enabled: bool,
    /// A session unused this long ends.
    pub idle_timeout_secs: u64,
    /// A session ends this long after its sign-in, used or not.
    pub absolute_timeout_secs: u64,
    /// Wrong passwords or codes in a row that lock an operator…
    pub max_failures: u32,
    /// …for this long.
    pub lock_secs: u64,
    /// Mark the console's cookies `Secure`. Unset: when this server speaks HTTPS itself. `true`
    /// behind a proxy or load balancer that terminates TLS (the browser speaks HTTPS, this
    /// server plain HTTP), so a cookie never travels in clear from the browser.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure_cookies: Option<bool>,
}

impl Default for ConsoleSection {
    fn default() -> Self {
        ConsoleSection {
            enabled: true,
            idle_timeout_secs: 15 * 60,
            absolute_timeout_secs: 8 * 3600,
            max_failures: 5,
            lock_secs: 15 * 60,
            secure_cookies: None,
        }
    }
}

impl ConfigFile {
    /// What the issuer asks of the staff.
    pub fn staff_policy(&self) -> pooya_issuer::issuer::StaffPolicy {
        pooya_issuer::issuer::StaffPolicy {
            mobile_change_approval: self.branch.mobile_change_approval,
            lock: pooya_staff::LockPolicy {
                max_failures: self.console.max_failures.max(1),
                lock_ms: i64::try_from(self.console.lock_secs.saturating_mul(1000))
                    .unwrap_or(i64::MAX),
            },
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    /// Database connections (read pool on SQLite).
    pub pool_size: u32,
    /// Larger request bodies are refused with 413.
    pub max_body_bytes: usize,
    /// Where the master key lives (default `DATA_DIR/master.key`); keep it off the database's disk
    /// where you can.
    pub master_key_file: Option<PathBuf>,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: None,
            data_dir: None,
            database_url: None,
            pool_size: 8,
            max_body_bytes: 64 * 1024,
            master_key_file: None,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsProviderSection {
    /// `file` (the default): a JSON-lines file; `http`: a JSON-over-HTTP gateway
    /// (`[sms_provider.http]`).
    pub kind: String,
    /// For `file`: default `DATA_DIR/sms-outbox.jsonl`.
    pub path: Option<PathBuf>,
    /// For `http`: the gateway (`pooya_sms::http`).
    pub http: Option<HttpProviderConfig>,
    /// For `smpp`: the SMSC (`pooya_sms::smpp`); messages it delivers to the short number are
    /// taken as holders' requests (R21), like `/v1/sms/inbound`.
    pub smpp: Option<SmppConfig>,
}

/// The provider the delivery worker uses, and for SMPP the inbound stream and the session.
pub struct BuiltProvider {
    pub provider: Arc<dyn SmsProvider>,
    pub smpp: Option<(Arc<SmppProvider>, tokio::sync::mpsc::Receiver<InboundSms>)>,
}

impl Default for SmsProviderSection {
    fn default() -> Self {
        SmsProviderSection {
            kind: "file".into(),
            path: None,
            http: None,
            smpp: None,
        }
    }
}

impl SmsProviderSection {
    /// Checks the chosen provider's settings: a fault is a start-up error.
    fn check(&self) -> Result<(), ConfigError> {
        match self.kind.as_str() {
            "file" => Ok(()),
            "http" => {
                let http = self.http.as_ref().ok_or_else(|| {
                    ConfigError::SmsProvider(
                        "kind = \"http\" needs an [sms_provider.http] table".into(),
                    )
                })?;
                HttpProvider::new(http)
                    .map(|_| ())
                    .map_err(|e| ConfigError::SmsProvider(e.to_string()))
            }
            "smpp" => self
                .smpp
                .as_ref()
                .ok_or_else(|| {
                    ConfigError::SmsProvider(
                        "kind = \"smpp\" needs an [sms_provider.smpp] table".into(),
                    )
                })?
                .validate()
                .map_err(ConfigError::SmsProvider),
            other => Err(ConfigError::UnknownProvider(other.to_owned())),
        }
    }

    /// The provider the delivery worker hands messages to. SMPP starts its session here, so
    /// call it inside the runtime.
    pub fn build(&self, data_dir: &Path) -> Result<BuiltProvider, ConfigError> {
        self.check()?;
        let provider: Arc<dyn SmsProvider> = match (self.kind.as_str(), &self.http, &self.smpp) {
            ("http", Some(http), _) => Arc::new(
                HttpProvider::new(http).map_err(|e| ConfigError::SmsProvider(e.to_string()))?,
            ),
            ("smpp", _, Some(smpp)) => {
                let (session, inbound) = SmppProvider::start(smpp.clone());
                let session = Arc::new(session);
                return Ok(BuiltProvider {
                    provider: session.clone(),
                    smpp: Some((session, inbound)),
                });
            }
            _ => {
                let path = self
                    .path
                    .clone()
                    .unwrap_or_else(|| data_dir.join("sms-outbox.jsonl"));
                // Also where the configuration puts it outside the data directory.
                crate::datadir::make_private(&path)
                    .map_err(|e| ConfigError::SmsProvider(format!("{}: {e}", path.display())))?;
                Arc::new(FileProvider::new(path))
            }
        };
        Ok(BuiltProvider {
            provider,
            smpp: None,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0}: {1}")]
    Parse(String, String),
    #[error("unknown profile {0:?} (known: central-bank, maskan)")]
    UnknownProfile(String),
    #[error(transparent)]
    Policy(#[from] pooya_issuer::policy::PolicyError),
    #[error("unknown SMS provider {0:?} (this version has: file, http, smpp)")]
    UnknownProvider(String),
    #[error("SMS provider: {0}")]
    SmsProvider(String),
    #[error("environment variable {0}: {1}")]
    Env(String, String),
    #[error("{0}")]
    Invalid(String),
}

impl ConfigFile {
    /// The file with this process's `POOYA_…__…` environment variables laid over it.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read(path.display().to_string(), e))?;
        Self::parse_with_env(&text, &path.display().to_string(), std::env::vars())
    }

    /// No file: the defaults with this process's environment overrides.
    pub fn from_env() -> Result<ConfigFile, ConfigError> {
        Self::parse_with_env("", "(defaults)", std::env::vars())
    }

    /// The file alone, no environment.
    pub fn parse(text: &str, name: &str) -> Result<ConfigFile, ConfigError> {
        Self::parse_with_env(text, name, std::iter::empty())
    }

    /// The file with the overrides among `vars` laid over it before it is read.
    pub fn parse_with_env(
        text: &str,
        name: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ConfigFile, ConfigError> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| ConfigError::Parse(name.into(), e.to_string()))?;
        apply_env(&mut table, vars)?;
        let c: ConfigFile = toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| located(name, &table, &[], &e))?;
        c.sms_provider.check()?;
        crate::netpolicy::NetPolicy::from_section(&c.network).map_err(ConfigError::Invalid)?;
        c.limits.validate().map_err(ConfigError::Invalid)?;
        c.tls.validate().map_err(ConfigError::Invalid)?;
        c.keys.validate().map_err(ConfigError::Invalid)?;
        c.web_app.validate().map_err(ConfigError::Invalid)?;
        Ok(c)
    }

    /// `pooya config check`: every setting in effect (the profile's policy with its overrides,
    /// the defaults filled in) as TOML, with secrets masked; an error if the settings do not
    /// hold together.
    pub fn effective_toml(&self) -> Result<String, ConfigError> {
        let ser =
            |e: toml::ser::Error| ConfigError::Parse("effective settings".into(), e.to_string());
        let mut t = toml::Table::try_from(self).map_err(ser)?;
        let profile = self.profile.as_deref().unwrap_or("central-bank");
        t.insert(
            "hashing".into(),
            toml::Value::Table(
                toml::Table::try_from(self.hashing.unwrap_or_default()).map_err(ser)?,
            ),
        );
        t.insert(
            "policy".into(),
            toml::Value::Table(toml::Table::try_from(self.policy()?).map_err(ser)?),
        );
        mask_secrets(&mut t);
        // In the order of docs/configuration.md: the profile, then one section after another.
        let mut out = format!("profile = {}\n", toml::Value::from(profile));
        for section in [
            "server",
            "keys",
            "network",
            "limits",
            "tls",
            "web_app",
            "hashing",
            "sms_provider",
            "policy",
        ] {
            if let Some(v) = t.remove(section) {
                let mut one = toml::Table::new();
                one.insert(section.into(), v);
                out.push('\n');
                out.push_str(&toml::to_string_pretty(&one).map_err(ser)?);
            }
        }
        Ok(out)
    }

    /// The profile with the `[policy]` overrides laid over it, validated.
    pub fn policy(&self) -> Result<Policy, ConfigError> {
        let name = self.profile.as_deref().unwrap_or("central-bank");
        let base =
            Policy::profile(name).ok_or_else(|| ConfigError::UnknownProfile(name.to_owned()))?;
        let mut merged = toml::Table::try_from(&base)
            .map_err(|e| ConfigError::Parse("policy".into(), e.to_string()))?;
        merge(&mut merged, &self.policy);
        let policy: Policy = toml::Value::Table(merged.clone())
            .try_into()
            .map_err(|e: toml::de::Error| located("settings", &merged, &["policy"], &e))?;
        policy.validate()?;
        Ok(policy)
    }
}

/// A deserialization error of `root` (which sits at `prefix` in the file) named by where it is:
/// serde's message ends with "in `otp`" for the table `[policy.otp]`, or "in `otp.lifetime_secs`"
/// for a value; say `[policy.otp]` or `policy.otp.lifetime_secs`, as the file spells them.
fn located(name: &str, root: &toml::Table, prefix: &[&str], e: &toml::de::Error) -> ConfigError {
    let message = e.to_string();
    let message = message.trim_end();
    let (text, path) = match message.rsplit_once("\nin `") {
        Some((text, path)) => (text, path.trim_end_matches('`')),
        None => (message, ""),
    };
    let keys: Vec<&str> = path.split('.').filter(|k| !k.is_empty()).collect();
    let full: Vec<&str> = prefix.iter().copied().chain(keys.iter().copied()).collect();
    let mut at = Some(root);
    let mut is_table = true;
    for k in &keys {
        match at.and_then(|t| t.get(*k)) {
            Some(toml::Value::Table(t)) => at = Some(t),
            _ => {
                is_table = false;
                break;
            }
        }
    }
    let place = match (full.is_empty(), is_table) {
        (true, _) => name.to_owned(),
        (false, true) => format!("{name}: [{}]", full.join(".")),
        (false, false) => format!("{name}: {}", full.join(".")),
    };
    ConfigError::Parse(place, text.to_owned())
}

/// The prefix of every environment override.
pub const ENV_PREFIX: &str = "POOYA_";

/// Lays the environment's overrides over a configuration table. `POOYA_PROFILE` sets `profile`;
/// `POOYA_A__B__C=value` sets `c` in table `[a.b]` (names lower-cased, `__` between levels). Other
/// `POOYA_` variables (`POOYA_LOG`, `POOYA_DATABASE_URL`, `POOYA_APP_PASSWORD`) are not settings
/// of the file and are left alone. A value is read as a TOML value (`120`, `true`, `"text"`,
/// `[1, 2]`); one that is no TOML value, or that replaces a string, is taken as plain text.
pub fn apply_env(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| {
            k.strip_prefix(ENV_PREFIX)
                .is_some_and(|rest| rest == "PROFILE" || rest.contains("__"))
        })
        .collect();
    vars.sort();
    for (name, raw) in vars {
        let rest = &name[ENV_PREFIX.len()..];
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if path.iter().any(|p| p.is_empty()) {
            return Err(ConfigError::Env(
                name.clone(),
                "an empty name between `__`".into(),
            ));
        }
        let (last, parents) = path.split_last().expect("at least one part");
        let mut at = &mut *table;
        for p in parents {
            let next = at
                .entry(p.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            at = match next {
                toml::Value::Table(t) => t,
                _ => {
                    return Err(ConfigError::Env(
                        name.clone(),
                        format!("`{p}` is a value, not a table"),
                    ))
                }
            };
        }
        let keeps_string =
            matches!(at.get(last), Some(toml::Value::String(_))) || is_string_setting(&path);
        let value = if keeps_string && !raw.trim_start().starts_with('"') {
            toml::Value::String(raw)
        } else {
            parse_scalar(&raw)
        };
        at.insert(last.clone(), value);
    }
    Ok(())
}

/// Settings whose values are text even when they look like numbers (a short number, a bank
/// name made of digits).
fn is_string_setting(path: &[String]) -> bool {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    if matches!(
        p.as_slice(),
        ["profile"] | ["server", _] | ["sms_provider", "kind" | "path"] | ["keys", _]
    ) {
        return !matches!(p.as_slice(), ["server", "pool_size" | "max_body_bytes"]);
    }
    if let ["policy", rest @ ..] = p.as_slice() {
        let defaults = toml::Table::try_from(Policy::default()).unwrap_or_default();
        let mut at = &defaults;
        for (i, k) in rest.iter().enumerate() {
            match at.get(*k) {
                Some(toml::Value::Table(t)) => at = t,
                Some(toml::Value::String(_)) => return i + 1 == rest.len(),
                _ => return false,
            }
        }
    }
    if let ["keys", "pkcs11", k] = p.as_slice() {
        return *k != "slot";
    }
    matches!(
        p.as_slice(),
        [
            "sms_provider",
            "smpp",
            "host" | "system_id" | "password" | "system_type" | "source_addr"
        ] | ["sms_provider", "http", "url" | "body_template"]
            | ["sms_provider", "http", "headers", _]
            | ["network", "proxy_header"]
            | ["tls", "cert_file" | "key_file"]
            | ["tls", "client_ca", _]
    )
}

fn parse_scalar(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

/// What `pooya config check` shows in place of a secret.
pub const MASK: &str = "********";

/// Masks the secrets of an effective configuration table: the HTTP gateway's header values and
/// query string, the SMPP password, and the password in a database URL.
pub fn mask_secrets(t: &mut toml::Table) {
    if let Some(toml::Value::String(url)) =
        t.get_mut("server").and_then(|s| s.get_mut("database_url"))
    {
        *url = mask_url_password(url);
    }
    let Some(sms) = t.get_mut("sms_provider").and_then(|s| s.as_table_mut()) else {
        return;
    };
    if let Some(http) = sms.get_mut("http").and_then(|h| h.as_table_mut()) {
        if let Some(toml::Value::Table(h)) = http.get_mut("headers") {
            for (_, v) in h.iter_mut() {
                *v = MASK.into();
            }
        }
        if let Some(toml::Value::String(url)) = http.get_mut("url") {
            if let Some((base, _)) = url.split_once('?') {
                *url = format!("{base}?{MASK}");
            }
        }
    }
    if let Some(toml::Value::String(p)) = sms.get_mut("smpp").and_then(|s| s.get_mut("password")) {
        *p = MASK.into();
    }
}

/// `postgres://user:secret@host/db?password=x` → `postgres://user:********@host/db?password=********`.
pub fn mask_url_password(url: &str) -> String {
    let (mut out, query) = match url.split_once('?') {
        Some((u, q)) => (u.to_owned(), Some(q)),
        None => (url.to_owned(), None),
    };
    if let Some(scheme_end) = out.find("://").map(|i| i + 3) {
        let authority_end = out[scheme_end..]
            .find('/')
            .map_or(out.len(), |i| scheme_end + i);
        if let Some(at) = out[scheme_end..authority_end]
            .rfind('@')
            .map(|i| scheme_end + i)
        {
            if let Some(colon) = out[scheme_end..at].find(':').map(|i| scheme_end + i) {
                out.replace_range(colon + 1..at, MASK);
            }
        }
    }
    if let Some(q) = query {
        let q: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}={MASK}"),
                _ => kv.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&q.join("&"));
    }
    out
}

fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let c = ConfigFile::parse("", "t").unwrap();
        assert_eq!(c.policy().unwrap(), Policy::default());
        assert_eq!(c.server.max_body_bytes, 65536);
    }

    #[test]
    fn profile_and_overrides() {
        let c = ConfigFile::parse(
            "profile = \"maskan\"\n[policy]\nbank_name = \"Test\"\n[policy.lockout]\nmax_failures = 3\n",
            "t",
        )
        .unwrap();
        let p = c.policy().unwrap();
        assert_eq!(p.otp.lifetime_secs, 120);
        assert_eq!(p.lockout.max_failures, 3);
        assert_eq!(p.lockout.window_secs, 86400);
        assert_eq!(p.bank_name, "Test");
    }

    #[test]
    fn http_provider_settings() {
        let c = ConfigFile::parse(
            r#"
[sms_provider]
kind = "http"
[sms_provider.http]
url = "https://sms.example/send?key=K"
headers = { Authorization = "Bearer SECRET" }
body_template = '{"to": "{to}", "text": "{text}"}'
timeout_ms = 2500
"#,
            "t",
        )
        .unwrap();
        let http = c.sms_provider.http.as_ref().unwrap();
        assert_eq!(http.timeout_ms, 2500);
        assert_eq!(http.headers["Authorization"], "Bearer SECRET");
        assert!(!format!("{c:?}").contains("SECRET"));
        c.sms_provider.build(Path::new("/tmp")).unwrap();
        // The file provider stays the default.
        let d = ConfigFile::parse("", "t").unwrap();
        assert_eq!(d.sms_provider.kind, "file");
        d.sms_provider.build(Path::new("/tmp")).unwrap();
    }

    /// The documented example is the defaults, written out: it must parse to exactly them.
    #[test]
    fn documented_example_is_the_defaults() {
        let doc = include_str!("../../../docs/configuration.md");
        let block = doc
            .split("```toml\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .expect("a toml block");
        let c = ConfigFile::parse(block, "docs").unwrap();
        assert_eq!(c.policy().unwrap(), Policy::default());
        assert_eq!(c.hashing, Some(HashCost::default()));
        assert_eq!(c.server.pool_size, 8);
        assert_eq!(c.keys, pooya_keys::KeysSection::default());
        assert_eq!(c.network, crate::netpolicy::NetworkSection::default());
        assert_eq!(c.limits, crate::limits::LimitsSection::default());
        assert_eq!(c.tls, crate::tls::TlsSection::default());
        let maskan = doc
            .split("```toml\n")
            .nth(2)
            .unwrap()
            .split("```")
            .next()
            .unwrap();
        let m = ConfigFile::parse(maskan, "docs").unwrap().policy().unwrap();
        assert_eq!(m.otp.lifetime_secs, 120);
    }

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_the_file() {
        let file = "profile = \"central-bank\"\n[server]\npool_size = 2\n[policy.sms]\nshort_number = \"10002516\"\n";
        let c = ConfigFile::parse_with_env(
            file,
            "t",
            env(&[
                ("POOYA_POLICY__OTP__LIFETIME_SECS", "120"),
                ("POOYA_SERVER__POOL_SIZE", "4"),
                ("POOYA_SERVER__LISTEN", "0.0.0.0:9000"),
                ("POOYA_SERVER__DATA_DIR", "/srv/pooya"),
                ("POOYA_POLICY__SMS__SHORT_NUMBER", "3000"),
                ("POOYA_POLICY__BANK_NAME", "12"),
                ("POOYA_POLICY__OTP__STATIC_PIN_WITH_DYNAMIC", "false"),
                // Not settings of the file: left alone.
                ("POOYA_LOG", "debug"),
                ("POOYA_DATABASE_URL", "postgres://x/y"),
                ("POOYA_APP_PASSWORD", "pw"),
                ("OTHER__THING", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.pool_size, 4);
        assert_eq!(c.server.listen.as_deref(), Some("0.0.0.0:9000"));
        assert_eq!(c.server.data_dir.as_deref(), Some(Path::new("/srv/pooya")));
        assert_eq!(c.server.database_url, None);
        let p = c.policy().unwrap();
        assert_eq!(p.otp.lifetime_secs, 120);
        assert_eq!(p.sms.short_number, "3000");
        assert_eq!(p.bank_name, "12");
        assert!(!p.otp.static_pin_with_dynamic);

        // The profile too, and tables the file does not have.
        let m = ConfigFile::parse_with_env(
            "",
            "t",
            env(&[
                ("POOYA_PROFILE", "maskan"),
                ("POOYA_SMS_PROVIDER__KIND", "http"),
                ("POOYA_SMS_PROVIDER__HTTP__URL", "https://sms.example/send"),
                (
                    "POOYA_SMS_PROVIDER__HTTP__BODY_TEMPLATE",
                    r#"{"to": "{to}", "text": "{text}"}"#,
                ),
            ]),
        )
        .unwrap();
        assert_eq!(m.policy().unwrap().otp.lifetime_secs, 120);
        assert_eq!(m.sms_provider.http.unwrap().url, "https://sms.example/send");

        // Wrong values are refused with the setting named.
        let e = ConfigFile::parse_with_env("", "t", env(&[("POOYA_SERVER__POOL_SIZE", "many")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("pool_size"), "{e}");
        assert!(ConfigFile::parse_with_env("", "t", env(&[("POOYA_SERVER__NOPE", "1")])).is_err());
        assert!(ConfigFile::parse_with_env("", "t", env(&[("POOYA_SERVER____X", "1")])).is_err());
        assert!(ConfigFile::parse_with_env("", "t", env(&[("POOYA_PROFILE__X", "1")])).is_err());
        let bad =
            ConfigFile::parse_with_env("", "t", env(&[("POOYA_POLICY__OTP__LIFETIME_SECS", "0")]))
                .unwrap();
        assert!(bad.policy().is_err());
    }

    #[test]
    fn network_limits_and_tls_from_the_environment() {
        let c = ConfigFile::parse_with_env(
            "",
            "t",
            env(&[
                (
                    "POOYA_NETWORK__APP_ALLOW",
                    r#"["10.0.0.0/8", "2001:db8::/32"]"#,
                ),
                ("POOYA_NETWORK__PROXY_HEADER", "forwarded"),
                ("POOYA_LIMITS__APP_PER_IP", "{ burst = 5, per_secs = 10 }"),
                ("POOYA_TLS__CERT_FILE", "/etc/pooya/server.pem"),
                ("POOYA_TLS__CLIENT_CA__SWITCH", "/etc/pooya/switch-ca.pem"),
            ]),
        )
        .unwrap();
        assert_eq!(c.network.app_allow, ["10.0.0.0/8", "2001:db8::/32"]);
        assert_eq!(c.network.proxy_header, "forwarded");
        assert_eq!(c.limits.app_per_ip.burst, 5);
        assert_eq!(c.limits.app_per_ip.per_secs, 10);
        assert_eq!(c.limits.sms_inbound_per_mobile.burst, 10);
        assert_eq!(
            c.tls.cert_file.as_deref(),
            Some(Path::new("/etc/pooya/server.pem"))
        );
        assert_eq!(
            c.tls.client_ca["switch"],
            Path::new("/etc/pooya/switch-ca.pem")
        );
        // The effective settings show them and read back.
        let out = c.effective_toml().unwrap();
        let back = ConfigFile::parse(&out, "effective").unwrap();
        assert_eq!(back.network, c.network);
        assert_eq!(back.limits, c.limits);
        assert_eq!(back.tls, c.tls);
        // Half a limit is refused with the missing number named.
        let e =
            ConfigFile::parse_with_env("", "t", env(&[("POOYA_LIMITS__APP_PER_IP__BURST", "5")]))
                .unwrap_err()
                .to_string();
        assert!(e.contains("per_secs"), "{e}");
    }

    #[test]
    fn effective_settings_mask_secrets() {
        let c = ConfigFile::parse(
            r#"
[server]
database_url = "postgres://pooya:dbsecret@db.example:5432/pooya?sslmode=require&password=qsecret"
[sms_provider]
kind = "http"
[sms_provider.http]
url = "https://sms.example/send?key=urlsecret"
headers = { Authorization = "Bearer hdrsecret", X-Key = "hdrsecret2" }
body_template = '{"to": "{to}", "text": "{text}"}'
"#,
            "t",
        )
        .unwrap();
        let out = c.effective_toml().unwrap();
        for secret in ["dbsecret", "qsecret", "urlsecret", "hdrsecret"] {
            assert!(!out.contains(secret), "{secret} in\n{out}");
        }
        assert!(
            out.contains(
                "postgres://pooya:********@db.example:5432/pooya?sslmode=require&password=********"
            ),
            "{out}"
        );
        assert!(out.contains("Authorization = \"********\""), "{out}");
        assert!(out.contains("https://sms.example/send?********"), "{out}");
        // The effective policy is all there, defaults filled in; and it reads back.
        assert!(out.contains("lifetime_secs = 60"), "{out}");
        assert!(out.starts_with("profile = \"central-bank\""), "{out}");
        let back = ConfigFile::parse(&out, "effective").unwrap();
        assert_eq!(back.policy().unwrap(), Policy::default());

        let smpp = ConfigFile::parse(
            "[sms_provider]\nkind = \"smpp\"\n[sms_provider.smpp]\nhost = \"h\"\nport = 2775\nsystem_id = \"p\"\npassword = \"smppsec\"\nsource_addr = \"10002516\"\n",
            "t",
        )
        .unwrap();
        let out = smpp.effective_toml().unwrap();
        assert!(!out.contains("smppsec"), "{out}");
        assert!(out.contains("password = \"********\""), "{out}");

        assert_eq!(mask_url_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(mask_url_password("sqlite://x.db"), "sqlite://x.db");
        assert_eq!(
            mask_url_password("postgres://u:p@ss@h/db"),
            "postgres://u:********@h/db"
        );
    }

    #[test]
    fn keys_section() {
        let c = ConfigFile::parse_with_env(
            "[keys]\nkek = \"pkcs11\"\n[keys.pkcs11]\nmodule = \"/m.so\"\nkey_label = \"k\"\n",
            "t",
            env(&[("POOYA_KEYS__PKCS11__TOKEN_LABEL", "1234")]),
        )
        .unwrap();
        let p = c.keys.pkcs11.as_ref().unwrap();
        assert_eq!(p.token_label.as_deref(), Some("1234"));
        let out = c.effective_toml().unwrap();
        assert!(
            out.contains("[keys]") && out.contains("kek = \"pkcs11\""),
            "{out}"
        );
        let e = ConfigFile::parse("[keys]\nkek = \"pkcs11\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("[keys.pkcs11]"), "{e}");
        assert!(ConfigFile::parse("[keys]\nkek = \"usb-stick\"\n", "t").is_err());
        let f = ConfigFile::parse_with_env("", "t", env(&[("POOYA_KEYS__FILE", "/k/kek.key")]))
            .unwrap();
        assert_eq!(f.keys.file.as_deref(), Some(Path::new("/k/kek.key")));
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(ConfigFile::parse("nonsense = 1", "t").is_err());
        assert!(
            ConfigFile::parse("[policy.otp]\nlifetime_secs = \"x\"", "t")
                .unwrap()
                .policy()
                .is_err()
        );
        assert!(ConfigFile::parse("[policy.otp]\nlifetime_secs = 0", "t")
            .unwrap()
            .policy()
            .is_err());
        assert!(ConfigFile::parse("profile = \"x\"", "t")
            .unwrap()
            .policy()
            .is_err());
        assert!(ConfigFile::parse("[sms_provider]\nkind = \"carrier-pigeon\"", "t").is_err());
        assert!(ConfigFile::parse("[sms_provider]\nkind = \"http\"", "t").is_err());
        assert!(ConfigFile::parse(
            "[sms_provider]\nkind = \"http\"\n[sms_provider.http]\nurl = \"http://x/\"\nbody_template = \"nope\"",
            "t"
        )
        .is_err());
        assert!(
            ConfigFile::parse("[policy.sms]\nrequest_interval_secs = 7200", "t")
                .unwrap()
                .policy()
                .is_err()
        );
        let bad_template = "[policy.templates.fa]\nunified_otp = \"{bank} {amount}\"";
        let e = ConfigFile::parse(bad_template, "t")
            .unwrap()
            .policy()
            .unwrap_err()
            .to_string();
        assert!(e.contains("templates.fa.unified_otp"), "{e}");
        assert!(ConfigFile::parse("[policy]\nunknown = 1", "t")
            .unwrap()
            .policy()
            .is_err());
    }

    #[test]
    fn a_mistake_is_named_by_its_table_or_setting_as_the_file_spells_it() {
        let policy_err = |text: &str| {
            ConfigFile::parse(text, "t")
                .unwrap()
                .policy()
                .unwrap_err()
                .to_string()
        };
        let e = policy_err("[policy.otp]\nlifetme_secs = 60");
        assert!(
            e.starts_with("settings: [policy.otp]: unknown field `lifetme_secs`"),
            "{e}"
        );
        assert!(!e.contains("in `otp`"), "{e}");
        let e = policy_err("[policy.otp]\nlifetime_secs = \"x\"");
        assert!(
            e.starts_with("settings: policy.otp.lifetime_secs: invalid type"),
            "{e}"
        );
        let e = policy_err("[policy]\nbank_nme = \"x\"");
        assert!(
            e.starts_with("settings: [policy]: unknown field `bank_nme`"),
            "{e}"
        );
        let e = ConfigFile::parse("[server]\nlisen = 1", "f.toml")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with("f.toml: [server]: unknown field `lisen`"),
            "{e}"
        );
    }
}
