//! The `[keys]` section of the configuration file: where the key encryption key is.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The environment variable that holds the PKCS#11 user PIN when neither `pin_env` nor `pin_file`
/// is given.
pub const DEFAULT_PIN_ENV: &str = "POOYA_PKCS11_PIN";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KekKind {
    /// A 32-byte key file, mode 0600 (the default).
    #[default]
    File,
    /// An AES-256 key inside a PKCS#11 token (an HSM).
    Pkcs11,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysSection {
    pub kek: KekKind,
    /// For `file`: the key file (default `[server] master_key_file`, else `DATA_DIR/master.key`).
    pub file: Option<PathBuf>,
    /// For `pkcs11`: the module, token, key and PIN.
    pub pkcs11: Option<Pkcs11Config>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Config {
    /// The PKCS#11 library, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The token, by label (preferred) or by slot id.
    #[serde(default)]
    pub token_label: Option<String>,
    #[serde(default)]
    pub slot: Option<u64>,
    /// The label of the AES key object that is the KEK.
    pub key_label: String,
    /// The environment variable holding the user PIN (default `POOYA_PKCS11_PIN`).
    #[serde(default)]
    pub pin_env: Option<String>,
    /// Or a file (mode 0600) holding it.
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
}

impl Pkcs11Config {
    /// What an operator reads: the key, the token and the module.
    pub(crate) fn describe(&self) -> String {
        let token = match (&self.token_label, self.slot) {
            (Some(t), _) => format!("token {t:?}"),
            (None, Some(s)) => format!("slot {s}"),
            (None, None) => "no token".into(),
        };
        format!(
            "PKCS#11 key {:?} in {token} of {}",
            self.key_label,
            self.module.display()
        )
    }
}

/// A KEK's location with every default filled in (opened by [`KekSpec::open`], in `lib.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KekSpec {
    File(PathBuf),
    Pkcs11(Pkcs11Config),
}

impl KeysSection {
    /// Checks that the section holds together (start-up and `pooya config check`).
    pub fn validate(&self) -> Result<(), String> {
        match (self.kek, &self.pkcs11) {
            (KekKind::Pkcs11, None) => {
                Err("[keys] kek = \"pkcs11\" needs a [keys.pkcs11] table".into())
            }
            (KekKind::Pkcs11, Some(p)) => {
                if p.token_label.is_none() && p.slot.is_none() {
                    return Err("[keys.pkcs11] needs token_label or slot".into());
                }
                if p.key_label.is_empty() {
                    return Err("[keys.pkcs11] key_label is empty".into());
                }
                if p.pin_env.is_some() && p.pin_file.is_some() {
                    return Err("[keys.pkcs11] takes pin_env or pin_file, not both".into());
                }
                Ok(())
            }
            (KekKind::File, _) => Ok(()),
        }
    }

    /// The KEK this section names; `default_file` is where the key file is when `file` is not
    /// set.
    pub fn spec(&self, default_file: &Path) -> Result<KekSpec, String> {
        self.validate()?;
        Ok(match self.kek {
            KekKind::File => KekSpec::File(
                self.file
                    .clone()
                    .unwrap_or_else(|| default_file.to_path_buf()),
            ),
            KekKind::Pkcs11 => KekSpec::Pkcs11(self.pkcs11.clone().expect("validated")),
        })
    }
}

impl KekSpec {
    pub fn describe(&self) -> String {
        match self {
            KekSpec::File(p) => format!("key file {}", p.display()),
            KekSpec::Pkcs11(c) => c.describe(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_checked() {
        let d = KeysSection::default();
        assert_eq!(
            d.spec(Path::new("/d/master.key")).unwrap(),
            KekSpec::File("/d/master.key".into())
        );
        let p = KeysSection {
            kek: KekKind::Pkcs11,
            ..KeysSection::default()
        };
        assert!(p.validate().unwrap_err().contains("[keys.pkcs11]"));
        let mut cfg = Pkcs11Config {
            module: "/m.so".into(),
            token_label: None,
            slot: None,
            key_label: "k".into(),
            pin_env: None,
            pin_file: None,
        };
        let with = |c: &Pkcs11Config| KeysSection {
            kek: KekKind::Pkcs11,
            file: None,
            pkcs11: Some(c.clone()),
        };
        assert!(with(&cfg).validate().is_err(), "no token");
        cfg.slot = Some(3);
        assert!(with(&cfg).validate().is_ok());
        cfg.pin_env = Some("X".into());
        cfg.pin_file = Some("/p".into());
        assert!(with(&cfg).validate().is_err(), "two PIN sources");
    }
}
