//! The browser harness itself (common/browser.rs), on the one page the server has always served:
//! `/docs`, the API's description rendered as plain HTML.

use crate::common::browser::Browser;
use crate::common::TestServer;

#[tokio::test]
async fn the_browser_opens_the_servers_api_page() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let srv = TestServer::start().await;
    browser.goto(&format!("{}/docs", srv.url)).await;
    let heading = browser.text("h1").await;
    assert!(heading.contains("pooya"), "the page's heading: {heading:?}");
    // DevTools commands reach the browser: the page's clock can be throttled and restored.
    browser.throttle_cpu(4.0).await;
    browser.throttle_cpu(1.0).await;
    let width = browser.js("return window.innerWidth", vec![]).await;
    assert_eq!(width, serde_json::json!(crate::common::browser::PHONE.0));
    let shot = browser.screenshot("api-docs").await;
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG at {}", shot.display());
}
