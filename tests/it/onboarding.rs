//! Bulk onboarding as the application role: a 10,000-line archive with bad
//! lines loads nothing, then its good lines with `partial`, a re-run changes
//! nothing, an export imports into another tenant, GBK is read and other
//! encodings refused; and the same over the API and the page.

use chrono::NaiveDate;
use gridcrm::{
    audit::Actor,
    onboarding::service::{self, ImportReport},
    staff::Role,
    web::i18n::{I18n, Locale},
};
use reqwest::StatusCode;

use crate::support::{Tenant, TestApp};

const HEADER: &str = "account_no,name,class_code,industry_code,voltage_code,tariff_code,route_code,address,phone,\
id_number,contact_name,contact_phone,point_code,point_capacity_kva,meter_serial,meter_kind,meter_multiplier,\
meter_time_of_use,meter_verified_on,meter_next_verification";

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()
}

/// Line `n` (from 0) of a generated archive: a customer with a contact, a
/// point and a meter; every tenth customer has a second meter on the same point.
fn archive_lines(count: usize) -> Vec<String> {
    let mut lines = Vec::with_capacity(count);
    let mut customer = 0;
    while lines.len() < count {
        customer += 1;
        let account = format!("77{customer:08}");
        let meters = if customer % 10 == 0 { 2 } else { 1 };
        for m in 0..meters {
            if lines.len() == count {
                break;
            }
            lines.push(format!(
                "{account},客户{customer},residential,RES,v220,res_tiered,R0001,城西路{customer}号,138{customer:08},,\
                 联系人{customer},139{customer:08},{account}-1,8,IM{customer:07}{m},smart,1,{},2024-05-01,2032-05-01",
                if m == 1 { "是" } else { "0" }
            ));
        }
    }
    lines
}

fn file(lines: &[String]) -> Vec<u8> {
    let mut text = String::from(HEADER);
    text.push('\n');
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text.into_bytes()
}

/// A multipart/form-data body with text fields and a `file` part: (content type, body).
pub fn multipart(fields: &[(&str, &str)], file: &[u8]) -> (String, Vec<u8>) {
    multipart_file(fields, "archive.csv", "text/csv", file)
}

/// The same with the file's name and type as the browser sends them.
pub fn multipart_file(fields: &[(&str, &str)], file_name: &str, content_type: &str, file: &[u8]) -> (String, Vec<u8>) {
    const BOUNDARY: &str = "gridcrm-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
             Content-Type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

async fn import(app: &TestApp, tenant: &Tenant, bytes: &[u8], partial: bool) -> ImportReport {
    let actor = Actor::command_line("test import");
    service::import(&app.pool, tenant.id, &actor, bytes, partial, today(), &I18n(Locale::En), &|_| {}).await.unwrap()
}

/// Counts and change marks of the tenant's archive: customers, the sum of
/// their versions, the latest updated_at, contacts, points (and the sum of
/// their versions), meters and open installations.
async fn archive_state(app: &TestApp, tenant: &Tenant) -> (i64, i64, String, i64, i64, i64, i64, i64) {
    let mut tx = gridcrm::db::begin_tenant(&app.pool, tenant.id, None).await.unwrap();
    let row: (i64, i64, String, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM customers), (SELECT sum(version)::bigint FROM customers),
                (SELECT max(updated_at)::text FROM customers), (SELECT count(*) FROM customer_contacts),
                (SELECT count(*) FROM supply_points), (SELECT sum(version)::bigint FROM supply_points),
                (SELECT count(*) FROM meters), (SELECT count(*) FROM meter_installations WHERE removed_on IS NULL)",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    row
}

#[tokio::test]
async fn ten_thousand_lines_all_or_nothing_then_partial_then_a_rerun_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut lines = archive_lines(10_000);
    // Three bad lines (file lines 101, 5002 and 9001: the header is line 1).
    lines[99] = lines[99].replace(",residential,", ",martian,");
    lines[5000] = lines[5000].replace(",smart,", ",nuclear,");
    lines[8999] = lines[8999].replace(",res_tiered,R0001,", ",res_tiered,R9999,");
    let bytes = file(&lines);
    let before = archive_state(&app, &app.alpha).await;

    let report = import(&app, &app.alpha, &bytes, false).await;
    assert!(!report.loaded);
    assert_eq!((report.read, report.rejected), (10_000, 3));
    let named: Vec<(u64, &str)> = report.errors.iter().map(|e| (e.line, e.field.as_str())).collect();
    assert_eq!(named, vec![(101, "class_code"), (5002, "meter_kind"), (9001, "route_code")]);
    assert!(report.errors.iter().all(|e| !e.reason.is_empty() && !e.reason.starts_with("err.")), "{report:?}");
    assert_eq!(archive_state(&app, &app.alpha).await, before, "nothing was loaded");

    let report = import(&app, &app.alpha, &bytes, true).await;
    assert!(report.loaded);
    assert_eq!(report.rejected, 3);
    // 10,000 lines: 9,091 customers (every tenth has two meters), less the
    // customers whose only line was bad.
    let good_customers: std::collections::BTreeSet<&str> =
        lines.iter().enumerate().filter(|(n, _)| ![99, 5000, 8999].contains(n)).map(|(_, l)| &l[..10]).collect();
    let a = &report.applied;
    assert_eq!(a.customers.added as usize, good_customers.len());
    assert_eq!((a.meters.added, a.installations.added), (9_997, 9_997));
    assert_eq!(a.supply_points.added as usize, good_customers.len());
    assert_eq!(a.contacts.added as usize, good_customers.len());
    let loaded = archive_state(&app, &app.alpha).await;
    assert_eq!(loaded.0 - before.0, good_customers.len() as i64);
    assert_eq!(loaded.6 - before.6, 9_997);

    // One audit record for the import.
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'import' AND entity = 'customer_archive'")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    drop(tx);
    assert_eq!(audited, 1);

    let again = import(&app, &app.alpha, &bytes, true).await;
    assert!(again.loaded);
    let a = &again.applied;
    for counts in [a.customers, a.contacts, a.supply_points, a.meters, a.installations] {
        assert_eq!((counts.added, counts.updated), (0, 0), "{again:?}");
    }
    assert_eq!(archive_state(&app, &app.alpha).await, loaded, "versions and updated_at stay as they were");

    // A changed line updates that customer and its meter only.
    let mut changed = lines.clone();
    changed[0] = changed[0].replace("客户1,", "客户一,").replace(",smart,1,", ",smart,40,");
    let report = import(&app, &app.alpha, &file(&changed), true).await;
    assert_eq!((report.applied.customers.added, report.applied.customers.updated), (0, 1));
    assert_eq!((report.applied.meters.added, report.applied.meters.updated), (0, 1));
}

#[tokio::test]
async fn an_export_imports_into_another_tenant_and_round_trips() {
    let app = TestApp::spawn().await;
    let lines = archive_lines(200);
    let report = import(&app, &app.alpha, &file(&lines), false).await;
    assert!(report.loaded, "{:?}", report.errors);
    // A name Excel would run as a formula, a large customer with its capacity.
    let oddities = "account_no,name,class_code,industry_code,voltage_code,tariff_code,capacity_kva,id_number,\
                    point_code,point_capacity_kva,meter_serial,meter_multiplier,meter_time_of_use,meter_verified_on\n\
                    7799999999,=SUM(A1),large_industry,C26,kv10,large_two_part,630,91330100MA27XXXX0X,\
                    7799999999-1,630,BIG-0001,40,1,2025-01-02\n";
    let report = import(&app, &app.alpha, oddities.as_bytes(), false).await;
    assert!(report.loaded, "{:?}", report.errors);
    // A second contact of the first customer, on a line of its own.
    let second_contact = format!(
        "{HEADER}\n7700000001,客户1,residential,RES,v220,res_tiered,R0001,城西路1号,13800000001,,会计王,13700000001{}\n",
        ",".repeat(8)
    );
    let report = import(&app, &app.alpha, second_contact.as_bytes(), false).await;
    assert!(report.loaded, "{:?}", report.errors);
    assert_eq!((report.applied.customers.added, report.applied.customers.updated), (0, 0));
    assert_eq!(report.applied.contacts.added, 1);

    let mut alpha_export = Vec::new();
    service::export(&app.pool, app.alpha.id, &mut alpha_export).await.unwrap();
    assert!(alpha_export.starts_with("\u{feff}".as_bytes()), "Excel needs the BOM");
    let text = String::from_utf8(alpha_export.clone()).unwrap();
    assert!(text.contains("'=SUM(A1)"), "the formula cell is guarded");
    assert!(text.contains("\r\n"));

    let report = import(&app, &app.beta, &alpha_export, false).await;
    assert!(report.loaded, "{:?}", report.errors);
    assert_eq!(report.encoding, "UTF-8 (BOM)");

    // Beta's export holds alpha's lines as they were (beside beta's own).
    let mut beta_export = Vec::new();
    service::export(&app.pool, app.beta.id, &mut beta_export).await.unwrap();
    let beta_text = String::from_utf8(beta_export).unwrap();
    let beta_lines: std::collections::HashSet<&str> = beta_text.lines().collect();
    let alpha_lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(alpha_lines.len(), 4 + 201 + 1, "alpha's four seeded customers, the imported lines, the second contact");
    for line in &alpha_lines {
        assert!(beta_lines.contains(line), "missing in beta: {line}");
    }
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.beta.id, None).await.unwrap();
    let contacts: Vec<(String, bool)> = sqlx::query_as(
        "SELECT k.name, k.is_primary FROM customer_contacts k JOIN customers c ON c.tenant_id = k.tenant_id AND c.id = k.customer_id
         WHERE c.account_no = '7700000001' ORDER BY k.name",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(
        contacts,
        [("会计王".to_owned(), false), ("联系人1".to_owned(), true)],
        "both contacts, the first one primary"
    );
    drop(tx);
    // Imported again, beta's copy is already up to date.
    let again = import(&app, &app.beta, &alpha_export, false).await;
    assert_eq!((again.applied.customers.added, again.applied.customers.updated), (0, 0));
    assert_eq!((again.applied.meters.added, again.applied.meters.updated), (0, 0));
}

#[tokio::test]
async fn gbk_is_read_and_other_encodings_are_refused() {
    let app = TestApp::spawn().await;
    let text = format!("{HEADER}\n{}\n", archive_lines(1)[0]);
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&text);
    assert!(!unmappable);
    let report = import(&app, &app.alpha, &gbk, false).await;
    assert!(report.loaded, "{:?}", report.errors);
    assert_eq!(report.encoding, "GBK");
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let name: String = sqlx::query_scalar("SELECT name FROM customers WHERE account_no = '7700000001'")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(name, "客户1");
    drop(tx);

    let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    let before = archive_state(&app, &app.beta).await;
    let report = import(&app, &app.beta, &utf16, false).await;
    assert!(!report.loaded);
    assert!(report.errors[0].reason.contains("UTF-16"), "{:?}", report.errors);
    let latin1 = b"account_no,name\n7700000009,Caf\xE9 Cr\xE8me\n";
    let report = import(&app, &app.beta, latin1, false).await;
    assert!(!report.loaded);
    assert!(report.errors[0].reason.contains("neither UTF-8 nor GBK"), "{:?}", report.errors);
    assert_eq!(archive_state(&app, &app.beta).await, before);
}

#[tokio::test]
async fn the_api_imports_csv_and_multipart_and_exports_for_tenant_admins_only() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::TenantAdmin).await;
    let client = reqwest::Client::new();
    let mut lines = archive_lines(20);
    lines[4] = lines[4].replace(",138", ",999");
    let post = |body: Vec<u8>, partial: bool| {
        client
            .post(app.url(&format!("/api/v1/customers/import?partial={partial}")))
            .bearer_auth(&key)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    // Excel's CRLF line ends: the bad line is still named as an editor numbers it.
    let crlf = String::from_utf8(file(&lines)).unwrap().replace('\n', "\r\n");
    let refused = post(crlf.into_bytes(), false).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let report: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(report["errors"][0]["line"], 6);
    assert_eq!(report["errors"][0]["field"], "phone");
    assert_eq!(report["loaded"], false);

    // A part the document does not allow is named, and nothing loads.
    let (content_type, form) = multipart(&[("partial", "true")], &file(&lines));
    let extra = client
        .post(app.url("/api/v1/customers/import"))
        .bearer_auth(&key)
        .header("content-type", content_type)
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(extra.status(), StatusCode::BAD_REQUEST);
    assert!(extra.text().await.unwrap().contains("`partial`"));

    let (content_type, form) = multipart(&[], &file(&lines));
    let loaded = client
        .post(app.url("/api/v1/customers/import?partial=true"))
        .bearer_auth(&key)
        .header("content-type", content_type)
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(loaded.status(), StatusCode::OK);
    let report: serde_json::Value = loaded.json().await.unwrap();
    assert_eq!(report["applied"]["meters"]["added"], 19);

    let export = client.get(app.url("/api/v1/customers/export")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    assert!(export.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let body = export.text().await.unwrap();
    assert!(body.contains("IM00000010") && !body.contains("BETAM0001"), "only alpha's archive");

    let counter = app.api_key(&app.alpha, Role::CounterStaff).await;
    let forbidden = client.get(app.url("/api/v1/customers/export")).bearer_auth(&counter).send().await.unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let forbidden = client
        .post(app.url("/api/v1/customers/import"))
        .bearer_auth(&counter)
        .header("content-type", "text/csv")
        .body(file(&lines))
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_import_page_names_the_bad_line_and_loads_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.login(&app.alpha, "admin").await;
    let (status, html) = admin.get_text("/admin/import").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("enctype=\"multipart/form-data\""));
    let counter = app.login(&app.alpha, "counter").await;
    assert_eq!(counter.get("/admin/import").await.status(), StatusCode::FORBIDDEN);

    let mut lines = archive_lines(3);
    lines[1] = lines[1].replace(",v220,", ",v999,");
    let (content_type, form) = multipart(&[("csrf", &admin.csrf)], &file(&lines));
    let response = admin
        .client
        .post(app.url("/admin/import"))
        .header("content-type", content_type)
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("<td class=\"num\">3</td><td><code>voltage_code</code></td>"), "{html}");
    let before = archive_state(&app, &app.alpha).await;
    assert_eq!(before.0, 4, "nothing was loaded");

    // Without the form's token, nothing is read.
    let (content_type, forged) = multipart(&[("csrf", "wrong")], &file(&archive_lines(1)));
    let response = admin
        .client
        .post(app.url("/admin/import"))
        .header("content-type", content_type)
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// The archive's account numbers that a search for `q` finds over the API.
async fn found(app: &TestApp, key: &str, q: &str) -> Vec<String> {
    let q: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let body = app.api_get(key, &format!("/api/v1/customers?q={q}")).await;
    body["items"].as_array().unwrap().iter().map(|c| c["account_no"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn an_imports_search_keys_are_written_after_it_and_find_every_kind_of_fragment() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let lines = archive_lines(30);
    let report = import(&app, &app.alpha, &file(&lines), false).await;
    assert!(report.loaded, "{:?}", report.errors);
    let imported = report.applied.customers.added;
    assert_eq!(imported, 28, "30 lines: the 10th and 20th customers have two meters");

    // Committed, and waiting for its keys: found by account number only.
    assert_eq!(app.count_all("search_key_backlog").await, 28);
    assert_eq!(found(&app, &key, "7700000017").await, ["7700000017"]);
    assert!(found(&app, &key, "3900000017").await.is_empty(), "a contact phone's part is not indexed yet");

    let written =
        gridcrm::customers::service::write_deferred_search_keys(&app.pool, app.alpha.id, &|_, _| {}).await.unwrap();
    assert_eq!(written, 28);
    assert_eq!(app.count_all("search_key_backlog").await, 0);
    // Every kind of key: a phone's part, a contact phone's part, an address
    // fragment, a meter serial's part, and one character of the name.
    assert_eq!(found(&app, &key, "3800000017").await, ["7700000017"], "phone");
    assert_eq!(found(&app, &key, "3900000017").await, ["7700000017"], "contact phone");
    assert_eq!(found(&app, &key, "城西路17号").await, ["7700000017"], "address");
    assert_eq!(found(&app, &key, "M00000170").await, ["7700000017"], "meter serial");
    assert_eq!(found(&app, &key, "户17").await, ["7700000017"], "part of the name");
    // The same keys as the triggers' functions give, for every customer (the
    // seeded ones' keys were written by the triggers).
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let differences: (i64, i64, i64) = sqlx::query_as(
        "WITH own AS (SELECT k.kind, k.key, c.id AS customer_id, c.id AS source_id FROM customers c
                      CROSS JOIN LATERAL gridcrm_customer_own_keys(c.account_no, c.phone, c.id_number, c.address) k
                      UNION SELECT 'c', k, n.customer_id, n.id FROM customer_contacts n
                      CROSS JOIN LATERAL gridcrm_code_suffixes(n.phone) k),
              stored AS (SELECT kind, key, customer_id, source_id FROM customer_search_keys),
              names AS (SELECT g, c.account_no, c.id FROM customers c CROSS JOIN LATERAL gridcrm_name_keys(c.name) g),
              stored_names AS (SELECT gram, account_no, customer_id FROM customer_name_grams),
              serials AS (SELECT DISTINCT k, m.id FROM meters m CROSS JOIN LATERAL gridcrm_code_suffixes(m.serial) k),
              stored_serials AS (SELECT key, meter_id FROM meter_search_keys)
         SELECT (SELECT count(*) FROM ((TABLE own EXCEPT TABLE stored) UNION ALL (TABLE stored EXCEPT TABLE own)) d),
                (SELECT count(*) FROM ((TABLE names EXCEPT TABLE stored_names) UNION ALL (TABLE stored_names EXCEPT TABLE names)) d),
                (SELECT count(*) FROM ((TABLE serials EXCEPT TABLE stored_serials) UNION ALL (TABLE stored_serials EXCEPT TABLE serials)) d)",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(differences, (0, 0, 0), "customer, name and meter keys as the triggers write them");
    drop(tx);

    // A re-run adds nothing, so nothing waits; a new contact of a known customer does.
    let again = import(&app, &app.alpha, &file(&lines), false).await;
    assert!(again.loaded);
    assert_eq!(app.count_all("search_key_backlog").await, 0);
    let second = format!(
        "{HEADER}\n7700000003,客户3,residential,RES,v220,res_tiered,R0001,城西路3号,13800000003,,会计,13611112222{}\n",
        ",".repeat(8)
    );
    assert!(import(&app, &app.alpha, second.as_bytes(), false).await.loaded);
    assert_eq!(app.count_all("search_key_backlog").await, 1);
    // The server's job writes them (every minute; run here directly).
    assert_eq!(gridcrm::customers::service::write_deferred_search_keys_everywhere(&app.pool).await.unwrap(), 1);
    assert_eq!(found(&app, &key, "11112222").await, ["7700000003"]);
}
