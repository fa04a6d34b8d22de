//! The setup: the bank and the holders played through the HTTP contract. Branch registration, ATM
//! activation and SPAKE2 enrollment of every card (`--setup enroll`), or branch registration and a
//! bulk PSKC import of hardware tokens (`--setup pskc`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pooya_bench::{card_pan, customer_id, mobile, HardwareCards, Res};
use pooya_enroll::{b64_decode, b64_encode, ClientEnrollment};
use serde_json::json;

use crate::cards::{Card, Cards, PIN, STATIC_SECOND, STEP_SECS};
use crate::http::{expect, new_client};
use crate::outbox::Outbox;
use crate::server::Keys;

/// Cards are set up (enrolled, or registered at the branch) by this many concurrent holders at
/// most.
pub const SETUP_CONCURRENCY: usize = 16;
/// The bulk setup imports this many hardware tokens per PSKC file (about 510 bytes each in the
/// request, key package and assignment, so 2 000 make about 1 MB) …
pub const PSKC_CHUNK: u64 = 2_000;
/// … this many files at once …
pub const PSKC_CONCURRENCY: usize = 2;
/// … under this body limit (`[server] max_body_bytes` of the bench server's config).
pub const PSKC_MAX_BODY: usize = 4 << 20;

/// Branch registration of card `i` and its holder (a customer of its own).
pub async fn register_card(http: &reqwest::Client, base: &str, keys: &Keys, i: usize) -> Res<()> {
    let customer = customer_id(i as u64);
    let mobile = mobile(i as u64);
    let pan = card_pan(i as u64);
    expect(
        http,
        &format!("{base}/v1/customers"),
        Some(&keys.branch),
        json!({"customer_id": customer, "mobile": mobile}),
        201,
    )
    .await?;
    expect(
        http,
        &format!("{base}/v1/cards"),
        Some(&keys.branch),
        json!({"pan": pan, "customer_id": customer, "expiry": "9912",
               "pin": PIN, "second_password": STATIC_SECOND}),
        201,
    )
    .await?;
    Ok(())
}

/// Branch registration, ATM activation, and the app's enrollment of card `i`.
pub async fn set_up_card(
    http: &reqwest::Client,
    base: &str,
    keys: &Keys,
    outbox: &Outbox,
    i: usize,
) -> Res<Card> {
    let mobile = mobile(i as u64);
    let pan = card_pan(i as u64);
    register_card(http, base, keys, i).await?;
    let v = expect(
        http,
        &format!("{base}/v1/atm/activate-app"),
        Some(&keys.atm),
        json!({"pan": pan, "pin": PIN, "mobile": mobile}),
        200,
    )
    .await?;
    let receipt = v["receipt_code"]
        .as_str()
        .ok_or_else(|| format!("activate-app answered no receipt_code: {v}"))?
        .to_owned();
    let sms = outbox.sms_code(&mobile).await?;

    let (client, msg) = ClientEnrollment::start(&pan, &receipt, &sms);
    let v = expect(
        http,
        &format!("{base}/v1/app/enrollments"),
        None,
        json!({"pan": pan, "spake_msg": b64_encode(&msg)}),
        201,
    )
    .await?;
    let field = |name: &str| -> Res<Vec<u8>> {
        v[name]
            .as_str()
            .and_then(|s| b64_decode(s).ok())
            .ok_or_else(|| format!("enrollment answer without a base64 `{name}`: {v}"))
    };
    let server_msg = field("spake_msg")?;
    let server_confirm = field("confirm")?;
    let id = v["enrollment_id"]
        .as_str()
        .ok_or_else(|| format!("enrollment answer without enrollment_id: {v}"))?
        .to_owned();
    let finish = client
        .finish(&server_msg, &server_confirm)
        .map_err(|_| format!("card {i}: the server's key confirmation failed"))?;
    let t = expect(
        http,
        &format!("{base}/v1/app/enrollments/{id}/confirm"),
        None,
        json!({"confirm": b64_encode(&finish.confirm)}),
        200,
    )
    .await?;
    let num = |name: &str| -> Res<u64> {
        t[name]
            .as_u64()
            .ok_or_else(|| format!("token answer without `{name}`: {t}"))
    };
    let step = num("lifetime_secs")? as u32;
    if i64::from(step) != STEP_SECS {
        return Err(format!(
            "token lifetime is {step} s, the driver expects {STEP_SECS} s"
        ));
    }
    let alg: pooya_otp::Algorithm = t["algorithm"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("token answer with an unknown algorithm: {t}"))?;
    let totp = |digits: u64| -> Res<pooya_otp::Totp> {
        let d = pooya_otp::Digits::new(digits as u8).map_err(|e| format!("{e:?}"))?;
        pooya_otp::Totp::new(step, d, alg).map_err(|e| format!("{e:?}"))
    };
    Ok(Card {
        keys: pooya_otp::derive_password_keys(finish.seed.as_bytes()),
        first: totp(num("first_digits")?)?,
        second: totp(num("second_digits")?)?,
        pan,
    })
}

pub async fn set_up_cards(
    base: &str,
    keys: Arc<Keys>,
    outbox: Arc<Outbox>,
    n: usize,
) -> Res<Vec<Card>> {
    let http = new_client(SETUP_CONCURRENCY)?;
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..SETUP_CONCURRENCY.min(n) {
        let (http, base, keys, outbox, next, done) = (
            http.clone(),
            base.to_owned(),
            keys.clone(),
            outbox.clone(),
            next.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, String>(mine);
                }
                mine.push((i, set_up_card(&http, &base, &keys, &outbox, i).await?));
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n >= 100 && d % (n / 4) == 0 {
                    eprintln!("  {d}/{n} cards enrolled");
                }
            }
        }));
    }
    let mut cards = Vec::with_capacity(n);
    for t in tasks {
        cards.extend(t.await.map_err(|e| format!("setup task: {e}"))??);
    }
    cards.sort_by_key(|(i, _)| *i);
    Ok(cards.into_iter().map(|(_, c)| c).collect())
}

/// `--setup pskc`: cards `0..n` registered at the branch over [`SETUP_CONCURRENCY`] connections,
/// then their TOTP hardware tokens imported, [`PSKC_CHUNK`] a file, [`PSKC_CONCURRENCY`] files at
/// once. Returns the time each phase took.
pub async fn set_up_hardware_cards(
    base: &str,
    keys: Arc<Keys>,
    n: usize,
) -> Res<(Cards, Duration, Duration)> {
    let t0 = Instant::now();
    let http = new_client(SETUP_CONCURRENCY)?;
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..SETUP_CONCURRENCY.min(n) {
        let (http, base, keys, next, done) = (
            http.clone(),
            base.to_owned(),
            keys.clone(),
            next.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, String>(());
                }
                register_card(&http, &base, &keys, i).await?;
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n >= 100 && d % (n / 4) == 0 {
                    eprintln!("  {d}/{n} cards registered");
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| format!("setup task: {e}"))??;
    }
    let registration = t0.elapsed();

    let t1 = Instant::now();
    let tokens = Arc::new(HardwareCards::new(pooya_issuer::keys::random_bytes()));
    let chunks = (n as u64).div_ceil(PSKC_CHUNK);
    let next = Arc::new(AtomicUsize::new(0));
    let imported = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..PSKC_CONCURRENCY.min(chunks as usize) {
        let (http, url, admin, tokens, next, imported) = (
            http.clone(),
            format!("{base}/v1/admin/pskc"),
            keys.admin.clone(),
            tokens.clone(),
            next.clone(),
            imported.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let c = next.fetch_add(1, Ordering::Relaxed) as u64;
                if c >= chunks {
                    return Ok::<_, String>(());
                }
                let range = c * PSKC_CHUNK..((c + 1) * PSKC_CHUNK).min(n as u64);
                let want = (range.end - range.start) as usize;
                let body = tokens.pskc_import(range.clone());
                let v = expect(&http, &url, Some(&admin), body, 200)
                    .await
                    .map_err(|e| format!("importing the tokens of cards {range:?}: {e}"))?;
                if v["imported"].as_u64() != Some(want as u64) {
                    return Err(format!(
                        "importing the tokens of cards {range:?}: the server answered {v}"
                    ));
                }
                let before = imported.fetch_add(want, Ordering::Relaxed);
                if n >= 4 * PSKC_CHUNK as usize && (before + want) * 4 / n > before * 4 / n {
                    eprintln!("  {}/{n} hardware tokens imported", before + want);
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| format!("import task: {e}"))??;
    }
    // Every task is done: the run key is the driver's alone again.
    let tokens = Arc::try_unwrap(tokens).map_err(|_| "an import task still holds the run key")?;
    Ok((Cards::Hardware { n, tokens }, registration, t1.elapsed()))
}
