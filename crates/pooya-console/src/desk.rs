//! Signing in and out, and the tellers' and supervisors' desk: finding customers and cards, a
//! card's page, registering, asking for a mobile change, unblocking (R11), and four eyes.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::html;
use pooya_issuer::domain::{CustomerId, Digits, Expiry, Mobile, Pan};
use pooya_issuer::issuer::MobileChangeAsked;
use pooya_issuer::IssuerError;
use pooya_staff::{OperatorName, SignInRefused, StaffRole};
use serde::Deserialize;

use crate::i18n::Lang;
use crate::view::{self, csrf, page};
use crate::{cookie, html as respond, set_cookie, Console, Language, Signed};
use crate::{LANG_COOKIE, SESSION_COOKIE, SIGN_IN_COOKIE};

type St = State<Arc<Console>>;

pub(crate) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(start))
        .route("/console/static/console.css", get(css))
        .route("/console/lang/{lang}", get(language))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/home", get(home))
        .route("/console/find", post(find))
        .route("/console/customers", post(register_customer))
        .route("/console/customers/{id}", get(customer))
        .route("/console/customers/{id}/mobile", post(change_mobile))
        .route("/console/cards", post(register_card))
        .route("/console/cards/{card}", get(card))
        .route("/console/cards/{card}/unblock-second", post(unblock_second))
        .route("/console/cards/{card}/unlock-pin", post(unlock_pin))
        .route("/console/approvals", get(approvals))
        .route("/console/approvals/{id}/approve", post(approve))
        .route("/console/approvals/{id}/refuse", post(refuse))
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        view::CSS,
    )
        .into_response()
}

async fn start(signed: Result<Signed, Response>) -> Redirect {
    match signed {
        Ok(s) if s.op.role == StaffRole::Admin => Redirect::to("/console/admin/operators"),
        Ok(_) => Redirect::to("/console/home"),
        Err(_) => Redirect::to("/console/sign-in"),
    }
}

async fn language(State(c): St, Path(lang): Path<String>) -> Response {
    let lang = Lang::parse(&lang).unwrap_or(Lang::Fa);
    let mut r = Redirect::to("/console/").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(c.secure, LANG_COOKIE, lang.code(), Some(365 * 86400)),
    );
    r
}

fn sign_in_form(lang: Lang, token: &str, refused: Option<&'static str>) -> maud::Markup {
    page(
        None,
        lang,
        lang.t("sign_in"),
        html! {
            section.box.signin {
                @if let Some(key) = refused { p.refused id="message" { (lang.t(key)) } }
                form.stack method="post" action="/console/sign-in" {
                    input type="hidden" name="csrf" value=(token);
                    label for="name" { (lang.t("name")) }
                    input.ltr type="text" id="name" name="name" autocomplete="username" required;
                    label for="password" { (lang.t("password")) }
                    input.ltr type="password" id="password" name="password" autocomplete="current-password" required;
                    label for="code" { (lang.t("totp")) }
                    input.ltr type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" required;
                    button type="submit" id="sign-in" { (lang.t("sign_in")) }
                }
            }
        },
    )
}

/// The sign-in form, with a fresh double-submit token (its cookie and its field must match).
async fn sign_in_page(State(c): St, Language(lang): Language) -> Response {
    sign_in_answer(&c, lang, StatusCode::OK, None)
}

fn sign_in_answer(
    c: &Console,
    lang: Lang,
    status: StatusCode,
    refused: Option<&'static str>,
) -> Response {
    let token = data_encoding::BASE64URL_NOPAD.encode(&pooya_issuer::keys::random_bytes::<24>());
    let mut r = respond(status, sign_in_form(lang, &token, refused));
    r.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(c.secure, SIGN_IN_COOKIE, &token, Some(1800)),
    );
    r
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SignInForm {
    csrf: Option<String>,
    name: String,
    password: String,
    code: String,
}

async fn sign_in(
    State(c): St,
    Language(lang): Language,
    headers: HeaderMap,
    Form(f): Form<SignInForm>,
) -> Response {
    let expected = cookie(&headers, SIGN_IN_COOKIE);
    let csrf_ok = matches!((expected, f.csrf.as_deref()), (Some(a), Some(b)) if pooya_otp::ct_eq(a.as_bytes(), b.as_bytes()));
    if !csrf_ok {
        return view::message_page(None, lang, StatusCode::FORBIDDEN, "csrf", None);
    }
    let refused = |key| sign_in_answer(&c, lang, StatusCode::UNAUTHORIZED, Some(key));
    let Ok(name) = OperatorName::parse(&f.name) else {
        return refused("sign_in_refused");
    };
    let op = match c.issuer.sign_in(&name, &f.password, &f.code).await {
        Ok(op) => op,
        Err(IssuerError::SignIn(SignInRefused::Locked | SignInRefused::NowLocked)) => {
            return refused("locked")
        }
        Err(IssuerError::SignIn(SignInRefused::Disabled)) => return refused("disabled"),
        Err(IssuerError::SignIn(_)) => return refused("sign_in_refused"),
        Err(e) => {
            let (status, key, extra) = crate::explain(&e);
            return view::message_page(None, lang, status, key, extra);
        }
    };
    let (token, _) = match c.issuer.open_session(&op).await {
        Ok(s) => s,
        Err(e) => {
            let (status, key, extra) = crate::explain(&e);
            return view::message_page(None, lang, status, key, extra);
        }
    };
    let mut r = Redirect::to("/console/").into_response();
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(c.secure, SESSION_COOKIE, &token, None),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(c.secure, SIGN_IN_COOKIE, "", Some(0)),
    );
    r
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfOnly {
    csrf: Option<String>,
}

async fn sign_out(
    State(c): St,
    s: Signed,
    headers: HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = s.check_csrf(f.csrf.as_deref()) {
        return *r;
    }
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if let Err(e) = c.issuer.end_session(token).await {
            return s.issuer_error(e);
        }
    }
    let mut r = Redirect::to("/console/sign-in").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(c.secure, SESSION_COOKIE, "", Some(0)),
    );
    r
}

fn desk_only(s: &Signed) -> Result<(), Box<Response>> {
    s.require(StaffRole::serves_customers)
}

async fn home(State(c): St, s: Signed) -> Response {
    if let Err(r) = desk_only(&s) {
        return *r;
    }
    let l = s.lang;
    let pending = if s.op.role == StaffRole::Supervisor {
        c.issuer
            .pending_mobile_changes()
            .await
            .map(|p| p.len())
            .unwrap_or(0)
    } else {
        0
    };
    let body = html! {
        @if pending > 0 {
            p { a href="/console/approvals" { (l.t("approvals")) ": " (pending) } }
        }
        div.grid {
            section.box {
                h2 { (l.t("find_customer")) }
                form.stack method="post" action="/console/find" {
                    (csrf(&s))
                    input type="hidden" name="kind" value="customer";
                    input.ltr type="text" name="q" id="find-customer" required;
                    button type="submit" { (l.t("find")) }
                }
            }
            section.box {
                h2 { (l.t("find_card")) }
                form.stack method="post" action="/console/find" {
                    (csrf(&s))
                    input type="hidden" name="kind" value="card";
                    input.ltr type="text" name="q" id="find-card" inputmode="numeric" autocomplete="off" required;
                    button type="submit" { (l.t("find")) }
                }
            }
            section.box {
                h2 { (l.t("register_customer")) }
                form.stack method="post" action="/console/customers" {
                    (csrf(&s))
                    label for="new-customer-id" { (l.t("customer_id")) }
                    input.ltr type="text" id="new-customer-id" name="customer_id" required;
                    label for="new-customer-mobile" { (l.t("mobile")) }
                    input.ltr type="tel" id="new-customer-mobile" name="mobile" required;
                    button type="submit" { (l.t("register_customer")) }
                }
            }
            section.box {
                h2 { (l.t("register_card")) }
                form.stack method="post" action="/console/cards" autocomplete="off" {
                    (csrf(&s))
                    label for="card-customer" { (l.t("customer_id")) }
                    input.ltr type="text" id="card-customer" name="customer_id" required;
                    label for="card-pan" { (l.t("card_number")) }
                    input.ltr type="text" id="card-pan" name="pan" inputmode="numeric" required;
                    label for="card-expiry" { (l.t("expiry")) }
                    input.ltr type="text" id="card-expiry" name="expiry" inputmode="numeric" required;
                    label for="card-pin" { (l.t("pin")) }
                    input.ltr type="password" id="card-pin" name="pin" inputmode="numeric" required;
                    label for="card-second" { (l.t("second_password")) }
                    input.ltr type="password" id="card-second" name="second_password" inputmode="numeric" required;
                    button type="submit" { (l.t("register_card")) }
                }
            }
        }
    };
    respond(StatusCode::OK, page(Some(&s), l, l.t("home"), body))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FindForm {
    csrf: Option<String>,
    kind: String,
    q: String,
}

/// A find by POST: a card number never travels in a URL (nor in the request log).
async fn find(State(c): St, s: Signed, Form(f): Form<FindForm>) -> Response {
    if let Err(r) = desk_only(&s).and_then(|()| s.check_csrf(f.csrf.as_deref())) {
        return *r;
    }
    let q = f.q.trim();
    if f.kind == "card" {
        return match Pan::parse(q) {
            Ok(pan) => {
                Redirect::to(&format!("/console/cards/{}", c.issuer.card_ref(&pan))).into_response()
            }
            Err(e) => s.issuer_error(e.into()),
        };
    }
    let id = if let Ok(m) = Mobile::parse(q) {
        match c.issuer.customer_by_mobile(&m).await {
            Ok(Some(id)) => id,
            Ok(None) => return s.refusal(StatusCode::NOT_FOUND, "unknown_customer"),
            Err(e) => return s.issuer_error(e),
        }
    } else {
        match CustomerId::parse(q) {
            Ok(id) => id,
            Err(e) => return s.issuer_error(e.into()),
        }
    };
    Redirect::to(&format!("/console/customers/{}", id.as_str())).into_response()
}

async fn customer(State(c): St, s: Signed, Path(id): Path<String>) -> Response {
    if let Err(r) = desk_only(&s) {
        return *r;
    }
    let l = s.lang;
    let id = match CustomerId::parse(&id) {
        Ok(id) => id,
        Err(e) => return s.issuer_error(e.into()),
    };
    let p = match c.issuer.customer_page(&id).await {
        Ok(p) => p,
        Err(e) => return s.issuer_error(e),
    };
    let body = html! {
        section.box {
            dl.facts {
                dt { (l.t("customer_id")) } dd { bdi dir="ltr" id="customer-id" { (p.customer.id.as_str()) } }
                dt { (l.t("mobile")) } dd { bdi dir="ltr" id="customer-mobile" { (p.customer.mobile.masked()) } }
            }
        }
        h2 { (l.t("cards")) }
        @if p.cards.is_empty() { p { (l.t("none_yet")) } } @else {
            table {
                thead { tr { th { (l.t("card")) } th { (l.t("service")) } th { (l.t("state")) } th { (l.t("second_blocked")) } } }
                tbody { @for (r, v) in &p.cards { tr {
                    td { a href={ "/console/cards/" (r) } { bdi dir="ltr" { (v.pan_masked) } } }
                    td { (view::mode(l, v.mode)) } td { (view::state(l, v.state)) }
                    td { (view::yes_no(l, v.second_blocked)) }
                } } }
            }
        }
        h2 { (l.t("change_mobile")) }
        section.box {
            @for ch in &p.pending {
                p.tag id="pending-change" { (l.t("pending")) ": " bdi dir="ltr" { (ch.mobile.masked()) } " — " (l.t("requested_by")) " " bdi dir="ltr" { (ch.requested_by.as_str()) } }
            }
            form.stack method="post" action={ "/console/customers/" (p.customer.id.as_str()) "/mobile" } {
                (csrf(&s))
                label for="new-mobile" { (l.t("new_mobile")) }
                input.ltr type="tel" id="new-mobile" name="mobile" required;
                button type="submit" id="request-change" { (l.t("change_mobile")) }
            }
        }
        h2 { (l.t("timeline")) }
        (view::timeline(l, &p.timeline))
    };
    respond(StatusCode::OK, page(Some(&s), l, l.t("customer"), body))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NewCustomer {
    csrf: Option<String>,
    customer_id: String,
    mobile: String,
}

async fn register_customer(State(c): St, s: Signed, Form(f): Form<NewCustomer>) -> Response {
    if let Err(r) = desk_only(&s).and_then(|()| s.check_csrf(f.csrf.as_deref())) {
        return *r;
    }
    let parsed =
        CustomerId::parse(&f.customer_id).and_then(|id| Ok((id, Mobile::parse(&f.mobile)?)));
    let (id, mobile) = match parsed {
        Ok(v) => v,
        Err(e) => return s.issuer_error(e.into()),
    };
    match c
        .issuer
        .create_customer(&s.actor(), id.clone(), mobile)
        .await
    {
        Ok(_) => Redirect::to(&format!("/console/customers/{}", id.as_str())).into_response(),
        Err(e) => s.issuer_error(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NewCard {
    csrf: Option<String>,
    customer_id: String,
    pan: String,
    expiry: String,
    pin: String,
    second_password: String,
}

async fn register_card(State(c): St, s: Signed, Form(f): Form<NewCard>) -> Response {
    if let Err(r) = desk_only(&s).and_then(|()| s.check_csrf(f.csrf.as_deref())) {
        return *r;
    }
    let parsed = (|| {
        Ok::<_, pooya_issuer::domain::InvalidValue>((
            Pan::parse(f.pan.trim())?,
            CustomerId::parse(&f.customer_id)?,
            Expiry::parse(f.expiry.trim())?,
            Digits::pin(&f.pin)?,
            Digits::second_password(&f.second_password)?,
        ))
    })();
    let (pan, customer, expiry, pin, second) = match parsed {
        Ok(v) => v,
        Err(e) => return s.issuer_error(e.into()),
    };
    match c
        .issuer
        .create_card(&s.actor(), &pan, customer, expiry, pin, second)
        .await
    {
        Ok(_) => {
            Redirect::to(&format!("/console/cards/{}", c.issuer.card_ref(&pan))).into_response()
        }
        Err(e) => s.issuer_error(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NewMobile {
    csrf: Option<String>,
    mobile: String,
}

async fn change_mobile(
    State(c): St,
    s: Signed,
    Path(id): Path<String>,
    Form(f): Form<NewMobile>,
) -> Response {
    if let Err(r) = desk_only(&s).and_then(|()| s.check_csrf(f.csrf.as_deref())) {
        return *r;
    }
    let parsed = CustomerId::parse(&id).and_then(|id| Ok((id, Mobile::parse(&f.mobile)?)));
    let (id, mobile) = match parsed {
        Ok(v) => v,
        Err(e) => return s.issuer_error(e.into()),
    };
    match c
        .issuer
        .request_mobile_change(&s.actor(), &id, mobile)
        .await
    {
        Ok(MobileChangeAsked::Pending(_)) => view::message_page(
            Some(&s),
            s.lang,
            StatusCode::ACCEPTED,
            "mobile_change_pending",
            None,
        ),
        Ok(MobileChangeAsked::Changed { .. }) => {
            view::message_page(Some(&s), s.lang, StatusCode::OK, "mobile_changed", None)
        }
        Err(e) => s.issuer_error(e),
    }
}

async fn card(State(c): St, s: Signed, Path(card): Path<String>) -> Response {
    if let Err(r) = desk_only(&s) {
        return *r;
    }
    let l = s.lang;
    let p = match c.issuer.card_page(&card).await {
        Ok(p) => p,
        Err(e) => return s.issuer_error(e),
    };
    let v = &p.view;
    let flag = |bad: bool, text: &'static str| html! { span class={ "tag " (if bad { "bad" } else { "ok" }) } { (text) } };
    let body = html! {
        section.box {
            dl.facts id="card-facts" {
                dt { (l.t("card_number")) } dd { bdi dir="ltr" id="card-masked" { (v.pan_masked) } }
                dt { (l.t("customer")) } dd { a href={ "/console/customers/" (v.customer_id) } { bdi dir="ltr" { (v.customer_id) } } }
                dt { (l.t("expiry")) } dd { bdi dir="ltr" { (p.expiry) } }
                dt { (l.t("service")) } dd { (view::mode(l, v.mode)) }
                dt { (l.t("state")) } dd { (flag(v.state == pooya_issuer::card::ServiceState::Locked, view::state(l, v.state))) }
                dt { (l.t("recent_failures")) } dd { (v.recent_failures) }
                dt { (l.t("second_blocked")) } dd id="second-blocked" { (flag(v.second_blocked, view::yes_no(l, v.second_blocked))) }
                dt { (l.t("static_second")) } dd { (flag(p.static_second_dead, l.t(if p.static_second_dead { "dead" } else { "alive" }))) }
                dt { (l.t("pin_locked")) } dd { (flag(v.pin_locked, view::yes_no(l, v.pin_locked))) }
            }
            @if v.second_blocked {
                form.inline method="post" action={ "/console/cards/" (p.pan_hash) "/unblock-second" } {
                    (csrf(&s)) button type="submit" id="unblock-second" { (l.t("unblock_second")) }
                }
            }
            @if v.pin_locked {
                form.inline method="post" action={ "/console/cards/" (p.pan_hash) "/unlock-pin" } {
                    (csrf(&s)) button type="submit" id="unlock-pin" { (l.t("unlock_pin")) }
                }
            }
        }
        h2 { (l.t("verifications")) }
        @if p.verifications.is_empty() { p { (l.t("none_yet")) } } @else {
            table id="verifications" {
                thead { tr { th { (l.t("time")) } th { (l.t("txn")) } th { (l.t("merchant")) } th { (l.t("response_code")) } th { (l.t("reason")) } } }
                tbody { @for r in &p.verifications { tr {
                    td { bdi dir="ltr" { (view::time(l, r.at)) } } td { code { (r.txn_id) } }
                    // The switch's text, Persian or Latin: isolated, in its own direction (the
                    // stylesheet draws every other `bdi` left to right). None before 0011.
                    td { @if let Some(m) = &r.merchant { bdi dir="auto" { (m) } } @else { "—" } }
                    td { code { (r.response_code) } } td { code { (r.reason) } }
                } } }
            }
        }
        h2 { (l.t("timeline")) }
        (view::timeline(l, &p.timeline))
    };
    respond(StatusCode::OK, page(Some(&s), l, l.t("card"), body))
}

async fn unblock_second(
    State(c): St,
    s: Signed,
    Path(card): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = desk_only(&s).and_then(|()| s.check_csrf(f.csrf.as_deref())) {
        return *r;
    }
    match c.issuer.unblock_second_of(&s.actor(), &card).await {
        Ok(()) => Redirect::to(&format!("/console/cards/{card}")).into_response(),
        Err(e) => s.issuer_error(e),
    }
}

async fn unlock_pin(
    State(c): St,
    s: Signed,
    Path(card): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = desk_only(&s).and_then(|()| s.check_csrf(f.csrf.as_deref())) {
        return *r;
    }
    match c.issuer.unlock_pin_of(&s.actor(), &card).await {
        Ok(()) => Redirect::to(&format!("/console/cards/{card}")).into_response(),
        Err(e) => s.issuer_error(e),
    }
}

fn supervisor_only(s: &Signed) -> Result<(), Box<Response>> {
    s.require(|r| r == StaffRole::Supervisor)
}

async fn approvals(State(c): St, s: Signed) -> Response {
    if let Err(r) = supervisor_only(&s) {
        return *r;
    }
    let l = s.lang;
    let pending = match c.issuer.pending_mobile_changes().await {
        Ok(p) => p,
        Err(e) => return s.issuer_error(e),
    };
    let body = html! {
        @if pending.is_empty() { p { (l.t("none_yet")) } } @else {
            table id="approvals" {
                thead { tr {
                    th { (l.t("time")) } th { (l.t("customer")) } th { (l.t("new_mobile")) }
                    th { (l.t("requested_by")) } th { (l.t("branch")) } th {}
                } }
                tbody { @for ch in &pending { tr {
                    td { bdi dir="ltr" { (view::time(l, ch.requested_at)) } }
                    td { a href={ "/console/customers/" (ch.customer_id.as_str()) } { bdi dir="ltr" { (ch.customer_id.as_str()) } } }
                    td { bdi dir="ltr" { (ch.mobile.masked()) } }
                    td { bdi dir="ltr" { (ch.requested_by.as_str()) } }
                    td { bdi dir="ltr" { (ch.branch.as_ref().map_or("—", |b| b.as_str())) } }
                    td {
                        form.inline method="post" action={ "/console/approvals/" (ch.id) "/approve" } {
                            (csrf(&s)) button.approve type="submit" { (l.t("approve")) }
                        }
                        form.inline method="post" action={ "/console/approvals/" (ch.id) "/refuse" } {
                            (csrf(&s)) button.danger.refuse type="submit" { (l.t("refuse")) }
                        }
                    }
                } } }
            }
        }
    };
    respond(StatusCode::OK, page(Some(&s), l, l.t("approvals"), body))
}

async fn decide(c: &Console, s: &Signed, id: &str, csrf: Option<&str>, approve: bool) -> Response {
    if let Err(r) = supervisor_only(s).and_then(|()| s.check_csrf(csrf)) {
        return *r;
    }
    match c.issuer.decide_mobile_change(&s.actor(), id, approve).await {
        Ok(_) => view::message_page(
            Some(s),
            s.lang,
            StatusCode::OK,
            if approve { "approved" } else { "refused" },
            None,
        ),
        Err(e) => s.issuer_error(e),
    }
}

async fn approve(
    State(c): St,
    s: Signed,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    decide(&c, &s, &id, f.csrf.as_deref(), true).await
}

async fn refuse(
    State(c): St,
    s: Signed,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    decide(&c, &s, &id, f.csrf.as_deref(), false).await
}
