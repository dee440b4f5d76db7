//! The tariffs page: versions from a future date only, removable until they
//! start, billing settings in percent; audited; tenant admins only.

use reqwest::StatusCode;

use crate::support::TestApp;
use gridcrm::db;

#[tokio::test]
async fn a_tenant_admin_adds_a_future_version_and_edits_the_billing_settings() {
    let app = TestApp::spawn().await;
    let supervisor = app.login(&app.alpha, "supervisor").await;
    assert_eq!(supervisor.get("/admin/tariffs").await.status(), StatusCode::FORBIDDEN);
    let admin = app.login(&app.alpha, "admin").await;
    let (status, page) = admin.get_text("/admin/tariffs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("执行中") && page.contains("value=\"0.1\""),
        "versions in force and the late-fee rate in percent"
    );

    let version = |from: &'static str, tier2: &'static str| {
        vec![
            ("tariff_code", "res_tiered"),
            ("effective_from", from),
            ("energy_kind", "flat"),
            ("flat_price", "0.558"),
            ("tier1_yearly_kwh", "2760"),
            ("tier2_yearly_kwh", tier2),
            ("tier2_surcharge", "0.05"),
            ("tier3_surcharge", "0.30"),
        ]
    };
    let r = admin.post("/admin/tariffs/versions", &version("2020-02-01", "2000")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"effective_from-error\"") && page.contains("id=\"tier2_yearly_kwh-error\""), "{page}");
    let r = admin.post("/admin/tariffs/versions", &version("2099-01-01", "4800")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = admin.post("/admin/tariffs/versions", &version("2099-01-01", "4800")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "one version per tariff and date");

    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let (future, started): (uuid::Uuid, uuid::Uuid) = sqlx::query_as(
        "SELECT (SELECT id FROM tariff_versions WHERE tariff_code = 'res_tiered' AND effective_from = '2099-01-01'),
                (SELECT id FROM tariff_versions WHERE tariff_code = 'res_tiered' AND effective_from = '2020-01-01')",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    drop(tx);
    // A started version stays: bills may use it. A future one can go.
    let r = admin.post(&format!("/admin/tariffs/versions/{started}/delete"), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = admin.post(&format!("/admin/tariffs/versions/{future}/delete"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let settings = [
        ("due_days", "20"),
        ("late_fee_residential", "0.05"),
        ("late_fee_other", "0.2"),
        ("late_fee_other_across_year", "0.3"),
        ("jump_factor", "2.5"),
        ("low_balance_days", "5"),
    ];
    let r = admin.post("/admin/tariffs/settings", &settings).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let (due, rate): (i16, rust_decimal::Decimal) =
        sqlx::query_as("SELECT due_days, late_fee_residential FROM billing_settings")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!((due, rate.to_string().as_str()), (20, "0.000500"));
    let audited: Vec<(String, String)> = sqlx::query_as(
        "SELECT entity, action FROM audit_log WHERE entity IN ('tariff_version', 'billing_settings') ORDER BY at",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(audited.len(), 3, "{audited:?}");
    let mut other = db::begin_tenant(&app.pool, app.beta.id, None).await.unwrap();
    let due: i16 = sqlx::query_scalar("SELECT due_days FROM billing_settings").fetch_one(&mut *other).await.unwrap();
    assert_eq!(due, 15, "the other company keeps its own");
}
