//! A headless Chromium driven over WebDriver (`fantoccini`), for the console's end-to-end
//! tests: starts `chromedriver` on a free port with its own Chromium profile, and tears both
//! down at the end. Paths can be overridden with `CANDOR_CHROMEDRIVER` and `CANDOR_CHROMIUM`
//! (Debian's `/usr/bin/chromedriver` and `/usr/bin/chromium` by default; `.ci/run`
//! installs them).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

use super::{TestServer, TestUser};

/// Window size of the browser: a laptop screen.
pub const WINDOW: (u32, u32) = (1280, 900);

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// One browser at a time: tests run in parallel threads, and several Chromiums at once
/// would only slow each other down on a small machine.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub async fn start() -> Browser {
        let turn = TURN.lock().await;
        let driver_path =
            std::env::var("CANDOR_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium =
            std::env::var("CANDOR_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let port = free_port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("could not start {driver_path} ({e}): install chromium-driver (apt-get install chromium chromium-driver) or set CANDOR_CHROMEDRIVER")
            });
        let profile = tempfile::tempdir().expect("profile dir");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    format!("--window-size={},{}", WINDOW.0, WINDOW.1),
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = String::new();
        // chromedriver takes a moment to listen.
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Browser {
                        client,
                        driver,
                        _profile: profile,
                        _turn: turn,
                    };
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no WebDriver session from {driver_path}: {last_error}");
    }

    /// Opens `path` on `server`.
    pub async fn open(&self, server: &TestServer, path: &str) {
        self.client
            .goto(&server.url(path))
            .await
            .expect("open page");
    }

    /// The element matching `css`, waiting up to 10 seconds for it.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css:?}: {e}"))
    }

    /// Whether an element matching `css` is on the page now.
    pub async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// Types `text` into the field matching `css` (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear field");
        field.send_keys(text).await.expect("type into field");
    }

    /// Sets a field's value by script (date and time inputs, whose typing depends on locale).
    pub async fn set_value(&self, css: &str, value: &str) {
        self.find(css).await;
        self.client
            .execute(
                "document.querySelector(arguments[0]).value = arguments[1];",
                vec![css.into(), value.into()],
            )
            .await
            .expect("set value");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// The visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    /// The page's current path.
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current url")
            .path()
            .to_string()
    }

    /// Waits up to 10 seconds until the element matching `css` contains `needle`.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await
                && let Ok(t) = el.text().await
                && t.contains(needle)
            {
                return t;
            }
            if tokio::time::Instant::now() > deadline {
                let body = self.client.source().await.unwrap_or_default();
                panic!("{css:?} never showed {needle:?}; page:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Signs `user` in through the form, with a fresh authenticator code.
    pub async fn sign_in(&self, server: &TestServer, user: &TestUser) {
        self.open(server, "/login").await;
        self.fill("#username", &user.username).await;
        self.fill("#password", &user.password).await;
        self.fill("#code", &user.totp_code(0)).await;
        self.click("button[type=submit]").await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.path().await == "/login" {
            if tokio::time::Instant::now() > deadline {
                let body = self.client.source().await.unwrap_or_default();
                panic!("sign-in of {} failed:\n{body}", user.username);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A PNG of the whole window.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client.screenshot().await.expect("screenshot")
    }

    /// Ends the browser session and the driver.
    pub async fn stop(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed test still must not leave chromedriver running.
        let _ = self.driver.kill();
    }
}
