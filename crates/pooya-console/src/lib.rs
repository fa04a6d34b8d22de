//! The bank staff's web console at `/console/`: server-rendered HTML (maud) over the issuer's own
//! operations, in Persian (right to left) and English. No JavaScript at all, so the Content
//! Security Policy forbids every script. An operator signs in with a password and a TOTP code;
//! the session is a random cookie (`HttpOnly`, `SameSite=Strict`, `Secure` under TLS) whose hash
//! the store keeps, ended by sign-out, idleness, age, or the operator being disabled. Every form
//! carries the session's CSRF token (the sign-in form a double-submit cookie's). What each role
//! may do: tellers and supervisors serve customers and cards, supervisors approve mobile changes
//! (four eyes), admins manage operators and look after the outbox and the audit chain.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use pooya_issuer::audit::Actor;
use pooya_issuer::store::{Operator, SessionRecord};
use pooya_issuer::{Issuer, IssuerError};
use pooya_staff::StaffRole;

mod admin;
mod desk;
pub mod i18n;
mod view;

use i18n::Lang;

/// The session cookie; the sign-in form's CSRF cookie; the language.
const SESSION_COOKIE: &str = "pooya_console";
const SIGN_IN_COOKIE: &str = "pooya_console_signin";
const LANG_COOKIE: &str = "pooya_lang";

/// What the console's handlers share.
pub struct Console {
    pub issuer: Arc<Issuer>,
    /// A session unused this long ends (ms).
    pub idle_ms: i64,
    /// A session ends this long after its sign-in (ms).
    pub absolute_ms: i64,
    /// Cookies are `Secure` (the server speaks HTTPS).
    pub secure: bool,
    /// The machines' channel keys, for the admins' page (none: the page says so).
    pub keys: Option<Arc<dyn ChannelKeys>>,
}

/// The channel keys of the bank's machines as the server keeps them (`pooya-server`'s
/// `ApiKeys`): listed by hash, made (the key shown once), revoked.
#[async_trait::async_trait]
pub trait ChannelKeys: Send + Sync {
    async fn list(
        &self,
    ) -> Result<Vec<(pooya_issuer::store::ApiKeyRecord, Option<i64>)>, IssuerError>;
    async fn create(
        &self,
        role: pooya_issuer::domain::Role,
        label: &str,
        now: i64,
    ) -> Result<String, IssuerError>;
    async fn revoke(&self, key_hash: &str, now: i64) -> Result<bool, IssuerError>;
}

/// The console's routes, under `/console/`.
pub fn routes<S: Clone + Send + Sync + 'static>(console: Arc<Console>) -> Router<S> {
    Router::new()
        .merge(desk::routes())
        .merge(admin::routes())
        .layer(axum::middleware::from_fn(headers))
        .with_state(console)
}

/// Every answer of the console: no script may run, nothing framed, nothing cached, no referrer.
async fn headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: always `HttpOnly`, `SameSite=Strict`, `Path=/console`; `Secure` under
/// TLS; `max_age` 0 deletes it.
fn set_cookie(secure: bool, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut s = format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict");
    if let Some(a) = max_age {
        s.push_str(&format!("; Max-Age={a}"));
    }
    if secure {
        s.push_str("; Secure");
    }
    HeaderValue::from_str(&s).expect("cookie values are base64url")
}

/// The language of a request: its cookie's, else Persian.
fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(Lang::parse)
        .unwrap_or(Lang::Fa)
}

/// A signed-in operator's request.
pub(crate) struct Signed {
    pub op: Operator,
    pub session: SessionRecord,
    pub lang: Lang,
}

impl Signed {
    /// The operator as the audit trail names them.
    pub fn actor(&self) -> Actor {
        Actor::Operator {
            name: self.op.name.clone(),
            role: self.op.role,
            branch: self.op.branch.clone(),
        }
    }
    /// The form's CSRF token is the session's: else the request is refused (403).
    pub fn check_csrf(&self, token: Option<&str>) -> Result<(), Box<Response>> {
        let ok =
            token.is_some_and(|t| pooya_otp::ct_eq(t.as_bytes(), self.session.csrf.as_bytes()));
        if ok {
            Ok(())
        } else {
            Err(Box::new(self.refusal(StatusCode::FORBIDDEN, "csrf")))
        }
    }
    /// Only operators of a role that `allowed` accepts: else 403.
    pub fn require(&self, allowed: impl Fn(StaffRole) -> bool) -> Result<(), Box<Response>> {
        if allowed(self.op.role) {
            Ok(())
        } else {
            Err(Box::new(self.refusal(StatusCode::FORBIDDEN, "forbidden")))
        }
    }
    pub fn refusal(&self, status: StatusCode, key: &'static str) -> Response {
        view::message_page(Some(self), self.lang, status, key, None)
    }
    /// An issuer's refusal, shown in the operator's language.
    pub fn issuer_error(&self, e: IssuerError) -> Response {
        let (status, key, extra) = explain(&e);
        view::message_page(Some(self), self.lang, status, key, extra)
    }
}

/// The status, the text's key and any detail of an issuer's refusal.
fn explain(e: &IssuerError) -> (StatusCode, &'static str, Option<String>) {
    use pooya_issuer::issuer::FourEyesRefusal as F;
    use StatusCode as S;
    match e {
        IssuerError::Invalid(v) => (S::UNPROCESSABLE_ENTITY, "invalid", Some(v.to_string())),
        IssuerError::Staff(v) => (S::UNPROCESSABLE_ENTITY, "invalid", Some(v.to_string())),
        IssuerError::AlreadyExists => (S::CONFLICT, "exists", None),
        IssuerError::InvalidPskc(m) => (S::UNPROCESSABLE_ENTITY, "invalid_pskc", Some(m.clone())),
        IssuerError::UnknownCustomer => (S::NOT_FOUND, "unknown_customer", None),
        IssuerError::UnknownCard => (S::NOT_FOUND, "unknown_card", None),
        IssuerError::UnknownOperator | IssuerError::UnknownMobileChange => {
            (S::NOT_FOUND, "not_found", None)
        }
        IssuerError::FourEyes(F::OwnRequest) => (S::FORBIDDEN, "own_request", None),
        IssuerError::FourEyes(F::NotSupervisor) => (S::FORBIDDEN, "not_supervisor", None),
        IssuerError::FourEyes(F::NotTeller) => (S::FORBIDDEN, "forbidden", None),
        IssuerError::FourEyes(F::Decided) => (S::CONFLICT, "decided", None),
        IssuerError::Contention => (S::SERVICE_UNAVAILABLE, "try_again", None),
        IssuerError::Unavailable(_) => (S::SERVICE_UNAVAILABLE, "unavailable", None),
        other => {
            tracing::error!(error = %other, "console: an operation failed");
            (S::INTERNAL_SERVER_ERROR, "error", None)
        }
    }
}

impl FromRequestParts<Arc<Console>> for Signed {
    /// Not signed in (or the session ended): to the sign-in page.
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        c: &Arc<Console>,
    ) -> Result<Self, Self::Rejection> {
        let lang = lang_of(&parts.headers);
        let to_sign_in = || Redirect::to("/console/sign-in").into_response();
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_sign_in());
        };
        match c.issuer.session(token, c.idle_ms, c.absolute_ms).await {
            Ok(Some((session, op))) => Ok(Signed { op, session, lang }),
            Ok(None) => Err(to_sign_in()),
            Err(e) => {
                let (status, key, extra) = explain(&e);
                Err(view::message_page(None, lang, status, key, extra))
            }
        }
    }
}

/// The language of a request, for pages shown before sign-in.
pub(crate) struct Language(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for Language {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Language(lang_of(&parts.headers)))
    }
}

/// A page's HTML.
pub(crate) fn html(status: StatusCode, m: maud::Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        m.into_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name_among_several_headers() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; pooya_console_signin=x"),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("pooya_console=s3ss; pooya_lang=en"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("s3ss"));
        assert_eq!(cookie(&h, SIGN_IN_COOKIE), Some("x"));
        assert_eq!(cookie(&h, "pooya"), None);
        assert_eq!(lang_of(&h), Lang::En);
        assert_eq!(lang_of(&HeaderMap::new()), Lang::Fa, "Persian by default");
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_under_tls() {
        let plain = set_cookie(false, SESSION_COOKIE, "v", None);
        let plain = plain.to_str().unwrap();
        assert_eq!(
            plain,
            "pooya_console=v; Path=/console; HttpOnly; SameSite=Strict"
        );
        let tls = set_cookie(true, SESSION_COOKIE, "", Some(0));
        assert_eq!(
            tls.to_str().unwrap(),
            "pooya_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
        );
    }
}
