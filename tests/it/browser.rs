//! The counter clerk's journey in real headless Chromium (Debian's chromium
//! and chromium-driver): sign in, find a customer by part of a name, open
//! them, correct the phone number, see it saved; switch the language.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator, error::CmdError};
use serde_json::json;
use sqlx::Connection;

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
    // Wrapped at once, so the driver is killed and reaped however the test ends.
    let driver = Driver(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (Debian package chromium-driver)"),
    );
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (driver, url);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

async fn browser(webdriver: &str) -> Client {
    browser_sized(webdriver, "1366,900").await
}

/// A browser with the window of a phone held upright (the customer portal's).
async fn phone_browser(webdriver: &str) -> Client {
    browser_sized(webdriver, "390,844").await
}

async fn browser_sized(webdriver: &str, window: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--no-first-run",
                     &format!("--window-size={window}"), "--lang=zh-CN", "--accept-lang=zh-CN,zh"],
            "prefs": {"intl.accept_languages": "zh-CN,zh"}
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(webdriver)
        .await
        .expect("a Chromium session starts")
}

async fn sign_in(c: &Client, tenant: &str, username: &str, password: &str) -> Result<(), CmdError> {
    for (field, value) in [("tenant", tenant), ("username", username), ("password", password)] {
        c.find(Locator::Css(&format!("input[name={field}]"))).await?.send_keys(value).await?;
    }
    c.find(Locator::Css("button[type=submit].primary")).await?.click().await
}

/// Opens the app, signs in as `username` of tenant alpha and waits for the home page.
async fn sign_in_home(c: &Client, app: &TestApp, username: &str) -> Result<(), CmdError> {
    c.goto(&app.url("/")).await?;
    sign_in(c, "alpha", username, PASSWORD).await?;
    c.wait().for_url(&url::Url::parse(&app.url("/home")).unwrap()).await
}

/// Ends a journey: on failure, keeps a screenshot and says where it stopped.
async fn finish(c: Client, result: Result<(), CmdError>) {
    if result.is_err()
        && let Ok(png) = c.screenshot().await
    {
        let path = std::env::temp_dir().join("gridcrm-browser-failure.png");
        let _ = std::fs::write(&path, png);
        eprintln!(
            "screenshot of the failure: {} (at {:?})",
            path.display(),
            c.current_url().await.map(|u| u.to_string())
        );
    }
    c.close().await.ok();
    result.expect("the journey completes");
}

#[tokio::test]
async fn a_counter_clerk_finds_a_customer_and_corrects_the_phone() {
    let app = TestApp::spawn().await;
    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        sign_in_home(&c, &app, "counter").await?;

        // The search box takes part of a name.
        c.find(Locator::Id("q")).await?.send_keys("建国").await?;
        c.find(Locator::Css("form.search-form button[type=submit]")).await?.click().await?;
        c.wait().for_element(Locator::LinkText("王建国")).await?.click().await?;
        c.wait().for_element(Locator::Id("archive")).await?;
        let page = c.source().await?;
        assert!(page.contains("13800000001") && page.contains("ALPHAM0001"));

        // Edit: the clerk changes the phone and saves.
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
        Ok(())
    }
    .await;
    finish(c, result).await;
}

#[tokio::test]
async fn a_wrong_password_in_the_browser_shows_the_reason() {
    let app = TestApp::spawn().await;
    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        c.goto(&app.url("/login")).await?;
        sign_in(&c, "alpha", "counter", "wrong password").await?;
        let alert = c.wait().for_element(Locator::Css("p.alert")).await?;
        assert!(alert.text().await?.contains("单位代码、用户名或密码错误"));
        // The company code is kept; the password is not.
        let tenant = c.find(Locator::Css("input[name=tenant]")).await?.prop("value").await?;
        assert_eq!(tenant.as_deref(), Some("alpha"));
        Ok(())
    }
    .await;
    finish(c, result).await;
}

#[tokio::test]
async fn a_counter_clerk_registers_a_complaint_from_the_customer_page() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        sign_in_home(&c, &app, "counter").await?;
        c.goto(&app.url(&format!("/customers/{customer}"))).await?;
        c.wait().for_element(Locator::LinkText("登记诉求")).await?.click().await?;

        // The description has the focus; the customer is already attached.
        let form = c.wait().for_element(Locator::Css("form[action='/contacts']")).await?;
        assert!(c.source().await?.contains("王建国"));
        let focused = c.active_element().await?.attr("name").await?;
        assert_eq!(focused.as_deref(), Some("description"));

        // Sent without a subject or description: both are named, nothing is saved.
        form.find(Locator::Css("button[type=submit]")).await?.click().await?;
        c.wait().for_element(Locator::Id("description-error")).await?;
        assert!(c.find(Locator::Id("subject-error")).await.is_ok());

        c.find(Locator::Css("select[name=kind] option[value=complaint]")).await?.click().await?;
        c.find(Locator::Css("select[name=channel] option[value=hall]")).await?.click().await?;
        c.find(Locator::Css("select[name=subject] option[value=billing]")).await?.click().await?;
        c.find(Locator::Css("textarea[name=description]"))
            .await?
            .send_keys("本月电费比上月高出一倍，要求核查表计。")
            .await?;
        c.find(Locator::Css("form[action='/contacts'] button[type=submit]")).await?.click().await?;

        // The new complaint: its reference, its owner, and its clock running.
        // Wait for the new page's heading (the form's own h1 is still there until it loads).
        let heading = c.wait().for_element(Locator::XPath("//h1[starts-with(normalize-space(.), 'C')]")).await?;
        let title = heading.text().await?;
        assert!(title.starts_with('C') && title.contains("投诉"), "{title}");
        assert!(c.find(Locator::Css("span.clock")).await.is_ok(), "the SLA clock shows");

        // Back on the customer page it is among the open items.
        c.goto(&app.url(&format!("/customers/{customer}"))).await?;
        let open = c.wait().for_element(Locator::Id("open-items")).await?;
        let reference = title.split_whitespace().next().unwrap_or_default().to_owned();
        assert!(open.text().await?.contains(&reference), "{reference} is listed as open");
        Ok(())
    }
    .await;
    finish(c, result).await;
}

/// The account manager's journey: the VIP list filtered by industry, its CSV
/// export, a customer's page, a visit planned there, and the visit on the
/// portfolio. Screenshots of each step go to the temporary directory.
#[tokio::test]
async fn an_account_manager_works_the_vip_list_and_plans_a_visit() {
    let app = TestApp::spawn().await;
    crate::value::four_histories(&app).await;
    crate::value::recompute(&app, &app.alpha).await;
    let vip = app.alpha.customers[0];
    let manager = app.alpha.user_id("manager");
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query("UPDATE customers SET account_manager_id = $2 WHERE id = $1")
        .bind(vip)
        .bind(manager)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let shot = |name: &str| std::env::temp_dir().join(format!("gridcrm-manager-{name}.png"));

    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        sign_in_home(&c, &app, "manager").await?;

        // The VIP list, narrowed to the chemical industry.
        c.goto(&app.url("/accounts/vip")).await?;
        let industry = c.wait().for_element(Locator::Css("form.filters select[name=industry]")).await?;
        industry.select_by_value("C26").await?;
        c.find(Locator::Css("form.filters button[type=submit]")).await?.click().await?;
        for _ in 0..50 {
            if c.current_url().await?.query().is_some_and(|q| q.contains("industry=C26")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let rows = c.find_all(Locator::Css("table.list tbody tr")).await?;
        assert_eq!(rows.len(), 1, "one VIP in the chemical industry");
        std::fs::write(shot("vip-list"), c.screenshot().await?).ok();

        // The export, fetched as the browser would download it: UTF-8 with a BOM.
        let csv = c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch(document.querySelector('a[href^=\"/accounts/vip.csv\"]').href)
                   .then(r => r.arrayBuffer()).then(b => done(Array.from(new Uint8Array(b))));",
                vec![],
            )
            .await?;
        let bytes: Vec<u8> = serde_json::from_value(csv).unwrap();
        assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "the CSV starts with a byte-order mark");
        assert_eq!(String::from_utf8_lossy(&bytes).lines().count(), 2, "a header and the one VIP");

        // The customer's page: the tier and its factors, then a visit planned.
        c.find(Locator::Css("table.list tbody tr a[href^='/customers/']")).await?.click().await?;
        c.wait().for_element(Locator::Id("visits")).await?;
        assert!(c.source().await?.contains("VIP"));
        let next_week = (chrono::Utc::now().date_naive() + chrono::Duration::days(7)).to_string();
        c.execute(
            "document.querySelector('#visits input[name=planned_on]').value = arguments[0];",
            vec![json!(next_week)],
        )
        .await?;
        c.find(Locator::Css("#visits input[name=purpose]")).await?.send_keys("年度用电方案回访").await?;
        c.find(Locator::Css("#visits button[type=submit]")).await?.click().await?;
        c.wait().for_element(Locator::XPath("//*[contains(text(), '年度用电方案回访')]")).await?;
        std::fs::write(shot("customer"), c.screenshot().await?).ok();

        // The portfolio lists the visit among what is due.
        c.goto(&app.url("/accounts/portfolio")).await?;
        c.wait().for_element(Locator::XPath("//*[contains(text(), '年度用电方案回访')]")).await?;
        std::fs::write(shot("portfolio"), c.screenshot().await?).ok();
        Ok(())
    }
    .await;
    finish(c, result).await;
}

#[tokio::test]
async fn an_account_manager_builds_a_segment_row_by_row_and_previews_it() {
    let app = TestApp::spawn().await;
    let shot = |name: &str| std::env::temp_dir().join(format!("gridcrm-segment-{name}.png"));
    let definition = async |c: &Client| -> Result<serde_json::Value, CmdError> {
        let text = c.execute("return document.getElementById('segment-definition').value;", vec![]).await?;
        Ok(serde_json::from_str(text.as_str().unwrap_or_default()).unwrap_or_default())
    };

    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        sign_in_home(&c, &app, "manager").await?;

        // The form opens with the example's two rows drawn from its JSON.
        c.goto(&app.url("/segments/new")).await?;
        c.wait().for_element(Locator::Css("#segment-builder:not([hidden]) .builder-row")).await?;
        let rows = c.find_all(Locator::Css(".builder-row")).await?;
        assert_eq!(rows.len(), 2, "the example: a class and a metric condition");

        // Remove the metric row; the class row gets the households' code.
        rows[1].find(Locator::Css("button")).await?.click().await?;
        assert_eq!(c.find_all(Locator::Css(".builder-row")).await?.len(), 1);
        let value = c.find(Locator::Css(".builder-row input")).await?;
        value.clear().await?;
        value.send_keys("residential").await?;
        assert_eq!(
            definition(&c).await?,
            json!({"all": [{"field": "class", "op": "in", "value": ["residential"]}]}),
            "the JSON follows the rows"
        );

        // A metric row added, and the group switched to "any".
        c.find_all(Locator::Css(".builder-actions button")).await?[1].click().await?;
        let metric_value = c.find_all(Locator::Css(".builder-row input:not([type=number])")).await?;
        metric_value[1].send_keys("0").await?;
        c.find(Locator::Css(".builder-head select")).await?.select_by_value("any").await?;
        let json = definition(&c).await?;
        assert_eq!(
            json["any"][1],
            json!({"metric": "energy_kwh", "agg": "sum", "months": 12, "op": "ge", "value": "0"})
        );
        assert!(json.get("all").is_none(), "{json}");
        std::fs::write(shot("builder"), c.screenshot().await?).ok();

        // The preview counts the tenant's four households, and the rows come back.
        c.find(Locator::Css("input[name=name]")).await?.send_keys("全部居民").await?;
        c.find(Locator::Css("button[formaction^='/segments/preview']")).await?.click().await?;
        let count = c.wait().for_element(Locator::Css("#preview .preview-count")).await?;
        assert_eq!(count.text().await?, "4");
        assert_eq!(c.find_all(Locator::Css(".builder-row")).await?.len(), 2, "the builder redrawn from the preview");
        std::fs::write(shot("preview"), c.screenshot().await?).ok();

        // Saved, it shows on its own page.
        c.find(Locator::Css("#segment-form .actions button:not([formaction])")).await?.click().await?;
        for _ in 0..50 {
            if c.current_url().await?.query().is_some_and(|q| q.contains("saved=true")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(c.source().await?.contains("全部居民"));
        std::fs::write(shot("saved"), c.screenshot().await?).ok();
        Ok(())
    }
    .await;
    finish(c, result).await;
}

#[tokio::test]
async fn a_counter_clerk_reads_out_a_poor_grade_and_sees_the_payment_method_prompt() {
    let app = TestApp::spawn().await;
    crate::credit::setup(&app).await;
    gridcrm::credit::db::rate(&app.pool, app.alpha.id, &|_, _| {}).await.unwrap();
    let debtor = app.alpha.customers[3];
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let account_no: String = sqlx::query_scalar("SELECT account_no FROM customers WHERE id = $1")
        .bind(debtor)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let shot = |name: &str| std::env::temp_dir().join(format!("gridcrm-credit-{name}.png"));

    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        sign_in_home(&c, &app, "counter").await?;

        // The search result already says grade C and the poor-credit list.
        c.goto(&app.url(&format!("/customers?q={}", &account_no[..account_no.len() - 1]))).await?;
        let row = c.find(Locator::XPath(&format!("//tr[td/a[text()='{account_no}']]"))).await?;
        let marks = row.text().await?;
        assert!(marks.contains('C') && marks.contains("失信名单"), "{marks}");
        std::fs::write(shot("search"), c.screenshot().await?).ok();

        // The customer page opens with the prompt: grade C calls for cost control.
        row.find(Locator::Css("a")).await?.click().await?;
        let prompt = c.wait().for_element(Locator::Id("credit-prompt")).await?;
        let text = prompt.text().await?;
        assert!(text.contains("费控") && text.contains("后付费"), "{text}");
        std::fs::write(shot("prompt"), c.screenshot().await?).ok();

        // "Why?" leads to each factor in words, with its points.
        prompt.find(Locator::Css("a")).await?.click().await?;
        let section = c.wait().for_element(Locator::Css("#credit")).await?;
        let rows = section.find_all(Locator::Css("tbody tr")).await?;
        assert_eq!(rows.len(), gridcrm::credit::FACTORS.len());
        let longest = rows[3].text().await?;
        assert!(longest.contains("最久一笔欠费逾期 120 天") && longest.contains("−25"), "{longest}");
        c.execute("document.getElementById('credit').scrollIntoView()", vec![]).await?;
        std::fs::write(shot("why"), c.screenshot().await?).ok();
        c.execute("document.querySelector('#credit h3').scrollIntoView()", vec![]).await?;
        std::fs::write(shot("forms"), c.screenshot().await?).ok();
        Ok(())
    }
    .await;
    finish(c, result).await;
}

#[tokio::test]
async fn a_tenant_admin_schedules_a_planned_outage_and_sees_the_notices_queued_then_delivered() {
    use crate::{notice_sinks::GatewayStub, notices_delivery as delivery};
    use gridcrm::notices::dispatch::{Dispatcher, Settings};

    let app = delivery::app_with_receipts().await;
    delivery::no_quiet_hours(&app, &app.alpha).await;
    // Three customers on route R0001; they have phones, so SMS is their first channel.
    let on_route = &app.alpha.customers[..3];
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query(
        "UPDATE customers c SET route_id = (SELECT r.id FROM reading_routes r WHERE r.tenant_id = c.tenant_id AND r.code = 'R0001') WHERE id = ANY($1)",
    )
    .bind(on_route)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Starts in two days: inside the seven days' lead, so the notices are due at once.
    let start = (chrono::Utc::now() + chrono::Duration::days(2)).with_timezone(&chrono_tz::Asia::Shanghai);
    let local = |t: chrono::DateTime<chrono_tz::Tz>| t.format("%Y-%m-%dT%H:00").to_string();
    let shot = |name: &str| std::env::temp_dir().join(format!("gridcrm-outage-{name}.png"));

    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        sign_in_home(&c, &app, "admin").await?;
        // From the menu to the notices hub, then to planned outages and a new one.
        c.find(Locator::Css("nav.mainnav a[href='/notices']")).await?.click().await?;
        c.wait().for_element(Locator::Css(".hub-cards")).await?;
        std::fs::write(shot("hub"), c.screenshot().await?).ok();
        c.find(Locator::Css("a.hub-card[href='/outages']")).await?.click().await?;
        c.wait().for_element(Locator::Css("a[href='/outages/new']")).await?.click().await?;
        c.wait().for_element(Locator::Id("reason")).await?.send_keys("10kV 线路检修").await?;
        // datetime-local inputs take their value by script; typing into them depends on the locale's format.
        c.execute(
            "document.getElementById('starts_at').value = arguments[0]; document.getElementById('ends_at').value = arguments[1];",
            vec![json!(local(start)), json!(local(start + chrono::Duration::hours(4)))],
        )
        .await?;
        c.find(Locator::Css("input[name=routes][value=R0001]")).await?.click().await?;
        std::fs::write(shot("form"), c.screenshot().await?).ok();
        c.find(Locator::Css("form button[type=submit].primary")).await?.click().await?;

        // The outage page: three SMS notices waiting to be sent.
        let notices = c.wait().for_element(Locator::Id("notices")).await?;
        let text = notices.text().await?;
        assert!(text.contains("待发送") && text.contains("短信") && text.contains('3'), "{text}");
        std::fs::write(shot("queued"), c.screenshot().await?).ok();

        // The dispatcher hands them to the SMS gateway, which confirms each with a signed receipt.
        let gateway = GatewayStub::start(delivery::SECRET, Duration::ZERO).await;
        let config = delivery::config(None, Some(&gateway), delivery::SECRET);
        let dispatcher = Dispatcher::start(app.pool.clone(), Settings::from_config(&config)).unwrap();
        for _ in 0..200 {
            if gateway.delivered().len() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        dispatcher.stop();
        dispatcher.finish().await;
        let delivered = gateway.delivered();
        assert_eq!(delivered.len(), 3, "{delivered:?}");
        let client = reqwest::Client::new();
        for message in delivered.values() {
            let id = message["notice_id"].as_str().unwrap();
            let body = serde_json::to_vec(&json!({"status": "delivered"})).unwrap();
            let at = chrono::Utc::now().timestamp();
            let r = client
                .post(app.url(&format!("/api/v1/notices/{id}/receipts")))
                .header("content-type", "application/json")
                .header("X-Gridcrm-Timestamp", at.to_string())
                .header("X-Gridcrm-Signature", crate::notice_sinks::sign(delivery::SECRET, at, &body))
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }

        c.refresh().await?;
        let text = c.wait().for_element(Locator::Id("notices")).await?.text().await?;
        assert!(text.contains("已送达") && !text.contains("待发送"), "{text}");
        std::fs::write(shot("delivered"), c.screenshot().await?).ok();

        // Each customer's timeline shows the notice and that it arrived.
        c.goto(&app.url(&format!("/customers/{}", on_route[0]))).await?;
        let timeline = c.wait().for_element(Locator::Id("timeline")).await?.text().await?;
        assert!(timeline.contains("计划停电 · 短信") && timeline.contains("已送达"), "{timeline}");
        c.execute("document.getElementById('timeline').scrollIntoView()", vec![]).await?;
        std::fs::write(shot("timeline"), c.screenshot().await?).ok();
        Ok(())
    }
    .await;
    finish(c, result).await;
}

#[tokio::test]
async fn an_account_manager_reads_a_large_customers_load_and_prints_the_peak_shifting_report() {
    let app = TestApp::spawn().await;
    crate::load::load_two_days(&app).await;
    crate::load::load_weeks_and_forecast(&app, 28).await;
    let customer = app.alpha.customers[0];
    let shot = |name: &str| std::env::temp_dir().join(format!("gridcrm-load-{name}.png"));
    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        sign_in_home(&c, &app, "manager").await?;
        c.goto(&app.url(&format!("/customers/{customer}"))).await?;
        c.wait().for_element(Locator::Id("open-load")).await?.click().await?;
        // The curves are drawn on the server: the day's line is there as SVG.
        let chart = c.wait().for_element(Locator::Css("#day-chart svg polyline")).await?;
        assert!(chart.attr("points").await?.is_some_and(|p| p.split(' ').count() > 40), "a whole day's curve");
        let summary = c.find(Locator::Id("load-summary")).await?.text().await?;
        assert!(summary.contains("41.7 %"), "the load rate: {summary}");
        std::fs::write(shot("customer"), c.screenshot().await?).ok();
        // Tomorrow's forecast, with its error beside the baseline's.
        let forecast = c.find(Locator::Id("forecast")).await?;
        forecast.find(Locator::Css("#forecast-chart svg polyline")).await?;
        let accuracy = forecast.find(Locator::Id("forecast-accuracy")).await?.text().await?;
        assert!(accuracy.contains('%'), "the error is given: {accuracy}");
        c.execute("document.getElementById('forecast').scrollIntoView()", vec![]).await?;
        std::fs::write(shot("forecast"), c.screenshot().await?).ok();

        // The peak-shifting report, printed: the print button calls the browser's print.
        c.find(Locator::Id("peak-report-link")).await?.click().await?;
        c.wait().for_element(Locator::Id("peak-figures")).await?;
        c.execute("window.printed = false; window.print = () => { window.printed = true; };", vec![]).await?;
        c.find(Locator::Css("#peak-report button.no-print")).await?.click().await?;
        assert_eq!(c.execute("return window.printed;", vec![]).await?, json!(true));
        std::fs::write(shot("peak-report"), c.screenshot().await?).ok();

        // The company's summed load, from the navigation.
        c.find(Locator::Css("nav a[href='/load']")).await?.click().await?;
        c.wait().for_element(Locator::Css("#day-chart svg polyline")).await?;
        let label = c.find(Locator::Id("group-label")).await?.text().await?;
        assert!(label.contains("全公司"), "{label}");
        std::fs::write(shot("company"), c.screenshot().await?).ok();
        Ok(())
    }
    .await;
    finish(c, result).await;
}

/// A tenant admin retires an industry code (after confirming) and adds a
/// reading route with a reader.
#[tokio::test]
async fn a_tenant_admin_retires_an_industry_code_and_adds_a_route_with_a_reader() {
    let app = TestApp::spawn().await;
    let reader = app.alpha.user_id("counter").to_string();
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    sqlx::query("UPDATE meters SET next_verification = current_date + (right(serial, 1)::int * 7 - 10)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let shot = |name: &str| std::env::temp_dir().join(format!("gridcrm-reference-{name}.png"));
    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        sign_in_home(&c, &app, "admin").await?;
        c.find(Locator::Css("nav.mainnav a[href='/admin/reference']")).await?.click().await?;
        c.wait().for_element(Locator::Css("nav.tabs a[href='/admin/reference/industries']")).await?.click().await?;
        c.wait().for_element(Locator::Id("code-C26")).await?;
        c.find(Locator::Css("form[action='/admin/reference/industries/C26/retire'] button")).await?.click().await?;
        c.accept_alert().await?;
        let row = c.wait().for_element(Locator::Css("#code-C26 .chip.danger")).await?;
        assert_eq!(row.text().await?, "已停用");
        assert!(c.source().await?.contains("已停用。"), "the notice says it was retired");
        c.execute("document.getElementById('code-C26').scrollIntoView({block: 'center'})", vec![]).await?;
        std::fs::write(shot("retired"), c.screenshot().await?).ok();

        c.find(Locator::Css("nav.tabs a[href='/admin/routes']")).await?.click().await?;
        c.wait().for_element(Locator::Css("#add-route input[name=code]")).await?.send_keys("R0009").await?;
        c.find(Locator::Css("#add-route input[name=name]")).await?.send_keys("东城九段").await?;
        c.find(Locator::Css("#add-route input[name=reader_day]")).await?.send_keys("15").await?;
        c.find(Locator::Css(&format!("#add-route input[name=readers][value='{reader}']"))).await?.click().await?;
        c.find(Locator::Css("#add-route button[type=submit]")).await?.click().await?;
        let row = c.wait().for_element(Locator::Id("route-R0009")).await?.text().await?;
        assert!(row.contains("东城九段") && row.contains("每月15日") && row.contains("counter"), "{row}");
        std::fs::write(shot("route"), c.screenshot().await?).ok();

        // The meters due for verification, from the menu.
        c.find(Locator::Css("nav.mainnav a[href='/meters/verification']")).await?.click().await?;
        let table = c.wait().for_element(Locator::Css("table.list")).await?.text().await?;
        assert!(table.contains("ALPHAM0001") && table.contains("已超期"), "{table}");
        std::fs::write(shot("verification"), c.screenshot().await?).ok();
        Ok(())
    }
    .await;
    finish(c, result).await;
}

/// The counter clerk's transfer of ownership (过户): started from the
/// customer page's change-of-use menu, reviewed, completed, and its
/// acceptance slip printed. Screenshots go to the temporary directory.
#[tokio::test]
async fn a_counter_clerk_registers_a_transfer_of_ownership_and_prints_the_slip() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let shot = |name: &str| std::env::temp_dir().join(format!("gridcrm-change-{name}.png"));
    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        sign_in_home(&c, &app, "counter").await?;
        c.goto(&app.url(&format!("/customers/{customer}"))).await?;
        c.wait().for_element(Locator::Css("#change-of-use summary")).await?.click().await?;
        c.wait().for_element(Locator::LinkText("过户")).await?.click().await?;

        // The form asks for the new holder; the customer is attached already.
        let form = c.wait().for_element(Locator::Css("form[action='/work-orders']")).await?;
        assert!(c.source().await?.contains("王建国"));
        c.find(Locator::Css("input[name=title]")).await?.send_keys("房屋出售过户").await?;
        form.find(Locator::Css("button[type=submit]")).await?.click().await?;
        c.wait().for_element(Locator::Id("new_holder_name-error")).await?;
        c.find(Locator::Css("input[name=new_holder_name]")).await?.send_keys("赵新户").await?;
        c.find(Locator::Css("input[name=new_holder_phone]")).await?.send_keys("13900000123").await?;
        std::fs::write(shot("form"), c.screenshot().await?).ok();
        c.find(Locator::Css("form[action='/work-orders'] button[type=submit]")).await?.click().await?;

        // The order: its documents reviewed, then completed.
        c.wait().for_element(Locator::Css("button[value=review]")).await?;
        for checkbox in c.find_all(Locator::Css("input[name=documents]")).await? {
            checkbox.click().await?;
        }
        c.find(Locator::Css("button[value=review]")).await?.click().await?;
        // Completing takes the transfer reading, where the old holder's use ends.
        c.wait().for_element(Locator::Css("input[name=final_reading]")).await?.send_keys("1200").await?;
        c.find(Locator::Css("button[value=complete]")).await?.click().await?;
        let outcome = c.wait().for_element(Locator::Id("change-outcome")).await?;
        let outcome = outcome.text().await?;
        assert!(outcome.contains("赵新户") && outcome.contains("1200"), "{outcome}");
        std::fs::write(shot("order"), c.screenshot().await?).ok();

        // The slip: what changed, and the print button calls the browser's print.
        c.find(Locator::Id("print-slip")).await?.click().await?;
        let slip = c.wait().for_element(Locator::Css("article.slip")).await?;
        let text = slip.text().await?;
        assert!(text.contains("受理回执") && text.contains("赵新户") && text.contains("王建国"), "{text}");
        c.execute("window.printed = false; window.print = () => { window.printed = true; };", vec![]).await?;
        c.find(Locator::Css("article.slip button[data-print]")).await?.click().await?;
        assert_eq!(c.execute("return window.printed;", vec![]).await?, json!(true));
        std::fs::write(shot("slip"), c.screenshot().await?).ok();
        Ok(())
    }
    .await;
    finish(c, result).await;
}

/// The counter clerk's supply-point journey: from the customer page, add a
/// supply point, install a meter on it, exchange the meter (confirming),
/// and see both meters and the history on the point's page. Screenshots of
/// each step go to the temporary directory.
#[tokio::test]
async fn a_counter_clerk_adds_a_supply_point_installs_a_meter_and_exchanges_it() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let shot = |name: &str| std::env::temp_dir().join(format!("gridcrm-supply-{name}.png"));
    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        sign_in_home(&c, &app, "counter").await?;
        c.goto(&app.url(&format!("/customers/{customer}"))).await?;
        c.wait().for_element(Locator::Id("add-supply-point")).await?.click().await?;

        // The voltage has the focus; sent without one, it is named and nothing is added.
        let focused = c.wait().for_element(Locator::Css("select[name=voltage_code]")).await?;
        assert_eq!(c.active_element().await?.attr("name").await?.as_deref(), Some("voltage_code"));
        c.find(Locator::Id("save-point")).await?.click().await?;
        c.wait().for_element(Locator::Id("voltage_code-error")).await?;
        drop(focused);
        c.find(Locator::Css("select[name=voltage_code] option[value=v220]")).await?.click().await?;
        c.find(Locator::Id("capacity_kva")).await?.send_keys("8").await?;
        c.find(Locator::Id("transformer")).await?.send_keys("城东2号变").await?;
        std::fs::write(shot("point-form"), c.screenshot().await?).ok();
        c.find(Locator::Id("save-point")).await?.click().await?;

        // The new point: no meter yet.
        c.wait().for_element(Locator::Id("install-meter")).await?;
        assert!(c.source().await?.contains("城东2号变"));
        c.find(Locator::Id("install-meter")).await?.click().await?;
        c.wait().for_element(Locator::Id("serial")).await?.send_keys("ALPHAB0001").await?;
        c.execute("document.getElementById('installed_on').value = '2026-11-01';", vec![]).await?;
        let initial = c.find(Locator::Id("initial_reading")).await?;
        initial.clear().await?;
        initial.send_keys("100").await?;
        std::fs::write(shot("install-form"), c.screenshot().await?).ok();
        c.find(Locator::Id("save-install")).await?.click().await?;

        // Installed: exchange it.
        c.wait().for_element(Locator::Id("exchange-ALPHAB0001")).await?.click().await?;
        // Below the last reading first: refused, named beside the field.
        c.wait().for_element(Locator::Id("final_reading")).await?.send_keys("99").await?;
        c.find(Locator::Id("new_serial")).await?.send_keys("ALPHAB0002").await?;
        let multiplier = c.find(Locator::Id("new_multiplier")).await?;
        multiplier.clear().await?;
        multiplier.send_keys("40").await?;
        c.find(Locator::Id("save-exchange")).await?.click().await?;
        c.accept_alert().await?;
        let error = c.wait().for_element(Locator::Id("final_reading-error")).await?;
        assert!(error.text().await?.contains("低于"), "the refusal says the reading is too low");
        std::fs::write(shot("exchange-refused"), c.screenshot().await?).ok();
        let last = c.find(Locator::Id("final_reading")).await?;
        last.clear().await?;
        last.send_keys("180").await?;
        c.find(Locator::Id("save-exchange")).await?.click().await?;
        c.accept_alert().await?;

        // The point's page: the new meter in service, the old with its final reading, and the history.
        let notice = c.wait().for_element(Locator::Css("p.notice")).await?;
        assert!(notice.text().await?.contains("已保存"));
        let meters = c.find(Locator::Id("meters")).await?.text().await?;
        assert!(meters.contains("ALPHAB0001") && meters.contains("ALPHAB0002") && meters.contains("180"), "{meters}");
        let history = c.find(Locator::Id("history")).await?.text().await?;
        assert!(history.contains("换表") && history.contains("装表") && history.contains("新建"), "{history}");
        std::fs::write(shot("point"), c.screenshot().await?).ok();
        Ok(())
    }
    .await;
    finish(c, result).await;
}

#[tokio::test]
async fn a_tenant_admin_uploads_an_archive_with_a_bad_line_and_sees_it_named() {
    let app = TestApp::spawn().await;
    let shot = |name: &str| std::env::temp_dir().join(format!("gridcrm-import-{name}.png"));
    let file = std::env::temp_dir().join(format!("gridcrm-import-{}.csv", std::process::id()));
    std::fs::write(
        &file,
        "account_no,name,class_code,industry_code,voltage_code,tariff_code,point_code,meter_serial\n\
         7700000001,周建国,residential,RES,v220,res_tiered,7700000001-1,IM-0001\n\
         7700000002,吴丽华,residential,RES,v999,res_tiered,7700000002-1,IM-0002\n",
    )
    .unwrap();
    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        sign_in_home(&c, &app, "admin").await?;
        c.goto(&app.url("/admin/import")).await?;
        c.wait()
            .for_element(Locator::Css("input[type=file][name=file]"))
            .await?
            .send_keys(&file.to_string_lossy())
            .await?;
        c.find(Locator::Css("button[type=submit].primary")).await?.click().await?;
        let errors = c.wait().for_element(Locator::Css("table.line-errors")).await?.text().await?;
        assert!(errors.contains('3') && errors.contains("voltage_code"), "line 3's voltage is named: {errors}");
        let alert = c.find(Locator::Css("section.card.warn p.alert")).await?.text().await?;
        assert!(alert.contains("未导入"), "nothing was loaded, in Chinese: {alert}");
        std::fs::write(shot("rejected"), c.screenshot().await?).ok();
        Ok(())
    }
    .await;
    finish(c, result).await;
    std::fs::remove_file(&file).ok();
    assert_eq!(app.count_all("customers").await, 8, "nothing was loaded");
}

/// The counter clerk takes cash with change: the change follows the cash typed
/// (full-width digits too), the receipt shows both, the amount in capitals and
/// prints. Screenshots of the form and the receipt go to the temporary directory.
#[tokio::test]
async fn a_counter_clerk_takes_cash_gives_change_and_prints_the_receipt() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, gridcrm::staff::Role::Supervisor).await;
    crate::payments::two_bills(&app, &key).await;
    let customer = app.alpha.customers[0];
    let shot = |name: &str| std::env::temp_dir().join(format!("gridcrm-cash-{name}.png"));
    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        sign_in_home(&c, &app, "counter").await?;
        c.goto(&app.url(&format!("/customers/{customer}/pay"))).await?;
        // ¥134.50 owed is offered; ¥200 handed over in full-width digits: ¥65.50 change.
        let amount = c.wait().for_element(Locator::Css("input[name=amount]")).await?;
        assert_eq!(amount.prop("value").await?.as_deref(), Some("134.50"));
        assert!(!c.find(Locator::Css("input[name=channel_ref]")).await?.is_displayed().await?);
        c.find(Locator::Id("cash_received")).await?.send_keys("２００").await?;
        let change = c.find(Locator::Css("output[data-change]")).await?;
        assert_eq!(change.text().await?, "¥65.50");
        std::fs::write(shot("form"), c.screenshot().await?).ok();
        c.find(Locator::Css("#pay-form button[type=submit].primary")).await?.click().await?;
        let given = c.wait().for_element(Locator::Id("change-given")).await?;
        assert_eq!(given.text().await?, "¥65.50");
        assert_eq!(c.find(Locator::Id("cash-received")).await?.text().await?, "¥200.00");
        assert_eq!(c.find(Locator::Id("amount-capitals")).await?.text().await?, "壹佰叁拾肆元伍角");
        c.execute("window.printed = false; window.print = () => { window.printed = true; };", vec![]).await?;
        c.find(Locator::Css("section.receipt button[data-print]")).await?.click().await?;
        assert_eq!(c.execute("return window.printed;", vec![]).await?, json!(true));
        std::fs::write(shot("receipt"), c.screenshot().await?).ok();
        Ok(())
    }
    .await;
    finish(c, result).await;
}

/// The end of the day: the cashier sees their day per channel and closes it;
/// a supervisor opens the day's report, signs it off, and it prints.
#[tokio::test]
async fn a_cashier_closes_the_day_and_a_supervisor_signs_it_off() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, gridcrm::staff::Role::Supervisor).await;
    crate::payments::two_bills(&app, &key).await;
    let customer = app.alpha.customers[0];
    let clerk = app.login(&app.alpha, "counter").await;
    let pay = format!("/customers/{customer}/pay");
    assert_eq!(clerk.post(&pay, &[("amount", "53.80"), ("channel", "counter_cash")]).await.status(), 303);
    assert_eq!(clerk.post(&pay, &[("amount", "20"), ("channel", "counter_card")]).await.status(), 303);
    let shot = |name: &str| std::env::temp_dir().join(format!("gridcrm-cash-day-{name}.png"));
    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        sign_in_home(&c, &app, "counter").await?;
        c.find(Locator::LinkText("日结")).await?.click().await?;
        let table = c.wait().for_element(Locator::Id("cash-days")).await?;
        assert!(table.text().await?.contains("¥73.80"));
        c.execute("window.confirm = () => true;", vec![]).await?;
        c.find(Locator::Id("close-day")).await?.click().await?;
        c.wait().for_element(Locator::Css(".notice")).await?;
        assert!(c.find(Locator::Id("cash-days")).await?.text().await?.contains("已日结"));
        std::fs::write(shot("closed"), c.screenshot().await?).ok();
        // The supervisor signs it off.
        c.find(Locator::Css("form[action='/logout'] button")).await?.click().await?;
        c.goto(&app.url("/")).await?;
        sign_in(&c, "alpha", "supervisor", PASSWORD).await?;
        c.wait().for_url(&url::Url::parse(&app.url("/home")).unwrap()).await?;
        c.goto(&app.url("/cash-days")).await?;
        c.wait().for_element(Locator::LinkText("日结单")).await?.click().await?;
        c.wait().for_element(Locator::Css("input[name=note]")).await?.send_keys("现金、刷卡均相符").await?;
        c.find(Locator::Id("sign-off")).await?.click().await?;
        // Waits for the page after the sign-off: the one before has the status too.
        c.wait().for_element(Locator::XPath("//*[@id='cash-day-status' and text()='已审核']")).await?;
        let sheet = c.find(Locator::Css("article.print-sheet")).await?.text().await?;
        assert!(sheet.contains("甲市供电公司") && sheet.contains("柜台现金") && sheet.contains("¥53.80"), "{sheet}");
        c.execute("window.printed = false; window.print = () => { window.printed = true; };", vec![]).await?;
        c.find(Locator::Css("article.print-sheet button[data-print]")).await?.click().await?;
        assert_eq!(c.execute("return window.printed;", vec![]).await?, json!(true));
        std::fs::write(shot("signed"), c.screenshot().await?).ok();
        Ok(())
    }
    .await;
    finish(c, result).await;
}

/// How many rows of the table `selector` are wholly inside the window.
async fn rows_in_view(c: &Client, selector: &str) -> Result<u64, CmdError> {
    let script = format!(
        "return Array.from(document.querySelectorAll('{selector} tbody tr'))
            .filter(r => r.getBoundingClientRect().bottom <= window.innerHeight).length;"
    );
    Ok(c.execute(&script, vec![]).await?.as_u64().unwrap_or(0))
}

/// Keeps a screenshot of the window for a person to look at.
async fn keep_screenshot(c: &Client, name: &str) -> Result<(), CmdError> {
    let png = c.screenshot().await?;
    let _ = std::fs::write(std::env::temp_dir().join(format!("gridcrm-{name}.png")), png);
    Ok(())
}

#[tokio::test]
async fn a_counter_clerk_finds_by_the_last_digits_and_sorts_results_then_works_the_queue() {
    let app = TestApp::spawn().await;
    let late = crate::service::register_complaint(&app, "counter", Some(app.alpha.customers[1])).await;
    crate::service::age_contact(&app, late, 24 * 14).await;
    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        c.set_window_size(1366, 768).await?;
        sign_in_home(&c, &app, "counter").await?;
        // The home page shows the clerk's queue, the overdue complaint first.
        let queue = c.find(Locator::Id("my-queue")).await?.text().await?;
        assert!(queue.contains("我的待办") && queue.contains("李建华"), "{queue}");
        keep_screenshot(&c, "lists-home-counter").await?;

        // The last four digits of a contact's phone go straight to the customer.
        c.find(Locator::Id("q")).await?.send_keys("0009").await?;
        c.find(Locator::Css("form.search-form button[type=submit]")).await?.click().await?;
        c.wait().for_element(Locator::Id("archive")).await?;
        assert!(c.source().await?.contains("王建国"));

        // One character anywhere in a name: two customers, sorted by name in pinyin order on a click.
        c.goto(&app.url("/customers?q=%E5%BB%BA")).await?;
        let count = c.wait().for_element(Locator::Id("result-count")).await?.text().await?;
        assert_eq!(count, "找到 2 户客户");
        c.find(Locator::XPath("//th/a[starts-with(normalize-space(.), '户名')]")).await?.click().await?;
        c.wait().for_element(Locator::Css("th[aria-sort=ascending] a[href*='sort=name']")).await?;
        let names: Vec<String> = {
            let mut out = Vec::new();
            for cell in c.find_all(Locator::Css("table.results tbody td:nth-child(2)")).await? {
                out.push(cell.text().await?);
            }
            out
        };
        assert_eq!(names, ["李建华", "王建国"], "li before wang");
        assert!(c.current_url().await?.query().unwrap_or("").contains("sort=name"), "the order is in the address");
        keep_screenshot(&c, "lists-search-sorted").await?;

        // My contacts: the overdue one highlighted, with its customer.
        c.goto(&app.url("/contacts")).await?;
        c.wait().for_element(Locator::Css("#my-contacts tr.overdue")).await?;
        let row = c.find(Locator::Css("#my-contacts tr.overdue")).await?.text().await?;
        assert!(row.contains("李建华") && row.contains("超时"), "{row}");
        keep_screenshot(&c, "lists-my-contacts").await?;
        Ok(())
    }
    .await;
    finish(c, result).await;
}

#[tokio::test]
async fn a_supervisor_sees_complaints_apart_from_work_orders_and_pages_the_board() {
    let app = TestApp::spawn().await;
    let late = crate::service::register_complaint(&app, "counter", Some(app.alpha.customers[0])).await;
    crate::service::age_contact(&app, late, 24 * 14).await;
    for _ in 0..8 {
        crate::service::register_complaint(&app, "counter2", None).await;
    }
    for i in 0..30 {
        crate::queues::open_repair(&app, "counter", app.alpha.customers[i % 4], &format!("线路故障{i}")).await;
    }
    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        c.set_window_size(1366, 768).await?;
        sign_in_home(&c, &app, "supervisor").await?;
        c.goto(&app.url("/service/board")).await?;
        c.wait().for_element(Locator::Id("board-contacts")).await?;
        keep_screenshot(&c, "lists-board-contacts").await?;
        let contacts = rows_in_view(&c, "#board-contacts").await?;
        assert!(contacts > 5, "{contacts} complaint rows visible at 1366x768");
        assert!(c.find(Locator::Id("board-orders")).await.is_err(), "orders wait on their own tab");

        c.find(Locator::XPath("//nav[@class='tabs']/a[starts-with(normalize-space(.), '工单')]"))
            .await?
            .click()
            .await?;
        c.wait().for_element(Locator::Id("board-orders")).await?;
        let orders = rows_in_view(&c, "#board-orders").await?;
        assert!(orders > 5, "{orders} order rows visible at 1366x768");
        keep_screenshot(&c, "lists-board-orders").await?;
        c.find(Locator::Css("a[rel=next]")).await?.click().await?;
        c.wait().for_element(Locator::Css("a[rel=prev]")).await?;
        assert_eq!(c.find_all(Locator::Css("#board-orders tbody tr")).await?.len(), 5, "30 orders: 25 and 5");
        Ok(())
    }
    .await;
    finish(c, result).await;
}

/// The customer page as printed: the print style sheet applied (its rules
/// made the page's own, since headless screenshots render for the screen)
/// at the width of an A4 page. The contacts table keeps readable columns
/// (it collapsed into one-character columns), the banner prints, links are
/// not underlined. Screenshot: $TMPDIR/gridcrm-customer-print.png.
#[tokio::test]
async fn the_customer_page_prints_with_readable_columns() {
    let app = TestApp::spawn().await;
    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        sign_in_home(&c, &app, "counter").await?;
        c.goto(&app.url(&format!("/customers/{}", app.alpha.customers[0]))).await?;
        c.wait().for_element(Locator::Id("contacts")).await?;
        c.set_window_size(794, 1123).await?;
        c.execute(
            "for (const sheet of document.styleSheets) {
               for (const rule of [...sheet.cssRules]) {
                 if (rule.media && rule.media.mediaText.includes('print')) {
                   for (const inner of rule.cssRules) sheet.insertRule(inner.cssText, sheet.cssRules.length);
                 }
               }
             }",
            vec![],
        )
        .await?;
        let widths = c
            .execute(
                "return [...document.querySelectorAll('#contacts table th, #contacts table td')]
                   .filter(e => e.offsetParent !== null && e.textContent.trim() !== '')
                   .map(e => [e.textContent.trim(), e.getBoundingClientRect().width]);",
                vec![],
            )
            .await?;
        let png = c.screenshot().await?;
        std::fs::write(std::env::temp_dir().join("gridcrm-customer-print.png"), png).ok();
        let widths: Vec<(String, f64)> = serde_json::from_value(widths).unwrap();
        assert!(!widths.is_empty());
        // The narrowest cell still holds two Chinese characters side by side.
        assert!(widths.iter().all(|(_, w)| *w >= 36.0), "every contacts column keeps its width: {widths:?}");
        let underline = c
            .execute("return getComputedStyle(document.querySelector('#supply a')).textDecorationLine;", vec![])
            .await?;
        assert_eq!(underline, json!("none"));
        assert!(c.find(Locator::Id("banner")).await?.is_displayed().await?);
        assert!(!c.find(Locator::Css(".topbar")).await?.is_displayed().await?);
        Ok(())
    }
    .await;
    finish(c, result).await;
}

/// The tenant admin keeps personal information within the law: sets how long
/// load curves and the audit log are kept, finds a closed account past its
/// retention period in the list, and anonymises it after typing its account
/// number (a wrong one is refused, naming the field).
#[tokio::test]
async fn a_tenant_admin_sets_retention_and_anonymises_a_closed_account() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let mut owner = <sqlx::PgConnection as sqlx::Connection>::connect(&app.owner_url).await.unwrap();
    sqlx::query("UPDATE customers SET status = 'closed' WHERE id = $1")
        .bind(customer)
        .execute(&mut owner)
        .await
        .unwrap();
    sqlx::query("UPDATE customers SET closed_at = now() - interval '4 years' WHERE id = $1")
        .bind(customer)
        .execute(&mut owner)
        .await
        .unwrap();
    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        c.set_window_size(1366, 900).await?;
        sign_in_home(&c, &app, "admin").await?;
        c.find(Locator::Css("nav a[href='/privacy']")).await?.click().await?;
        let years = c.wait().for_element(Locator::Css("input[name=interval_years]")).await?;
        assert_eq!(years.prop("value").await?.as_deref(), Some("3"));
        years.clear().await?;
        years.send_keys("2").await?;
        let audit = c.find(Locator::Css("input[name=audit_years]")).await?;
        audit.clear().await?;
        audit.send_keys("60").await?;
        c.find(Locator::Css("form[action='/privacy'] button[type=submit]")).await?.click().await?;
        // Sixty years is refused, and says why, with what was typed kept.
        let alert = c.wait().for_element(Locator::Css("input[name=audit_years][aria-invalid=true]")).await?;
        assert_eq!(alert.prop("value").await?.as_deref(), Some("60"));
        assert!(c.source().await?.contains("请输入 1 到 50 的整数年"));
        let audit = c.find(Locator::Css("input[name=audit_years]")).await?;
        audit.clear().await?;
        audit.send_keys("12").await?;
        c.find(Locator::Css("form[action='/privacy'] button[type=submit]")).await?.click().await?;
        let saved = c.wait().for_element(Locator::Css("p.notice[role=status]")).await?;
        assert!(saved.text().await?.contains("已保存"));
        assert_eq!(
            c.find(Locator::Css("input[name=interval_years]")).await?.prop("value").await?.as_deref(),
            Some("2")
        );
        keep_screenshot(&c, "privacy-settings").await?;

        // The closed account is due; its page offers the anonymisation.
        c.find(Locator::Css("#due a")).await?.click().await?;
        let confirm = c.wait().for_element(Locator::Css("input[name=confirm_account_no]")).await?;
        confirm.send_keys("0000000000").await?;
        c.find(Locator::Css("#anonymise button.danger")).await?.click().await?;
        c.wait().for_element(Locator::Css("input[name=confirm_account_no][aria-invalid=true]")).await?;
        assert!(c.source().await?.contains("请按所示原样输入户号以确认"));
        let account_no: String = sqlx::query_scalar("SELECT account_no FROM customers WHERE id = $1")
            .bind(customer)
            .fetch_one(&mut owner)
            .await
            .unwrap();
        let confirm = c.find(Locator::Css("input[name=confirm_account_no]")).await?;
        confirm.clear().await?;
        confirm.send_keys(&account_no).await?;
        c.find(Locator::Css("#anonymise button.danger")).await?.click().await?;
        let done = c.wait().for_element(Locator::Css("p.notice[role=status]")).await?;
        assert!(done.text().await?.contains("该账户已匿名化"));
        assert_ne!(c.find(Locator::Id("anonymised-at")).await?.text().await?, "—");
        keep_screenshot(&c, "privacy-anonymised").await?;
        Ok(())
    }
    .await;
    finish(c, result).await;
    let name: String = sqlx::query_scalar("SELECT name FROM customers WHERE id = $1")
        .bind(customer)
        .fetch_one(&mut owner)
        .await
        .unwrap();
    assert_eq!(name, gridcrm::privacy::model::mark(customer), "the name is gone for good");
}

/// axe-core, the accessibility checker, from the npm registry: installed
/// under `target/axe` the first time (npm must be on the machine; `.ci/run`
/// installs it).
fn axe_source() -> String {
    // Tests run side by side in one process: the first installs, the others
    // wait for it (two npm installs into one folder at once fail).
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE.get_or_init(install_axe).clone()
}

fn install_axe() -> String {
    const VERSION: &str = "4.14.1";
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/axe");
    let script = dir.join("node_modules/axe-core/axe.min.js");
    let installed = dir.join(format!("installed-{VERSION}"));
    if !installed.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("npm")
            .args(["install", "--no-save", "--no-audit", "--no-fund", "--no-package-lock", "--prefix"])
            .arg(&dir)
            .arg(format!("axe-core@{VERSION}"))
            .stdout(Stdio::null())
            .status()
            .expect("npm is installed (Debian package npm) to fetch axe-core");
        assert!(status.success(), "npm install axe-core@{VERSION} failed");
        std::fs::write(&installed, "").unwrap();
    }
    std::fs::read_to_string(&script).expect("axe-core's axe.min.js")
}

/// Runs axe on the page shown (WCAG 2.1 A and AA rules) and returns its
/// serious and critical findings, one line each.
async fn serious_accessibility_violations(c: &Client, axe: &str) -> Result<Vec<String>, CmdError> {
    // A script run through WebDriver is not held to the page's CSP.
    c.execute(&format!("{axe}\nreturn true;"), vec![]).await?;
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
                .then(r => done(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                    .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
                .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(found).unwrap_or_else(|e| vec![format!("unreadable axe result: {e}")]))
}

/// A prepaid customer whose supply was cut registers on a phone with the
/// code the account's phone got, opens the account (which says the supply is
/// cut), pays the bill through the (stand-in) gateway's hosted page and comes
/// back to a paid order with the supply ordered back on, reads the page in
/// English; axe finds no serious or critical violation on any portal page on
/// the way.
#[tokio::test]
async fn a_prepaid_customer_registers_on_a_phone_pays_and_the_supply_comes_back() {
    let app = TestApp::spawn_with(crate::support::with_fake_gateway(crate::support::config()).await).await;
    let customer = app.alpha.customers[0];
    let mut owner = sqlx::PgConnection::connect(&app.owner_url).await.unwrap();
    let account_no = portal_customer_with_a_bill(&app, &mut owner, customer, "B-PHONE-1").await;
    // A prepaid customer whose balance ran out: cost control cut the supply.
    let manager = app.login(&app.alpha, "manager").await;
    let r = manager.post(&format!("/customers/{customer}/cost-control"), &[]).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let commands = async |owner: &mut sqlx::PgConnection| -> Vec<String> {
        sqlx::query_scalar("SELECT command FROM meter_commands WHERE customer_id = $1 ORDER BY created_at")
            .bind(customer)
            .fetch_all(owner)
            .await
            .unwrap()
    };
    assert_eq!(commands(&mut owner).await, ["disconnect"]);
    let axe = axe_source();
    let (_driver, webdriver) = start_driver().await;
    let c = phone_browser(&webdriver).await;
    let mut findings: Vec<String> = Vec::new();
    let result = async {
        let mut check = async |c: &Client, page: &str| -> Result<(), CmdError> {
            for v in serious_accessibility_violations(c, &axe).await? {
                findings.push(format!("{page}: {v}"));
            }
            Ok(())
        };
        // The checker works: an unlabelled field is found.
        c.goto("data:text/html,<!doctype html><title>t</title><main><input></main>").await?;
        let control = serious_accessibility_violations(&c, &axe).await?;
        assert!(control.iter().any(|v| v.starts_with("label ")), "axe did not run: {control:?}");
        c.goto(&app.url("/portal")).await?;
        check(&c, "front").await?;
        c.find(Locator::LinkText("甲市供电公司")).await?.click().await?;
        c.wait().for_element(Locator::Id("password")).await?;
        check(&c, "sign in").await?;
        c.find(Locator::Css("p.aside a")).await?.click().await?;
        c.wait().for_element(Locator::Id("account_no")).await?.send_keys(&account_no).await?;
        check(&c, "register").await?;
        c.find(Locator::Css("button.primary")).await?.click().await?;
        c.wait().for_element(Locator::Id("code")).await?;
        let code: String = sqlx::query_scalar("SELECT data->>'code' FROM notices WHERE kind = 'portal_code'")
            .fetch_one(&mut owner)
            .await
            .unwrap();
        // A short password first: the page names the field.
        c.find(Locator::Id("code")).await?.send_keys(&code).await?;
        c.find(Locator::Id("login")).await?.send_keys("13912345678").await?;
        c.find(Locator::Id("password")).await?.send_keys("short").await?;
        c.find(Locator::Id("password_again")).await?.send_keys("short").await?;
        c.find(Locator::Css("button.primary")).await?.click().await?;
        c.wait().for_element(Locator::Id("password-error")).await?;
        check(&c, "register, refused").await?;
        c.find(Locator::Id("code")).await?.send_keys(&code).await?;
        c.find(Locator::Id("password")).await?.send_keys("a long portal password").await?;
        c.find(Locator::Id("password_again")).await?.send_keys("a long portal password").await?;
        c.find(Locator::Css("button.primary")).await?.click().await?;
        c.wait().for_url(&url::Url::parse(&app.url("/portal/home")).unwrap()).await?;
        check(&c, "home").await?;
        assert!(c.source().await?.contains("76.20"));
        c.find(Locator::Css(".account a")).await?.click().await?;
        c.wait().for_element(Locator::Css("section.summary")).await?;
        assert!(c.source().await?.contains("B-PHONE-1"));
        let prepaid = c.find(Locator::Id("prepaid")).await?.text().await?;
        assert!(prepaid.contains("已停电"), "the page says the supply is cut: {prepaid}");
        check(&c, "account").await?;
        c.find(Locator::Css("main a.button.primary")).await?.click().await?;
        let amount = c.wait().for_element(Locator::Id("amount")).await?;
        // A prepaid account is asked for its bill, the use since and a month more.
        let filled: f64 = amount.prop("value").await?.and_then(|v| v.parse().ok()).unwrap_or_default();
        assert!(filled > 76.20, "{filled}");
        check(&c, "pay").await?;
        c.find(Locator::Css("button.primary")).await?.click().await?;
        c.wait().for_element(Locator::Id("pay")).await?.click().await?;
        let paid = c.wait().for_element(Locator::Css("p.notice")).await?;
        assert!(paid.text().await?.contains("缴费成功"));
        check(&c, "paid").await?;
        c.find(Locator::Css("main a.button.primary")).await?.click().await?;
        c.wait().for_element(Locator::Css("section.summary")).await?;
        assert!(c.source().await?.contains("已缴清"), "the bill shows paid");
        assert!(!c.find(Locator::Id("prepaid")).await?.text().await?.contains("已停电"), "the supply is back");
        c.find(Locator::Css(".lang button")).await?.click().await?;
        c.wait().for_element(Locator::XPath("//h2[text()='Bills']")).await?;
        check(&c, "account, English").await?;
        c.find(Locator::LinkText("Link an account")).await?.click().await?;
        c.wait().for_element(Locator::Id("account_no")).await?;
        check(&c, "link").await?;
        // A question, sent and then shown with its reference number.
        c.find(Locator::LinkText("Ask or complain")).await?.click().await?;
        c.wait().for_element(Locator::Id("description")).await?.send_keys("When is my meter read?").await?;
        check(&c, "contacts").await?;
        c.find(Locator::Css("select#subject option[value=metering]")).await?.click().await?;
        c.find(Locator::Css("button.primary")).await?.click().await?;
        let sent = c.wait().for_element(Locator::Css("p.notice strong")).await?;
        assert!(sent.text().await?.starts_with('C'));
        check(&c, "contacts, sent").await?;
        c.goto(&app.url(&format!("/portal/accounts/{account_no}/notices"))).await?;
        c.wait().for_element(Locator::Id("bill_day")).await?;
        check(&c, "notices").await?;
        Ok(())
    }
    .await;
    finish(c, result).await;
    assert!(findings.is_empty(), "axe found serious or critical violations:\n{}", findings.join("\n"));
    // The gateway's callback booked the payment and the meter was told to reconnect.
    assert_eq!(commands(&mut owner).await, ["disconnect", "reconnect"]);
}

/// A customer's account number, after giving them an unpaid ¥76.20 bill.
async fn portal_customer_with_a_bill(
    app: &TestApp,
    owner: &mut sqlx::PgConnection,
    customer: uuid::Uuid,
    bill_no: &str,
) -> String {
    sqlx::query(
        "INSERT INTO bills (tenant_id, id, bill_no, customer_id, period, tariff_code, issued_on, due_on, energy_kwh, amount)
         VALUES ($1, $2, $3, $4, '2026-10-01', 'res_tiered', '2026-11-01', '2026-11-20', 150, 76.20)",
    )
    .bind(app.alpha.id)
    .bind(uuid::Uuid::now_v7())
    .bind(bill_no)
    .bind(customer)
    .execute(&mut *owner)
    .await
    .unwrap();
    sqlx::query_scalar("SELECT account_no::text FROM customers WHERE id = $1")
        .bind(customer)
        .fetch_one(owner)
        .await
        .unwrap()
}

/// Registers the account on the phone through the portal's pages, reading
/// the code from the notice that carries it, and ends on the home page.
async fn portal_sign_up(
    c: &Client,
    app: &TestApp,
    owner: &mut sqlx::PgConnection,
    account_no: &str,
    login: &str,
) -> Result<(), CmdError> {
    c.goto(&app.url("/portal/register/alpha")).await?;
    c.wait().for_element(Locator::Id("account_no")).await?.send_keys(account_no).await?;
    c.find(Locator::Css("button.primary")).await?.click().await?;
    c.wait().for_element(Locator::Id("code")).await?;
    let code: String = sqlx::query_scalar(
        "SELECT n.data->>'code' FROM notices n JOIN customers c ON c.id = n.customer_id
         WHERE n.kind = 'portal_code' AND c.account_no = $1 ORDER BY n.created_at DESC LIMIT 1",
    )
    .bind(account_no)
    .fetch_one(owner)
    .await
    .unwrap();
    c.find(Locator::Id("code")).await?.send_keys(&code).await?;
    c.find(Locator::Id("login")).await?.send_keys(login).await?;
    c.find(Locator::Id("password")).await?.send_keys("a long portal password").await?;
    c.find(Locator::Id("password_again")).await?.send_keys("a long portal password").await?;
    c.find(Locator::Css("button.primary")).await?.click().await?;
    c.wait().for_url(&url::Url::parse(&app.url("/portal/home")).unwrap()).await?;
    Ok(())
}

/// On a phone, a customer reads why the bill is what it is, redeems points,
/// sets quiet hours, reports a fault, applies for a new connection and
/// uploads a document, books a visit to a hall, and answers the return visit
/// of a complaint; axe-core
/// finds no serious or critical violation on any of those pages.
#[tokio::test]
async fn a_customer_on_a_phone_reports_a_fault_applies_books_a_visit_and_redeems_points() {
    use crate::support::location;
    use reqwest::StatusCode;
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let mut owner = sqlx::PgConnection::connect(&app.owner_url).await.unwrap();
    let account_no = portal_customer_with_a_bill(&app, &mut owner, customer, "B-WHY-1").await;
    // Points: 20 for ¥200 paid online, and an item of 10.
    let admin = app.login(&app.alpha, "admin").await;
    let rates = [
        ("on_time_points", "0"),
        ("per_100_yuan", "10"),
        ("online_bonus", "0"),
        ("amount_cap", "0"),
        ("expiry_months", "24"),
    ];
    assert_eq!(admin.post("/points/settings", &rates).await.status(), StatusCode::SEE_OTHER);
    let item = [("code", "LED"), ("name_zh", "节能灯"), ("name_en", "LED bulb"), ("cost", "10"), ("stock", "3")];
    assert_eq!(admin.post("/points/catalogue", &item).await.status(), StatusCode::SEE_OTHER);
    let key = app.api_key(&app.alpha, gridcrm::staff::Role::CounterStaff).await;
    let body = json!({"account_no": account_no, "amount": "200.00", "channel": "wechat", "channel_ref": "WX-J-1",
        "allow_credit": true});
    let r =
        reqwest::Client::new().post(app.url("/api/v1/payments")).bearer_auth(&key).json(&body).send().await.unwrap();
    assert!(r.status().is_success());
    // A complaint the hotline took and resolved: its return visit waits.
    let counter = app.login(&app.alpha, "counter").await;
    let complaint = [
        ("kind", "complaint"),
        ("channel", "hotline"),
        ("subject", "billing"),
        ("customer_id", &customer.to_string()),
        ("description", "电费偏高"),
    ];
    let r = counter.post("/contacts", &complaint).await;
    let contact = location(&r).split(['?', '#']).next().unwrap().to_owned();
    for (action, comment) in [("acknowledge", ""), ("start", ""), ("resolve", "已核实并退补")] {
        let r = counter.post(&format!("{contact}/actions"), &[("action", action), ("comment", comment)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{action}");
    }
    sqlx::query(
        "INSERT INTO business_halls (tenant_id, id, code, name, address, opens, closes, slot_minutes, capacity)
         VALUES ($1, $2, 'WL', '文林营业厅', '文林路 1 号', '08:30', '17:00', 30, 2)",
    )
    .bind(app.alpha.id)
    .bind(uuid::Uuid::now_v7())
    .execute(&mut owner)
    .await
    .unwrap();
    let document = std::env::temp_dir().join(format!("gridcrm-id-{}.png", std::process::id()));
    std::fs::write(&document, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR identity card").unwrap();

    let axe = axe_source();
    let (_driver, webdriver) = start_driver().await;
    let c = phone_browser(&webdriver).await;
    let mut findings: Vec<String> = Vec::new();
    let result = async {
        let mut check = async |c: &Client, page: &str| -> Result<(), CmdError> {
            for v in serious_accessibility_violations(c, &axe).await? {
                findings.push(format!("{page}: {v}"));
            }
            keep_screenshot(c, &format!("portal-{}", page.replace(' ', "-"))).await
        };
        portal_sign_up(&c, &app, &mut owner, &account_no, "13912345678").await?;
        c.goto(&app.url("/portal/home")).await?;
        let home = c.find(Locator::Css(".account")).await?.text().await?;
        assert!(home.contains(&account_no), "the home lists the linked account: {home}");
        assert!(home.contains("123.80"), "and the prepaid balance the ¥200 payment left: {home}");
        check(&c, "home").await?;
        // The bill, explained and printable.
        c.goto(&app.url(&format!("/portal/accounts/{account_no}"))).await?;
        c.wait().for_element(Locator::Css("a[href^='/portal/bills/']")).await?.click().await?;
        let capitals = c.wait().for_element(Locator::Id("amount-capitals")).await?.text().await?;
        assert_eq!(capitals, "柒拾陆元贰角");
        assert!(c.find(Locator::Css("button[data-print]")).await?.is_displayed().await?, "the script shows Print");
        check(&c, "bill").await?;
        // Points: 20, one item of 10 redeemed.
        c.goto(&app.url(&format!("/portal/accounts/{account_no}/points"))).await?;
        assert_eq!(c.wait().for_element(Locator::Id("points-balance")).await?.text().await?, "20");
        check(&c, "points").await?;
        c.find(Locator::Css("main button.primary")).await?.click().await?;
        c.wait().for_element(Locator::Id("points-redeemed")).await?;
        assert_eq!(c.find(Locator::Id("points-balance")).await?.text().await?, "10");
        check(&c, "points redeemed").await?;
        // Quiet hours, typed into the time fields (headless Chromium's are 12-hour).
        c.goto(&app.url(&format!("/portal/accounts/{account_no}/notices"))).await?;
        c.wait().for_element(Locator::Id("quiet_from")).await?.send_keys("1030PM").await?;
        c.find(Locator::Id("quiet_to")).await?.send_keys("0700AM").await?;
        c.find(Locator::Id("save-quiet")).await?.click().await?;
        c.wait().for_element(Locator::Css("p.notice")).await?;
        check(&c, "quiet hours").await?;
        // A fault, reported with the account's address.
        c.goto(&app.url("/portal/faults")).await?;
        c.wait().for_element(Locator::Css("input[name=area_type][value=urban]")).await?.click().await?;
        c.find(Locator::Id("description")).await?.send_keys("全屋停电").await?;
        check(&c, "faults").await?;
        c.find(Locator::Css("main button.primary")).await?.click().await?;
        let reported = c.wait().for_element(Locator::Css("#fault-reported strong")).await?.text().await?;
        assert!(reported.starts_with('W'), "{reported}");
        assert!(c.find(Locator::Css("ol.progress li.done")).await?.text().await?.contains("已报修"));
        check(&c, "fault reported").await?;
        // A new connection: what is missing is named, then sent, then a document.
        c.goto(&app.url("/portal/applications")).await?;
        check(&c, "applications").await?;
        c.find(Locator::Css("a[href='/portal/applications/new/expansion']")).await?.click().await?;
        c.wait().for_element(Locator::Css("main button.primary")).await?.click().await?;
        c.wait().for_element(Locator::Id("customer_type-error")).await?;
        check(&c, "apply refused").await?;
        c.find(Locator::Css("input[name=customer_type][value=residential]")).await?.click().await?;
        c.find(Locator::Id("requested_capacity_kva")).await?.send_keys("8").await?;
        c.find(Locator::Css("main button.primary")).await?.click().await?;
        c.wait().for_element(Locator::Id("application-created")).await?;
        c.find(Locator::Css("select#document option[value=identity]")).await?.click().await?;
        c.find(Locator::Css("input[type=file]")).await?.send_keys(&document.to_string_lossy()).await?;
        c.find(Locator::Css("form[enctype] button.primary")).await?.click().await?;
        c.wait().for_element(Locator::Id("document-uploaded")).await?;
        assert!(c.source().await?.contains("gridcrm-id-"), "the document is listed");
        check(&c, "application").await?;
        // A visit to a hall, booked on the last day offered.
        c.goto(&app.url("/portal/appointments")).await?;
        c.wait().for_element(Locator::Css("select#day option:last-child")).await?.click().await?;
        c.find(Locator::Css("form#choose button")).await?.click().await?;
        c.wait().for_element(Locator::Css("input[name=starts]:not([disabled])")).await?.click().await?;
        c.find(Locator::Css("select#purpose option[value=new_connection]")).await?.click().await?;
        check(&c, "appointment").await?;
        c.find(Locator::Css("form#book button.primary")).await?.click().await?;
        let booked = c.wait().for_element(Locator::Css("#appointment-booked strong")).await?.text().await?;
        assert!(booked.starts_with('A'), "{booked}");
        check(&c, "appointment booked").await?;
        // The return visit, answered online.
        c.goto(&app.url("/portal/contacts")).await?;
        c.wait().for_element(Locator::Css("form.visit input[value='4']")).await?.click().await?;
        check(&c, "return visit").await?;
        c.find(Locator::Css("form.visit button.primary")).await?.click().await?;
        c.wait().for_element(Locator::Id("visit-answered")).await?;
        Ok(())
    }
    .await;
    finish(c, result).await;
    std::fs::remove_file(&document).ok();
    assert!(findings.is_empty(), "axe found serious or critical violations:\n{}", findings.join("\n"));
    let quiet: (Option<String>, Option<String>, i64) = sqlx::query_as(
        "SELECT to_char(quiet_from, 'HH24:MI'), to_char(quiet_to, 'HH24:MI'),
                (SELECT count(*) FROM application_documents) FROM customers WHERE id = $1",
    )
    .bind(customer)
    .fetch_one(&mut owner)
    .await
    .unwrap();
    assert_eq!(quiet, (Some("22:30".into()), Some("07:00".into()), 1));
}

/// A tenant admin opens a business hall to online appointments; the hall's
/// counter clerk opens the day's list and marks a customer as come.
/// Screenshots go to the temporary directory.
#[tokio::test]
async fn a_tenant_admin_opens_a_hall_to_appointments_and_the_counter_marks_who_came() {
    let app = TestApp::spawn().await;
    let (_driver, webdriver) = start_driver().await;
    let c = browser(&webdriver).await;
    let result = async {
        sign_in_home(&c, &app, "admin").await?;
        c.find(Locator::Css("nav.mainnav a[href='/halls']")).await?.click().await?;
        c.wait().for_element(Locator::Css("#hall-form input[name=code]")).await?.send_keys("WL").await?;
        c.find(Locator::Css("#hall-form input[name=name]")).await?.send_keys("文林营业厅").await?;
        c.find(Locator::Css("#hall-form input[name=address]")).await?.send_keys("文林路 1 号").await?;
        c.find(Locator::Css("#hall-form button[type=submit]")).await?.click().await?;
        let row = c.wait().for_element(Locator::Css("#halls tbody tr")).await?.text().await?;
        assert!(row.contains("文林营业厅") && row.contains("08:30–17:00"), "{row}");
        keep_screenshot(&c, "halls").await?;
        Ok(())
    }
    .await;
    // A customer booked today's 09:00 in the portal.
    if result.is_ok() {
        let mut owner = sqlx::PgConnection::connect(&app.owner_url).await.unwrap();
        sqlx::query(
            "INSERT INTO hall_appointments (tenant_id, id, ref_no, hall_id, customer_id, day, starts, purpose)
             SELECT h.tenant_id, gen_random_uuid(), 'A00000001', h.id, $1,
                    (now() AT TIME ZONE 'Asia/Shanghai')::date, '09:00', 'new_connection'
             FROM business_halls h",
        )
        .bind(app.alpha.customers[0])
        .execute(&mut owner)
        .await
        .unwrap();
    }
    let result = match result {
        Err(e) => Err(e),
        Ok(()) => {
            async {
                c.delete_all_cookies().await?;
                sign_in_home(&c, &app, "counter").await?;
                c.find(Locator::Css("nav.mainnav a[href='/halls']")).await?.click().await?;
                c.wait().for_element(Locator::Css("#halls a[href$='/appointments']")).await?.click().await?;
                let row = c.wait().for_element(Locator::Css("#appointments tbody tr")).await?.text().await?;
                assert!(row.contains("09:00") && row.contains("A00000001") && row.contains("新装用电"), "{row}");
                c.find(Locator::Css("#appointments button[value=attended]")).await?.click().await?;
                let row =
                    c.wait().for_element(Locator::XPath("//table[@id='appointments']//td[text()='已到']")).await?;
                assert_eq!(row.text().await?, "已到");
                keep_screenshot(&c, "hall-day").await?;
                Ok(())
            }
            .await
        }
    };
    finish(c, result).await;
}
