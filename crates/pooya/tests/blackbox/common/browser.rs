//! A real browser for the black-box suite: Debian's Chromium, headless, driven over WebDriver by
//! its matching ChromeDriver (fantoccini), one browser a test, each with a profile of its own.
//!
//! Where Chromium or ChromeDriver is missing the browser tests skip with a message saying how to
//! get them — unless `POOYA_REQUIRE_BROWSER` is set (CI sets it, and `.ci/run` installs both), when
//! a missing browser fails the test instead: in CI a browser test never passes by skipping.
//!
//! Chrome DevTools commands (CPU throttling, a virtual authenticator, …) go through ChromeDriver's
//! `goog/cdp/execute` ([`Browser::cdp`]). Screenshots land in `target/screenshots/` (see
//! [`Browser::screenshot`]) for a person to look at.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// Where the browser and its driver are, unless `POOYA_CHROMIUM` / `POOYA_CHROMEDRIVER` say.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A phone's viewport (a mid-range Android phone, CSS pixels), the size screenshots are taken at
/// unless a test sets another.
pub const PHONE: (u32, u32) = (412, 915);

/// One headless Chromium and the ChromeDriver that drives it; both end when this drops.
pub struct Browser {
    pub client: Client,
    driver: Child,
    /// The driver's port and the WebDriver session, to end the session when the test ends.
    port: u16,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

fn tool(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// Whether a missing browser must fail the test (CI) rather than skip it.
fn browser_required() -> bool {
    std::env::var_os("POOYA_REQUIRE_BROWSER").is_some_and(|v| !v.is_empty() && v != "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on loopback")
}

/// A DevTools command sent through ChromeDriver (`POST /session/{id}/goog/cdp/execute`).
#[derive(Debug)]
struct Cdp {
    cmd: String,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.expect("a WebDriver session");
        base_url.join(&format!("session/{session}/goog/cdp/execute"))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({"cmd": self.cmd, "params": self.params}).to_string();
        (http::Method::POST, Some(body))
    }
}

impl Browser {
    /// A fresh browser at the phone's size, or `None` (with a message) where no Chromium is
    /// installed and the suite does not require one.
    pub async fn start() -> Option<Browser> {
        Self::start_sized(PHONE).await
    }

    /// A fresh browser whose viewport is `width` × `height` CSS pixels.
    pub async fn start_sized((width, height): (u32, u32)) -> Option<Browser> {
        Self::start_with(width, height, &[]).await
    }

    /// A fresh browser with extra command-line switches (e.g. `--lang=fa`).
    pub async fn start_with(width: u32, height: u32, extra_args: &[&str]) -> Option<Browser> {
        let chromium = tool("POOYA_CHROMIUM", CHROMIUM);
        let chromedriver = tool("POOYA_CHROMEDRIVER", CHROMEDRIVER);
        if !chromium.exists() || !chromedriver.exists() {
            let why = format!(
                "no browser: {} or {} is missing (Debian packages chromium and chromium-driver; \
                 .ci/run installs them)",
                chromium.display(),
                chromedriver.display()
            );
            assert!(
                !browser_required(),
                "{why}, and POOYA_REQUIRE_BROWSER is set"
            );
            eprintln!("skipping a browser test: {why}");
            return None;
        }
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display()));
        let profile = tempfile::tempdir().expect("a browser profile directory");
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            // This machine's network is closed: no calls home, no updates, no sync.
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        args.extend(extra_args.iter().map(|a| (*a).to_owned()));
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium, "args": args}),
        );
        let mut browser_driver = Some(driver);
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                // The driver is still starting.
                Err(e) if started.elapsed() < Duration::from_secs(30) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    if let Some(mut d) = browser_driver.take() {
                        let _ = d.kill();
                    }
                    panic!("no WebDriver session from {}: {e}", chromedriver.display());
                }
            }
        };
        let session = client.session_id().await.ok().flatten();
        let browser = Browser {
            client,
            driver: browser_driver.take().expect("the driver"),
            port,
            session,
            _profile: profile,
        };
        // The window size above is the outer window; the page must see exactly the phone's.
        browser
            .cdp(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
            )
            .await;
        Some(browser)
    }

    /// Sends one Chrome DevTools command, answering its result.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.client
            .issue_cmd(Cdp {
                cmd: cmd.to_owned(),
                params,
            })
            .await
            .unwrap_or_else(|e| panic!("DevTools {cmd}: {e}"))
    }

    /// Slows the page's CPU `rate` times (4: a mid-range phone), 1 for full speed.
    pub async fn throttle_cpu(&self, rate: f64) {
        self.cdp("Emulation.setCPUThrottlingRate", json!({"rate": rate}))
            .await;
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The element `css` selects, waited for up to 20 s.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css:?} on the page: {e}"))
    }

    /// The visible text of the element `css` selects.
    pub async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("text of {css:?}: {e}"))
    }

    /// Waits up to 20 s until the element `css` selects shows text for which `pred` holds,
    /// answering that text.
    pub async fn wait_text(&self, css: &str, pred: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                if let Ok(t) = e.text().await {
                    if pred(&t) {
                        return t;
                    }
                    if started.elapsed() > Duration::from_secs(20) {
                        panic!("{css:?} shows {t:?}, never what the test waits for");
                    }
                }
            } else if started.elapsed() > Duration::from_secs(20) {
                panic!("no element {css:?} on the page");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Types `text` into the field `css` selects (after clearing it).
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear()
            .await
            .unwrap_or_else(|err| panic!("clear {css:?}: {err}"));
        e.send_keys(text)
            .await
            .unwrap_or_else(|err| panic!("type into {css:?}: {err}"));
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css:?}: {e}"));
    }

    /// Runs `script` in the page (as a function body: `return …` answers), with `args`.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Saves a PNG of the viewport as `target/screenshots/NAME.png` (answering its path), for a
    /// person to look at; `name` says which screen it is.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("the screenshot directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }
}

/// `target/screenshots` of the workspace (or of `CARGO_TARGET_DIR`).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("screenshots")
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Killing the driver alone leaves the Chromium it started running, orphaned, its pages'
        // timers burning the CPU of every later test (219 such processes were found after one
        // afternoon's runs). First the session ends, as a WebDriver client ends it: the driver
        // closes Chromium, whose processes are reaped by their parents. Drop cannot await:
        // the DELETE goes over a plain blocking socket.
        if let Some(session) = &self.session {
            end_session(self.port, session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Whatever is left (the session did not end in time): Chromium leads a process group of
        // its own, its zygotes and renderers inside, and its processes name this browser's
        // own profile directory.
        let groups: Vec<String> = processes_naming(self._profile.path())
            .into_iter()
            .map(|group| format!("-{group}"))
            .collect();
        if !groups.is_empty() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg("--")
                .args(&groups)
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The process groups of the processes whose command line names `path` (Linux `/proc`).
fn processes_naming(path: &Path) -> std::collections::BTreeSet<u32> {
    let needle = path.as_os_str().as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Default::default();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmd| cmd.windows(needle.len()).any(|w| w == needle))
        })
        .filter_map(|pid| {
            // Field 5 of `stat`, after the parenthesised command name.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            stat.rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(2)?
                .parse()
                .ok()
        })
        .collect()
}

/// `DELETE /session/{id}` to the driver on `port`, waiting up to 10 s for its answer.
fn end_session(port: u16, session: &str) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let _ = stream.read_to_end(&mut Vec::new());
    }
}
