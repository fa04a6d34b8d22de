//! The container's protection (RFC 6030 §6): the encryption key (pre-shared, §6.1, or derived
//! from a password with PBKDF2, §6.2), the MAC key, and the decryption of an `EncryptedValue`
//! with its `ValueMAC`.
//!
//! An algorithm pooya does not implement is named as such before anything else is looked at, so
//! that a file in a key-wrap or 3DES encryption is not reported as a file with a missing MAC or a
//! wrong key.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use zeroize::Zeroizing;

use crate::xml::El;
use crate::Secrets;

pub(crate) fn b64(s: &str) -> Result<Vec<u8>, String> {
    let clean: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    data_encoding::BASE64
        .decode(clean.as_bytes())
        .map_err(|_| "a value is not valid base64".to_owned())
}

/// The part of an algorithm URI after `#`, where xmlenc and xmldsig put the name.
fn fragment(uri: &str) -> &str {
    uri.trim().rsplit_once('#').map_or(uri.trim(), |(_, a)| a)
}

/// The AES key length of a supported `EncryptionMethod` (AES-CBC), or why it is not supported.
fn aes_cbc_key_len(alg: &str) -> Result<usize, String> {
    match fragment(alg) {
        "aes128-cbc" => Ok(16),
        "aes192-cbc" => Ok(24),
        "aes256-cbc" => Ok(32),
        "" => Err("an EncryptionMethod without an Algorithm".into()),
        _ => Err(format!(
            "encryption algorithm {:?} is not supported (AES-CBC only: aes128-cbc, aes192-cbc, \
             aes256-cbc)",
            alg.trim()
        )),
    }
}

/// AES-CBC with the IV before the ciphertext and PKCS#7 padding (xmlenc).
fn aes_cbc_decrypt(alg: &str, key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let want = aes_cbc_key_len(alg)?;
    if key.len() != want {
        return Err(format!(
            "wrong key: {:?} needs a {want}-byte key, not {} bytes",
            alg.trim(),
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

/// The HMACs a `MACMethod` or a PBKDF2 `PRF` may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HmacAlg {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl HmacAlg {
    /// `what` names the setting in the error: "MAC algorithm", "PBKDF2 PRF".
    fn from_uri(uri: &str, what: &str) -> Result<HmacAlg, String> {
        match fragment(uri) {
            "hmac-sha1" => Ok(HmacAlg::Sha1),
            "hmac-sha224" => Ok(HmacAlg::Sha224),
            "hmac-sha256" => Ok(HmacAlg::Sha256),
            "hmac-sha384" => Ok(HmacAlg::Sha384),
            "hmac-sha512" => Ok(HmacAlg::Sha512),
            _ => Err(format!(
                "{what} {:?} is not supported (HMAC-SHA1, -SHA224, -SHA256, -SHA384 or -SHA512)",
                uri.trim()
            )),
        }
    }
}

fn hmac_matches<M: Mac + KeyInit>(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    <M as KeyInit>::new_from_slice(key)
        .map(|mut m| {
            m.update(data);
            m.verify_slice(tag).is_ok()
        })
        .unwrap_or(false)
}

fn mac_matches(alg: HmacAlg, key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    match alg {
        HmacAlg::Sha1 => hmac_matches::<Hmac<sha1::Sha1>>(key, data, tag),
        HmacAlg::Sha224 => hmac_matches::<Hmac<sha2::Sha224>>(key, data, tag),
        HmacAlg::Sha256 => hmac_matches::<Hmac<sha2::Sha256>>(key, data, tag),
        HmacAlg::Sha384 => hmac_matches::<Hmac<sha2::Sha384>>(key, data, tag),
        HmacAlg::Sha512 => hmac_matches::<Hmac<sha2::Sha512>>(key, data, tag),
    }
}

/// The container's protection, as far as it can be worked out before the key packages.
pub(crate) struct Protection {
    /// `None`: the file names no encryption key. `Some(Err)`: it does, but the caller gave none
    /// or the derivation failed.
    key: Option<Result<Zeroizing<Vec<u8>>, String>>,
    mac: Option<Result<(HmacAlg, MacKeySource), String>>,
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
    if ek.child("X509Data").is_some() {
        return Some(Err(
            "encryption with an asymmetric key (X509Data, RFC 6030 §6.3) is not supported".into(),
        ));
    }
    Some(Err(
        "unsupported EncryptionKey (only a pre-shared key or a PBKDF2-derived key)".into(),
    ))
}

/// PBKDF2 rounds beyond this are refused: the import runs inside a request.
const MAX_PBKDF2_ROUNDS: u32 = 1_000_000;

/// The PBKDF2 `PRF`: XML Encryption 1.1 names it in an `Algorithm` attribute; some writers
/// (python-pskc) put the URI in the element's text. No `PRF`, or an empty one (RFC 6030's own
/// Figure 7), is HMAC-SHA1, PKCS #5's default.
fn pbkdf2_prf(params: &El) -> Result<HmacAlg, String> {
    let Some(prf) = params.child("PRF") else {
        return Ok(HmacAlg::Sha1);
    };
    let named = prf
        .attr("Algorithm")
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .or_else(|| Some(prf.trimmed()).filter(|t| !t.is_empty()));
    match named {
        Some(uri) => HmacAlg::from_uri(uri, "PBKDF2 PRF"),
        None if prf.children.is_empty() && prf.attrs.is_empty() => Ok(HmacAlg::Sha1),
        None => Err(
            "the PBKDF2 PRF could not be read: it names no algorithm in an Algorithm attribute \
             or in its text"
                .into(),
        ),
    }
}

fn derive_key(dk: &El, secrets: &Secrets<'_>) -> Result<Zeroizing<Vec<u8>>, String> {
    let m = dk
        .child("KeyDerivationMethod")
        .ok_or("DerivedKey without a KeyDerivationMethod")?;
    let alg = m.attr("Algorithm").unwrap_or("");
    if !alg.trim().ends_with("#pbkdf2") {
        return Err(format!(
            "key derivation algorithm {:?} is not supported (PBKDF2 only)",
            alg.trim()
        ));
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
    let prf = pbkdf2_prf(p)?;
    let password = secrets
        .password
        .ok_or("the file is encrypted with a password-derived key (PBKDF2): give the password")?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    match prf {
        HmacAlg::Sha1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, &salt, rounds, &mut out),
        HmacAlg::Sha224 => pbkdf2::pbkdf2_hmac::<sha2::Sha224>(password, &salt, rounds, &mut out),
        HmacAlg::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, &salt, rounds, &mut out),
        HmacAlg::Sha384 => pbkdf2::pbkdf2_hmac::<sha2::Sha384>(password, &salt, rounds, &mut out),
        HmacAlg::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, &salt, rounds, &mut out),
    }
    Ok(out)
}

fn mac_method(root: &El) -> Option<Result<(HmacAlg, MacKeySource), String>> {
    if let Some(m) = root.child("MACMethod") {
        return Some((|| {
            let k = m.child("MACKey").ok_or("MACMethod without a MACKey")?;
            let enc = k
                .child("EncryptionMethod")
                .and_then(|e| e.attr("Algorithm"))
                .ok_or("MACKey without an EncryptionMethod")?;
            aes_cbc_key_len(enc).map_err(|e| format!("the MAC key: {e}"))?;
            let alg = HmacAlg::from_uri(m.attr("Algorithm").unwrap_or(""), "MAC algorithm")?;
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
    root.child("MACAlgorithm").map(|a| {
        HmacAlg::from_uri(a.trimmed(), "MAC algorithm")
            .map(|alg| (alg, MacKeySource::EncryptionKey))
    })
}

impl Protection {
    pub(crate) fn new(root: &El, secrets: &Secrets<'_>) -> Protection {
        Protection {
            key: encryption_key(root, secrets),
            mac: mac_method(root),
        }
    }

    fn key(&self) -> Result<&[u8], String> {
        match &self.key {
            None => Err("an encrypted value, but the file names no EncryptionKey".into()),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(k)) => Ok(k),
        }
    }

    /// Decrypts an `EncryptedValue` and checks its `ValueMAC`.
    pub(crate) fn decrypt(
        &self,
        ev: &El,
        value_mac: Option<&El>,
    ) -> Result<Zeroizing<Vec<u8>>, String> {
        let alg = ev
            .child("EncryptionMethod")
            .and_then(|e| e.attr("Algorithm"))
            .ok_or("EncryptedValue without an EncryptionMethod")?;
        // An algorithm pooya cannot decrypt is the reason, whatever else the value lacks.
        aes_cbc_key_len(alg)?;
        let key = self.key()?;
        let data = b64(ev
            .path(&["CipherData", "CipherValue"])
            .ok_or("EncryptedValue without a CipherValue")?
            .trimmed())?;
        // AES-CBC has no integrity of its own: RFC 6030 §6.1.1 requires the MAC.
        let tag = b64(value_mac
            .ok_or("an AES-CBC encrypted value without a ValueMAC")?
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
