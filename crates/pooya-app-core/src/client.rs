//! The app's side of the server protocol: enrollment (R16) and token removal.
//!
//! All HTTP goes through the small [`Transport`] trait: one method that sends a request and
//! returns the status and the body. The command line's (reqwest, rustls, no
//! proxies, no redirects) is in `pooya-app`, the browser's in `pooya-web`; tests plug in a fake. The protocol flows, [`enroll`] and
//! [`remove_token`], turn every refusal of the server into one plain sentence.

use std::future::Future;

use pooya_enroll::{
    b64_decode, b64_encode, removal_proof, ClientEnrollment, EnrollError, IssuedToken, Seed,
};
use pooya_wire::app::{
    EnrollmentConfirm, EnrollmentParameters, EnrollmentStart, EnrollmentStarted, Removal,
    RemovalChallenge, Removed, TokenIssued, TokenStatus, TokenStatusQuery,
};
use pooya_wire::public::Time;
use pooya_wire::{ErrorBody, ErrorDetail};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::cards::mask_pan;
use crate::clock::{Boot, IssuerClock};
use crate::codes::{self, Which};
use crate::error::{AppError, Result};
use crate::tr;
use crate::vault::{SecretBytes, SecretString, Token};

/// Largest answer the app reads from the server.
pub const MAX_BODY: usize = 1 << 20;

/// GET or POST: the only two methods of the app's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`, no body.
    Get,
    /// `POST` with a JSON body.
    Post,
}

/// A server's answer: status and raw body.
#[derive(Clone, Debug)]
pub struct HttpReply {
    /// HTTP status code.
    pub status: u16,
    /// The body, at most 1 MiB.
    pub body: Vec<u8>,
}

/// Why a request got no answer at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// No connection, a timeout, a TLS failure: the text says which.
    Unreachable(String),
    /// An answer came but cannot be an answer of this protocol (too large, cut short).
    Garbage(String),
}

/// Sends one request to the server. `path` starts with `/v1/`.
pub trait Transport {
    /// The server's base address, for messages.
    fn server(&self) -> &str;
    /// Sends `method path` with `body` as JSON (for `POST`) and returns the answer.
    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> impl Future<Output = std::result::Result<HttpReply, TransportError>>;
}

/// Checks a server address: http or https, no credentials, query or fragment. Returns it
/// without a trailing slash.
pub fn normalize_server(url: &str) -> Result<String> {
    let bad = |why: String| {
        AppError::Invalid(tr!(
            "bad server address {url:?}: {why}",
            "نشانی کارساز {url:?} نادرست است: {why}"
        ))
    };
    let url = url.trim();
    // `127.0.0.1:8080` is no URL at all ("relative URL without a base"): say what is missing.
    if !url.contains("://") {
        return Err(bad(tr!(
            "add http:// or https:// in front, e.g. https://{url}",
            "http:// یا https:// را به آغاز آن بیفزایید، مانند https://{url}"
        )));
    }
    let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(tr!(
            "it must start with https:// or http://",
            "باید با https:// یا http:// آغاز شود"
        )));
    }
    if parsed.host_str().is_none() {
        return Err(bad(tr!("it has no host", "میزبان ندارد")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(tr!(
            "it must not contain a user name or password",
            "نباید نام کاربری یا گذرواژه داشته باشد"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad(tr!(
            "it must not contain ? or #",
            "نباید ? یا # داشته باشد"
        )));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

// ------------------------------------------------------------------------------------------------
// Talking JSON

/// A refusal: the `error` object of a 4xx/5xx answer.
#[derive(Debug, Clone)]
struct Refusal {
    status: u16,
    error: ErrorDetail,
}

enum CallError {
    Transport(TransportError),
    Refused(Refusal),
    /// A 5xx answer without an error object.
    ServerFailed(u16),
    Garbage(String),
}

impl CallError {
    /// Into an [`AppError`], with `explain` giving the sentence for refusals it knows.
    fn into_app(self, server: &str, explain: impl FnOnce(&Refusal) -> Option<String>) -> AppError {
        match self {
            CallError::Transport(TransportError::Unreachable(why)) => {
                AppError::Unreachable(server.to_owned(), why)
            }
            CallError::Transport(TransportError::Garbage(why)) | CallError::Garbage(why) => {
                AppError::Garbage(server.to_owned(), why)
            }
            CallError::ServerFailed(status) => AppError::Refused(tr!(
                "the server at {server} failed (HTTP {status}); try again later",
                "کارساز {server} دچار خطا شد (HTTP {status})؛ بعداً دوباره بکوشید"
            )),
            CallError::Refused(r) => AppError::Refused(
                explain(&r)
                    .or_else(|| common_refusal(&r))
                    .unwrap_or_else(|| {
                        let (status, code, message) =
                            (r.status, clean(&r.error.code), clean(&r.error.message));
                        tr!(
                            "the server refused (HTTP {status}, {code}): {message}",
                            "کارساز نپذیرفت (HTTP {status}، {code}): {message}"
                        )
                    }),
            ),
        }
    }
}

/// Refusals any app endpoint may give.
fn common_refusal(r: &Refusal) -> Option<String> {
    Some(match r.error.code.as_str() {
        "network_not_allowed" => tr!(
            "the bank refuses to add or remove tokens from this network: turn off any VPN, \
             proxy or other IP changer and try again on a direct connection",
            "بانک افزودن یا حذف رمزساز را از این شبکه نمی‌پذیرد: هر VPN، پراکسی یا تغییردهندهٔ \
             IP را خاموش کنید و با اتصال مستقیم دوباره بکوشید"
        ),
        "rate_limited" | "too_many_requests" => tr!(
            "the server is receiving too many requests; wait a little and try again",
            "کارساز درخواست‌های زیادی دریافت می‌کند؛ کمی صبر کنید و دوباره بکوشید"
        ),
        _ => return None,
    })
}

/// Strips control characters from text the server chose, and bounds its length.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// Sends a request and parses a success answer of status `ok` as `R`.
async fn call_json<T: Transport, R: DeserializeOwned>(
    t: &T,
    method: Method,
    path: &str,
    body: Option<&Value>,
    ok: u16,
) -> std::result::Result<R, CallError> {
    let reply = t
        .call(method, path, body)
        .await
        .map_err(CallError::Transport)?;
    if reply.status == ok {
        return serde_json::from_slice(&reply.body).map_err(|e| {
            CallError::Garbage(format!(
                "HTTP {} with an unexpected body: {e}",
                reply.status
            ))
        });
    }
    if (400..600).contains(&reply.status) {
        if let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(&reply.body) {
            return Err(CallError::Refused(Refusal {
                status: reply.status,
                error,
            }));
        }
    }
    if reply.status >= 500 {
        return Err(CallError::ServerFailed(reply.status));
    }
    Err(CallError::Garbage(format!("HTTP {}", reply.status)))
}

/// A request body as the transport sends it.
fn body(request: &impl Serialize) -> Value {
    serde_json::to_value(request).expect("a request body serializes")
}

/// Percent-encodes an id the server gave us, for use as one path segment.
fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode_b64(server: &str, what: &str, s: &str) -> Result<Vec<u8>> {
    b64_decode(s).map_err(|_| AppError::Garbage(server.to_owned(), format!("{what} is not base64")))
}

// ------------------------------------------------------------------------------------------------
// Enrollment

/// What the holder typed to add a card (R16).
pub struct EnrollRequest<'a> {
    /// The card number, digits only.
    pub pan: &'a str,
    /// The code printed on the ATM receipt, as typed (Persian or Arabic-Indic digits and spaces
    /// are fine).
    pub receipt_code: &'a str,
    /// The code that came by SMS, as typed.
    pub sms_code: &'a str,
    /// The label the new token gets.
    pub label: &'a str,
}

/// The outcome of a successful [`enroll`].
#[derive(Debug)]
pub struct Enrolled {
    /// The new token, ready for the vault.
    pub token: Token,
    /// The issuer's clock, measured around the confirmation request.
    pub clock: IssuerClock,
}

/// Measures `t`'s clock: `GET /v1/time`, timed on the local clock `now_ms` (R19). `boot` reads
/// the boot the app runs in, right after the answer (`|| None` where the OS does not tell it).
pub async fn measure_clock<T: Transport>(
    t: &T,
    now_ms: impl Fn() -> i64,
    boot: impl FnOnce() -> Option<Boot>,
) -> Result<IssuerClock> {
    let server = t.server().to_owned();
    let t0 = now_ms();
    let time: Time = call_json(t, Method::Get, "/v1/time", None, 200)
        .await
        .map_err(|e| e.into_app(&server, |_| None))?;
    let t1 = now_ms();
    Ok(IssuerClock::measured(&server, time.unix_ms, t0, t1, boot()))
}

/// The one answer to codes that do not check out: the server says the same whether no activation
/// is waiting for the card (none made, expired, used up, no such card) or the codes are wrong.
fn wrong_codes(tries_left: Option<u32>) -> AppError {
    let head = tr!(
        "no app activation is waiting for this card, or the receipt code or the SMS code is \
         wrong: check the card number and both codes; if they are right, the activation may have \
         expired or been used up: activate the app again at an ATM",
        "فعال‌سازی برنامه‌ای برای این کارت در انتظار نیست، یا کد رسید یا کد پیامک اشتباه است: \
         شمارهٔ کارت و هر دو کد را بررسی کنید؛ اگر درست‌اند، شاید مهلت فعال‌سازی گذشته یا \
         تلاش‌هایش تمام شده باشد: برنامه را دوباره در خودپرداز فعال کنید"
    );
    let tail = match tries_left {
        Some(0) => tr!(
            "no tries are left from this network",
            "از این شبکه تلاشی نمانده است"
        ),
        Some(1) => tr!(
            "1 try left from this network",
            "۱ (1) تلاش از این شبکه مانده است"
        ),
        Some(n) => tr!(
            "{n} tries left from this network",
            "{n} تلاش از این شبکه مانده است"
        ),
        None => return AppError::Refused(head),
    };
    AppError::Refused(format!("{head} ({tail})"))
}

fn enrollment_refusal(r: &Refusal) -> Option<String> {
    Some(match r.error.code.as_str() {
        "invalid_pan" => tr!(
            "the bank says this card number is not valid",
            "بانک می‌گوید این شمارهٔ کارت معتبر نیست"
        ),
        "enrollment_tries_used_up" => {
            let hours = r.error.retry_after_secs.map_or(24, |s| s.div_ceil(3600));
            tr!(
                "no tries are left for this card from this network; they come back within \
                 {hours} h, or add the card from another network (mobile data instead of Wi-Fi, \
                 say)",
                "از این شبکه تلاشی برای این کارت نمانده است؛ تا {hours} ساعت دیگر بازمی‌گردند، یا \
                 کارت را از شبکهٔ دیگری (مثلاً دادهٔ همراه به جای Wi-Fi) بیفزایید"
            )
        }
        "unknown_enrollment" => tr!(
            "the server no longer knows this enrollment; add the card again",
            "کارساز دیگر این ثبت را نمی‌شناسد؛ کارت را دوباره بیفزایید"
        ),
        "not_found" => tr!(
            "this server does not offer this app's enrollment; check the server address, or \
             update the app",
            "این کارساز ثبت این برنامه را ارائه نمی‌کند؛ نشانی کارساز را بررسی کنید یا برنامه را \
             به‌روز کنید"
        ),
        _ => return None,
    })
}

/// Adds a card: runs the enrollment with the server and returns the new token.
///
/// `now_ms` is the local clock (Unix milliseconds); the token's clock offset is the server's time
/// minus the local time at the middle of the confirmation request. `boot` reads the boot the app
/// runs in, as for [`measure_clock`].
pub async fn enroll<T: Transport>(
    t: &T,
    req: &EnrollRequest<'_>,
    now_ms: impl Fn() -> i64,
    boot: impl FnOnce() -> Option<Boot>,
) -> Result<Enrolled> {
    let server = t.server().to_owned();
    let explain = |e: CallError| e.into_app(&server, enrollment_refusal);

    // 0. The bank's code lengths (costs no try, tells nothing about any card), and the codes
    //    checked against them: a typo costs no try either.
    let params: EnrollmentParameters =
        call_json(t, Method::Get, "/v1/app/enrollment-parameters", None, 200)
            .await
            .map_err(explain)?;
    if params.protocol != pooya_enroll::PROTOCOL {
        let (theirs, ours) = (clean(&params.protocol), pooya_enroll::PROTOCOL);
        return Err(AppError::Refused(tr!(
            "the server speaks enrollment protocol {theirs:?}, this app {ours}: update the app",
            "کارساز با پروتکل ثبت {theirs:?} کار می‌کند و این برنامه با {ours}: برنامه را به‌روز کنید"
        )));
    }
    let receipt_code = codes::normalize(Which::Receipt, req.receipt_code)?;
    let sms_code = codes::normalize(Which::Sms, req.sms_code)?;
    codes::check_lengths(
        &receipt_code,
        &sms_code,
        params.receipt_code_digits,
        params.sms_code_digits,
    )?;

    // 1. Start: our SPAKE2 message, the server's answer and key confirmation.
    let (state, client_msg) = ClientEnrollment::start(req.pan, &receipt_code, &sms_code);
    let start = body(&EnrollmentStart {
        pan: req.pan.to_owned(),
        spake_msg: b64_encode(&client_msg),
        lifetime_secs: None,
    });
    let start: EnrollmentStarted =
        call_json(t, Method::Post, "/v1/app/enrollments", Some(&start), 201)
            .await
            .map_err(explain)?;
    let server_msg = decode_b64(&server, "spake_msg", &start.spake_msg)?;
    let server_confirm = decode_b64(&server, "confirm", &start.confirm)?;

    // 2. Check the server's confirmation locally: a mismatch means wrong codes (or no activation).
    let finish = match state.finish(&server_msg, &server_confirm) {
        Ok(f) => f,
        Err(EnrollError::ConfirmMismatch) => return Err(wrong_codes(Some(start.tries_left))),
        Err(_) => {
            return Err(AppError::Garbage(
                server.clone(),
                "malformed enrollment message".into(),
            ))
        }
    };
    let seed = SecretBytes::from_slice(finish.seed.as_bytes());

    // 3. Confirm; time the request to measure the clock offset.
    let path = format!(
        "/v1/app/enrollments/{}/confirm",
        segment(&start.enrollment_id)
    );
    let confirm = body(&EnrollmentConfirm {
        confirm: b64_encode(&finish.confirm),
    });
    let t0 = now_ms();
    let confirmed: std::result::Result<TokenIssued, CallError> =
        call_json(t, Method::Post, &path, Some(&confirm), 200).await;
    let t1 = now_ms();
    let c = match confirmed {
        Ok(c) => c,
        Err(CallError::Refused(r)) if r.error.code == "wrong_activation_codes" => {
            return Err(wrong_codes(r.error.tries_left))
        }
        Err(e) => return Err(explain(e)),
    };

    // 4. The reply must carry the MAC of this run's key: TLS is not all that stands between the
    //    app and a changed token id, code length, algorithm, lifetime or clock.
    let mac = decode_b64(&server, "mac", &c.mac)?;
    let issued = IssuedToken {
        token_id: c.token_id.clone(),
        pan_masked: c.pan_masked.clone(),
        bank_name: c.bank_name.clone(),
        lifetime_secs: c.lifetime_secs,
        algorithm: c.algorithm.clone(),
        first_digits: c.first_digits,
        second_digits: c.second_digits,
        server_unix_ms: c.server_unix_ms,
    };
    if issued.verify(&finish.seed, &mac).is_err() {
        return Err(AppError::Refused(tr!(
            "the server's last answer does not check out under the key this enrollment agreed: \
             it was changed on the way, or it is not from your bank; the card was not added. \
             Use a direct, trusted connection, then activate the app again at an ATM",
            "پاسخ پایانی کارساز با کلیدی که این ثبت بر آن توافق کرد جور درنمی‌آید: در راه تغییر \
             کرده یا از بانک شما نیست؛ کارت افزوده نشد. از اتصالی مستقیم و مطمئن استفاده کنید و \
             برنامه را دوباره در خودپرداز فعال کنید"
        )));
    }

    // 5. Check what the server announced before trusting it.
    let garbage = |why: &str| AppError::Garbage(server.clone(), why.to_owned());
    let alg: pooya_otp::Algorithm = c
        .algorithm
        .parse()
        .map_err(|_| garbage("unknown code algorithm"))?;
    for d in [c.first_digits, c.second_digits] {
        pooya_otp::Digits::new(d).map_err(|_| garbage("unsupported code length"))?;
    }
    if c.lifetime_secs == 0 || c.lifetime_secs > 3600 {
        return Err(garbage("unsupported code lifetime"));
    }
    if c.token_id.is_empty() || c.token_id.len() > 200 {
        return Err(garbage("bad token id"));
    }
    let pan_masked = if c.pan_masked.contains(req.pan) || c.pan_masked.is_empty() {
        mask_pan(req.pan)
    } else {
        clean(&c.pan_masked)
    };
    let clock = IssuerClock::measured(&server, c.server_unix_ms, t0, t1, boot());
    let token = Token {
        label: req.label.to_owned(),
        token_id: c.token_id,
        server: server.clone(),
        bank_name: clean(&c.bank_name),
        pan: SecretString::new(req.pan.to_owned()),
        pan_masked,
        seed,
        lifetime_secs: c.lifetime_secs,
        algorithm: alg.as_str().to_owned(),
        first_digits: c.first_digits,
        second_digits: c.second_digits,
        added_at_unix_ms: t1,
    };
    Ok(Enrolled { token, clock })
}

// ------------------------------------------------------------------------------------------------
// Removal

fn removal_refusal(r: &Refusal) -> Option<String> {
    Some(match r.error.code.as_str() {
        "unknown_token" => tr!(
            "the server does not know this token (a new activation may have replaced it, or the \
             bank revoked it); `remove --local-only` deletes it from this vault without asking \
             the server",
            "کارساز این رمزساز را نمی‌شناسد (شاید فعال‌سازی تازه‌ای جایش را گرفته یا بانک آن را \
             باطل کرده است)؛ `remove --local-only` آن را بی‌پرسش از کارساز از این گاوصندوق پاک \
             می‌کند"
        ),
        "bad_proof" => tr!(
            "the server did not accept this app's proof for the token; it was not removed",
            "کارساز گواه این برنامه را برای رمزساز نپذیرفت؛ حذف نشد"
        ),
        "challenge_expired" => tr!(
            "the removal took too long and its challenge expired; try again",
            "حذف بیش از اندازه طول کشید و چالش آن منقضی شد؛ دوباره بکوشید"
        ),
        _ => return None,
    })
}

/// Asks the token's server to remove it, proving the app holds the seed. `Ok` only when the
/// server answered that the token is removed.
pub async fn remove_token<T: Transport>(t: &T, token: &Token) -> Result<()> {
    let server = t.server().to_owned();
    let explain = |e: CallError| e.into_app(&server, removal_refusal);
    let id = segment(&token.token_id);

    let challenge: RemovalChallenge = call_json(
        t,
        Method::Post,
        &format!("/v1/app/tokens/{id}/removal-challenge"),
        Some(&json!({})),
        200,
    )
    .await
    .map_err(explain)?;
    let nonce = decode_b64(&server, "nonce", &challenge.nonce)?;
    let seed = Seed::from_bytes(token.seed.expose()).map_err(|_| {
        AppError::Crypto(tr!(
            "the token's seed in the vault is malformed",
            "بذر رمزساز در گاوصندوق نادرست است"
        ))
    })?;
    let proof = Zeroizing::new(removal_proof(&seed, &token.token_id, &nonce));
    let removal = body(&Removal {
        nonce: challenge.nonce,
        proof: b64_encode(&proof),
    });
    let reply: Removed = call_json(
        t,
        Method::Post,
        &format!("/v1/app/tokens/{id}/removal"),
        Some(&removal),
        200,
    )
    .await
    .map_err(explain)?;
    if reply.removed {
        Ok(())
    } else {
        Err(AppError::Refused(tr!(
            "the server did not remove the token",
            "کارساز رمزساز را حذف نکرد"
        )))
    }
}

/// Asks the token's server whether the token is still in force (`POST /v1/app/token-status`),
/// proving the seed over `server_ms`, the server's clock as just measured. `false`: the bank no
/// longer takes this token's codes (a new activation replaced it, it was removed or locked).
pub async fn token_in_force<T: Transport>(t: &T, token: &Token, server_ms: i64) -> Result<bool> {
    let server = t.server().to_owned();
    let seed = Seed::from_bytes(token.seed.expose()).map_err(|_| {
        AppError::Crypto(tr!(
            "the token's seed in the vault is malformed",
            "بذر رمزساز در گاوصندوق نادرست است"
        ))
    })?;
    let proof = Zeroizing::new(pooya_enroll::status_proof(
        &seed,
        &token.token_id,
        server_ms,
    ));
    let query = body(&TokenStatusQuery {
        token_id: token.token_id.clone(),
        at_ms: server_ms,
        proof: b64_encode(&proof),
    });
    let reply: TokenStatus = call_json(t, Method::Post, "/v1/app/token-status", Some(&query), 200)
        .await
        .map_err(|e| e.into_app(&server, |_| None))?;
    Ok(reply.in_force)
}

#[cfg(test)]
mod tests;
