//! The admins' pages: operators (add — the password and TOTP QR code shown once —, disable,
//! enable), the SMS outbox's counts, and the audit chain's verification.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, PreEscaped};
use pooya_staff::{BranchCode, OperatorName, Password, StaffRole, Standing};
use serde::Deserialize;

use crate::view::{self, csrf, page};
use crate::{html as respond, Console, Signed};

type St = State<Arc<Console>>;

pub(crate) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route(
            "/console/admin/operators",
            get(operators).post(add_operator),
        )
        .route("/console/admin/operators/{name}/disable", post(disable))
        .route("/console/admin/operators/{name}/enable", post(enable))
        .route("/console/admin/outbox", get(outbox))
        .route("/console/admin/outbox/{id}/retry", post(retry_sms))
        .route("/console/admin/keys", get(keys_page).post(create_key))
        .route("/console/admin/keys/{hash}/revoke", post(revoke_key))
        .route("/console/admin/pskc", get(pskc_page).post(pskc_upload))
        .route("/console/admin/audit", get(audit))
}

fn admin_only(s: &Signed) -> Result<(), Box<Response>> {
    s.require(|r| r == StaffRole::Admin)
}

async fn operators(State(c): St, s: Signed) -> Response {
    if let Err(r) = admin_only(&s) {
        return *r;
    }
    let l = s.lang;
    let ops = match c.issuer.operators().await {
        Ok(o) => o,
        Err(e) => return s.issuer_error(e),
    };
    let now = c.issuer.now_ms();
    let body = html! {
        table id="operators" {
            thead { tr { th { (l.t("name")) } th { (l.t("role")) } th { (l.t("branch")) } th { (l.t("standing")) } th {} } }
            tbody { @for op in &ops { tr {
                td { bdi dir="ltr" { (op.name.as_str()) } }
                td { (view::role(l, op.role)) }
                td { bdi dir="ltr" { (op.branch.as_ref().map_or("—", |b| b.as_str())) } }
                td { @match op.standing {
                    Standing::Disabled => span.tag.bad { (l.t("standing_disabled")) },
                    Standing::Locked { until } if until > now => span.tag.bad { (l.t("state_locked")) },
                    _ => span.tag.ok { (l.t("state_active")) },
                } }
                td {
                    @if op.is_disabled() {
                        form.inline method="post" action={ "/console/admin/operators/" (op.name.as_str()) "/enable" } {
                            (csrf(&s)) button.quiet type="submit" { (l.t("enable")) }
                        }
                    } @else if op.name != s.op.name {
                        form.inline method="post" action={ "/console/admin/operators/" (op.name.as_str()) "/disable" } {
                            (csrf(&s)) button.danger type="submit" { (l.t("disable")) }
                        }
                    }
                }
            } } }
        }
        h2 { (l.t("add_operator")) }
        section.box {
            form.stack method="post" action="/console/admin/operators" {
                (csrf(&s))
                label for="op-name" { (l.t("name")) }
                input.ltr type="text" id="op-name" name="name" required;
                label for="op-role" { (l.t("role")) }
                select id="op-role" name="role" {
                    @for r in StaffRole::ALL { option value=(r.as_str()) { (view::role(l, r)) } }
                }
                label for="op-branch" { (l.t("branch")) }
                input.ltr type="text" id="op-branch" name="branch";
                button type="submit" id="add-operator" { (l.t("add_operator")) }
            }
        }
    };
    respond(StatusCode::OK, page(Some(&s), l, l.t("operators"), body))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NewOperator {
    csrf: Option<String>,
    name: String,
    role: String,
    branch: String,
}

async fn add_operator(State(c): St, s: Signed, Form(f): Form<NewOperator>) -> Response {
    if let Err(r) = admin_only(&s).and_then(|()| s.check_csrf(f.csrf.as_deref())) {
        return *r;
    }
    let l = s.lang;
    let parsed = (|| {
        let name = OperatorName::parse(&f.name)?;
        let role = StaffRole::parse(&f.role)?;
        let branch = Some(f.branch.trim())
            .filter(|b| !b.is_empty())
            .map(BranchCode::parse)
            .transpose()?;
        Ok::<_, pooya_staff::StaffInvalid>((name, role, branch))
    })();
    let (name, role, branch) = match parsed {
        Ok(v) => v,
        Err(e) => return s.issuer_error(pooya_issuer::IssuerError::Staff(e)),
    };
    let password = Password::generate();
    let added = match c
        .issuer
        .add_operator(&s.actor(), name, role, branch, &password)
        .await
    {
        Ok(a) => a,
        Err(e) => return s.issuer_error(e),
    };
    let bank = c.issuer.policy().bank_name.clone();
    let uri = added.secret.otpauth_uri(&bank, &added.operator.name);
    let qr = qrcode::QrCode::new(uri.as_bytes())
        .map(|q| {
            q.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .build()
        })
        .unwrap_or_default();
    let body = html! {
        p.ok id="message" { (l.t("operator_added")) }
        section.box {
            dl.facts {
                dt { (l.t("name")) } dd { bdi dir="ltr" id="new-name" { (added.operator.name.as_str()) } }
                dt { (l.t("role")) } dd { (view::role(l, added.operator.role)) }
                dt { (l.t("password")) } dd { div.secret id="new-password" { (password.expose()) } }
                dt { (l.t("totp_secret")) } dd { div.secret id="new-secret" { (&*added.secret.base32()) } }
            }
            // The SVG is the qrcode crate's own output (no script, no outside reference).
            div.qr { (PreEscaped(qr)) }
            p { a href="/console/admin/operators" { (l.t("back")) } }
        }
    };
    respond(
        StatusCode::CREATED,
        page(Some(&s), l, l.t("add_operator"), body),
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfOnly {
    csrf: Option<String>,
}

async fn set_disabled(
    c: &Console,
    s: &Signed,
    name: &str,
    csrf: Option<&str>,
    disabled: bool,
) -> Response {
    if let Err(r) = admin_only(s).and_then(|()| s.check_csrf(csrf)) {
        return *r;
    }
    let name = match OperatorName::parse(name) {
        Ok(n) => n,
        Err(e) => return s.issuer_error(pooya_issuer::IssuerError::Staff(e)),
    };
    match c
        .issuer
        .set_operator_disabled(&s.actor(), &name, disabled)
        .await
    {
        Ok(()) => Redirect::to("/console/admin/operators").into_response(),
        Err(e) => s.issuer_error(e),
    }
}

async fn disable(
    State(c): St,
    s: Signed,
    Path(name): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    set_disabled(&c, &s, &name, f.csrf.as_deref(), true).await
}

async fn enable(
    State(c): St,
    s: Signed,
    Path(name): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    set_disabled(&c, &s, &name, f.csrf.as_deref(), false).await
}

async fn outbox(State(c): St, s: Signed) -> Response {
    if let Err(r) = admin_only(&s) {
        return *r;
    }
    let l = s.lang;
    let (st, now) = match c.issuer.outbox_status().await {
        Ok(v) => v,
        Err(e) => return s.issuer_error(e),
    };
    let unsent = match c.issuer.outbox_unsent().await {
        Ok(v) => v,
        Err(e) => return s.issuer_error(e),
    };
    let body = html! {
        section.box {
            dl.facts id="outbox" {
                dt { (l.t("queued")) } dd { (st.queued) }
                dt { (l.t("retrying")) } dd { (st.retrying) }
                dt { (l.t("failed_attempts")) } dd { (st.failed_attempts) }
                dt { (l.t("given_up")) } dd { (st.given_up) }
                dt { (l.t("refused_sms")) } dd { (st.refused) }
                dt { (l.t("sent")) } dd { (st.sent) }
            }
        }
        h2 { (l.t("unsent")) }
        @if unsent.is_empty() { p { (l.t("none_yet")) } } @else {
            table id="unsent" {
                thead { tr {
                    th { "#" } th { (l.t("mobile")) } th { (l.t("time")) } th { (l.t("state")) }
                    th { (l.t("failed_attempts")) } th { (l.t("last_error")) } th {}
                } }
                tbody { @for m in &unsent { tr {
                    td { (m.id) }
                    td { bdi dir="ltr" { (m.to.masked()) } }
                    td.nowrap { bdi dir="ltr" { (view::time(l, m.created_at)) } }
                    td { @if m.given_up { span.tag.bad { (l.t("given_up")) } } @else { span.tag { (l.t("queued")) } } }
                    td { (m.attempts) }
                    td { bdi dir="ltr" { (m.last_error.as_deref().unwrap_or("—")) } }
                    td { @if m.given_up {} @else if m.expires_at.is_none_or(|e| e > now) {
                        form.inline method="post" action={ "/console/admin/outbox/" (m.id) "/retry" } {
                            (csrf(&s)) button.quiet type="submit" { (l.t("retry_now")) }
                        }
                    } @else { span.tag { (l.t("code_expired")) } } }
                } } }
            }
        }
    };
    respond(StatusCode::OK, page(Some(&s), l, l.t("outbox"), body))
}

async fn retry_sms(
    State(c): St,
    s: Signed,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = admin_only(&s).and_then(|()| s.check_csrf(f.csrf.as_deref())) {
        return *r;
    }
    match c.issuer.outbox_retry_now(&s.actor(), id).await {
        Ok(true) => Redirect::to("/console/admin/outbox").into_response(),
        Ok(false) => s.refusal(StatusCode::CONFLICT, "cannot_retry"),
        Err(e) => s.issuer_error(e),
    }
}

async fn audit(State(c): St, s: Signed) -> Response {
    if let Err(r) = admin_only(&s) {
        return *r;
    }
    let l = s.lang;
    let walked = match c.issuer.verify_audit_chain(&[]).await {
        Ok(w) => w,
        Err(e) => return s.issuer_error(e),
    };
    let body = html! {
        section.box id="audit" {
            @match &walked {
                Ok(sum) => {
                    p.ok { (l.t("chain_ok")) }
                    dl.facts { dt { (l.t("records")) } dd { (sum.records) } }
                    table { tbody { @for h in sum.heads.iter().filter(|h| h.seq > 0) {
                        tr { td { (h.lane) } td { (h.seq) } td { code { (h.mac) } } }
                    } } }
                }
                Err(b) => { p.bad { (l.t("chain_broken")) " " bdi dir="ltr" { (b.to_string()) } } }
            }
        }
    };
    respond(StatusCode::OK, page(Some(&s), l, l.t("audit_chain"), body))
}

async fn pskc_page(s: Signed) -> Response {
    if let Err(r) = admin_only(&s) {
        return *r;
    }
    let l = s.lang;
    let body = html! {
        section.box {
            form.stack method="post" action="/console/admin/pskc" autocomplete="off" {
                (csrf(&s))
                label for="pskc-file" { (l.t("pskc_file")) }
                textarea.ltr id="pskc-file" name="pskc" rows="10" required {}
                label for="pskc-assign" { (l.t("pskc_assign")) }
                textarea.ltr id="pskc-assign" name="assign" rows="4" required {}
                label for="pskc-psk" { (l.t("pskc_psk")) }
                input.ltr type="password" id="pskc-psk" name="preshared_key_hex";
                label for="pskc-password" { (l.t("pskc_password")) }
                input.ltr type="password" id="pskc-password" name="password";
                button type="submit" id="pskc-import" { (l.t("pskc_import")) }
            }
        }
    };
    respond(StatusCode::OK, page(Some(&s), l, l.t("pskc"), body))
}

/// The PSKC form; its secrets are wiped when it is dropped.
#[derive(Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
struct PskcForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    pskc: String,
    /// `SERIAL=PAN`, one a line.
    #[serde(default)]
    assign: String,
    #[serde(default)]
    preshared_key_hex: String,
    #[serde(default)]
    password: String,
}

/// The hardware tokens of a PSKC file, all or nothing (the issuer's `import_pskc`, as
/// `POST /v1/admin/pskc`).
async fn pskc_upload(State(c): St, s: Signed, Form(f): Form<PskcForm>) -> Response {
    if let Err(r) = admin_only(&s).and_then(|()| s.check_csrf(f.csrf.as_deref())) {
        return *r;
    }
    let invalid = |m: String| s.issuer_error(pooya_issuer::IssuerError::InvalidPskc(m));
    let mut assign = Vec::new();
    for line in f.assign.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((serial, pan)) = line.split_once('=') else {
            return invalid("each assignment line is SERIAL=PAN".into());
        };
        match pooya_issuer::domain::Pan::parse(pan.trim()) {
            Ok(pan) => assign.push((serial.trim().to_owned(), pan)),
            Err(e) => return s.issuer_error(e.into()),
        }
    }
    let psk = match f.preshared_key_hex.trim() {
        "" => None,
        h => match pooya_pskc::from_hex(h) {
            Some(k) => Some(zeroize::Zeroizing::new(k)),
            None => return invalid("the pre-shared key is not hexadecimal".into()),
        },
    };
    let secrets = pooya_pskc::Secrets {
        preshared_key: psk.as_deref().map(|k| k.as_slice()),
        password: Some(f.password.as_str())
            .filter(|p| !p.is_empty())
            .map(str::as_bytes),
    };
    match c
        .issuer
        .import_pskc(&s.actor(), &f.pskc, &secrets, &assign)
        .await
    {
        Ok(n) => view::message_page(
            Some(&s),
            s.lang,
            StatusCode::OK,
            "pskc_imported",
            Some(n.to_string()),
        ),
        Err(e) => s.issuer_error(e),
    }
}

fn keys_of(c: &Console, s: &Signed) -> Result<Arc<dyn crate::ChannelKeys>, Box<Response>> {
    c.keys
        .clone()
        .ok_or_else(|| Box::new(s.refusal(StatusCode::NOT_FOUND, "not_found")))
}

async fn keys_page(State(c): St, s: Signed) -> Response {
    let keys = match admin_only(&s).and_then(|()| keys_of(&c, &s)) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let l = s.lang;
    let list = match keys.list().await {
        Ok(v) => v,
        Err(e) => return s.issuer_error(e),
    };
    let body = html! {
        table id="keys" {
            thead { tr { th { (l.t("key_id")) } th { (l.t("role")) } th { (l.t("label")) } th { (l.t("time")) } th { (l.t("state")) } th {} } }
            tbody { @for (k, revoked) in &list { tr {
                td { code { (k.key_hash.get(..12).unwrap_or(&k.key_hash)) } }
                td { code { (k.role.as_str()) } }
                td { bdi dir="ltr" { (k.label) } }
                td.nowrap { bdi dir="ltr" { (view::time(l, k.created_at)) } }
                td { @match revoked {
                    Some(at) => { span.tag.bad { (l.t("revoked")) } " " bdi dir="ltr" { (view::time(l, *at)) } },
                    None => span.tag.ok { (l.t("state_active")) },
                } }
                td { @if revoked.is_none() {
                    form.inline method="post" action={ "/console/admin/keys/" (k.key_hash) "/revoke" } {
                        (csrf(&s)) button.danger type="submit" { (l.t("revoke")) }
                    }
                } }
            } } }
        }
        h2 { (l.t("create_key")) }
        section.box {
            form.stack method="post" action="/console/admin/keys" {
                (csrf(&s))
                label for="key-role" { (l.t("role")) }
                select id="key-role" name="role" {
                    @for r in pooya_issuer::domain::Role::ALL { option value=(r.as_str()) { (r.as_str()) } }
                }
                label for="key-label" { (l.t("label")) }
                input.ltr type="text" id="key-label" name="label" required;
                button type="submit" id="create-key" { (l.t("create_key")) }
            }
        }
    };
    respond(StatusCode::OK, page(Some(&s), l, l.t("keys"), body))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NewKey {
    csrf: Option<String>,
    role: String,
    label: String,
}

async fn create_key(State(c): St, s: Signed, Form(f): Form<NewKey>) -> Response {
    let keys = match admin_only(&s)
        .and_then(|()| s.check_csrf(f.csrf.as_deref()))
        .and_then(|()| keys_of(&c, &s))
    {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let l = s.lang;
    let Some(role) = pooya_issuer::domain::Role::parse(f.role.trim()) else {
        return s.refusal(StatusCode::UNPROCESSABLE_ENTITY, "invalid_key");
    };
    let label = f.label.trim();
    if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
        return s.refusal(StatusCode::UNPROCESSABLE_ENTITY, "invalid_key");
    }
    let now = c.issuer.now_ms();
    let key = match keys.create(role, label, now).await {
        Ok(k) => zeroize::Zeroizing::new(k),
        Err(e) => return s.issuer_error(e),
    };
    let detail = format!("{} {label}", role.as_str());
    if let Err(e) = c
        .issuer
        .record(
            &s.actor(),
            pooya_issuer::audit::AuditEvent::KeyCreated,
            detail,
        )
        .await
    {
        return s.issuer_error(e);
    }
    let body = html! {
        p.ok id="message" { (l.t("key_created")) }
        section.box {
            dl.facts {
                dt { (l.t("role")) } dd { code { (role.as_str()) } }
                dt { (l.t("label")) } dd { bdi dir="ltr" { (label) } }
                dt { (l.t("key")) } dd { div.secret id="new-key" { (key.as_str()) } }
            }
            p { a href="/console/admin/keys" { (l.t("back")) } }
        }
    };
    respond(
        StatusCode::CREATED,
        page(Some(&s), l, l.t("create_key"), body),
    )
}

async fn revoke_key(
    State(c): St,
    s: Signed,
    Path(hash): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let keys = match admin_only(&s)
        .and_then(|()| s.check_csrf(f.csrf.as_deref()))
        .and_then(|()| keys_of(&c, &s))
    {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let now = c.issuer.now_ms();
    let listed = match keys.list().await {
        Ok(v) => v,
        Err(e) => return s.issuer_error(e),
    };
    let Some((k, _)) = listed
        .iter()
        .find(|(k, r)| k.key_hash == hash && r.is_none())
    else {
        return s.refusal(StatusCode::NOT_FOUND, "not_found");
    };
    match keys.revoke(&hash, now).await {
        Ok(true) => {}
        Ok(false) => return s.refusal(StatusCode::NOT_FOUND, "not_found"),
        Err(e) => return s.issuer_error(e),
    }
    let detail = format!(
        "{} {} {}",
        k.role.as_str(),
        k.label,
        hash.get(..12).unwrap_or(&hash)
    );
    if let Err(e) = c
        .issuer
        .record(
            &s.actor(),
            pooya_issuer::audit::AuditEvent::KeyRevoked,
            detail,
        )
        .await
    {
        return s.issuer_error(e);
    }
    Redirect::to("/console/admin/keys").into_response()
}
