//! The server's settings: a TOML file (`--config`), every setting defaulted. Command-line flags win
//! over the file. The `[policy]` table changes the rules' numbers on top of a named `profile`
//! (`central-bank`: 60 s codes; `maskan`: 120 s). See `docs/configuration.md`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pooya_issuer::keys::HashCost;
use pooya_issuer::policy::Policy;
use pooya_sms::http::{HttpProvider, HttpProviderConfig};
use pooya_sms::smpp::{InboundSms, SmppConfig, SmppProvider};
use pooya_sms::{FileProvider, SmsProvider};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigFile {
    /// `central-bank` (default) or `maskan`.
    pub profile: Option<String>,
    pub server: ServerSection,
    pub hashing: Option<HashCost>,
    pub sms_provider: SmsProviderSection,
    /// Overrides of [`Policy`] fields, e.g. `[policy.otp] lifetime_secs = 90`.
    pub policy: toml::Table,
}

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
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
            _ => Arc::new(FileProvider::new(
                self.path
                    .clone()
                    .unwrap_or_else(|| data_dir.join("sms-outbox.jsonl")),
            )),
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
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read(path.display().to_string(), e))?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, name: &str) -> Result<ConfigFile, ConfigError> {
        let c: ConfigFile =
            toml::from_str(text).map_err(|e| ConfigError::Parse(name.into(), e.to_string()))?;
        c.sms_provider.check()?;
        Ok(c)
    }

    /// The profile with the `[policy]` overrides laid over it, validated.
    pub fn policy(&self) -> Result<Policy, ConfigError> {
        let name = self.profile.as_deref().unwrap_or("central-bank");
        let base =
            Policy::profile(name).ok_or_else(|| ConfigError::UnknownProfile(name.to_owned()))?;
        let mut merged = toml::Table::try_from(&base)
            .map_err(|e| ConfigError::Parse("policy".into(), e.to_string()))?;
        merge(&mut merged, &self.policy);
        let policy: Policy = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse("[policy]".into(), e.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }
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
}
