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
}

impl CardRecord {
    /// PSKC import: the hardware token becomes the card's second-password token; the card's
    /// service is replaced as by an ATM activation and becomes app/active (docs/api.md), and the static
    /// second password dies (R9). The key is checked to make codes before anything changes.
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
        }));
        self.svc.static_second_disabled = true;
        Ok(())
    }
}
