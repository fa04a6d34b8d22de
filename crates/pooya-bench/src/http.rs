//! The driver's HTTP calls of the setup and the clock: a JSON `POST` with an optional bearer key.

use std::time::Duration;

use pooya_bench::Res;
use serde_json::Value;

pub async fn call(
    http: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    body: Value,
) -> Res<(u16, Value)> {
    let mut req = http.post(url).json(&body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let res = req.send().await.map_err(|e| format!("POST {url}: {e}"))?;
    let status = res.status().as_u16();
    let text = res.text().await.map_err(|e| format!("POST {url}: {e}"))?;
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Ok((status, v))
}

pub async fn expect(
    http: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    body: Value,
    want: u16,
) -> Res<Value> {
    let (s, v) = call(http, url, key, body).await?;
    if s != want {
        return Err(format!("POST {url}: HTTP {s} (expected {want}): {v}"));
    }
    Ok(v)
}

pub fn new_client(max_idle: usize) -> Res<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(max_idle)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}
