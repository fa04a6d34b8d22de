//! PSKC (RFC 6030) key containers: parsing and decryption of the keys of hardware OTP tokens.
//! No I/O: the caller hands over the file's text and the secret that protects it.
//!
//! What is read, per `KeyPackage`:
//! - `DeviceInfo/SerialNo`: the token's serial number (required, unique in the file);
//! - `Key/@Algorithm`: `…pskc:hotp` (RFC 4226) or `…pskc:totp` (RFC 6238), also spelt with `#`;
//!   a `…pskc:pin` package (the PIN of another key, RFC 6030 Figure 5) is skipped;
//! - `AlgorithmParameters/ResponseFormat`: `Length` (digits, 4 to 10, default 6) and `Encoding`
//!   (`DECIMAL` only); `AlgorithmParameters/Suite`: the HMAC (`HMAC-SHA1` default, `HMAC-SHA256`,
//!   `HMAC-SHA512`);
//! - `Data/Secret`: `PlainValue` (base64) or `EncryptedValue` with its `ValueMAC`;
//! - `Data/Counter` (HOTP, default 0) and `Data/TimeInterval` (TOTP step, default 30 s).
//!   `Data/Time` and `Data/TimeDrift` are not used: codes count steps from the unix epoch (T0 = 0).
//!
//! Encryption (RFC 6030 §6.1, §6.2): the container's `EncryptionKey` is a pre-shared key
//! (`ds:KeyName`) or a PBKDF2-derived key (`xenc11:DerivedKey`, from a password); values are
//! AES-CBC (`xmlenc#aes128-cbc`, also 192 and 256) with the IV before the ciphertext; every
//! encrypted value must carry a `ValueMAC`: HMAC (`MACMethod`, SHA1 or SHA256) over IV and
//! ciphertext under the `MACKey`, itself encrypted with the encryption key.
//!
//! Any problem fails the whole file ([`parse`] returns no key at all), naming the key package.

use std::collections::HashSet;

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use zeroize::Zeroizing;

/// The OTP algorithm of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtpKind {
    /// RFC 4226: event-based, a counter.
    Hotp,
    /// RFC 6238: time-based, a time step.
    Totp,
}

/// One OTP key of the file, decrypted.
#[derive(Clone)]
pub struct ImportedKey {
    /// 1-based position of its `KeyPackage` in the file.
    pub index: usize,
    pub serial: String,
    pub key_id: String,
    pub kind: OtpKind,
    /// The raw HMAC key, exactly as the file gives it.
    pub secret: Zeroizing<Vec<u8>>,
    pub digits: u8,
    /// `"SHA1"`, `"SHA256"` or `"SHA512"`.
    pub algorithm: &'static str,
    /// HOTP: the next counter value. TOTP: 0.
    pub counter: u64,
    /// TOTP: the time step in seconds. HOTP: 0.
    pub time_step: u32,
}

impl std::fmt::Debug for ImportedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedKey")
            .field("index", &self.index)
            .field("serial", &self.serial)
            .field("key_id", &self.key_id)
            .field("kind", &self.kind)
            .field("secret", &"[redacted]")
            .field("digits", &self.digits)
            .field("algorithm", &self.algorithm)
            .field("counter", &self.counter)
            .field("time_step", &self.time_step)
            .finish()
    }
}

/// What unlocks an encrypted file: a pre-shared key (§6.1) or a password for PBKDF2 (§6.2).
#[derive(Clone, Copy, Default)]
pub struct Secrets<'a> {
    pub preshared_key: Option<&'a [u8]>,
    pub password: Option<&'a [u8]>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PskcError {
    #[error("malformed XML: {0}")]
    Xml(String),
    /// A problem of the container as a whole.
    #[error("{0}")]
    Container(String),
    /// A problem of one key package.
    #[error("key package {index} ({name}): {why}")]
    Package {
        index: usize,
        name: String,
        why: String,
    },
}

// ------------------------------------------------------------------ a small element tree

#[derive(Debug, Default)]
struct El {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<El>,
    text: String,
}

impl El {
    fn child(&self, name: &str) -> Option<&El> {
        self.children.iter().find(|c| c.name == name)
    }
    fn path(&self, names: &[&str]) -> Option<&El> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }
    fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a El> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn trimmed(&self) -> &str {
        self.text.trim()
    }
}

fn local(name: &str) -> String {
    match name.rsplit_once(':') {
        Some((_, l)) => l.to_owned(),
        None => name.to_owned(),
    }
}

fn element(e: &quick_xml::events::BytesStart<'_>) -> Result<El, PskcError> {
    let mut el = El {
        name: local(e.name().as_ref()),
        ..El::default()
    };
    for a in e.attributes() {
        let a = a.map_err(|e| PskcError::Xml(e.to_string()))?;
        let k = a.key.as_ref();
        if k == "xmlns" || k.starts_with("xmlns:") {
            continue;
        }
        let v = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| PskcError::Xml(e.to_string()))?;
        el.attrs.push((local(k), v.into_owned()));
    }
    Ok(el)
}

fn parse_tree(xml: &str) -> Result<El, PskcError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<El> = Vec::new();
    let mut root: Option<El> = None;
    let xml_err = |e: quick_xml::Error| PskcError::Xml(e.to_string());
    loop {
        let ev = reader.read_event().map_err(xml_err)?;
        match ev {
            Event::Start(e) => stack.push(element(&e)?),
            Event::Empty(e) => {
                let el = element(&e)?;
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(PskcError::Xml("more than one root element".into())),
                }
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| PskcError::Xml("unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(PskcError::Xml("more than one root element".into())),
                }
            }
            Event::Text(t) => {
                let s: &str = &t;
                match stack.last_mut() {
                    Some(p) => p.text.push_str(s),
                    None if s.trim().is_empty() => {}
                    None => return Err(PskcError::Xml("text outside the root element".into())),
                }
            }
            Event::CData(t) => {
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(xml_err)? {
                    Some(c) => c,
                    None => match &*r {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(PskcError::Xml(format!("unknown entity &{other};"))),
                    },
                };
                if let Some(p) = stack.last_mut() {
                    p.text.push(c);
                }
            }
            Event::DocType(_) => {
                return Err(PskcError::Xml("a DOCTYPE is not allowed".into()));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(PskcError::Xml(format!(
            "the document ends inside <{}>",
            stack.last().map(|e| e.name.as_str()).unwrap_or("")
        )));
    }
    root.ok_or_else(|| PskcError::Xml("no root element".into()))
}

// ------------------------------------------------------------------ crypto

fn b64(s: &str) -> Result<Vec<u8>, String> {
    let clean: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    data_encoding::BASE64
        .decode(clean.as_bytes())
        .map_err(|_| "a value is not valid base64".to_owned())
}

/// AES-CBC with the IV before the ciphertext and PKCS#7 padding (xmlenc).
fn aes_cbc_decrypt(alg: &str, key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let want = match alg.rsplit_once('#').map(|(_, a)| a) {
        Some("aes128-cbc") => 16,
        Some("aes192-cbc") => 24,
        Some("aes256-cbc") => 32,
        _ => return Err(format!("unknown encryption algorithm {alg:?}")),
    };
    if key.len() != want {
        return Err(format!(
            "wrong key: {alg:?} needs a {want}-byte key, not {} bytes",
            key.len()
        ));
    }
    if data.len() < 32 || data.len() % 16 != 0 {
        return Err("the encrypted value is not IV and whole AES blocks".into());
    }
    let (iv, ct) = data.split_at(16);
    let bad = |_| "wrong key (the decrypted value does not unpad)".to_owned();
    let out = match want {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(|_| "bad key or IV length".to_owned())?
            .decrypt_padded_vec::<Pkcs7>(ct)
            .map_err(bad)?,
        24 => cbc::Decryptor::<aes::Aes192>::new_from_slices(key, iv)
            .map_err(|_| "bad key or IV length".to_owned())?
            .decrypt_padded_vec::<Pkcs7>(ct)
            .map_err(bad)?,
        _ => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(|_| "bad key or IV length".to_owned())?
            .decrypt_padded_vec::<Pkcs7>(ct)
            .map_err(bad)?,
    };
    Ok(Zeroizing::new(out))
}

#[derive(Clone, Copy)]
enum MacAlg {
    Sha1,
    Sha256,
}

fn mac_alg(uri: &str) -> Result<MacAlg, String> {
    match uri.trim().rsplit_once('#').map(|(_, a)| a) {
        Some("hmac-sha1") => Ok(MacAlg::Sha1),
        Some("hmac-sha256") => Ok(MacAlg::Sha256),
        _ => Err(format!("unknown MAC algorithm {:?}", uri.trim())),
    }
}

fn mac_matches(alg: MacAlg, key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    match alg {
        MacAlg::Sha1 => <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key)
            .map(|mut m| {
                m.update(data);
                m.verify_slice(tag).is_ok()
            })
            .unwrap_or(false),
        MacAlg::Sha256 => <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
            .map(|mut m| {
                m.update(data);
                m.verify_slice(tag).is_ok()
            })
            .unwrap_or(false),
    }
}

/// The container's protection, as far as it can be worked out before the key packages.
struct Protection {
    /// `None`: the file names no encryption key. `Some(Err)`: it does, but the caller gave none
    /// or the derivation failed.
    key: Option<Result<Zeroizing<Vec<u8>>, String>>,
    mac: Option<Result<(MacAlg, MacKeySource), String>>,
}

enum MacKeySource {
    /// `MACMethod/MACKey`: encrypted with the encryption key.
    Encrypted { alg: String, data: Vec<u8> },
    /// The older `MACAlgorithm`: the encryption key itself.
    EncryptionKey,
}

fn encryption_key(root: &El, secrets: &Secrets<'_>) -> Option<Result<Zeroizing<Vec<u8>>, String>> {
    let ek = root.child("EncryptionKey")?;
    if let Some(dk) = ek.child("DerivedKey") {
        return Some(derive_key(dk, secrets));
    }
    if ek.child("KeyName").is_some() {
        return Some(match secrets.preshared_key {
            Some(k) => Ok(Zeroizing::new(k.to_vec())),
            None => {
                Err("the file is encrypted with a pre-shared key: give preshared_key_hex".into())
            }
        });
    }
    Some(Err(
        "unsupported EncryptionKey (only a pre-shared key or a PBKDF2-derived key)".into(),
    ))
}

/// PBKDF2 rounds beyond this are refused: the import runs inside a request.
const MAX_PBKDF2_ROUNDS: u32 = 1_000_000;

fn derive_key(dk: &El, secrets: &Secrets<'_>) -> Result<Zeroizing<Vec<u8>>, String> {
    let m = dk
        .child("KeyDerivationMethod")
        .ok_or("DerivedKey without a KeyDerivationMethod")?;
    let alg = m.attr("Algorithm").unwrap_or("");
    if !alg.ends_with("#pbkdf2") {
        return Err(format!("unknown key derivation algorithm {alg:?}"));
    }
    let p = m
        .child("PBKDF2-params")
        .ok_or("PBKDF2 without PBKDF2-params")?;
    let salt = b64(p
        .path(&["Salt", "Specified"])
        .ok_or("PBKDF2 without a specified salt")?
        .trimmed())?;
    let rounds: u32 = p
        .child("IterationCount")
        .and_then(|e| e.trimmed().parse().ok())
        .filter(|&n| (1..=MAX_PBKDF2_ROUNDS).contains(&n))
        .ok_or("PBKDF2 IterationCount missing or not 1 to 1000000")?;
    let len: usize = match p.child("KeyLength") {
        Some(e) => e
            .trimmed()
            .parse()
            .ok()
            .filter(|n| [16, 24, 32].contains(n))
            .ok_or("PBKDF2 KeyLength must be 16, 24 or 32")?,
        None => 16,
    };
    let prf = p
        .child("PRF")
        .and_then(|e| e.attr("Algorithm"))
        .unwrap_or("");
    let password = secrets
        .password
        .ok_or("the file is encrypted with a password-derived key (PBKDF2): give the password")?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    if prf.is_empty() || prf.ends_with("#hmac-sha1") {
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, &salt, rounds, &mut out);
    } else if prf.ends_with("#hmac-sha256") {
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, &salt, rounds, &mut out);
    } else {
        return Err(format!("unknown PBKDF2 PRF {prf:?}"));
    }
    Ok(out)
}

fn mac_method(root: &El) -> Option<Result<(MacAlg, MacKeySource), String>> {
    if let Some(m) = root.child("MACMethod") {
        return Some((|| {
            let alg = mac_alg(m.attr("Algorithm").unwrap_or(""))?;
            let k = m.child("MACKey").ok_or("MACMethod without a MACKey")?;
            let enc = k
                .child("EncryptionMethod")
                .and_then(|e| e.attr("Algorithm"))
                .ok_or("MACKey without an EncryptionMethod")?;
            let data = b64(k
                .path(&["CipherData", "CipherValue"])
                .ok_or("MACKey without a CipherValue")?
                .trimmed())?;
            Ok((
                alg,
                MacKeySource::Encrypted {
                    alg: enc.to_owned(),
                    data,
                },
            ))
        })());
    }
    root.child("MACAlgorithm")
        .map(|a| mac_alg(a.trimmed()).map(|alg| (alg, MacKeySource::EncryptionKey)))
}

impl Protection {
    fn key(&self) -> Result<&[u8], String> {
        match &self.key {
            None => Err("an encrypted value, but the file names no EncryptionKey".into()),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(k)) => Ok(k),
        }
    }

    /// Decrypts an `EncryptedValue` and checks its `ValueMAC`.
    fn decrypt(&self, ev: &El, value_mac: Option<&El>) -> Result<Zeroizing<Vec<u8>>, String> {
        let key = self.key()?;
        let alg = ev
            .child("EncryptionMethod")
            .and_then(|e| e.attr("Algorithm"))
            .ok_or("EncryptedValue without an EncryptionMethod")?;
        let data = b64(ev
            .path(&["CipherData", "CipherValue"])
            .ok_or("EncryptedValue without a CipherValue")?
            .trimmed())?;
        let tag = b64(value_mac
            .ok_or("an encrypted value without a ValueMAC")?
            .trimmed())?;
        let (mac_alg, src) = match &self.mac {
            None => return Err("a ValueMAC, but the file has no MACMethod".into()),
            Some(Err(e)) => return Err(e.clone()),
            Some(Ok(m)) => m,
        };
        let mac_key = match src {
            MacKeySource::Encrypted { alg, data } => aes_cbc_decrypt(alg, key, data)
                .map_err(|e| format!("cannot decrypt the MAC key: {e}"))?,
            MacKeySource::EncryptionKey => Zeroizing::new(key.to_vec()),
        };
        if !mac_matches(*mac_alg, &mac_key, &data, &tag) {
            return Err("wrong MAC: the value was altered or the key is wrong".into());
        }
        aes_cbc_decrypt(alg, key, &data)
    }
}

// ------------------------------------------------------------------ key packages

enum Parsed {
    Key(ImportedKey),
    /// A PIN package: not an OTP key.
    Skipped,
}

fn int_value(data: &El, name: &str) -> Result<Option<u64>, String> {
    let Some(e) = data.child(name) else {
        return Ok(None);
    };
    if e.child("EncryptedValue").is_some() {
        return Err(format!("an encrypted {name} is not supported"));
    }
    let v = e
        .child("PlainValue")
        .ok_or_else(|| format!("{name} without a PlainValue"))?;
    v.trimmed()
        .parse()
        .map(Some)
        .map_err(|_| format!("{name} {:?} is not a non-negative integer", v.trimmed()))
}

fn package(kp: &El, index: usize, prot: &Protection) -> Result<Parsed, String> {
    let key = kp.child("Key").ok_or("no Key")?;
    let alg_uri = key.attr("Algorithm").unwrap_or("");
    let short = alg_uri
        .rsplit([':', '#'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let known_prefix = alg_uri.starts_with("urn:ietf:params:xml:ns:keyprov:pskc")
        || alg_uri.starts_with("http://www.ietf.org/keyprov/pskc");
    let kind = match (known_prefix, short.as_str()) {
        (true, "hotp") => OtpKind::Hotp,
        (true, "totp") => OtpKind::Totp,
        (true, "pin") => return Ok(Parsed::Skipped),
        _ => return Err(format!("unknown algorithm {alg_uri:?} (HOTP or TOTP only)")),
    };
    let serial = kp
        .path(&["DeviceInfo", "SerialNo"])
        .map(|e| e.trimmed().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or("no DeviceInfo/SerialNo")?;
    let params = key.child("AlgorithmParameters");
    let fmt = params.and_then(|p| p.child("ResponseFormat"));
    if let Some(enc) = fmt.and_then(|f| f.attr("Encoding")) {
        if enc != "DECIMAL" {
            return Err(format!("response encoding {enc:?} (DECIMAL only)"));
        }
    }
    let digits: u8 = match fmt.and_then(|f| f.attr("Length")) {
        Some(l) => l
            .parse()
            .ok()
            .filter(|d| (4..=10).contains(d))
            .ok_or_else(|| format!("response length {l:?} (4 to 10 digits)"))?,
        None => 6,
    };
    let algorithm = match params.and_then(|p| p.child("Suite")).map(|s| s.trimmed()) {
        None | Some("") => "SHA1",
        Some(s) => match s.to_ascii_uppercase().replace('-', "").as_str() {
            "HMACSHA1" | "SHA1" => "SHA1",
            "HMACSHA256" | "SHA256" => "SHA256",
            "HMACSHA512" | "SHA512" => "SHA512",
            _ => return Err(format!("unknown algorithm suite {s:?}")),
        },
    };
    let data = key.child("Data").ok_or("no Data (no secret)")?;
    let secret_el = data
        .child("Secret")
        .ok_or("no Secret (keys derived from a master key are not supported)")?;
    let secret = if let Some(pv) = secret_el.child("PlainValue") {
        Zeroizing::new(b64(pv.trimmed())?)
    } else if let Some(ev) = secret_el.child("EncryptedValue") {
        prot.decrypt(ev, secret_el.child("ValueMAC"))?
    } else {
        return Err("a Secret with neither PlainValue nor EncryptedValue".into());
    };
    if secret.len() < 10 {
        return Err(format!(
            "the secret is {} bytes: too short (at least 10)",
            secret.len()
        ));
    }
    let counter = int_value(data, "Counter")?.unwrap_or(0);
    let step = int_value(data, "TimeInterval")?.unwrap_or(30);
    if kind == OtpKind::Totp && !(1..=3600).contains(&step) {
        return Err(format!("time interval {step} s (1 to 3600)"));
    }
    Ok(Parsed::Key(ImportedKey {
        index,
        serial,
        key_id: key.attr("Id").unwrap_or("").to_owned(),
        kind,
        secret,
        digits,
        algorithm,
        counter: if kind == OtpKind::Hotp { counter } else { 0 },
        time_step: if kind == OtpKind::Totp {
            step as u32
        } else {
            0
        },
    }))
}

fn package_name(kp: &El) -> String {
    let serial = kp.path(&["DeviceInfo", "SerialNo"]).map(|e| e.trimmed());
    let id = kp.child("Key").and_then(|k| k.attr("Id"));
    match (serial, id) {
        (Some(s), Some(i)) => format!("serial {s}, key {i}"),
        (Some(s), None) => format!("serial {s}"),
        (None, Some(i)) => format!("key {i}"),
        (None, None) => "no serial, no key id".into(),
    }
}

/// Parses a PSKC `KeyContainer` and decrypts its OTP keys: every key or an error.
pub fn parse(xml: &str, secrets: &Secrets<'_>) -> Result<Vec<ImportedKey>, PskcError> {
    let root = parse_tree(xml)?;
    if root.name != "KeyContainer" {
        return Err(PskcError::Container(format!(
            "the root element is <{}>, not <KeyContainer>",
            root.name
        )));
    }
    if let Some(v) = root.attr("Version") {
        if v != "1.0" {
            return Err(PskcError::Container(format!(
                "unsupported PSKC version {v:?} (1.0)"
            )));
        }
    }
    let prot = Protection {
        key: encryption_key(&root, secrets),
        mac: mac_method(&root),
    };
    let mut keys = Vec::new();
    let mut serials = HashSet::new();
    for (i, kp) in root.children_named("KeyPackage").enumerate() {
        let index = i + 1;
        let err = |why: String| PskcError::Package {
            index,
            name: package_name(kp),
            why,
        };
        match package(kp, index, &prot).map_err(err)? {
            Parsed::Skipped => {}
            Parsed::Key(k) => {
                if !serials.insert(k.serial.clone()) {
                    return Err(err(format!(
                        "duplicate serial {}: another key package has it",
                        k.serial
                    )));
                }
                keys.push(k);
            }
        }
    }
    if keys.is_empty() {
        return Err(PskcError::Container(
            "the file holds no HOTP or TOTP key package".into(),
        ));
    }
    Ok(keys)
}

/// Hex to bytes (for a pre-shared key given as hex).
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(s.trim().as_bytes())
        .ok()
}

#[cfg(test)]
mod tests;
