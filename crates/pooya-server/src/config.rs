//! The server's settings: a TOML file (`--config`), every setting defaulted. Command-line flags win
//! over the file. The `[policy]` table changes the rules' numbers on top of a named `profile`
//! (`central-bank`: 60 s codes; `maskan`: 120 s). See `docs/configuration.md`.

use std::path::{Path, PathBuf};

use pooya_issuer::keys::HashCost;
use pooya_issuer::policy::Policy;
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
    /// `file` is the only provider in this version.
    pub kind: String,
    /// For `file`: default `DATA_DIR/sms-outbox.jsonl`.
    pub path: Option<PathBuf>,
}

impl Default for SmsProviderSection {
    fn default() -> Self {
        SmsProviderSection {
            kind: "file".into(),
            path: None,
        }
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
    #[error("unknown SMS provider {0:?} (this version has: file)")]
    UnknownProvider(String),
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
        if c.sms_provider.kind != "file" {
            return Err(ConfigError::UnknownProvider(c.sms_provider.kind));
        }
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
        assert!(ConfigFile::parse("[policy]\nunknown = 1", "t")
            .unwrap()
            .policy()
            .is_err());
    }
}
