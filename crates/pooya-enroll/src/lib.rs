//! # pooya-enroll — adding a card to the app without sending its seed
//!
//! At the ATM (rule R8) the bank gives the card holder two codes: a **receipt code** printed by
//! the ATM and an **SMS code** sent to the registered mobile number. When the holder adds the card
//! in the app (R16) the app and the issuer server run **SPAKE2** (the `spake2` crate, Ed25519
//! group, asymmetric mode: the app is side A `b"pooya-app"`, the server is side B
//! `b"pooya-issuer"`) keyed by a secret derived from *(PAN, receipt code, SMS code)*, then confirm
//! the resulting key explicitly in both directions. Both ends then derive the same fresh 32-byte
//! token seed, which never travels on the wire.
//!
//! ## Message sequence
//!
//! ```text
//!   App (holder)                                        Issuer server (nodes share a database)
//!   ------------                                        --------------------------------------
//!                                       (ATM, R8)       secret = activation_secret(pan, receipt, sms)
//!                                                       store secret; forget both codes
//!
//!   (state, client_msg) =
//!     ClientEnrollment::start(pan, receipt, sms)
//!                    ------- pan, client_msg ------->
//!                                                       request 1 (stateless):
//!                                                       server_respond(&secret, pan, client_msg)
//!                                                         -> msg, confirm, pending
//!                                                       store pending (encrypted, small)
//!                    <------ msg, confirm ----------
//!   state.finish(msg, confirm)
//!     checks the server's confirm
//!     -> seed, client confirm
//!     (Err(ConfirmMismatch): wrong codes/PAN)
//!                    ------- client confirm -------->
//!                                                       request 2 (any node, stateless):
//!                                                       server_finish(&pending, confirm)
//!                                                         -> seed  (same as the app's)
//!                                                       IssuedToken { token_id, … }.mac(seed)
//!                    <------ token, mac -------------
//!   IssuedToken::verify(seed, mac)
//!     (Err(ReplyNotAuthentic): changed on the way;
//!      the app keeps nothing)
//! ```
//!
//! ## Derivations
//!
//! * `activation secret = HKDF-SHA256(salt = "pooya/v1/activation",
//!   ikm = receipt || 0x00 || sms, info = pan)`, 32 bytes; it is the SPAKE2 password.
//! * `K` = the SPAKE2 shared key.
//! * `th = SHA-256("pooya/v1/enroll" || lp(pan) || lp(client_msg) || lp(server_msg))` where
//!   `lp(x)` is `x` preceded by its length as a 4-byte big-endian integer.
//! * `HKDF-SHA256(salt = th, ikm = K)`: info `"server-confirm"` → `k_s`, `"client-confirm"` →
//!   `k_c`, `"token-seed"` → seed (32 bytes each).
//! * server confirm = `HMAC-SHA256(k_s, th)`, client confirm = `HMAC-SHA256(k_c, th)`; both are
//!   compared in constant time.
//! * The server's last reply (the token's id, masked PAN, bank name, lifetime, algorithm, digits
//!   and the server's clock) is MACed under `HKDF-SHA256(ikm = seed, info =
//!   "pooya/v1/enroll-reply")` ([`IssuedToken::mac`]); the app checks it before it keeps anything.
//!
//! The PAN is normalised (spaces and hyphens removed) and the two codes by [`normalize_code`]
//! (Persian and Arabic-Indic digits made ASCII, whitespace removed) before use, identically on
//! both sides.
//!
//! ## What each adversary learns
//!
//! * **An eavesdropper** sees the PAN, two SPAKE2 messages and two confirmation MACs. SPAKE2
//!   messages are blinded group elements that reveal nothing about the password, and the MACs are
//!   keyed by `K`, which the eavesdropper cannot compute (Diffie–Hellman). It learns neither the
//!   codes nor the seed, and cannot run an **offline dictionary attack** on the (short) codes:
//!   checking a guess would require solving CDH.
//! * **A fake server** (phishing, or a man in the middle) without the activation secret can run
//!   the protocol with the app but gets **one password guess per run**: the app checks the
//!   server's confirmation before it sends anything that depends on `K`, and on a mismatch it
//!   stops with [`EnrollError::ConfirmMismatch`]. A wrong guess tells the fake server only that
//!   this one guess was wrong; it learns no seed and cannot test other guesses offline.
//! * **A guessing client** (someone who has the PAN but not both codes) gets **one guess per
//!   run** too: the server's confirm is useless to it unless its guess was right, and
//!   `server_finish` rejects its confirmation. The server counts every run it starts (per card
//!   number and client address, and per activation) and answers every start alike, whatever the
//!   card's state (pooya-issuer's `issuer::enrollment`), which bounds the attacker's success
//!   probability to (runs / code space).
//! * **A man in the middle of the last reply** (TLS broken or absent) cannot change the token's
//!   description or the server's clock: the MAC's key is the run's, which he does not hold.
//!
//! The seed is new on every run (fresh SPAKE2 scalars), even with the same codes.
//!
//! ## Token removal
//!
//! [`removal_proof`] lets the app prove it holds a token's seed when asking the server to remove
//! the token: `HMAC-SHA256(k_r, "pooya/v1/remove" || lp(token_id) || nonce)` with
//! `k_r = HKDF-SHA256(ikm = seed, info = "pooya/v1/removal")`. The nonce is chosen by the server.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;

use data_encoding::BASE64URL_NOPAD;
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use spake2::{Ed25519Group, Group, Identity, Password, Spake2};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Protocol name and version.
///
/// v2: the server's last reply carries a MAC under the run's key ([`IssuedToken`]).
pub const PROTOCOL: &str = "pooya-enroll-v2";

/// Length of an activation secret, in bytes.
pub const SECRET_LEN: usize = 32;
/// Length of a token seed, in bytes.
pub const SEED_LEN: usize = 32;
/// Length of a SPAKE2 message (side byte + compressed Ed25519 point), in bytes.
pub const MSG_LEN: usize = 33;
/// Length of a key-confirmation MAC, in bytes.
pub const CONFIRM_LEN: usize = 32;
/// Length of a removal proof, in bytes.
pub const REMOVAL_PROOF_LEN: usize = 32;

const ID_A: &[u8] = b"pooya-app";
const ID_B: &[u8] = b"pooya-issuer";
const ACTIVATION_SALT: &[u8] = b"pooya/v1/activation";
const TRANSCRIPT_TAG: &[u8] = b"pooya/v1/enroll";
const INFO_SERVER_CONFIRM: &[u8] = b"server-confirm";
const INFO_CLIENT_CONFIRM: &[u8] = b"client-confirm";
const INFO_SEED: &[u8] = b"token-seed";
const INFO_REMOVAL: &[u8] = b"pooya/v1/removal";
const REPLY_TAG: &[u8] = b"pooya/v1/enroll-reply";
const REMOVAL_TAG: &[u8] = b"pooya/v1/remove";
const INFO_STATUS: &[u8] = b"pooya/v1/status";
const STATUS_TAG: &[u8] = b"pooya/v1/token-status";

/// Version byte at the start of [`PendingEnrollment::to_bytes`].
const PENDING_VERSION: u8 = 1;
const PENDING_LEN: usize = 1 + 32 + SEED_LEN + 32;

type HmacSha256 = Hmac<Sha256>;

/// Errors of the enrollment protocol.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnrollError {
    /// A message, confirmation, stored state or encoding has the wrong length or format.
    #[error("the enrollment message is malformed")]
    Malformed,
    /// The peer's key confirmation did not verify: the two sides used different codes or PAN
    /// (or someone tampered with the messages).
    #[error("key confirmation failed: the activation codes do not match")]
    ConfirmMismatch,
    /// The server's reply about the new token does not carry the MAC of this run's key: someone
    /// changed it on the way (or the server is not the one the codes were agreed with).
    #[error("the enrollment reply is not authentic")]
    ReplyNotAuthentic,
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/// The 32-byte secret derived from (PAN, receipt code, SMS code); the SPAKE2 password.
///
/// Zeroized on drop; its `Debug` output is `[redacted]`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ActivationSecret([u8; SECRET_LEN]);

impl ActivationSecret {
    /// The secret's 32 bytes (to store, encrypted, in the issuer database).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Rebuilds a secret from its bytes; exactly 32 bytes, otherwise [`EnrollError::Malformed`].
    pub fn from_bytes(b: &[u8]) -> Result<Self, EnrollError> {
        let arr: [u8; SECRET_LEN] = b.try_into().map_err(|_| EnrollError::Malformed)?;
        Ok(ActivationSecret(arr))
    }
}

impl fmt::Debug for ActivationSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A token seed (32 bytes).
///
/// Zeroized on drop; its `Debug` output is `[redacted]`; equality is constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Seed([u8; SEED_LEN]);

impl Seed {
    /// The seed's 32 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Rebuilds a seed from its bytes; exactly 32 bytes, otherwise [`EnrollError::Malformed`].
    pub fn from_bytes(b: &[u8]) -> Result<Seed, EnrollError> {
        let arr: [u8; SEED_LEN] = b.try_into().map_err(|_| EnrollError::Malformed)?;
        Ok(Seed(arr))
    }
}

impl PartialEq for Seed {
    fn eq(&self, other: &Self) -> bool {
        self.0[..].ct_eq(&other.0[..]).into()
    }
}

impl Eq for Seed {}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The canonical form of a PAN used by the protocol: spaces and hyphens removed.
///
/// Both sides apply it, so `"6037 9912 3456 7890"` and `"6037991234567890"` are the same card.
pub fn normalize_pan(pan: &str) -> String {
    pan.chars().filter(|c| *c != ' ' && *c != '-').collect()
}

/// The canonical form of a receipt or SMS code: Persian (۰–۹) and Arabic-Indic (٠–٩) digits
/// become ASCII digits and whitespace goes, wherever it stands; anything else is kept as typed.
///
/// Both sides apply it (the server's codes are ASCII digits already), so `"۴۸۲ ۹۱۳"` and
/// `"482913"` are the same code. The app checks the result is all digits, of the bank's length,
/// before it sends anything.
pub fn normalize_code(code: &str) -> Zeroizing<String> {
    // The result is never longer than `code`: no reallocation leaves a copy behind.
    let mut out = Zeroizing::new(String::with_capacity(code.len()));
    out.extend(latin_digits(code, char::is_whitespace));
    out
}

/// `text` as typed on a phone, in the digits the bank compares: Persian (۰–۹) and Arabic-Indic
/// (٠–٩) digits become ASCII digits, the characters `skip` names are dropped, and anything else is
/// kept as typed (the caller decides whether that is an error). [`normalize_code`] and the
/// issuer's reading of an SMS to the short number both go through here.
pub fn latin_digits<'a>(
    text: &'a str,
    skip: impl Fn(char) -> bool + 'a,
) -> impl Iterator<Item = char> + 'a {
    text.chars().filter(move |&c| !skip(c)).map(|ch| match ch {
        '۰'..='۹' => char::from(b'0' + (u32::from(ch) - u32::from('۰')) as u8),
        '٠'..='٩' => char::from(b'0' + (u32::from(ch) - u32::from('٠')) as u8),
        c => c,
    })
}

/// Feeds `x` preceded by its length (4-byte big-endian) into `h`.
fn lp_update(h: &mut Sha256, x: &[u8]) {
    h.update(len_prefix(x));
    h.update(x);
}

fn len_prefix(x: &[u8]) -> [u8; 4] {
    // Every input is far below 4 GiB (bounded by the HTTP layer); saturate rather than wrap.
    u32::try_from(x.len()).unwrap_or(u32::MAX).to_be_bytes()
}

fn hkdf_32(salt: Option<&[u8]>, ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(salt, ikm);
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 255 * 32 byte limit: this cannot fail.
    hk.expand(info, out.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

fn hmac_32(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length: this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

fn transcript_hash(pan: &str, client_msg: &[u8], server_msg: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(TRANSCRIPT_TAG);
    lp_update(&mut h, pan.as_bytes());
    lp_update(&mut h, client_msg);
    lp_update(&mut h, server_msg);
    let mut out = [0u8; 32];
    out.copy_from_slice(&h.finalize());
    out
}

/// Keys derived from the SPAKE2 key and the transcript.
struct SessionKeys {
    k_s: Zeroizing<[u8; 32]>,
    k_c: Zeroizing<[u8; 32]>,
    seed: Seed,
    th: [u8; 32],
}

fn session_keys(k: &[u8], th: [u8; 32]) -> SessionKeys {
    let k_s = hkdf_32(Some(&th), k, INFO_SERVER_CONFIRM);
    let k_c = hkdf_32(Some(&th), k, INFO_CLIENT_CONFIRM);
    let seed = Seed(*hkdf_32(Some(&th), k, INFO_SEED));
    SessionKeys { k_s, k_c, seed, th }
}

fn spake2_password(secret: &ActivationSecret) -> Password {
    Password::new(secret.as_bytes())
}

/// Cheap structural check of a SPAKE2 message before handing it to `spake2`.
fn check_msg(msg: &[u8], side: u8) -> Result<(), EnrollError> {
    if msg.len() != MSG_LEN || msg[0] != side {
        return Err(EnrollError::Malformed);
    }
    Ok(())
}

/// Whether `msg` is an app's first message the server can answer: 33 bytes, side `A`, and a
/// point of the curve. The server checks this before it counts anything (a message that does not
/// parse costs the card nothing), and [`server_respond`] accepts every message that passes.
pub fn check_client_msg(msg: &[u8]) -> Result<(), EnrollError> {
    check_msg(msg, b'A')?;
    match Ed25519Group::bytes_to_element(&msg[1..]) {
        Some(_) => Ok(()),
        None => Err(EnrollError::Malformed),
    }
}

// ---------------------------------------------------------------------------------------------
// Activation
// ---------------------------------------------------------------------------------------------

/// Derives the activation secret from the PAN and the two codes given at the ATM.
///
/// The server calls this at activation time, stores the result and forgets the codes; the app
/// calls it (inside [`ClientEnrollment::start`]) from what the holder types in.
pub fn activation_secret(pan: &str, receipt_code: &str, sms_code: &str) -> ActivationSecret {
    let pan = normalize_pan(pan);
    let (receipt, sms) = (normalize_code(receipt_code), normalize_code(sms_code));
    let (receipt, sms) = (receipt.as_bytes(), sms.as_bytes());
    let mut ikm = Zeroizing::new(Vec::with_capacity(receipt.len() + 1 + sms.len()));
    ikm.extend_from_slice(receipt);
    ikm.push(0x00);
    ikm.extend_from_slice(sms);
    let okm = hkdf_32(Some(ACTIVATION_SALT), &ikm, pan.as_bytes());
    ActivationSecret(*okm)
}

// ---------------------------------------------------------------------------------------------
// Client (app) side
// ---------------------------------------------------------------------------------------------

/// The app's state between sending its SPAKE2 message and receiving the server's answer.
pub struct ClientEnrollment {
    spake: Spake2<Ed25519Group>,
    pan: Zeroizing<String>,
    client_msg: Vec<u8>,
}

impl fmt::Debug for ClientEnrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientEnrollment([redacted])")
    }
}

/// What the app gets when enrollment succeeds.
#[derive(Debug)]
pub struct ClientFinish {
    /// The new token seed (equal to the server's).
    pub seed: Seed,
    /// The client's key confirmation, to send to the server.
    pub confirm: Vec<u8>,
}

impl ClientEnrollment {
    /// Starts enrollment with what the holder typed: returns the state to keep and the message
    /// to send to the server.
    pub fn start(pan: &str, receipt_code: &str, sms_code: &str) -> (ClientEnrollment, Vec<u8>) {
        let secret = activation_secret(pan, receipt_code, sms_code);
        let (spake, msg) = Spake2::<Ed25519Group>::start_a(
            &spake2_password(&secret),
            &Identity::new(ID_A),
            &Identity::new(ID_B),
        );
        let state = ClientEnrollment {
            spake,
            pan: Zeroizing::new(normalize_pan(pan)),
            client_msg: msg.clone(),
        };
        (state, msg)
    }

    /// The message produced by [`ClientEnrollment::start`].
    pub fn client_msg(&self) -> &[u8] {
        &self.client_msg
    }

    /// Processes the server's message and confirmation.
    ///
    /// Returns the seed and the confirmation to send back, [`EnrollError::ConfirmMismatch`] if
    /// the server did not use the same codes and PAN, or [`EnrollError::Malformed`] if a message
    /// has the wrong length or is not a valid group element.
    pub fn finish(
        self,
        server_msg: &[u8],
        server_confirm: &[u8],
    ) -> Result<ClientFinish, EnrollError> {
        check_msg(server_msg, b'B')?;
        if server_confirm.len() != CONFIRM_LEN {
            return Err(EnrollError::Malformed);
        }
        let ClientEnrollment {
            spake,
            pan,
            client_msg,
        } = self;
        let k = Zeroizing::new(
            spake
                .finish(server_msg)
                .map_err(|_| EnrollError::Malformed)?,
        );
        let keys = session_keys(&k, transcript_hash(&pan, &client_msg, server_msg));
        let expected = Zeroizing::new(hmac_32(keys.k_s.as_ref(), &[&keys.th]));
        if !bool::from(expected[..].ct_eq(server_confirm)) {
            return Err(EnrollError::ConfirmMismatch);
        }
        let confirm = hmac_32(keys.k_c.as_ref(), &[&keys.th]).to_vec();
        Ok(ClientFinish {
            seed: keys.seed,
            confirm,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Server (issuer) side
// ---------------------------------------------------------------------------------------------

/// What the server keeps between [`server_respond`] and [`server_finish`]: the client
/// confirmation key, the seed and the transcript hash.
///
/// Zeroized on drop; `Debug` is redacted. Store [`PendingEnrollment::to_bytes`] encrypted.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PendingEnrollment {
    k_c: [u8; 32],
    seed: [u8; SEED_LEN],
    th: [u8; 32],
}

impl fmt::Debug for PendingEnrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PendingEnrollment([redacted])")
    }
}

impl PendingEnrollment {
    /// Serialises the state: version byte `1`, then `k_c`, seed, transcript hash (97 bytes).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(PENDING_LEN));
        out.push(PENDING_VERSION);
        out.extend_from_slice(&self.k_c);
        out.extend_from_slice(&self.seed);
        out.extend_from_slice(&self.th);
        out
    }

    /// Parses what [`PendingEnrollment::to_bytes`] produced; anything else is
    /// [`EnrollError::Malformed`].
    pub fn from_bytes(b: &[u8]) -> Result<Self, EnrollError> {
        if b.len() != PENDING_LEN || b[0] != PENDING_VERSION {
            return Err(EnrollError::Malformed);
        }
        let mut p = PendingEnrollment {
            k_c: [0; 32],
            seed: [0; SEED_LEN],
            th: [0; 32],
        };
        p.k_c.copy_from_slice(&b[1..33]);
        p.seed.copy_from_slice(&b[33..33 + SEED_LEN]);
        p.th.copy_from_slice(&b[33 + SEED_LEN..]);
        Ok(p)
    }
}

/// The server's answer to the client's first message.
#[derive(Debug)]
pub struct ServerResponse {
    /// The server's SPAKE2 message, to send to the app.
    pub msg: Vec<u8>,
    /// The server's key confirmation, to send to the app.
    pub confirm: Vec<u8>,
    /// State to store (encrypted) until [`server_finish`].
    pub pending: PendingEnrollment,
}

/// First server request: answers the app's SPAKE2 message using the stored activation secret.
///
/// [`EnrollError::Malformed`] if `client_msg` is not a valid side-A SPAKE2 message. A wrong
/// guess by the client is *not* detected here (it is detected by [`server_finish`]).
pub fn server_respond(
    secret: &ActivationSecret,
    pan: &str,
    client_msg: &[u8],
) -> Result<ServerResponse, EnrollError> {
    check_msg(client_msg, b'A')?;
    let (spake, msg) = Spake2::<Ed25519Group>::start_b(
        &spake2_password(secret),
        &Identity::new(ID_A),
        &Identity::new(ID_B),
    );
    let k = Zeroizing::new(
        spake
            .finish(client_msg)
            .map_err(|_| EnrollError::Malformed)?,
    );
    let pan = Zeroizing::new(normalize_pan(pan));
    let keys = session_keys(&k, transcript_hash(&pan, client_msg, &msg));
    let confirm = hmac_32(keys.k_s.as_ref(), &[&keys.th]).to_vec();
    let pending = PendingEnrollment {
        k_c: *keys.k_c,
        seed: keys.seed.0,
        th: keys.th,
    };
    Ok(ServerResponse {
        msg,
        confirm,
        pending,
    })
}

/// Second server request: checks the app's confirmation and releases the seed.
///
/// [`EnrollError::ConfirmMismatch`] if the app used other codes or PAN,
/// [`EnrollError::Malformed`] if the confirmation is not 32 bytes long.
pub fn server_finish(
    pending: &PendingEnrollment,
    client_confirm: &[u8],
) -> Result<Seed, EnrollError> {
    if client_confirm.len() != CONFIRM_LEN {
        return Err(EnrollError::Malformed);
    }
    let expected = Zeroizing::new(hmac_32(&pending.k_c, &[&pending.th]));
    if bool::from(expected[..].ct_eq(client_confirm)) {
        Ok(Seed(pending.seed))
    } else {
        Err(EnrollError::ConfirmMismatch)
    }
}

// ---------------------------------------------------------------------------------------------
// The server's last reply
// ---------------------------------------------------------------------------------------------

/// What the server tells the app about the token a confirmed run made, authenticated under a key
/// of that run: the app keeps none of it unless [`IssuedToken::verify`] passes, so TLS is not the
/// only thing between the app and a changed token id, code length, algorithm, lifetime or clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    /// The token's id at the server (for its removal).
    pub token_id: String,
    /// The card number as the bank masks it.
    pub pan_masked: String,
    /// The bank's name, to show.
    pub bank_name: String,
    /// Seconds each code lives.
    pub lifetime_secs: u32,
    /// `SHA1`, `SHA256` or `SHA512`.
    pub algorithm: String,
    /// Digits of a first password (the dynamic PIN).
    pub first_digits: u8,
    /// Digits of a second password.
    pub second_digits: u8,
    /// The server's clock when it issued the token (Unix milliseconds).
    pub server_unix_ms: i64,
}

impl IssuedToken {
    /// `HMAC-SHA256(k_t, "pooya/v1/enroll-reply" ‖ lp(token_id) ‖ lp(pan_masked) ‖ lp(bank_name) ‖
    /// u32(lifetime_secs) ‖ lp(algorithm) ‖ u8(first_digits) ‖ u8(second_digits) ‖
    /// i64(server_unix_ms))`, integers big-endian, with `k_t = HKDF-SHA256(ikm = seed, info =
    /// "pooya/v1/enroll-reply")`: a key only the two ends of the run hold.
    pub fn mac(&self, seed: &Seed) -> Vec<u8> {
        let key = hkdf_32(None, seed.as_bytes(), REPLY_TAG);
        let lp = |x: &str| [len_prefix(x.as_bytes()).to_vec(), x.as_bytes().to_vec()].concat();
        hmac_32(
            key.as_ref(),
            &[
                REPLY_TAG,
                &lp(&self.token_id),
                &lp(&self.pan_masked),
                &lp(&self.bank_name),
                &self.lifetime_secs.to_be_bytes(),
                &lp(&self.algorithm),
                &[self.first_digits, self.second_digits],
                &self.server_unix_ms.to_be_bytes(),
            ],
        )
        .to_vec()
    }

    /// Checks `mac` in constant time; [`EnrollError::ReplyNotAuthentic`] when it is not this
    /// reply's under `seed`.
    pub fn verify(&self, seed: &Seed, mac: &[u8]) -> Result<(), EnrollError> {
        let expected = self.mac(seed);
        if expected.len() == mac.len() && bool::from(expected[..].ct_eq(mac)) {
            Ok(())
        } else {
            Err(EnrollError::ReplyNotAuthentic)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Token removal
// ---------------------------------------------------------------------------------------------

/// Proof that the caller holds `seed`, bound to `token_id` and a server-chosen `nonce`.
pub fn removal_proof(seed: &Seed, token_id: &str, nonce: &[u8]) -> Vec<u8> {
    let key = hkdf_32(None, seed.as_bytes(), INFO_REMOVAL);
    hmac_32(
        key.as_ref(),
        &[
            REMOVAL_TAG,
            &len_prefix(token_id.as_bytes()),
            token_id.as_bytes(),
            nonce,
        ],
    )
    .to_vec()
}

/// Checks a [`removal_proof`] in constant time.
pub fn verify_removal_proof(seed: &Seed, token_id: &str, nonce: &[u8], proof: &[u8]) -> bool {
    let expected = removal_proof(seed, token_id, nonce);
    expected.len() == proof.len() && bool::from(expected[..].ct_eq(proof))
}

// ---------------------------------------------------------------------------------------------
// Token status
// ---------------------------------------------------------------------------------------------

/// Proof that the caller holds `seed`, bound to `token_id` and `at_ms`, the server's clock as
/// the app reckons it: the server accepts it only near its own time, so it needs no challenge of
/// its own. Under a key of its own (not the removal key), so it can never pass for a removal.
pub fn status_proof(seed: &Seed, token_id: &str, at_ms: i64) -> Vec<u8> {
    let key = hkdf_32(None, seed.as_bytes(), INFO_STATUS);
    hmac_32(
        key.as_ref(),
        &[
            STATUS_TAG,
            &len_prefix(token_id.as_bytes()),
            token_id.as_bytes(),
            &at_ms.to_be_bytes(),
        ],
    )
    .to_vec()
}

/// Checks a [`status_proof`] in constant time.
pub fn verify_status_proof(seed: &Seed, token_id: &str, at_ms: i64, proof: &[u8]) -> bool {
    let expected = status_proof(seed, token_id, at_ms);
    expected.len() == proof.len() && bool::from(expected[..].ct_eq(proof))
}

// ---------------------------------------------------------------------------------------------
// Wire encoding
// ---------------------------------------------------------------------------------------------

/// Encodes bytes for the wire: base64url without padding.
pub fn b64_encode(b: &[u8]) -> String {
    BASE64URL_NOPAD.encode(b)
}

/// Decodes base64url without padding; anything else is [`EnrollError::Malformed`].
pub fn b64_decode(s: &str) -> Result<Vec<u8>, EnrollError> {
    BASE64URL_NOPAD
        .decode(s.as_bytes())
        .map_err(|_| EnrollError::Malformed)
}

#[cfg(test)]
mod tests {
    //! Known-answer vectors, computed independently (Python `hmac`/`hashlib`) from the
    //! derivations in the module documentation, pinning the wire format.
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn kat_activation_secret() {
        let s = activation_secret("6037991234567890", "482913", "731054");
        assert_eq!(
            hex(s.as_bytes()),
            "4a1c68b62b5264ca5e2b09e897f83991c9b80d4402aeeec5d439f5b7c6231dec"
        );
    }

    #[test]
    fn kat_transcript_confirms_and_seed() {
        let k: Vec<u8> = (0u8..32).collect();
        let cm = [&[b'A'][..], &[1u8; 32]].concat();
        let sm = [&[b'B'][..], &[2u8; 32]].concat();
        let th = transcript_hash("6037991234567890", &cm, &sm);
        assert_eq!(
            hex(&th),
            "59fd975a458f1f4fb8de327f46b6a858ffada354f8e9eda259d6ad274adcdaa7"
        );
        let keys = session_keys(&k, th);
        assert_eq!(
            hex(&hmac_32(keys.k_s.as_ref(), &[&keys.th])),
            "f1464757106e7376413ba35c50a75240fccc2335386a92a123def899bafe9001"
        );
        assert_eq!(
            hex(&hmac_32(keys.k_c.as_ref(), &[&keys.th])),
            "3d4d83a2cbcd23eb3fe410b051f807f4fed4f832a51ab6e0764b58f753673a96"
        );
        assert_eq!(
            hex(keys.seed.as_bytes()),
            "ab16cf2df972ca15a158dfca23782d1ab2463b4f20af2b69c1e5b6e6a4cb783e"
        );
    }

    #[test]
    fn kat_removal_proof() {
        let seed = Seed([7u8; 32]);
        assert_eq!(
            hex(&removal_proof(&seed, "tok-1", b"nonce")),
            "b59a3ac884692dd8533521a282f03b341ffa4dc1537e908b06c54617224b9233"
        );
    }

    #[test]
    fn status_proofs_bind_seed_token_and_time_and_are_not_removal_proofs() {
        let seed = Seed([7u8; 32]);
        let proof = status_proof(&seed, "tok-1", 1_700_000_000_000);
        assert_eq!(proof.len(), 32);
        assert!(verify_status_proof(
            &seed,
            "tok-1",
            1_700_000_000_000,
            &proof
        ));
        assert!(!verify_status_proof(
            &seed,
            "tok-1",
            1_700_000_000_001,
            &proof
        ));
        assert!(!verify_status_proof(
            &seed,
            "tok-2",
            1_700_000_000_000,
            &proof
        ));
        assert!(!verify_status_proof(
            &Seed([8u8; 32]),
            "tok-1",
            1_700_000_000_000,
            &proof
        ));
        assert!(!verify_status_proof(
            &seed,
            "tok-1",
            1_700_000_000_000,
            &proof[..31]
        ));
        let nonce = 1_700_000_000_000i64.to_be_bytes();
        assert_ne!(proof, removal_proof(&seed, "tok-1", &nonce));
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalize_pan("6037 9912-3456 7890"), "6037991234567890");
        assert_eq!(normalize_code("  1234\t").as_str(), "1234");
        assert_eq!(normalize_code("۴۸۲ ۹۱۳").as_str(), "482913");
        assert_eq!(normalize_code("٤٨٢٩١٣").as_str(), "482913");
        assert_eq!(normalize_code("12a4").as_str(), "12a4");
        let dashless = |t: &str| latin_digits(t, |c| c == '-').collect::<String>();
        assert_eq!(dashless("۰۱۲۳۴-۵۶۷۸۹"), "0123456789");
        assert_eq!(dashless("٠١٢٣٤٥٦٧٨٩ x"), "0123456789 x");
        // Persian digits derive the same secret as the ASCII ones.
        assert_eq!(
            activation_secret("6037991234567890", "۴۸۲۹۱۳", "٧٣١٠٥٤").as_bytes(),
            activation_secret("6037991234567890", "482913", "731054").as_bytes()
        );
    }

    /// Python: `hmac.new(hkdf(None, b"\x07" * 32, tag), tag + lp(b"tok1") + … , sha256)`.
    const KAT_REPLY_MAC: &str = "11914b77f9ec724d68bc30faa9624f12d94646058ea2f9eb6a65eca91b86385a";

    #[test]
    fn kat_reply_mac() {
        let seed = Seed([7u8; 32]);
        let t = IssuedToken {
            token_id: "tok1".into(),
            pan_masked: "603799******7890".into(),
            bank_name: "Maskan".into(),
            lifetime_secs: 60,
            algorithm: "SHA256".into(),
            first_digits: 4,
            second_digits: 8,
            server_unix_ms: 1_700_000_000_123,
        };
        assert_eq!(hex(&t.mac(&seed)), KAT_REPLY_MAC);
        assert_eq!(t.verify(&seed, &t.mac(&seed)), Ok(()));
    }
}
