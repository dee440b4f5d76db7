//! The statistics page and its CSV exports read the tenant's own roll-ups.

use reqwest::StatusCode;

use crate::support::TestApp;

#[tokio::test]
async fn statistics_count_the_tenants_own_complaints_and_export_for_excel() {
    let app = TestApp::spawn().await;
    let clerk = app.login(&app.alpha, "counter").await;
    for subject in ["billing", "billing", "outage"] {
        let r = clerk
            .post(
                "/contacts",
                &[
                    ("kind", "complaint"),
                    ("channel", "hotline"),
                    ("subject", subject),
                    ("caller_name", "李女士"),
                    ("caller_phone", "13800000002"),
                    ("description", "停电未通知"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let customers: i64 = {
        let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM customers WHERE status = 'active'").fetch_one(&mut *tx).await.unwrap()
    };

    let (status, _) = clerk.get_text("/service/stats").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "counter staff do not see the statistics");

    let supervisor = app.login(&app.alpha, "supervisor").await;
    let (status, page) = supervisor.get_text("/service/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.matches("<svg class=\"chart\"").count(), 9, "one chart per charted column");
    assert!(page.contains("万户投诉率"));

    let r = supervisor.get("/service/stats/export/complaints_by_subject").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"complaints_by_subject_")
    );
    let body = r.bytes().await.unwrap();
    assert!(body.starts_with("\u{feff}".as_bytes()), "a BOM so Excel reads UTF-8");
    let text = String::from_utf8(body.to_vec()).unwrap();
    let per_10k = |n: i64| {
        let v = rust_decimal::Decimal::from(n * 10_000) / rust_decimal::Decimal::from(customers);
        v.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero).normalize().to_string()
    };
    assert!(text.contains(&format!("\r\n电费,2,{}\r\n", per_10k(2))), "{text}");
    assert!(text.contains(&format!("\r\n停电,1,{}\r\n", per_10k(1))), "{text}");

    // Another company's supervisor sees none of it.
    let other = app.login(&app.beta, "supervisor").await;
    let text = other.get("/service/stats/export/complaints_by_subject").await.text().await.unwrap();
    assert!(text.lines().skip(1).all(|l| l.split(',').nth(1) == Some("0")), "{text}");

    // A bad month is named; an unknown table is not found.
    let (status, page) = supervisor.get_text("/service/stats?from=2026-13").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("请按“年-月”填写月份"), "the bad month is named");
    assert_eq!(supervisor.get("/service/stats/export/nope").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        supervisor.get("/service/stats/export/sla_by_month?from=2026-13").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}
