//! Administration on the card: a hardware token from a PSKC file.

use super::record::{CardRecord, Sealed};
use super::service::{HardwareKind, HardwareToken, Service};
use crate::keys::{random_id, Keyring};

/// What an import installs on a card: the key as the file gives it.
pub struct HardwareKey<'a> {
    pub serial: &'a str,
    pub kind: HardwareKind,
    pub key: &'a [u8],
    pub algorithm: &'a str,
    pub digits: u8,
    pub step_secs: u32,
    pub counter: u64,
    /// What the file's policy asks of the verifier: all of it is enforced.
    pub usage: pooya_pskc::Usage,
}

impl CardRecord {
    /// PSKC import: the hardware token becomes the card's second-password token; the card's
    /// service is replaced as by an ATM activation and becomes app/active (docs/api.md), and the static
    /// second password dies (R9). The key is checked to make codes before anything changes. The
    /// file's dates, number of transactions, check digit and time drift become the token's state,
    /// enforced at verification (`card/verify.rs`).
    pub fn install_hardware_token(
        &mut self,
        hw: &HardwareKey<'_>,
        now: i64,
        keys: &Keyring,
    ) -> Result<(), String> {
        let alg: pooya_otp::Algorithm = hw
            .algorithm
            .parse()
            .map_err(|_| format!("unknown algorithm {:?}", hw.algorithm))?;
        let digits = pooya_otp::Digits::new(hw.digits)
            .map_err(|_| format!("{} digits (4 to 10)", hw.digits))?;
        if hw.kind == HardwareKind::Totp {
            pooya_otp::Totp::new(hw.step_secs, digits, alg)
                .map_err(|_| format!("time step {} s", hw.step_secs))?;
        }
        if hw.key.is_empty() {
            return Err("an empty key".into());
        }
        let usage = &hw.usage;
        if usage.check_digit {
            pooya_otp::HotpKey::new(hw.key, alg)
                .code_with_check_digit(0, digits)
                .map_err(|_| format!("{} digits with a check digit (5 to 10)", hw.digits))?;
        }
        if usage.time_drift_steps != 0 && hw.kind != HardwareKind::Totp {
            return Err("a time drift on a HOTP key".into());
        }
        if let (Some(b), Some(a)) = (usage.not_before_ms, usage.not_after_ms) {
            if b > a {
                return Err("its start date is after its expiry date".into());
            }
        }
        if usage.number_of_transactions == Some(0) {
            return Err("NumberOfTransactions 0: the key may never be used".into());
        }
        let id = random_id();
        let key_sealed = keys.seal(&Sealed::Hardware.aad(&self.pan_hash, &id), hw.key);
        self.replace_service(Service::Hardware(HardwareToken {
            id,
            serial: hw.serial.to_owned(),
            kind: hw.kind,
            key_sealed,
            algorithm: alg.as_str().to_owned(),
            digits: hw.digits,
            step_secs: if hw.kind == HardwareKind::Totp {
                hw.step_secs
            } else {
                0
            },
            counter: hw.counter,
            last_step: None,
            resync_counter: None,
            imported_at: now,
            not_before: usage.not_before_ms,
            not_after: usage.not_after_ms,
            transactions_left: usage.number_of_transactions,
            check_digit: usage.check_digit,
            drift_steps: if hw.kind == HardwareKind::Totp {
                usage.time_drift_steps
            } else {
                0
            },
        }));
        self.svc.static_second_disabled = true;
        Ok(())
    }
}
