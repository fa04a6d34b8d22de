//! A generic JSON-over-HTTP SMS gateway: one `POST` per message to the gateway's URL, with the
//! configured headers (an API key, say) and a JSON body made from a template.
//!
//! The body template is JSON text whose strings may hold the placeholders `{to}` (the mobile
//! number, `09121234567`), `{to_e164}` (`+989121234567`), `{text}` (the message),
//! `{message_id}` (the outbox message's id, the same on every attempt: for gateways that drop a
//! request they already took, should the server have died before marking the message sent) and
//! `{validity_secs}` (the whole seconds the message's code has left: for gateways that can be
//! told not to deliver a message late). Each is put in JSON-escaped: the template is parsed once,
//! at start-up, and the placeholders are replaced inside its string values, so quotes, newlines
//! and Persian text in a message always make valid JSON. A string that is `{validity_secs}` and
//! nothing else becomes a JSON number; for a message that carries no code it is left out of its
//! object (the gateway's default applies; in an array it is `null`), and inside a longer string
//! it is empty. Example:
//!
//! ```toml
//! [sms_provider]
//! kind = "http"
//! [sms_provider.http]
//! url = "https://sms.example/api/send"
//! headers = { Authorization = "Bearer KEY" }
//! body_template = '{"receptor": "{to}", "message": "{text}", "sender": "10002516", "ttl": "{validity_secs}"}'
//! timeout_ms = 5000
//! ```
//!
//! A 2xx answer means the gateway took the message. Anything else — another status, a timeout, a
//! refused connection, an answer that is not HTTP — is an error whose reason names what happened
//! and never holds the message's text (nor the URL, which may carry a key): the delivery worker
//! logs it and tries again later. Every such error is [`SendError::Temporary`]: gateways give their
//! 4xx statuses meanings of their own (an empty account, a bad key, a refused number), and no
//! status says for every gateway that the message itself can never go, so the outbox keeps
//! trying until the message's code expires.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use pooya_issuer::domain::Mobile;
use serde::Deserialize;
use serde_json::Value;

use crate::{SendError, SmsProvider};

/// `[sms_provider.http]`.
#[derive(Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpProviderConfig {
    /// `http://` or `https://` URL the messages are posted to.
    pub url: String,
    /// Headers sent with every request (API keys: their values never appear in Debug output).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON text with the placeholders `{to}`, `{to_e164}`, `{text}`, `{message_id}` and
    /// `{validity_secs}` in its strings.
    pub body_template: String,
    /// How long one request may take, connection included.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl std::fmt::Debug for HttpProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: BTreeMap<&str, &str> = self
            .headers
            .keys()
            .map(|k| (k.as_str(), "[redacted]"))
            .collect();
        // A query string may carry a key too.
        let url = match self.url.split_once('?') {
            Some((base, _)) => format!("{base}?[redacted]"),
            None => self.url.clone(),
        };
        f.debug_struct("HttpProviderConfig")
            .field("url", &url)
            .field("headers", &headers)
            .field("body_template", &self.body_template)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// A configuration that cannot work: refused at start-up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("[sms_provider.http] {setting}: {why}")]
pub struct HttpConfigError {
    pub setting: &'static str,
    pub why: String,
}

fn config_err(setting: &'static str, why: impl Into<String>) -> HttpConfigError {
    HttpConfigError {
        setting,
        why: why.into(),
    }
}

/// The placeholders a body template may use.
const PLACEHOLDERS: [&str; 5] = ["{to}", "{to_e164}", "{text}", "{message_id}", VALIDITY];

/// The placeholder that stands for a number when it is the whole string.
const VALIDITY: &str = "{validity_secs}";

/// What the placeholders of one message become.
struct Values<'a> {
    /// In the order of [`PLACEHOLDERS`].
    strings: [&'a str; 5],
    validity_secs: Option<u32>,
}

pub struct HttpProvider {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: reqwest::header::HeaderMap,
    body: Value,
    timeout_ms: u64,
}

impl std::fmt::Debug for HttpProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProvider")
            .field("host", &self.url.host_str())
            .field("timeout_ms", &self.timeout_ms)
            .finish_non_exhaustive()
    }
}

fn strings_hold(v: &Value, needle: &str) -> bool {
    match v {
        Value::String(s) => s.contains(needle),
        Value::Array(a) => a.iter().any(|x| strings_hold(x, needle)),
        Value::Object(o) => o.values().any(|x| strings_hold(x, needle)),
        _ => false,
    }
}

/// The template with each placeholder of its string values replaced by `values`; JSON escaping
/// is serde_json's when the value is written out.
fn fill(v: &Value, values: &Values<'_>) -> Value {
    match v {
        Value::String(s) if s == VALIDITY => values.validity_secs.map_or(Value::Null, Value::from),
        Value::String(s) => {
            if !s.contains('{') {
                return v.clone();
            }
            // One pass, left to right: a message that itself holds "{to}" stays as it is.
            let mut out = String::with_capacity(s.len() + values.strings[2].len());
            let mut rest = s.as_str();
            'outer: while let Some(i) = rest.find('{') {
                out.push_str(&rest[..i]);
                let tail = &rest[i..];
                for (p, value) in PLACEHOLDERS.iter().zip(&values.strings) {
                    if let Some(after) = tail.strip_prefix(p) {
                        out.push_str(value);
                        rest = after;
                        continue 'outer;
                    }
                }
                out.push('{');
                rest = &tail[1..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| fill(x, values)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                // No validity to give: the member is left out, and the gateway's default applies.
                .filter(|(_, x)| values.validity_secs.is_some() || x.as_str() != Some(VALIDITY))
                .map(|(k, x)| (k.clone(), fill(x, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl HttpProvider {
    /// Checks the configuration and builds the client: every fault is a start-up error.
    pub fn new(config: &HttpProviderConfig) -> Result<HttpProvider, HttpConfigError> {
        let url = reqwest::Url::parse(&config.url)
            .map_err(|e| config_err("url", format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(config_err("url", "must be an http:// or https:// URL"));
        }
        let body: Value = serde_json::from_str(&config.body_template)
            .map_err(|e| config_err("body_template", format!("not JSON: {e}")))?;
        if !strings_hold(&body, "{text}") {
            return Err(config_err(
                "body_template",
                "must hold {text} in one of its strings",
            ));
        }
        if !strings_hold(&body, "{to}") && !strings_hold(&body, "{to_e164}") {
            return Err(config_err(
                "body_template",
                "must hold {to} or {to_e164} in one of its strings",
            ));
        }
        if !(1..=600_000).contains(&config.timeout_ms) {
            return Err(config_err("timeout_ms", "must be 1..=600000"));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &config.headers {
            let n = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| config_err("headers", format!("{name:?} is no header name")))?;
            let mut v = reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| config_err("headers", format!("the value of {name} is invalid")))?;
            v.set_sensitive(true);
            headers.insert(n, v);
        }
        if !headers.contains_key(reqwest::header::CONTENT_TYPE) {
            headers.insert(
                reqwest::header::CONTENT_TYPE,
                reqwest::header::HeaderValue::from_static("application/json"),
            );
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = Duration::from_millis(config.timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| config_err("url", format!("cannot build an HTTP client: {e}")))?;
        Ok(HttpProvider {
            client,
            url,
            headers,
            body,
            timeout_ms: config.timeout_ms,
        })
    }

    /// The JSON body of one message; `message_id` is empty for a message from outside the outbox,
    /// `validity_secs` `None` for a message that carries no code.
    pub fn body_for(
        &self,
        to: &Mobile,
        text: &str,
        message_id: &str,
        validity_secs: Option<u32>,
    ) -> Vec<u8> {
        let e164 = format!("+98{}", &to.as_str()[1..]);
        let validity = validity_secs.map(|v| v.to_string()).unwrap_or_default();
        let values = Values {
            strings: [to.as_str(), &e164, text, message_id, &validity],
            validity_secs,
        };
        serde_json::to_vec(&fill(&self.body, &values)).expect("a JSON value always serialises")
    }

    async fn post(&self, body: Vec<u8>) -> Result<(), SendError> {
        let res = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Temporary(reason(&e, self.timeout_ms)))?;
        let status = res.status();
        // Read the answer to its end (within the timeout) so the connection can be reused; its
        // content is not kept: a gateway may echo the message.
        let _ = res.bytes().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(SendError::Temporary(format!(
                "the gateway answered HTTP {}",
                status.as_u16()
            )))
        }
    }
}

/// Why a request failed, in words that hold neither the text nor the URL.
fn reason(e: &reqwest::Error, timeout_ms: u64) -> String {
    if e.is_timeout() {
        format!("the gateway did not answer within {timeout_ms} ms")
    } else if e.is_connect() {
        "cannot connect to the gateway".to_owned()
    } else if e.is_body() || e.is_decode() {
        "the gateway's answer broke off".to_owned()
    } else if e.is_request() {
        "the request to the gateway failed (connection closed or the answer was not HTTP)"
            .to_owned()
    } else {
        "the gateway's answer was not HTTP".to_owned()
    }
}

#[async_trait]
impl SmsProvider for HttpProvider {
    async fn send(
        &self,
        to: &Mobile,
        text: &str,
        expires_at_ms: Option<i64>,
        sent_at_ms: i64,
    ) -> Result<(), SendError> {
        let validity = crate::validity_secs(expires_at_ms, sent_at_ms)?;
        self.post(self.body_for(to, text, "", validity)).await
    }

    async fn send_queued(
        &self,
        id: i64,
        queued_at_ms: i64,
        to: &Mobile,
        text: &str,
        expires_at_ms: Option<i64>,
        sent_at_ms: i64,
    ) -> Result<(), SendError> {
        let validity = crate::validity_secs(expires_at_ms, sent_at_ms)?;
        let message_id = format!("{id}-{queued_at_ms}");
        self.post(self.body_for(to, text, &message_id, validity))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(body: &str) -> HttpProviderConfig {
        HttpProviderConfig {
            url: "http://127.0.0.1:9/send?key=SECRET".into(),
            headers: BTreeMap::from([("X-Api-Key".into(), "SECRET".into())]),
            body_template: body.into(),
            timeout_ms: 1000,
        }
    }

    #[test]
    fn placeholders_are_json_escaped() {
        let p = HttpProvider::new(&config(
            r#"{"to": "{to}", "intl": "{to_e164}", "msg": "{text}", "n": 1, "list": ["x{to}y"], "id": "{message_id}", "odd": "{nope} {"}"#,
        ))
        .unwrap();
        let to = Mobile::parse("09121234567").unwrap();
        let text = "a \"quoted\" {to}\nline\\ و رمز";
        let body: Value =
            serde_json::from_slice(&p.body_for(&to, text, "7-100", Some(58))).unwrap();
        assert_eq!(body["to"], "09121234567");
        assert_eq!(body["intl"], "+989121234567");
        assert_eq!(body["msg"], text);
        assert_eq!(body["n"], 1);
        assert_eq!(body["list"][0], "x09121234567y");
        assert_eq!(body["id"], "7-100");
        assert_eq!(body["odd"], "{nope} {");
    }

    #[test]
    fn the_validity_is_a_number_or_left_out() {
        let p = HttpProvider::new(&config(
            r#"{"to": "{to}", "msg": "{text}", "ttl": "{validity_secs}", "note": "valid {validity_secs} s", "l": ["{validity_secs}"], "o": {"v": "{validity_secs}"}}"#,
        ))
        .unwrap();
        let to = Mobile::parse("09121234567").unwrap();
        let body: Value = serde_json::from_slice(&p.body_for(&to, "x", "", Some(58))).unwrap();
        assert_eq!(body["ttl"], 58);
        assert!(body["ttl"].is_number());
        assert_eq!(body["note"], "valid 58 s");
        assert_eq!(body["l"][0], 58);
        assert_eq!(body["o"]["v"], 58);
        // A message without a code: no validity to give.
        let body: Value = serde_json::from_slice(&p.body_for(&to, "x", "", None)).unwrap();
        let o = body.as_object().unwrap();
        assert!(!o.contains_key("ttl"), "{body}");
        assert_eq!(body["note"], "valid  s");
        assert_eq!(body["l"][0], Value::Null);
        assert!(!body["o"].as_object().unwrap().contains_key("v"));
        assert_eq!(body["msg"], "x");
    }

    #[test]
    fn bad_configurations_are_refused() {
        let ok = r#"{"to": "{to}", "text": "{text}"}"#;
        assert!(HttpProvider::new(&config(ok)).is_ok());
        for (body, setting) in [
            ("{to} {text}", "body_template"),
            (r#"{"to": "{to}"}"#, "body_template"),
            (r#"{"text": "{text}"}"#, "body_template"),
        ] {
            assert_eq!(
                HttpProvider::new(&config(body)).unwrap_err().setting,
                setting
            );
        }
        for url in ["ftp://x/y", "not a url", "http://"] {
            let mut c = config(ok);
            c.url = url.into();
            assert_eq!(HttpProvider::new(&c).unwrap_err().setting, "url", "{url}");
        }
        let mut c = config(ok);
        c.headers.insert("Bad Header".into(), "v".into());
        assert_eq!(HttpProvider::new(&c).unwrap_err().setting, "headers");
        let mut c = config(ok);
        c.headers.insert("X-Ok".into(), "line\nbreak".into());
        assert_eq!(HttpProvider::new(&c).unwrap_err().setting, "headers");
        let mut c = config(ok);
        c.timeout_ms = 0;
        assert_eq!(HttpProvider::new(&c).unwrap_err().setting, "timeout_ms");
    }

    #[test]
    fn debug_output_hides_keys() {
        let c = config(r#"{"to": "{to}", "text": "{text}"}"#);
        let shown = format!("{c:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("X-Api-Key"), "{shown}");
        let p = HttpProvider::new(&c).unwrap();
        assert!(!format!("{p:?}").contains("SECRET"));
    }
}
