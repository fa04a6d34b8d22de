//! A KEK inside a PKCS#11 token (an HSM): an AES-256 secret key object, sensitive and not
//! extractable, found by its label. Data keys are wrapped by `C_Encrypt` with AES-GCM (a random
//! 12-byte IV, the generation as associated data, a 128-bit tag), so the KEK never leaves the
//! token. Tested with SoftHSM2.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::config::{Pkcs11Config, DEFAULT_PIN_ENV};
use crate::KekError;

const IV_LEN: usize = 12;
const TAG_BITS: u64 = 128;

pub struct Pkcs11Kek {
    cfg: Pkcs11Config,
    pin: Zeroizing<String>,
    token: String,
    id: String,
}

fn err(what: &str) -> impl FnOnce(CkError) -> KekError + '_ {
    move |e| KekError::Pkcs11(format!("{what}: {e}"))
}

/// One initialised context per module for the whole process: PKCS#11 libraries may be
/// initialised once, and several KEKs (an HSM→HSM rotation) may share one module.
fn context(module: &PathBuf) -> Result<Pkcs11, KekError> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut map = CONTEXTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(c) = map.get(module) {
        return Ok(c.clone());
    }
    let ctx = Pkcs11::new(module).map_err(|e| {
        KekError::Pkcs11(format!("cannot load the module {}: {e}", module.display()))
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(err("C_Initialize")(e)),
    }
    map.insert(module.clone(), ctx.clone());
    Ok(ctx)
}

fn read_pin(cfg: &Pkcs11Config) -> Result<Zeroizing<String>, KekError> {
    if let Some(path) = &cfg.pin_file {
        return crate::file::read_private(path);
    }
    let var = cfg.pin_env.as_deref().unwrap_or(DEFAULT_PIN_ENV);
    std::env::var(var).map(Zeroizing::new).map_err(|_| {
        KekError::Pkcs11(format!(
            "the token's user PIN is not set: put it in the environment variable {var} \
             (or name a pin_file in [keys.pkcs11])"
        ))
    })
}

impl Pkcs11Kek {
    /// Finds the token and the key; errors name what is missing.
    pub fn open(cfg: &Pkcs11Config) -> Result<Pkcs11Kek, KekError> {
        let kek = Self::new(cfg)?;
        kek.with_key(|_, _| Ok(()))?;
        Ok(kek)
    }

    /// Generates the KEK in the token: AES-256, on the token, private, sensitive, never
    /// extractable, for encryption and decryption only. Refuses if the label is taken.
    pub fn create(cfg: &Pkcs11Config) -> Result<Pkcs11Kek, KekError> {
        let kek = Self::new(cfg)?;
        let session = kek.session()?;
        if !kek.find(&session)?.is_empty() {
            return Err(KekError::Pkcs11(format!(
                "{} exists already; it is never replaced",
                kek.describe()
            )));
        }
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32u64.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Label(cfg.key_label.as_bytes().to_vec()),
        ];
        session
            .generate_key(&Mechanism::AesKeyGen, &template)
            .map_err(err("C_GenerateKey (AES-256)"))?;
        Ok(kek)
    }

    fn new(cfg: &Pkcs11Config) -> Result<Pkcs11Kek, KekError> {
        let pin = read_pin(cfg)?;
        let ctx = context(&cfg.module)?;
        let slot = Self::slot(&ctx, cfg)?;
        let token = ctx
            .get_token_info(slot)
            .map_err(err("C_GetTokenInfo"))?
            .label()
            .trim_end()
            .to_owned();
        Ok(Pkcs11Kek {
            id: format!("pkcs11:token={token};key={}", cfg.key_label),
            token,
            cfg: cfg.clone(),
            pin,
        })
    }

    fn slot(ctx: &Pkcs11, cfg: &Pkcs11Config) -> Result<Slot, KekError> {
        let slots = ctx
            .get_slots_with_initialized_token()
            .map_err(err("C_GetSlotList"))?;
        for slot in slots {
            if cfg.slot.is_some_and(|s| s != slot.id()) {
                continue;
            }
            let Some(want) = &cfg.token_label else {
                return Ok(slot);
            };
            let info = ctx.get_token_info(slot).map_err(err("C_GetTokenInfo"))?;
            if info.label().trim_end() == want {
                return Ok(slot);
            }
        }
        Err(KekError::Pkcs11(format!(
            "no initialised token matches: {}",
            cfg.describe()
        )))
    }

    fn session(&self) -> Result<Session, KekError> {
        let ctx = context(&self.cfg.module)?;
        let slot = Self::slot(&ctx, &self.cfg)?;
        let session = ctx.open_rw_session(slot).map_err(err("C_OpenSession"))?;
        let pin = AuthPin::from(self.pin.as_str());
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => Err(KekError::Pkcs11(format!(
                "the user PIN of token {:?} is wrong",
                self.token
            ))),
            Err(e) => Err(err("C_Login")(e)),
        }
    }

    fn find(&self, session: &Session) -> Result<Vec<ObjectHandle>, KekError> {
        session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(self.cfg.key_label.as_bytes().to_vec()),
            ])
            .map_err(err("C_FindObjects"))
    }

    fn with_key<T>(
        &self,
        f: impl FnOnce(&Session, ObjectHandle) -> Result<T, KekError>,
    ) -> Result<T, KekError> {
        let session = self.session()?;
        let found = self.find(&session)?;
        match found.as_slice() {
            [key] => f(&session, *key),
            [] => Err(KekError::Pkcs11(format!(
                "no secret key labelled {:?} in token {:?}; create it with `pooya keys create-kek`",
                self.cfg.key_label, self.token
            ))),
            _ => Err(KekError::Pkcs11(format!(
                "{} secret keys are labelled {:?} in token {:?}; the KEK's label must be unique",
                found.len(),
                self.cfg.key_label,
                self.token
            ))),
        }
    }

    pub fn describe(&self) -> String {
        self.cfg.describe()
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// iv ‖ ciphertext ‖ tag.
    pub fn wrap(&self, aad: &[u8], key: &[u8]) -> Result<Vec<u8>, KekError> {
        let mut iv = [0u8; IV_LEN];
        rand::rng().fill_bytes(&mut iv);
        let ct = self.with_key(|s, k| {
            let mut iv2 = iv;
            let params = GcmParams::new(&mut iv2, aad, TAG_BITS.into()).map_err(err("GCM"))?;
            s.encrypt(&Mechanism::AesGcm(params), k, key)
                .map_err(err("C_Encrypt (AES-GCM)"))
        })?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KekError> {
        if wrapped.len() < IV_LEN + 16 {
            return Err(KekError::Unwrap(self.describe()));
        }
        let (iv, ct) = wrapped.split_at(IV_LEN);
        self.with_key(|s, k| {
            let mut iv: [u8; IV_LEN] = iv.try_into().expect("12 bytes");
            let params = GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(err("GCM"))?;
            s.decrypt(&Mechanism::AesGcm(params), k, ct)
                .map(Zeroizing::new)
                .map_err(|_| KekError::Unwrap(self.describe()))
        })
    }
}
