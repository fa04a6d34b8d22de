//! The app in the browser: [`pooya_app_core`] behind wasm-bindgen. The pages (`static/app.js`)
//! hold no secret of their own: they keep the sealed vault's bytes in IndexedDB and ask this
//! module for everything else.
//!
//! Network calls are free functions that take what they need and return an opaque result
//! ([`Enrolled`], [`Clock`]) which the [`Wallet`] then takes: the wallet is never borrowed across
//! an `await`.

use std::path::Path;
use std::time::Duration;

use js_sys::{Date, Uint8Array};
use pooya_app_core::cards::{self, PasswordKind};
use pooya_app_core::client::{self, HttpReply, Method, Transport, TransportError, MAX_BODY};
use pooya_app_core::clock::IssuerClock;
use pooya_app_core::error::AppError;
use pooya_app_core::i18n::{self, Lang};
use pooya_app_core::tr;
use pooya_app_core::vault::{self as core_vault, KdfPolicy, LockedVault, Vault};
use serde::Serialize;
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use zeroize::Zeroizing;

use crate::passkey::PrfKeyStore;

/// What the core's messages call the vault: the browser has no file.
const VAULT_NAME: &str = "the app's vault";

fn name() -> &'static Path {
    Path::new(VAULT_NAME)
}

/// The error the page shows: the core's sentence, in the page's language.
fn err(e: AppError) -> JsError {
    match e {
        AppError::WrongPasswordOrTampered(_) => JsError::new(&tr!(
            "wrong app password (or the stored vault was changed)",
            "رمز برنامه اشتباه است (یا گاوصندوق ذخیره‌شده تغییر کرده است)"
        )),
        other => JsError::new(&other.to_string()),
    }
}

/// The page's language for every message of this module (once per page load: switching
/// language reloads the page).
#[wasm_bindgen]
pub fn set_language(persian: bool) {
    i18n::set(if persian { Lang::Fa } else { Lang::En });
}

/// Makes the module's memory ready for Argon2id while the unlock screen waits for the password:
/// the first 64 MiB a fresh page asks for are page faults, each page the first time it is
/// written, and a phone pays them on the way from the password to the code. Freed at once, the
/// memory stays the module's and the unlock's Argon2 reuses it.
#[wasm_bindgen]
pub fn prepare_unlock() {
    const PAGE: usize = 4096;
    let mut memory = vec![0u8; KdfPolicy::BROWSER.floor.m_kib as usize * 1024];
    for page in memory.chunks_mut(PAGE) {
        page[0] = 1;
    }
    std::hint::black_box(&memory);
}

/// R13: the app password's rule, as `pooya app init` applies it.
#[wasm_bindgen]
pub fn check_new_password(password: &str) -> Result<(), JsError> {
    core_vault::check_policy(password).map_err(err)
}

fn perf_now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or_else(Date::now)
}

fn local_now() -> i64 {
    Date::now() as i64
}

/// An open vault.
#[wasm_bindgen]
pub struct Wallet {
    vault: Vault,
}

#[derive(Serialize)]
struct CardView<'a> {
    label: &'a str,
    bank: &'a str,
    masked: &'a str,
    server: &'a str,
    lifetime_secs: u32,
}

#[derive(Serialize)]
struct CodeView {
    code: String,
    remaining_ms: i64,
    lifetime_ms: i64,
    warnings: Vec<String>,
}

#[wasm_bindgen]
impl Wallet {
    /// A new, empty vault under `password`, Argon2id calibrated on this device
    /// (`docs/vault.md`: 64 MiB, one lane, passes for about 0.6 s, never below 2).
    pub fn create(password: &str) -> Result<Wallet, JsError> {
        core_vault::check_policy(password).map_err(err)?;
        let kdf = KdfPolicy::BROWSER.calibrate_with(perf_now).map_err(err)?;
        let vault = Vault::new_unsaved(name(), password, kdf).map_err(err)?;
        Ok(Wallet { vault })
    }

    /// Opens the stored bytes with the app password.
    pub fn unlock(bytes: &[u8], password: &str) -> Result<Wallet, JsError> {
        let locked = LockedVault::from_bytes(name(), bytes).map_err(err)?;
        Ok(Wallet {
            vault: locked.unlock(password).map_err(err)?,
        })
    }

    /// Opens the stored bytes with a passkey: `prf` is the PRF extension's output for the
    /// vault's salt, `held` the key store's sealed entries ([`Wallet::passkey_entries`]).
    pub fn unlock_with_passkey(bytes: &[u8], prf: &[u8], held: &str) -> Result<Wallet, JsError> {
        let locked = LockedVault::from_bytes(name(), bytes).map_err(err)?;
        let store = PrfKeyStore::new(prf, held).map_err(err)?;
        match locked.unlock_with_keystore(&store).map_err(err)? {
            Some(vault) => Ok(Wallet { vault }),
            None => Err(JsError::new(&tr!(
                "this vault has no passkey",
                "این گاوصندوق کلید عبور ندارد"
            ))),
        }
    }

    /// Whether the vault has a passkey (platform) slot.
    pub fn has_passkey(&self) -> bool {
        self.vault.has_platform_slot()
    }

    /// Adds a passkey slot: a random key wraps the master key, sealed under the passkey's PRF
    /// output. Returns the sealed entries to keep beside the vault (they are useless without
    /// the passkey). Needs the vault opened with the password.
    pub fn enable_passkey(&mut self, prf: &[u8]) -> Result<String, JsError> {
        let store = PrfKeyStore::new(prf, "{}").map_err(err)?;
        self.vault.enable_platform_slot(&store).map_err(err)?;
        store.to_json().map_err(err)
    }

    /// Removes the passkey slot (and re-keys, as `keystore disable` does).
    pub fn disable_passkey(&mut self) -> Result<(), JsError> {
        let store = PrfKeyStore::new(&[0; 32], "{}").map_err(err)?;
        self.vault.disable_platform_slot(&store).map_err(err)?;
        Ok(())
    }

    /// The vault sealed exactly as the command line writes its file.
    pub fn sealed(&mut self) -> Result<Uint8Array, JsError> {
        let bytes = self.vault.to_bytes().map_err(err)?;
        Ok(Uint8Array::from(bytes.as_slice()))
    }

    /// The cards as JSON: label, bank, masked card number, server, code lifetime.
    pub fn cards(&self) -> String {
        let list: Vec<CardView<'_>> = self
            .vault
            .tokens()
            .iter()
            .map(|t| CardView {
                label: &t.label,
                bank: &t.bank_name,
                masked: &t.pan_masked,
                server: &t.server,
                lifetime_secs: t.lifetime_secs,
            })
            .collect();
        serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
    }

    /// The servers of the cards, each once (for the clock sync).
    pub fn servers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in self.vault.tokens() {
            if !out.contains(&t.server) {
                out.push(t.server.clone());
            }
        }
        out
    }

    /// The code of card `index` now, on its issuer's clock (R19), as JSON: the code (ASCII
    /// digits), the milliseconds it has left and its lifetime (R17), warnings about the clock.
    pub fn code(&self, index: usize, second: bool) -> Result<String, JsError> {
        let token = self
            .vault
            .tokens()
            .get(index)
            .ok_or_else(|| JsError::new("no such card"))?;
        let local = local_now();
        // The browser cannot read a boot clock: the stored offset is the correction.
        let correction = pooya_app_core::correction_for(&self.vault, token, local, None);
        let kind = if second {
            PasswordKind::Second
        } else {
            PasswordKind::First
        };
        let server_ms = local.saturating_add(correction.offset_ms);
        let (code, remaining_ms) =
            pooya_app_core::token_code(token, kind, server_ms).map_err(err)?;
        let warnings =
            pooya_app_core::correction_warnings(&token.bank_name, &correction, token.lifetime_secs)
                .into_iter()
                // The command line's advice names its command; here the button is "sync the clock".
                .filter(|w| !w.contains("pooya app sync"))
                .collect();
        let view = CodeView {
            code,
            remaining_ms,
            lifetime_ms: i64::from(token.lifetime_secs) * 1000,
            warnings,
        };
        serde_json::to_string(&view).map_err(|e| JsError::new(&e.to_string()))
    }

    /// Checks an add before anything is sent: the label is free and well formed. Returns the
    /// label to use (the default "card-1234" when `label` is empty).
    pub fn check_new_card(&self, pan: &str, label: &str) -> Result<String, JsError> {
        let pan = Zeroizing::new(cards::normalize_pan(pan).map_err(err)?);
        let label = if label.trim().is_empty() {
            cards::default_label(&pan)
        } else {
            label.trim().to_owned()
        };
        cards::check_label(&label).map_err(err)?;
        if self.vault.tokens().iter().any(|t| t.label == label) {
            return Err(err(AppError::DuplicateLabel(label)));
        }
        Ok(label)
    }

    /// Takes a card [`enroll`] brought back, with its issuer's clock.
    pub fn add(&mut self, enrolled: Enrolled) -> Result<String, JsError> {
        let label = enrolled.token.label.clone();
        self.vault.add(enrolled.token).map_err(err)?;
        self.vault.set_clock(enrolled.clock);
        Ok(label)
    }

    /// What [`revoke`] needs to remove card `index` at its server.
    pub fn removal(&self, index: usize) -> Result<Removal, JsError> {
        let token = self
            .vault
            .tokens()
            .get(index)
            .ok_or_else(|| JsError::new("no such card"))?;
        Ok(Removal {
            token: token.clone(),
        })
    }

    /// Forgets card `index` (after [`revoke`], or when the holder insists offline).
    pub fn forget(&mut self, index: usize) -> Result<(), JsError> {
        let id = self
            .vault
            .tokens()
            .get(index)
            .map(|t| t.token_id.clone())
            .ok_or_else(|| JsError::new("no such card"))?;
        self.vault.remove(&id);
        Ok(())
    }

    /// Records a clock [`measure_clock`] measured.
    pub fn set_clock(&mut self, clock: Clock) {
        self.vault.set_clock(clock.clock);
    }
}

/// A card enrolled with its server, not yet in the vault.
#[wasm_bindgen]
pub struct Enrolled {
    token: core_vault::Token,
    clock: IssuerClock,
}

/// A card on its way out: what its server needs to revoke it.
#[wasm_bindgen]
pub struct Removal {
    token: core_vault::Token,
}

/// An issuer's clock, measured.
#[wasm_bindgen]
pub struct Clock {
    clock: IssuerClock,
}

#[wasm_bindgen]
impl Clock {
    /// The server's clock minus this device's, in milliseconds.
    pub fn offset_ms(&self) -> f64 {
        self.clock.offset_ms as f64
    }
}

/// Checks a server address as `pooya app add` does; returns it normalized.
#[wasm_bindgen]
pub fn check_server(server: &str) -> Result<String, JsError> {
    client::normalize_server(server).map_err(err)
}

/// Runs the enrollment with `server` (R16): the receipt code and the SMS code.
#[wasm_bindgen]
pub async fn enroll(
    server: String,
    pan: String,
    receipt_code: String,
    sms_code: String,
    label: String,
) -> Result<Enrolled, JsError> {
    let server = client::normalize_server(&server).map_err(err)?;
    let pan = Zeroizing::new(cards::normalize_pan(&pan).map_err(err)?);
    let receipt_code = Zeroizing::new(receipt_code);
    let sms_code = Zeroizing::new(sms_code);
    let t = FetchTransport { base: server };
    let request = client::EnrollRequest {
        pan: &pan,
        receipt_code: &receipt_code,
        sms_code: &sms_code,
        label: &label,
    };
    let e = client::enroll(&t, &request, local_now, || None)
        .await
        .map_err(err)?;
    Ok(Enrolled {
        token: e.token,
        clock: e.clock,
    })
}

/// Revokes a card at its server (which must answer first: R16's removal proof).
#[wasm_bindgen]
pub async fn revoke(removal: Removal) -> Result<(), JsError> {
    let t = FetchTransport {
        base: removal.token.server.clone(),
    };
    client::remove_token(&t, &removal.token).await.map_err(err)
}

/// Measures `server`'s clock (R19).
#[wasm_bindgen]
pub async fn measure_clock(server: String) -> Result<Clock, JsError> {
    let t = FetchTransport { base: server };
    let clock = client::measure_clock(&t, local_now, || None)
        .await
        .map_err(err)?;
    Ok(Clock { clock })
}

/// A sentence about a clock offset, for the sync screen.
#[wasm_bindgen]
pub fn describe_offset(bank: &str, offset_ms: f64) -> String {
    let secs = pooya_app_core::rounded_secs(offset_ms as i64);
    if (offset_ms as i64).abs() < 2_000 {
        tr!(
            "{bank}: this device's clock agrees with the bank's",
            "{bank}: ساعت این دستگاه با ساعت بانک یکی است"
        )
    } else if offset_ms > 0.0 {
        tr!(
            "{bank}: this device's clock is {secs} s behind the bank's; codes use the bank's time",
            "{bank}: ساعت این دستگاه {secs} ثانیه از ساعت بانک عقب است؛ رمزها با ساعت بانک ساخته می‌شوند"
        )
    } else {
        tr!(
            "{bank}: this device's clock is {secs} s ahead of the bank's; codes use the bank's time",
            "{bank}: ساعت این دستگاه {secs} ثانیه از ساعت بانک جلو است؛ رمزها با ساعت بانک ساخته می‌شوند"
        )
    }
}

/// The browser's fetch as the core's transport: no credentials, no redirects, 30 s at most.
struct FetchTransport {
    base: String,
}

impl Transport for FetchTransport {
    fn server(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<HttpReply, TransportError> {
        let unreachable = |what: &str| TransportError::Unreachable(what.to_owned());
        let init = web_sys::RequestInit::new();
        init.set_mode(web_sys::RequestMode::Cors);
        init.set_credentials(web_sys::RequestCredentials::Omit);
        init.set_redirect(web_sys::RequestRedirect::Error);
        let headers = web_sys::Headers::new().map_err(|_| unreachable("headers"))?;
        match method {
            Method::Get => init.set_method("GET"),
            Method::Post => {
                init.set_method("POST");
                headers
                    .set("content-type", "application/json")
                    .map_err(|_| unreachable("headers"))?;
                let text = body.map_or_else(|| "{}".to_owned(), Value::to_string);
                init.set_body(&JsValue::from_str(&text));
            }
        }
        init.set_headers(&headers);
        let timeout = Duration::from_secs(30);
        let signal = web_sys_abort(timeout);
        if let Some(s) = &signal {
            init.set_signal(Some(s));
        }
        let url = format!("{}{}", self.base, path);
        let request = web_sys::Request::new_with_str_and_init(&url, &init)
            .map_err(|_| unreachable("bad address"))?;
        let window = web_sys::window().ok_or_else(|| unreachable("no window"))?;
        // A refused connection, a blocked cross-origin call and a dead network all look the
        // same to a page: fetch rejects with a TypeError.
        let response: web_sys::Response = JsFuture::from(window.fetch_with_request(&request))
            .await
            .map_err(|_| unreachable("could not connect"))?
            .dyn_into()
            .map_err(|_| unreachable("no response"))?;
        let status = response.status();
        let buf = JsFuture::from(
            response
                .array_buffer()
                .map_err(|_| TransportError::Garbage("no body".into()))?,
        )
        .await
        .map_err(|_| TransportError::Garbage("the answer broke off".into()))?;
        let bytes = Uint8Array::new(&buf).to_vec();
        if bytes.len() > MAX_BODY {
            return Err(TransportError::Garbage("the answer is too large".into()));
        }
        Ok(HttpReply {
            status,
            body: bytes,
        })
    }
}

/// An abort signal that fires after `after`.
fn web_sys_abort(after: Duration) -> Option<web_sys::AbortSignal> {
    Some(web_sys::AbortSignal::timeout_with_u32(
        u32::try_from(after.as_millis()).unwrap_or(u32::MAX),
    ))
}
