//! The staff's console (`/console/`, issue 16) in a real browser and over plain HTTP: sign-in
//! with a password and a TOTP code, a wrong second factor, CSRF, who may open what, four eyes on
//! a mobile change, the audit naming each operator, Persian right to left. Operators are made
//! with `pooya operator add`, as a bank makes its first admin. Screenshots of the main pages go to
//! `target/screenshots/console-*.png` (those in `docs/console/` were chosen from them).

use std::process::Command;

use pooya_staff::TotpSecret;

use crate::common::browser::Browser;
use crate::common::{TestServer, MOBILE, MOBILE2, PAN, STATIC_SECOND};

/// A desktop's viewport: the console is used at a branch's desk.
const DESK: (u32, u32) = (1280, 900);

/// An operator made for a test: name, password and TOTP secret.
struct Staff {
    name: String,
    password: String,
    secret: TotpSecret,
}

impl Staff {
    /// The operator's TOTP code at the server's time.
    async fn code(&self, srv: &TestServer) -> String {
        self.secret.code_at(srv.now_ms().await)
    }
}

/// `pooya operator add` against the running server's store.
fn add_operator(srv: &TestServer, name: &str, role: &str, branch: Option<&str>) -> Staff {
    let password = format!("{name}-long-password-1");
    let out = Command::new(env!("CARGO_BIN_EXE_pooya"))
        .arg("operator")
        .arg("add")
        .arg("--data-dir")
        .arg(srv.data_dir())
        .arg("--config")
        .arg(srv.dir.path().join("pooya.toml"))
        .args(
            srv.db
                .iter()
                .flat_map(|d| ["--database-url".to_owned(), d.url.clone()]),
        )
        .args(["--name", name, "--role", role])
        .args(branch.iter().flat_map(|b| ["--branch", b]))
        .env("POOYA_OPERATOR_PASSWORD", &password)
        .env_remove("POOYA_DATABASE_URL")
        .output()
        .expect("run pooya operator add");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pooya operator add: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains(&password),
        "a password given is never printed"
    );
    let b32 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("totp secret (shown once): "))
        .expect("the TOTP secret line");
    let bytes = data_encoding::BASE32_NOPAD
        .decode(b32.trim().as_bytes())
        .expect("base32");
    Staff {
        name: name.to_owned(),
        password,
        secret: TotpSecret::from_bytes(&bytes),
    }
}

/// The switch verifies `password` as the second password of [`PAN`] for a transaction at
/// `merchant`: the answer's response code.
async fn verify_at(srv: &TestServer, txn: &str, password: &str, merchant: &str) -> String {
    let (s, v) = srv
        .post(
            "/v1/verify",
            "switch",
            serde_json::json!({"pan": PAN, "kind": "second", "password": password,
                "txn": {"id": txn, "amount": 1000, "merchant": merchant}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["response_code"].as_str().unwrap().to_owned()
}

async fn sign_in(b: &Browser, srv: &TestServer, who: &Staff, code: &str) {
    b.goto(&format!("{}/console/sign-in", srv.url)).await;
    b.type_into("#name", &who.name).await;
    b.type_into("#password", &who.password).await;
    b.type_into("#code", code).await;
    b.click("#sign-in").await;
    // The answer's page, signed in or refused: a navigation started before it has loaded would
    // cancel the sign-in's POST.
    b.find("header .who, #message").await;
}

async fn sign_out(b: &Browser) {
    b.click("header form.inline button").await;
    b.find("#sign-in").await;
}

async fn page_dir(b: &Browser) -> String {
    b.js("return document.documentElement.dir", vec![])
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn an_operator_signs_in_with_password_and_totp_and_a_wrong_second_factor_is_refused() {
    let Some(b) = Browser::start_sized(DESK).await else {
        return;
    };
    let srv = TestServer::start().await;
    let sara = add_operator(&srv, "sara", "teller", Some("0123"));
    b.goto(&format!("{}/console/", srv.url)).await;
    b.find("#sign-in").await;
    assert_eq!(
        page_dir(&b).await,
        "rtl",
        "Persian, right to left, by default"
    );
    b.screenshot("console-sign-in").await;

    // The right password with a wrong code: refused, still on the sign-in page.
    let code = sara.code(&srv).await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    sign_in(&b, &srv, &sara, &wrong).await;
    let msg = b.text("#message").await;
    assert!(
        msg.contains("نادرست"),
        "a wrong second factor is refused: {msg:?}"
    );
    b.find("#sign-in").await;

    // Password and code: the teller's desk.
    sign_in(&b, &srv, &sara, &code).await;
    let who = b.text("header .who").await;
    assert!(who.contains("sara") && who.contains("0123"), "{who:?}");
    b.find("#find-card").await;
    b.screenshot("console-home").await;

    // A teller cannot open the admins' pages.
    b.goto(&format!("{}/console/admin/operators", srv.url))
        .await;
    let msg = b.text("#message").await;
    assert!(msg.contains("نقش"), "refused for the role: {msg:?}");
    assert!(
        b.js(
            "return document.querySelector('#operators') === null",
            vec![]
        )
        .await
            == true
    );

    // Signed out, the desk is closed again.
    b.goto(&format!("{}/console/home", srv.url)).await;
    sign_out(&b).await;
    b.goto(&format!("{}/console/home", srv.url)).await;
    b.find("#sign-in").await;

    // The trail says who signed in and who gave a wrong code (never the code).
    let events = audit_export(&srv);
    assert!(events
        .iter()
        .any(|e| e["event"] == "operator.sign_in_failed"
            && e["actor"] == "operator:sara@0123"
            && e["detail"].as_str().unwrap().contains("second factor")));
    assert!(events.iter().any(|e| e["event"] == "operator.signed_in"));
    assert!(!events.iter().any(|e| e.to_string().contains(&wrong)));
}

/// Every audit record, through `pooya audit export`.
fn audit_export(srv: &TestServer) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_pooya"))
        .args(["audit", "export", "--data-dir"])
        .arg(srv.data_dir())
        .arg("--config")
        .arg(srv.dir.path().join("pooya.toml"))
        .args(
            srv.db
                .iter()
                .flat_map(|d| ["--database-url".to_owned(), d.url.clone()]),
        )
        .env_remove("POOYA_DATABASE_URL")
        .output()
        .expect("pooya audit export");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// A plain HTTP client that follows no redirect and keeps cookies by hand.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// An `application/x-www-form-urlencoded` body, as a browser posts a form.
trait FormBody {
    fn form_body<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            body.append_pair(k.as_ref(), v.as_ref());
        }
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body.finish())
    }
}

/// `GET path` with the session's cookie.
async fn get_signed_in(srv: &TestServer, session: &str, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", srv.url))
        .header("cookie", format!("pooya_console={session}"))
        .send()
        .await
        .unwrap()
}

/// `POST path` of the form `pairs` with the session's cookie.
async fn post_signed_in<K: AsRef<str>, V: AsRef<str>>(
    srv: &TestServer,
    session: &str,
    path: &str,
    pairs: &[(K, V)],
) -> reqwest::Response {
    client()
        .post(format!("{}{path}", srv.url))
        .header("cookie", format!("pooya_console={session}"))
        .form_body(pairs)
        .send()
        .await
        .unwrap()
}

/// The value of `name=` in an answer's `Set-Cookie` headers.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';')
                .next()?
                .strip_prefix(&format!("{name}="))
                .map(str::to_owned)
        })
}

/// The `value` of the hidden `csrf` field in a page.
fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[at..].split('"').next().unwrap().to_owned()
}

/// Signs in over HTTP: the session cookie and a page's CSRF token.
async fn http_sign_in(srv: &TestServer, who: &Staff) -> (String, String) {
    http_sign_in_to(srv, who, "/console/home").await
}

/// [`http_sign_in`], the CSRF token taken from the page at `path`.
async fn http_sign_in_to(srv: &TestServer, who: &Staff, path: &str) -> (String, String) {
    let http = client();
    let r = http
        .get(format!("{}/console/sign-in", srv.url))
        .send()
        .await
        .unwrap();
    let pre = set_cookie(&r, "pooya_console_signin").expect("the sign-in form's cookie");
    let token = csrf_in(&r.text().await.unwrap());
    let code = who.code(srv).await;
    let form = [
        ("name", who.name.as_str()),
        ("password", who.password.as_str()),
        ("code", code.as_str()),
    ];
    // Without the form's token: refused, and nobody signed in.
    let r = http
        .post(format!("{}/console/sign-in", srv.url))
        .header("cookie", format!("pooya_console_signin={pre}"))
        .form_body(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(set_cookie(&r, "pooya_console").is_none());
    let mut with = form.to_vec();
    with.push(("csrf", &token));
    let r = http
        .post(format!("{}/console/sign-in", srv.url))
        .header("cookie", format!("pooya_console_signin={pre}"))
        .form_body(&with)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "signed in");
    let cookie_line = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("pooya_console="))
        .expect("a session cookie");
    assert!(
        cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Strict"),
        "{cookie_line}"
    );
    let session = set_cookie(&r, "pooya_console").unwrap();
    let home = get_signed_in(srv, &session, path).await;
    assert_eq!(home.status(), 200);
    let csp = home.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    let token = csrf_in(&home.text().await.unwrap());
    (session, token)
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused_and_changes_nothing() {
    let srv = TestServer::start().await;
    let sara = add_operator(&srv, "sara", "teller", Some("0123"));
    let (session, token) = http_sign_in(&srv, &sara).await;
    let post = |form: Vec<(&'static str, String)>| {
        let (srv, session) = (&srv, &session);
        async move { post_signed_in(srv, session, "/console/customers", &form).await }
    };
    let fields = vec![
        ("customer_id", "C77".to_owned()),
        ("mobile", MOBILE.to_owned()),
    ];
    let r = post(fields.clone()).await;
    assert_eq!(r.status(), 403, "no token");
    let mut wrong = fields.clone();
    wrong.push(("csrf", "not-the-token".into()));
    assert_eq!(post(wrong).await.status(), 403, "a wrong token");
    // Nothing was made: the customer is still free to register.
    let mut right = fields.clone();
    right.push(("csrf", token.clone()));
    let r = post(right.clone()).await;
    assert_eq!(r.status(), 303, "with its token the form works");
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        "/console/customers/C77"
    );
    let again = post(right).await;
    assert_eq!(again.status(), 409, "it exists now, made once");
    // A teller is refused the admins' pages over HTTP too.
    let r = get_signed_in(&srv, &session, "/console/admin/operators").await;
    assert_eq!(r.status(), 403);
    // Signed out: the cookie opens nothing any more.
    let r = post_signed_in(&srv, &session, "/console/sign-out", &[("csrf", &token)]).await;
    assert_eq!(r.status(), 303);
    let r = get_signed_in(&srv, &session, "/console/home").await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        "/console/sign-in"
    );
}

#[tokio::test]
async fn a_session_ends_when_idle_too_long_and_when_its_operator_is_disabled() {
    let srv = TestServer::start().await;
    let sara = add_operator(&srv, "sara", "teller", Some("0123"));
    let (session, _) = http_sign_in(&srv, &sara).await;
    let http = client();
    let home = |s: String| {
        http.get(format!("{}/console/home", srv.url))
            .header("cookie", format!("pooya_console={s}"))
            .send()
    };
    srv.advance(14 * 60 * 1000).await;
    assert_eq!(
        home(session.clone()).await.unwrap().status(),
        200,
        "used within 15 min"
    );
    srv.advance(16 * 60 * 1000).await;
    assert_eq!(
        home(session).await.unwrap().status(),
        303,
        "idle 16 min: ended"
    );
    // A new session, then the operator disabled: it ends at once.
    srv.advance(30_000).await;
    let (session, _) = http_sign_in(&srv, &sara).await;
    let out = Command::new(env!("CARGO_BIN_EXE_pooya"))
        .args(["operator", "disable", "--name", "sara", "--data-dir"])
        .arg(srv.data_dir())
        .arg("--config")
        .arg(srv.dir.path().join("pooya.toml"))
        .args(
            srv.db
                .iter()
                .flat_map(|d| ["--database-url".to_owned(), d.url.clone()]),
        )
        .env_remove("POOYA_DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        home(session).await.unwrap().status(),
        303,
        "disabled: ended"
    );
}

#[tokio::test]
async fn a_mobile_change_waits_for_a_supervisor_and_its_requester_cannot_approve_it() {
    let Some(b) = Browser::start_sized(DESK).await else {
        return;
    };
    let srv = TestServer::start().await;
    srv.with_card().await;
    let sara = add_operator(&srv, "sara", "teller", Some("0123"));
    let omid = add_operator(&srv, "omid", "supervisor", Some("0123"));
    let nima = add_operator(&srv, "nima", "supervisor", Some("0456"));

    // The teller finds the customer by mobile and asks for a new number.
    sign_in(&b, &srv, &sara, &sara.code(&srv).await).await;
    b.type_into("#find-customer", MOBILE).await;
    b.click("#find-customer + button").await;
    b.find("#customer-id").await;
    b.type_into("#new-mobile", MOBILE2).await;
    b.click("#request-change").await;
    let msg = b.text("#message").await;
    assert!(msg.contains("سرپرست"), "pending for a supervisor: {msg:?}");
    // Nothing changed yet: the old number is still the customer's.
    b.goto(&format!("{}/console/customers/C1", srv.url)).await;
    let mobile = b.text("#customer-mobile").await;
    assert_eq!(mobile, "0912*****67", "the old number, masked");
    b.find("#pending-change").await;
    b.screenshot("console-customer-pending").await;
    // A teller does not approve.
    b.goto(&format!("{}/console/approvals", srv.url)).await;
    b.find("#message").await;
    assert!(
        b.js(
            "return document.querySelector('#approvals') === null",
            vec![]
        )
        .await
            == true
    );
    sign_out(&b).await;

    // A supervisor asks for a change himself: he cannot approve his own request.
    sign_in(&b, &srv, &omid, &omid.code(&srv).await).await;
    b.goto(&format!("{}/console/customers/C1", srv.url)).await;
    b.type_into("#new-mobile", "09131112233").await;
    b.click("#request-change").await;
    b.find("#message").await;
    b.goto(&format!("{}/console/approvals", srv.url)).await;
    b.find("#approvals").await;
    b.screenshot("console-approvals").await;
    // His own request is the second row (the oldest first).
    b.click("#approvals tbody tr:nth-child(2) button.approve")
        .await;
    let msg = b.text("#message").await;
    assert!(
        msg.contains("درخواست‌کننده"),
        "the requester cannot approve: {msg:?}"
    );
    sign_out(&b).await;

    // Another supervisor approves the teller's request and refuses the other.
    srv.advance(30_000).await;
    sign_in(&b, &srv, &nima, &nima.code(&srv).await).await;
    b.goto(&format!("{}/console/approvals", srv.url)).await;
    b.click("#approvals tbody tr:nth-child(1) button.approve")
        .await;
    let msg = b.text("#message").await;
    assert!(msg.contains("تأیید شد"), "{msg:?}");
    b.goto(&format!("{}/console/approvals", srv.url)).await;
    b.click("#approvals tbody tr:nth-child(1) button.refuse")
        .await;
    b.find("#message").await;
    b.goto(&format!("{}/console/customers/C1", srv.url)).await;
    let mobile = b.text("#customer-mobile").await;
    assert_eq!(mobile, "0935*****67", "the new number in force");
    // On the Persian page the masked number still reads left to right: its first digit is drawn
    // left of its last.
    let reads_ltr = b
        .js(
            "const t = document.querySelector('#customer-mobile').firstChild; \
             const r = document.createRange(); r.setStart(t, 0); r.setEnd(t, 1); \
             const first = r.getBoundingClientRect().left; \
             r.setStart(t, t.length - 1); r.setEnd(t, t.length); \
             return first < r.getBoundingClientRect().left;",
            vec![],
        )
        .await;
    assert_eq!(reads_ltr, true, "0935*****67 drawn left to right");
    // The audit timeline names each operator and branch.
    let timeline = b.text("table.timeline").await;
    for who in ["sara @ 0123", "omid @ 0123", "nima @ 0456"] {
        assert!(timeline.contains(who), "{who} in the timeline:\n{timeline}");
    }
    b.screenshot("console-customer-timeline").await;

    // Two payments with the card, at merchants named in Persian and in Latin letters.
    assert_eq!(
        verify_at(&srv, "T-1001", STATIC_SECOND, "۲۴ ساعت پویا").await,
        "00"
    );
    assert_eq!(
        verify_at(&srv, "T-1002", "99999", "Tehran Books").await,
        "55"
    );

    // The card's page, in English this time.
    b.goto(&format!("{}/console/lang/en", srv.url)).await;
    b.goto(&format!("{}/console/home", srv.url)).await;
    assert_eq!(page_dir(&b).await, "ltr");
    b.type_into("#find-card", PAN).await;
    b.click("#find-card + button").await;
    let masked = b.text("#card-masked").await;
    assert_eq!(masked, "628023******7898");
    let html = b
        .js("return document.documentElement.outerHTML", vec![])
        .await;
    assert!(
        !html.as_str().unwrap().contains(PAN),
        "the full number is never shown"
    );
    // On the English page the Persian merchant still reads right to left, number first: its first
    // character is drawn right of its last (in the page's direction, or in a `bdi dir="ltr"`,
    // the digits would start it on the left).
    let reads_rtl = b
        .js(
            "const t = [...document.querySelectorAll('#verifications bdi')] \
                 .find(e => e.textContent === '۲۴ ساعت پویا').firstChild; \
             const r = document.createRange(); r.setStart(t, 0); r.setEnd(t, 1); \
             const first = r.getBoundingClientRect().left; \
             r.setStart(t, t.length - 1); r.setEnd(t, t.length); \
             return first > r.getBoundingClientRect().left;",
            vec![],
        )
        .await;
    assert_eq!(reads_rtl, true, "the Persian merchant drawn right to left");
    b.screenshot("console-card-en").await;

    // Through the trail, too: each change names its operator.
    let events = audit_export(&srv);
    let by = |event: &str| {
        events
            .iter()
            .filter(|e| e["event"] == event)
            .map(|e| e["actor"].as_str().unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        by("customer.mobile_change_requested"),
        ["operator:sara@0123", "operator:omid@0123"]
    );
    assert_eq!(
        by("customer.mobile_change_approved"),
        ["operator:nima@0456"]
    );
    assert_eq!(by("customer.mobile_change_refused"), ["operator:nima@0456"]);
    assert_eq!(by("customer.mobile_changed"), ["operator:nima@0456"]);
    // The customer and card were registered through the branch key: its label is named.
    assert_eq!(by("customer.created"), ["key:bootstrap"]);
}

#[tokio::test]
async fn an_admin_adds_an_operator_whose_totp_is_shown_once_as_a_qr_code() {
    let Some(b) = Browser::start_sized(DESK).await else {
        return;
    };
    let srv = TestServer::start().await;
    let root = add_operator(&srv, "root", "admin", None);
    sign_in(&b, &srv, &root, &root.code(&srv).await).await;
    b.find("#operators").await;
    b.type_into("#op-name", "leila").await;
    b.type_into("#op-branch", "0123").await;
    b.click("#add-operator").await;
    let password = b.text("#new-password").await;
    let secret = b.text("#new-secret").await;
    b.find(".qr svg").await;
    b.screenshot("console-operator-added").await;
    // The new teller signs in with what was shown.
    sign_out(&b).await;
    let leila = Staff {
        name: "leila".into(),
        password,
        secret: TotpSecret::from_bytes(
            &data_encoding::BASE32_NOPAD
                .decode(secret.trim().as_bytes())
                .unwrap(),
        ),
    };
    sign_in(&b, &srv, &leila, &leila.code(&srv).await).await;
    b.find("#find-card").await;
    sign_out(&b).await;
    // The admin disables her at once.
    srv.advance(30_000).await;
    sign_in(&b, &srv, &root, &root.code(&srv).await).await;
    b.goto(&format!("{}/console/admin/operators", srv.url))
        .await;
    b.click("#operators form[action$='/leila/disable'] button")
        .await;
    // The disable's answer: leila's row now offers "enable". Navigating before it has loaded
    // would cancel the POST (the failure CI saw once).
    b.find("#operators form[action$='/leila/enable'] button")
        .await;
    let row = b.text("#operators").await;
    assert!(row.contains("leila"), "{row}");
    b.screenshot("console-operators").await;
    b.goto(&format!("{}/console/admin/audit", srv.url)).await;
    let audit = b.text("#audit").await;
    assert!(audit.contains("سالم"), "the chain verified intact: {audit}");
    sign_out(&b).await;
    srv.advance(30_000).await;
    sign_in(&b, &srv, &leila, &leila.code(&srv).await).await;
    let msg = b.text("#message").await;
    assert!(msg.contains("غیرفعال"), "disabled: {msg:?}");
}

#[tokio::test]
async fn an_admin_imports_a_pskc_file_and_the_trail_names_the_admin() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let root = add_operator(&srv, "root", "admin", None);
    let (session, token) = http_sign_in_to(&srv, &root, "/console/admin/pskc").await;
    let file = crate::pskc::container(&[crate::pskc::pkg(
        "T1",
        true,
        6,
        "HMAC-SHA1",
        b"12345678901234567890",
        30,
    )]);
    let post = |assign: String| {
        client()
            .post(format!("{}/console/admin/pskc", srv.url))
            .header("cookie", format!("pooya_console={session}"))
            .form_body(&[
                ("csrf", token.as_str()),
                ("pskc", file.as_str()),
                ("assign", assign.as_str()),
            ])
            .send()
    };
    // A serial the file does not hold: refused whole, the card untouched.
    let r = post(format!("T1={PAN}\nT9={PAN}")).await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(
        srv.card_info(PAN).await.dynamic.mode,
        crate::common::DynamicMode::None
    );
    let r = post(format!("T1={PAN}\n")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("1"));
    assert_eq!(
        srv.card_info(PAN).await.dynamic.mode,
        crate::common::DynamicMode::App
    );
    let events = audit_export(&srv);
    let import = events
        .iter()
        .find(|e| e["event"] == "admin.pskc_import")
        .expect("the import recorded");
    assert_eq!(import["actor"], "operator:root@-");
}

#[tokio::test]
async fn an_admin_creates_a_channel_key_shown_once_and_revokes_it() {
    let Some(b) = Browser::start_sized(DESK).await else {
        return;
    };
    let srv = TestServer::start().await;
    let root = add_operator(&srv, "root", "admin", None);
    sign_in(&b, &srv, &root, &root.code(&srv).await).await;
    b.goto(&format!("{}/console/admin/keys", srv.url)).await;
    b.find("#keys").await;
    b.type_into("#key-label", "core-banking").await;
    b.js(
        "document.querySelector('#key-role').value = 'branch'; return true;",
        vec![],
    )
    .await;
    b.click("#create-key").await;
    let key = b.text("#new-key").await;
    assert!(key.starts_with("pooya_branch_"), "{key}");
    b.screenshot("console-key-created").await;
    // The key works for the branch API, and its calls name its label.
    let call = |key: String| {
        let http = client();
        let url = format!("{}/v1/customers", srv.url);
        async move {
            http.post(url)
                .bearer_auth(key)
                .json(&serde_json::json!({"customer_id": "C9", "mobile": MOBILE}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(call(key.clone()).await, 201);
    // Revoked: it opens nothing any more, at once on this server.
    b.goto(&format!("{}/console/admin/keys", srv.url)).await;
    let clicked = b
        .js(
            "for (const tr of document.querySelectorAll('#keys tbody tr')) { \
               if (tr.innerText.includes('core-banking')) { tr.querySelector('button').click(); return true; } \
             } return false;",
            vec![],
        )
        .await;
    assert_eq!(clicked, true);
    b.wait_text("#keys", |t| t.contains("باطل")).await;
    let table = b.text("#keys").await;
    assert!(table.contains("باطل"), "{table}");
    b.screenshot("console-keys").await;
    assert_eq!(call(key).await, 401);
    let events = audit_export(&srv);
    let actor_of = |event: &str| {
        events
            .iter()
            .find(|e| e["event"] == event)
            .map(|e| e["actor"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(actor_of("key.created").as_deref(), Some("operator:root@-"));
    assert_eq!(actor_of("key.revoked").as_deref(), Some("operator:root@-"));
    assert_eq!(
        actor_of("customer.created").as_deref(),
        Some("key:core-banking")
    );
}

/// The `<tr>` of the card page's verifications table that holds `txn`.
fn verification_row<'p>(page: &'p str, txn: &str) -> &'p str {
    let table = &page[page
        .find("id=\"verifications\"")
        .expect("the verifications table")..];
    table
        .split("<tr>")
        .find(|row| row.contains(&format!("<code>{txn}</code>")))
        .unwrap_or_else(|| panic!("no row of {txn}"))
}

#[tokio::test]
async fn the_card_page_names_each_verifications_merchant() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    // The static second password approves; a wrong one is refused. Persian and Latin names, one
    // with markup in it.
    assert_eq!(
        verify_at(&srv, "M1", STATIC_SECOND, "فروشگاه پویا").await,
        "00"
    );
    assert_eq!(
        verify_at(&srv, "M2", "99999", "Café <b>&</b> Co").await,
        "55"
    );
    assert_eq!(verify_at(&srv, "M3", STATIC_SECOND, "Shop").await, "00");
    // M3 as a server before migration 0011 stored it: no merchant.
    crate::common::sql(
        &srv,
        "UPDATE verifications SET merchant = NULL WHERE txn_id = 'M3'",
    )
    .await;
    let sara = add_operator(&srv, "sara", "teller", Some("0123"));
    let (session, token) = http_sign_in(&srv, &sara).await;
    let http = client();
    let r = post_signed_in(
        &srv,
        &session,
        "/console/find",
        &[("csrf", token.as_str()), ("kind", "card"), ("q", PAN)],
    )
    .await;
    assert_eq!(r.status(), 303);
    let card = r.headers()["location"].to_str().unwrap().to_owned();
    let page = |lang: &'static str| {
        http.get(format!("{}{card}", srv.url))
            .header(
                "cookie",
                format!("pooya_console={session}; pooya_lang={lang}"),
            )
            .send()
    };
    let fa = page("fa").await.unwrap().text().await.unwrap();
    assert!(fa.contains("<th>پذیرنده</th>"), "{fa}");
    // Each name in a `bdi` of its own direction, escaped.
    assert!(verification_row(&fa, "M1").contains("<bdi dir=\"auto\">فروشگاه پویا</bdi>"));
    assert!(verification_row(&fa, "M2")
        .contains("<bdi dir=\"auto\">Café &lt;b&gt;&amp;&lt;/b&gt; Co</bdi>"));
    assert!(!fa.contains("<b>&</b>"), "the merchant's markup is text");
    assert!(verification_row(&fa, "M3").contains("<td>—</td>"));
    assert!(!fa.contains(PAN), "never the whole card number");
    let en = page("en").await.unwrap().text().await.unwrap();
    assert!(en.contains("<th>Merchant</th>"), "{en}");
    assert!(verification_row(&en, "M1").contains("<bdi dir=\"auto\">فروشگاه پویا</bdi>"));
}

/// The id of the first pending change on the approvals page.
fn first_approval(page: &str) -> String {
    let at = page.find("/console/approvals/").expect("a pending change") + 19;
    page[at..].split('/').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_old_numbers_tokens_die_only_when_a_supervisor_approves() {
    let srv = TestServer::start().await;
    srv.enrolled_card().await;
    let sara = add_operator(&srv, "sara", "teller", Some("0123"));
    let nima = add_operator(&srv, "nima", "supervisor", Some("0456"));
    let (teller, token) = http_sign_in(&srv, &sara).await;
    let r = post_signed_in(
        &srv,
        &teller,
        "/console/customers/C1/mobile",
        &[("csrf", token.as_str()), ("mobile", MOBILE2)],
    )
    .await;
    assert_eq!(r.status(), 202, "pending");
    // R12 waits: the token issued on the old number still lives.
    assert_eq!(
        srv.card_info(PAN).await.dynamic.mode,
        crate::common::DynamicMode::App
    );
    let (supervisor, token) = http_sign_in_to(&srv, &nima, "/console/approvals").await;
    let page = get_signed_in(&srv, &supervisor, "/console/approvals")
        .await
        .text()
        .await
        .unwrap();
    let id = first_approval(&page);
    let approve_path = format!("/console/approvals/{id}/approve");
    let approve_form = [("csrf", token.as_str())];
    let approve = || post_signed_in(&srv, &supervisor, &approve_path, &approve_form);
    assert_eq!(approve().await.status(), 200);
    // Approved: the new number in force and the old one's token revoked, in one commit.
    assert_eq!(
        srv.card_info(PAN).await.dynamic.mode,
        crate::common::DynamicMode::None
    );
    assert_eq!(approve().await.status(), 409, "decided once");
}

#[tokio::test]
async fn without_four_eyes_a_tellers_change_is_made_at_once() {
    let config = format!(
        "{}[branch]\nmobile_change_approval = false\n",
        crate::common::TEST_CONFIG
    );
    let srv = TestServer::start_with(&config, &[]).await;
    srv.enrolled_card().await;
    let sara = add_operator(&srv, "sara", "teller", Some("0123"));
    let (teller, token) = http_sign_in(&srv, &sara).await;
    let r = post_signed_in(
        &srv,
        &teller,
        "/console/customers/C1/mobile",
        &[("csrf", token.as_str()), ("mobile", MOBILE2)],
    )
    .await;
    assert_eq!(r.status(), 200, "made at once");
    assert_eq!(
        srv.card_info(PAN).await.dynamic.mode,
        crate::common::DynamicMode::None
    );
}

#[tokio::test]
async fn cookies_are_secure_behind_a_tls_proxy_when_configured() {
    // The sign-in form's cookie on a plain-HTTP server: `Secure` only when the configuration
    // says a proxy in front speaks HTTPS.
    let signin_cookie = |srv: TestServer| async move {
        let r = client()
            .get(format!("{}/console/sign-in", srv.url))
            .send()
            .await
            .unwrap();
        r.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|v| v.starts_with("pooya_console_signin="))
            .expect("the sign-in form's cookie")
    };
    let plain = signin_cookie(TestServer::start().await).await;
    assert!(!plain.contains("Secure"), "{plain}");
    let config = format!(
        "{}[console]\nsecure_cookies = true\n",
        crate::common::TEST_CONFIG
    );
    let proxied = signin_cookie(TestServer::start_with(&config, &[]).await).await;
    assert!(
        proxied.contains("; Secure") && proxied.contains("HttpOnly"),
        "{proxied}"
    );
}

/// The attempts of the outbox's first message.
async fn attempts(srv: &TestServer) -> i64 {
    crate::common::sql_texts(
        srv,
        "SELECT CAST(attempts AS TEXT) FROM sms_outbox ORDER BY id",
    )
    .await[0]
        .parse()
        .unwrap()
}

#[tokio::test]
async fn an_admin_retries_a_queued_sms_at_once() {
    // A gateway that refuses every connection: the activation SMS waits for its next attempt,
    // which the fake clock never reaches by itself.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let config = format!(
        "{}\n[sms_provider]\nkind = \"http\"\n[sms_provider.http]\nurl = \"http://127.0.0.1:{port}/send\"\nbody_template = '{{\"to\": \"{{to}}\", \"text\": \"{{text}}\"}}'\ntimeout_ms = 500\n",
        crate::common::TEST_CONFIG
    );
    let srv = TestServer::start_with(&config, &[]).await;
    srv.with_card().await;
    let (s, v) = srv
        .post(
            "/v1/atm/activate-app",
            "atm",
            serde_json::json!({"pan": PAN, "pin": crate::common::PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let started = std::time::Instant::now();
    while attempts(&srv).await < 1 {
        assert!(started.elapsed().as_secs() < 20, "no failed attempt");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let before = attempts(&srv).await;
    let root = add_operator(&srv, "root", "admin", None);
    let (session, token) = http_sign_in_to(&srv, &root, "/console/admin/outbox").await;
    let page = get_signed_in(&srv, &session, "/console/admin/outbox")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("0912*****67"), "the recipient, masked");
    assert!(!page.contains(MOBILE), "never the whole number");
    let prefix = "/console/admin/outbox/";
    let at = page.find(prefix).expect("a retry button") + prefix.len();
    let id = page[at..].split('/').next().unwrap().to_owned();
    let retry = format!("/console/admin/outbox/{id}/retry");
    let r = post_signed_in(&srv, &session, &retry, &[("csrf", token.as_str())]).await;
    assert_eq!(r.status(), 303);
    // Tried again at once (and refused again by the closed gateway), with no clock moved.
    let started = std::time::Instant::now();
    while attempts(&srv).await <= before {
        assert!(started.elapsed().as_secs() < 20, "the retry was not tried");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let events = audit_export(&srv);
    assert!(events
        .iter()
        .any(|e| e["event"] == "outbox.retry" && e["actor"] == "operator:root@-"));
    // A message given up cannot be retried: its body is gone.
    crate::common::sql(&srv, "UPDATE sms_outbox SET gave_up_at = 1, body = ''").await;
    let r = post_signed_in(&srv, &session, &retry, &[("csrf", token.as_str())]).await;
    assert_eq!(r.status(), 409);
}
