//! The counter clerk's journey in real headless Chromium (Debian's chromium
//! and chromium-driver): sign in, find a customer by part of a name, open
//! them, correct the phone number, see it saved; switch the language.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

use crate::support::{PASSWORD, TestApp};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_driver() -> (Driver, String) {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is installed (Debian package chromium-driver)");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (Driver(child), url);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

async fn browser(webdriver: &str) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--no-first-run",
                     "--window-size=1366,900", "--lang=zh-CN", "--accept-lang=zh-CN,zh"],
            "prefs": {"intl.accept_languages": "zh-CN,zh"}
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(webdriver)
        .await
        .expect("a Chromium session starts")
}

#[tokio::test]
async fn a_counter_clerk_finds_a_customer_and_corrects_the_phone() {
    let app = TestApp::spawn().await;
    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        c.goto(&app.url("/")).await?;
        c.find(Locator::Css("input[name=tenant]")).await?.send_keys("alpha").await?;
        c.find(Locator::Css("input[name=username]")).await?.send_keys("counter").await?;
        c.find(Locator::Css("input[name=password]")).await?.send_keys(PASSWORD).await?;
        c.find(Locator::Css("button[type=submit].primary")).await?.click().await?;
        c.wait().for_url(&url::Url::parse(&app.url("/home")).unwrap()).await?;

        // The search box takes part of a name; htmx swaps in the results as the clerk types.
        let search = c.find(Locator::Id("q")).await?;
        search.send_keys("建国").await?;
        c.find(Locator::Css("form.search-form button[type=submit]")).await?.click().await?;
        let link = c.wait().for_element(Locator::LinkText("王建国")).await?;
        link.click().await?;
        c.wait().for_element(Locator::Id("archive")).await?;
        let page = c.source().await?;
        assert!(page.contains("13800000001") && page.contains("ALPHAM0001"));

        // Edit: the form opens on the name field, the clerk changes the phone and saves.
        c.find(Locator::Css("a[href$='/edit']")).await?.click().await?;
        let phone = c.wait().for_element(Locator::Css("input[name=phone]")).await?;
        phone.clear().await?;
        phone.send_keys("13811112222").await?;
        c.find(Locator::Css("form.form-grid button[type=submit]")).await?.click().await?;
        let notice = c.wait().for_element(Locator::Css("p.notice")).await?;
        assert!(notice.text().await?.contains("已保存"));
        assert!(c.source().await?.contains("13811112222"));

        // The language switch turns the page into English and stays on it.
        c.find(Locator::Css("form.lang button")).await?.click().await?;
        c.wait().for_element(Locator::XPath("//h2[text()='Archive']")).await?;
        assert!(c.current_url().await?.path().starts_with("/customers/"));
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    if result.is_err() {
        if let Ok(png) = c.screenshot().await {
            let path = std::env::temp_dir().join("gridcrm-browser-failure.png");
            let _ = std::fs::write(&path, png);
            eprintln!("screenshot of the failure: {}", path.display());
            eprintln!("at {:?}", c.current_url().await.map(|u| u.to_string()));
        }
    }
    c.close().await.ok();
    result.expect("the journey completes");
}

#[tokio::test]
async fn a_wrong_password_in_the_browser_shows_the_reason() {
    let app = TestApp::spawn().await;
    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        c.goto(&app.url("/login")).await?;
        c.find(Locator::Css("input[name=tenant]")).await?.send_keys("alpha").await?;
        c.find(Locator::Css("input[name=username]")).await?.send_keys("counter").await?;
        c.find(Locator::Css("input[name=password]")).await?.send_keys("wrong password").await?;
        c.find(Locator::Css("button[type=submit].primary")).await?.click().await?;
        let alert = c.wait().for_element(Locator::Css("p.alert")).await?;
        assert!(alert.text().await?.contains("单位代码、用户名或密码错误"));
        // The company code and username are kept; the password is not.
        let tenant = c.find(Locator::Css("input[name=tenant]")).await?.prop("value").await?;
        assert_eq!(tenant.as_deref(), Some("alpha"));
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    c.close().await.ok();
    result.expect("the wrong-password journey completes");
}
