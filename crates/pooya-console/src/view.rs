//! The console's page frame and the small pieces every page shows (times, roles, actors).

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup, DOCTYPE};
use pooya_issuer::audit::StoredAudit;
use pooya_issuer::card::{Mode, ServiceState};
use pooya_staff::StaffRole;

use crate::i18n::Lang;
use crate::Signed;

/// The stylesheet, served from `/console/static/console.css` (the CSP allows styles from the
/// console's own origin only).
pub(crate) const CSS: &str = include_str!("../static/console.css");

/// A page of the console: header (who is signed in, the menu for their role, sign-out, the
/// other language), then `body`.
pub(crate) fn page(signed: Option<&Signed>, lang: Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) dir=(lang.dir()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (lang.t("console")) }
                link rel="stylesheet" href="/console/static/console.css";
            }
            body {
                header {
                    a.brand href="/console/" { (lang.t("console")) }
                    @if let Some(s) = signed {
                        nav {
                            @if s.op.role.serves_customers() {
                                a href="/console/home" { (lang.t("home")) }
                            }
                            @if s.op.role == StaffRole::Supervisor {
                                a href="/console/approvals" { (lang.t("approvals")) }
                            }
                            @if s.op.role == StaffRole::Admin {
                                a href="/console/admin/operators" { (lang.t("operators")) }
                                a href="/console/admin/keys" { (lang.t("keys")) }
                                a href="/console/admin/pskc" { (lang.t("pskc")) }
                                a href="/console/admin/outbox" { (lang.t("outbox")) }
                                a href="/console/admin/audit" { (lang.t("audit_chain")) }
                            }
                        }
                        span.who {
                            (lang.t("signed_in_as")) " "
                            bdi dir="ltr" { (s.op.name.as_str()) }
                            " (" (role(lang, s.op.role))
                            @if let Some(b) = &s.op.branch { (lang.t("comma")) (lang.t("branch_of")) " " bdi dir="ltr" { (b.as_str()) } }
                            ")"
                        }
                        form.inline method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(s.session.csrf);
                            button type="submit" { (lang.t("sign_out")) }
                        }
                    }
                    a.lang href={ "/console/lang/" (lang.other().code()) } { (lang.t("language")) }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page saying one thing (a refusal, an outcome), with a way back.
pub(crate) fn message_page(
    signed: Option<&Signed>,
    lang: Lang,
    status: StatusCode,
    key: &'static str,
    extra: Option<String>,
) -> Response {
    let title = if status.is_success() {
        lang.t("done")
    } else {
        lang.t("error")
    };
    let class = if status.is_success() { "ok" } else { "refused" };
    crate::html(
        status,
        page(
            signed,
            lang,
            title,
            html! {
                p class=(class) id="message" { (lang.t(key)) @if let Some(x) = extra { " " bdi dir="ltr" { (x) } } }
                p { a href="/console/" { (lang.t("back")) } }
            },
        ),
    )
}

pub(crate) fn role(lang: Lang, r: StaffRole) -> &'static str {
    lang.t(match r {
        StaffRole::Teller => "role_teller",
        StaffRole::Supervisor => "role_supervisor",
        StaffRole::Admin => "role_admin",
    })
}

pub(crate) fn mode(lang: Lang, m: Mode) -> &'static str {
    lang.t(match m {
        Mode::None => "mode_none",
        Mode::App => "mode_app",
        Mode::Sms => "mode_sms",
    })
}

pub(crate) fn state(lang: Lang, s: ServiceState) -> &'static str {
    lang.t(match s {
        ServiceState::Inactive => "state_inactive",
        ServiceState::Pending => "state_pending",
        ServiceState::Active => "state_active",
        ServiceState::Locked => "state_locked",
    })
}

pub(crate) fn yes_no(lang: Lang, b: bool) -> &'static str {
    lang.t(if b { "yes" } else { "no" })
}

/// A moment: in Persian on Tehran's clock with the Solar Hijri date, in English in UTC.
pub(crate) fn time(lang: Lang, unix_ms: i64) -> String {
    match lang {
        Lang::Fa => pooya_issuer::jalali::tehran(unix_ms)
            .map(|t| format!("{} {}", t.date, t.hh_mm_ss()))
            .unwrap_or_default(),
        Lang::En => time::OffsetDateTime::from_unix_timestamp(unix_ms.div_euclid(1000))
            .ok()
            .and_then(|t| {
                t.format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
                ))
                .ok()
            })
            .unwrap_or_default(),
    }
}

/// An audit record's actor as people read it: `sara (branch 0123)`, `key core-banking`.
pub(crate) fn actor(stored: Option<&str>) -> String {
    match stored {
        None => "—".into(),
        Some(a) => {
            if let Some(op) = a.strip_prefix("operator:") {
                match op.split_once('@') {
                    Some((name, "-")) => name.to_owned(),
                    Some((name, branch)) => format!("{name} @ {branch}"),
                    None => op.to_owned(),
                }
            } else if let Some(label) = a.strip_prefix("key:") {
                format!("🔑 {label}")
            } else {
                a.to_owned()
            }
        }
    }
}

/// An audit timeline as a table.
pub(crate) fn timeline(lang: Lang, records: &[StoredAudit]) -> Markup {
    html! {
        @if records.is_empty() {
            p { (lang.t("none_yet")) }
        } @else {
            table.timeline {
                thead { tr {
                    th { (lang.t("time")) } th { (lang.t("event")) } th { (lang.t("card")) }
                    th { (lang.t("by")) } th { (lang.t("detail")) }
                } }
                tbody {
                    @for r in records {
                        tr {
                            td.nowrap { bdi dir="ltr" { (time(lang, r.record.at)) } }
                            td { code { (r.record.event) } }
                            td.nowrap { bdi dir="ltr" { (r.record.pan_masked.as_deref().unwrap_or("—")) } }
                            td.actor { bdi dir="ltr" { (actor(r.record.actor.as_deref())) } }
                            td { bdi dir="ltr" { (r.record.detail) } }
                        }
                    }
                }
            }
        }
    }
}

/// A hidden CSRF field.
pub(crate) fn csrf(s: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.session.csrf); }
}
