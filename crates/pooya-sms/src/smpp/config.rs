//! `[sms_provider] kind = "smpp"`: where the SMSC is, how the bank binds to it, and the timings of
//! the session. SMPP 3.4 limits the lengths checked by [`SmppConfig::validate`].

use std::fmt;
use std::time::Duration;

fn default_enquire_link_secs() -> u64 {
    30
}
fn default_response_timeout_ms() -> u64 {
    10_000
}
fn default_reconnect_max_secs() -> u64 {
    30
}

/// `[sms_provider] kind = "smpp"`.
#[derive(Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmppConfig {
    pub host: String,
    pub port: u16,
    /// At most 15 characters.
    pub system_id: String,
    /// At most 8 characters (SMPP 3.4). Never logged; `Debug` shows `[redacted]`.
    pub password: String,
    /// At most 12 characters; usually empty.
    #[serde(default)]
    pub system_type: String,
    /// The bank's short number (R21), the sender of every SMS and where requests are texted to.
    pub source_addr: String,
    /// TON of `source_addr`. Unset: 5 (alphanumeric) if it holds a letter, else 0 (unknown).
    #[serde(default)]
    pub source_addr_ton: Option<u8>,
    /// NPI of `source_addr`. Unset: 0 (unknown) for alphanumeric, else 1 (ISDN/E.164).
    #[serde(default)]
    pub source_addr_npi: Option<u8>,
    /// Idle time before an enquire_link; 0 turns keep-alive off.
    #[serde(default = "default_enquire_link_secs")]
    pub enquire_link_secs: u64,
    /// How long to wait for connecting, for a bound session, and for each response.
    #[serde(default = "default_response_timeout_ms")]
    pub response_timeout_ms: u64,
    /// Ceiling of the delay between reconnection attempts.
    #[serde(default = "default_reconnect_max_secs")]
    pub reconnect_max_secs: u64,
}

impl fmt::Debug for SmppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmppConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("system_id", &self.system_id)
            .field("password", &"[redacted]")
            .field("system_type", &self.system_type)
            .field("source_addr", &self.source_addr)
            .field("source_addr_ton", &self.source_addr_ton)
            .field("source_addr_npi", &self.source_addr_npi)
            .field("enquire_link_secs", &self.enquire_link_secs)
            .field("response_timeout_ms", &self.response_timeout_ms)
            .field("reconnect_max_secs", &self.reconnect_max_secs)
            .finish()
    }
}

impl SmppConfig {
    /// A configuration with the defaults for everything optional.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        system_id: impl Into<String>,
        password: impl Into<String>,
        source_addr: impl Into<String>,
    ) -> SmppConfig {
        SmppConfig {
            host: host.into(),
            port,
            system_id: system_id.into(),
            password: password.into(),
            system_type: String::new(),
            source_addr: source_addr.into(),
            source_addr_ton: None,
            source_addr_npi: None,
            enquire_link_secs: default_enquire_link_secs(),
            response_timeout_ms: default_response_timeout_ms(),
            reconnect_max_secs: default_reconnect_max_secs(),
        }
    }

    /// Checks what SMPP 3.4 limits; the server should call it when loading its configuration.
    pub fn validate(&self) -> Result<(), String> {
        fn field(name: &str, v: &str, max: usize, empty_ok: bool) -> Result<(), String> {
            if !v.is_ascii() || v.bytes().any(|b| b.is_ascii_control()) {
                return Err(format!("smpp {name} must be printable ASCII"));
            }
            if v.len() > max {
                return Err(format!("smpp {name} is longer than {max} characters"));
            }
            if v.is_empty() && !empty_ok {
                return Err(format!("smpp {name} is empty"));
            }
            Ok(())
        }
        if self.host.is_empty() {
            return Err("smpp host is empty".into());
        }
        field("system_id", &self.system_id, 15, false)?;
        // The password's content is not echoed, whatever is wrong with it.
        field("password", &self.password, 8, true)?;
        field("system_type", &self.system_type, 12, true)?;
        field("source_addr", &self.source_addr, 20, false)?;
        if self.response_timeout_ms == 0 {
            return Err("smpp response_timeout_ms must be at least 1".into());
        }
        if self.reconnect_max_secs == 0 {
            return Err("smpp reconnect_max_secs must be at least 1".into());
        }
        Ok(())
    }

    pub(super) fn response_timeout(&self) -> Duration {
        Duration::from_millis(self.response_timeout_ms.max(1))
    }

    pub(super) fn source_ton_npi(&self) -> (u8, u8) {
        let alpha = self
            .source_addr
            .trim_start_matches('+')
            .bytes()
            .any(|b| !b.is_ascii_digit());
        let (ton, npi) = if alpha { (5, 0) } else { (0, 1) };
        (
            self.source_addr_ton.unwrap_or(ton),
            self.source_addr_npi.unwrap_or(npi),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation() {
        let ok = SmppConfig::new("127.0.0.1", 2775, "pooya", "secret", "10002516");
        assert!(ok.validate().is_ok());
        let mut c = ok.clone();
        c.password = "123456789".into();
        let e = c.validate().unwrap_err();
        assert!(e.contains("password") && !e.contains("123456789"));
        let mut c = ok.clone();
        c.system_id = "x".repeat(16);
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.source_addr = String::new();
        assert!(c.validate().is_err());
        assert_eq!(ok.source_ton_npi(), (0, 1));
        let mut c = ok;
        c.source_addr = "MaskanBank".into();
        assert_eq!(c.source_ton_npi(), (5, 0));
        c.source_addr_ton = Some(3);
        assert_eq!(c.source_ton_npi(), (3, 0));
    }
}
