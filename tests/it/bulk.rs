//! Bulk steps analyse what they filled before the next step reads it.

use crate::support::TestApp;

#[tokio::test]
async fn the_application_role_can_analyse_the_schema_tables_and_nothing_else() {
    let app = TestApp::spawn().await;
    let mut conn = app.pool.acquire().await.unwrap();
    let analysed_before: i64 = sqlx::query_scalar(
        "SELECT coalesce(analyze_count, 0) FROM pg_stat_user_tables WHERE relname = 'meter_readings'",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    gridcrm::db::analyze_tables(&mut conn, &["meter_readings", "customers"]).await.expect("the owner's ANALYZE");
    // The statistics collector reports asynchronously; ask it for a fresh view.
    sqlx::query("SELECT pg_stat_clear_snapshot()").execute(&mut *conn).await.unwrap();
    let analysed_after: i64 = sqlx::query_scalar(
        "SELECT coalesce(analyze_count, 0) FROM pg_stat_user_tables WHERE relname = 'meter_readings'",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(analysed_after, analysed_before + 1);

    let refused = gridcrm::db::analyze_tables(&mut conn, &["pg_authid"]).await.unwrap_err();
    assert!(refused.to_string().contains("no table pg_authid"), "{refused}");
}
