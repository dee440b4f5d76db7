//! The channels staff handle: letters, printed in batches per reading route
//! and marked printed (sent), and phone calls, read out from the rendered
//! notice with the outcome recorded (reached, no answer, wrong number).

use std::collections::HashMap;

use axum::{
    Router,
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Kind, db, template, templates_db, templates_pages::error_message};
use crate::{
    audit::{self, Actor, Change},
    staff::{Permission, Role},
    web::{
        AppState,
        auth::CurrentUser,
        csrf::CsrfForm,
        error::{AppError, FieldErrors},
        i18n::{I18n, Locale},
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notices/letters", get(letters_page))
        .route("/notices/letters/{route}", get(batch_page))
        .route("/notices/letters/{route}/printed", post(mark_printed))
        .route("/notices/calls", get(calls_page))
        .route("/notices/calls/{id}", post(record_call))
}

/// A phone notice is tried this many times before it falls back.
pub const MAX_CALL_ATTEMPTS: i32 = 3;
/// After no answer, the call is due again this much later.
pub const RETRY_AFTER_HOURS: i64 = 2;
pub const CALL_OUTCOMES: [&str; 3] = ["reached", "no_answer", "wrong_number"];

/// Renders a notice's stored data with the company's wording for `channel`;
/// the wordings are cached per kind and language. An error is the reason in
/// the reader's language.
async fn render_notice(
    conn: &mut PgConnection,
    cache: &mut HashMap<(String, String), (String, String)>,
    i: &I18n,
    kind: &str,
    channel: &str,
    lang: &str,
    data: &Value,
) -> sqlx::Result<Result<template::Rendered, String>> {
    let Some(k) = Kind::parse(kind) else {
        return Ok(Err(i.t_with("notice_prefs.unknown_kind", &[("kind", kind)])));
    };
    let key = (kind.to_owned(), lang.to_owned());
    if !cache.contains_key(&key) {
        let w = templates_db::wording(conn, k, channel, lang).await?;
        cache.insert(key.clone(), w);
    }
    let (subject, body) = &cache[&key];
    Ok(template::render(subject, body, data).map_err(|e| error_message(i, &e)))
}

// ---------------------------------------------------------------- letters

/// A route with letters waiting (`route` None: customers on no route).
pub struct RouteGroup {
    pub route: Option<Uuid>,
    pub code: Option<String>,
    pub name: Option<String>,
    pub count: i64,
    pub oldest: DateTime<Utc>,
}

impl RouteGroup {
    pub fn path(&self) -> String {
        self.route.map_or_else(|| "none".to_owned(), |r| r.to_string())
    }
}

pub async fn letter_groups(conn: &mut PgConnection) -> sqlx::Result<Vec<RouteGroup>> {
    sqlx::query_as!(
        RouteGroup,
        r#"SELECT r.id AS "route?", r.code AS "code?", r.name AS "name?", count(*) AS "count!",
                  min(n.created_at) AS "oldest!"
           FROM notices n
           JOIN customers c ON c.tenant_id = n.tenant_id AND c.id = n.customer_id
           LEFT JOIN reading_routes r ON r.tenant_id = c.tenant_id AND r.id = c.route_id
           WHERE n.channel = 'letter' AND n.status = 'queued'
           GROUP BY r.id, r.code, r.name
           ORDER BY r.code NULLS LAST"#
    )
    .fetch_all(conn)
    .await
}

#[derive(askama::Template)]
#[template(path = "notices/letters.html")]
struct LettersPage {
    p: Page,
    groups: Vec<RouteGroup>,
    printed: Option<i64>,
}

#[derive(Deserialize, Default)]
struct LettersQuery {
    #[serde(default)]
    printed: Option<i64>,
}

async fn letters_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<LettersQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::HandleStaffNotices)?;
    let mut tx = user.tx(&state.db).await?;
    let groups = letter_groups(&mut tx).await?;
    tx.commit().await?;
    let page = LettersPage { p: Page::for_user(&user, "notice_prefs.letters_title"), groups, printed: q.printed };
    Ok(render(&page)?.into_response())
}

/// `none` or a route's id; anything else is no page.
fn route_param(raw: &str) -> Result<Option<Uuid>, AppError> {
    if raw == "none" { Ok(None) } else { Uuid::parse_str(raw).map(Some).map_err(|_| AppError::NotFound) }
}

/// One letter of a batch, rendered.
pub struct Letter {
    pub id: Uuid,
    pub customer_name: String,
    pub account_no: String,
    pub address: String,
    pub kind: String,
    /// The date as the letter's language writes it.
    pub date: String,
    pub text: Result<template::Rendered, String>,
}

#[derive(askama::Template)]
#[template(path = "notices/letters_batch.html")]
struct BatchPage {
    p: Page,
    route_path: String,
    route_label: String,
    tenant_name: String,
    letters: Vec<Letter>,
}

impl BatchPage {
    fn printable(&self) -> Vec<Uuid> {
        self.letters.iter().filter(|l| l.text.is_ok()).map(|l| l.id).collect()
    }
    fn broken(&self) -> usize {
        self.letters.iter().filter(|l| l.text.is_err()).count()
    }
}

/// The route's label, or 404 when the route is not this company's.
async fn route_label(conn: &mut PgConnection, i: &I18n, route: Option<Uuid>) -> Result<String, AppError> {
    match route {
        None => Ok(i.t("notice_prefs.no_route")),
        Some(id) => {
            let r = sqlx::query!("SELECT code, name FROM reading_routes WHERE id = $1", id)
                .fetch_optional(conn)
                .await?
                .ok_or(AppError::NotFound)?;
            Ok(format!("{} {}", r.code, r.name))
        }
    }
}

/// How many letters one batch page shows (and marks printed) at most.
const BATCH_SIZE: i64 = 500;

async fn batch_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(route): Path<String>,
) -> Result<Response, AppError> {
    user.require(Permission::HandleStaffNotices)?;
    let route = route_param(&route)?;
    let i = I18n(user.locale);
    let mut tx = user.tx(&state.db).await?;
    let route_label = route_label(&mut tx, &i, route).await?;
    let today = crate::tenants::today(&mut tx).await?;
    let rows = sqlx::query!(
        "SELECT n.id, n.kind, n.lang, n.data, c.name, c.account_no, c.address
         FROM notices n JOIN customers c ON c.tenant_id = n.tenant_id AND c.id = n.customer_id
         WHERE n.channel = 'letter' AND n.status = 'queued' AND c.route_id IS NOT DISTINCT FROM $1
         ORDER BY c.address, c.account_no, n.created_at LIMIT $2",
        route,
        BATCH_SIZE
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut cache = HashMap::new();
    let mut letters = Vec::with_capacity(rows.len());
    for r in rows {
        let text = render_notice(&mut tx, &mut cache, &i, &r.kind, "letter", &r.lang, &r.data).await?;
        letters.push(Letter {
            id: r.id,
            customer_name: r.name,
            account_no: r.account_no,
            address: r.address,
            kind: r.kind,
            date: letter_date(today, &r.lang),
            text,
        });
    }
    tx.commit().await?;
    let mut p = Page::for_user(&user, "notice_prefs.batch_title");
    p.title = format!("{} · {}", p.title, route_label);
    let page = BatchPage {
        p,
        route_path: route.map_or_else(|| "none".to_owned(), |r| r.to_string()),
        route_label,
        tenant_name: user.tenant_name.clone(),
        letters,
    };
    Ok(render(&page)?.into_response())
}

fn letter_date(day: NaiveDate, lang: &str) -> String {
    I18n(Locale::parse(lang).unwrap_or_default()).date(day)
}

#[derive(Deserialize, Default)]
struct PrintedForm {
    /// The letters the batch page showed (those printed).
    #[serde(default)]
    ids: Vec<String>,
}

async fn mark_printed(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(route): Path<String>,
    CsrfForm(form): CsrfForm<PrintedForm>,
) -> Result<Response, AppError> {
    user.require(Permission::HandleStaffNotices)?;
    let route = route_param(&route)?;
    let ids: Vec<Uuid> = form.ids.iter().filter_map(|s| Uuid::parse_str(s.trim()).ok()).collect();
    if ids.len() != form.ids.len() {
        let mut errors = FieldErrors::default();
        errors.add("ids", "malformed");
        return Err(AppError::Invalid(errors));
    }
    let mut tx = user.tx(&state.db).await?;
    route_label(&mut tx, &I18n(user.locale), route).await?;
    // The address written out (db::address_sql), the tenant named: on a
    // Citus cluster the statement runs on the tenant's shard whole.
    let done: Vec<Uuid> = sqlx::query_scalar(&format!(
        "UPDATE notices n SET status = 'sent', sent_at = now(), handled_by = $2, lease_until = NULL,
                attempts = n.attempts + 1, address = coalesce({address}, '')
         FROM customers c
         LEFT JOIN notice_preferences p ON p.tenant_id = $4 AND p.customer_id = c.id
         WHERE n.tenant_id = $4 AND c.tenant_id = $4 AND c.id = n.customer_id
           AND n.id = ANY($1) AND n.channel = 'letter' AND n.status = 'queued'
           AND c.route_id IS NOT DISTINCT FROM $3
         RETURNING n.id",
        address = db::address_sql("'letter'", "c.id", "$4")
    ))
    .bind(&ids)
    .bind(&user.label)
    .bind(route)
    .bind(user.tenant_id)
    .fetch_all(&mut *tx)
    .await?;
    if !done.is_empty() {
        let change = Change {
            action: "mark_printed",
            entity: "notice",
            entity_id: None,
            summary: format!(
                "{} letters, route {}",
                done.len(),
                route.map_or_else(|| "none".into(), |r| r.to_string())
            ),
            before: None,
            after: Some(json!({ "status": "sent", "notices": done })),
        };
        audit::record(&mut tx, &Actor::from(&user), change).await?;
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("/notices/letters?printed={}", done.len())).into_response())
}

// ---------------------------------------------------------------- calls

/// A call to make.
pub struct Call {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub customer_name: String,
    pub account_no: String,
    pub phone: Option<String>,
    pub kind: String,
    pub attempts: i32,
    pub outcome: String,
    pub mine: bool,
    pub text: Result<template::Rendered, String>,
}

#[derive(askama::Template)]
#[template(path = "notices/calls.html")]
struct CallsPage {
    p: Page,
    calls: Vec<Call>,
    /// Calls not due yet (retries after no answer).
    later: i64,
    /// Only the customers the user manages are listed.
    only_mine: bool,
    done: String,
    errors: FieldErrors,
}

impl CallsPage {
    fn outcomes(&self) -> &'static [&'static str] {
        &CALL_OUTCOMES
    }
}

#[derive(Deserialize, Default)]
struct CallsQuery {
    #[serde(default)]
    done: String,
}

/// Account managers call their own customers; everybody else sees every call.
fn manager_filter(user: &CurrentUser) -> Option<Uuid> {
    if user.role == Role::AccountManager { user.user_id } else { None }
}

async fn calls_view(
    state: &AppState,
    user: &CurrentUser,
    done: String,
    errors: FieldErrors,
) -> Result<CallsPage, AppError> {
    let i = I18n(user.locale);
    let mine = manager_filter(user);
    let mut tx = user.tx(&state.db).await?;
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Uuid,
        kind: String,
        lang: String,
        data: Value,
        attempts: i32,
        outcome: String,
        customer_id: Uuid,
        name: String,
        account_no: String,
        phone: Option<String>,
        mine: bool,
    }
    // The address written out (db::address_sql), the tenant named: on a
    // Citus cluster the statement runs on the tenant's shard whole.
    let rows: Vec<Row> = sqlx::query_as(&format!(
        r#"SELECT n.id, n.kind, n.lang, n.data, n.attempts, n.outcome, c.id AS customer_id, c.name,
                  c.account_no::text AS account_no, {address} AS phone,
                  c.account_manager_id IS NOT DISTINCT FROM $2::uuid AS mine
           FROM notices n JOIN customers c ON c.tenant_id = n.tenant_id AND c.id = n.customer_id
           LEFT JOIN notice_preferences p ON p.tenant_id = $3 AND p.customer_id = c.id
           WHERE n.tenant_id = $3 AND n.channel = 'phone' AND n.status = 'queued' AND n.next_attempt_at <= now()
             AND ($1::uuid IS NULL OR c.account_manager_id = $1)
           ORDER BY n.urgent DESC, n.next_attempt_at, n.id LIMIT 200"#,
        address = db::address_sql("'phone'", "c.id", "$3")
    ))
    .bind(mine)
    .bind(user.user_id)
    .bind(user.tenant_id)
    .fetch_all(&mut *tx)
    .await?;
    let later = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM notices n JOIN customers c ON c.tenant_id = n.tenant_id AND c.id = n.customer_id
           WHERE n.channel = 'phone' AND n.status = 'queued' AND n.next_attempt_at > now()
             AND ($1::uuid IS NULL OR c.account_manager_id = $1)"#,
        mine
    )
    .fetch_one(&mut *tx)
    .await?;
    let mut cache = HashMap::new();
    let mut calls = Vec::with_capacity(rows.len());
    for r in rows {
        let text = render_notice(&mut tx, &mut cache, &i, &r.kind, "phone", &r.lang, &r.data).await?;
        calls.push(Call {
            id: r.id,
            customer_id: r.customer_id,
            customer_name: r.name,
            account_no: r.account_no,
            phone: r.phone,
            kind: r.kind,
            attempts: r.attempts,
            outcome: r.outcome,
            mine: r.mine,
            text,
        });
    }
    tx.commit().await?;
    Ok(CallsPage {
        p: Page::for_user(user, "notice_prefs.calls_title"),
        calls,
        later,
        only_mine: mine.is_some(),
        done: if CALL_OUTCOMES.contains(&done.as_str()) { done } else { String::new() },
        errors,
    })
}

async fn calls_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<CallsQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::HandleStaffNotices)?;
    Ok(render(&calls_view(&state, &user, q.done, FieldErrors::default()).await?)?.into_response())
}

#[derive(Deserialize, Default)]
struct CallForm {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    note: String,
}

/// The outcome of a call as checked: the outcome code and the note.
pub fn check_call(outcome: &str, note: &str) -> Result<(&'static str, String), FieldErrors> {
    let mut errors = FieldErrors::default();
    let outcome = CALL_OUTCOMES.into_iter().find(|o| *o == outcome.trim());
    if outcome.is_none() {
        errors.add("outcome", "required");
    }
    let note = crate::web::input::visible_text(note, 500, "note", false, &mut errors);
    errors.finish((outcome.unwrap_or_default(), note))
}

/// What a call's outcome does to its notice.
#[derive(Debug, PartialEq, Eq)]
pub enum CallStep {
    /// Reached: the notice is sent.
    Sent,
    /// No answer: due again later.
    Retry,
    /// Given up on this channel: failed, with the reason, falling back.
    Fail(&'static str),
}

/// The step after `outcome` on a call tried `attempts` times before this one.
pub fn call_step(outcome: &str, attempts: i32) -> CallStep {
    match outcome {
        "reached" => CallStep::Sent,
        "no_answer" if attempts + 1 >= MAX_CALL_ATTEMPTS => CallStep::Fail("no answer after 3 calls"),
        "no_answer" => CallStep::Retry,
        _ => CallStep::Fail("wrong number"),
    }
}

async fn record_call(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<CallForm>,
) -> Result<Response, AppError> {
    user.require(Permission::HandleStaffNotices)?;
    let (outcome, note) = match check_call(&form.outcome, &form.note) {
        Ok(checked) => checked,
        Err(errors) => {
            let page = calls_view(&state, &user, String::new(), errors).await?;
            return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let mine = manager_filter(&user);
    let mut tx = user.tx(&state.db).await?;
    #[derive(sqlx::FromRow)]
    struct Held {
        attempts: i32,
        kind: String,
        customer_id: Uuid,
        phone: Option<String>,
    }
    let call: Held = sqlx::query_as(&format!(
        r#"SELECT n.attempts, n.kind, n.customer_id, {address} AS phone
           FROM notices n JOIN customers c ON c.tenant_id = n.tenant_id AND c.id = n.customer_id
           LEFT JOIN notice_preferences p ON p.tenant_id = $3 AND p.customer_id = c.id
           WHERE n.tenant_id = $3 AND n.id = $1 AND n.channel = 'phone' AND n.status = 'queued'
             AND ($2::uuid IS NULL OR c.account_manager_id = $2)
           FOR UPDATE OF n"#,
        address = db::address_sql("'phone'", "c.id", "$3")
    ))
    .bind(id)
    .bind(mine)
    .bind(user.tenant_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let said = if note.is_empty() { outcome.to_owned() } else { format!("{outcome}: {note}") };
    let step = call_step(outcome, call.attempts);
    match step {
        CallStep::Sent => {
            sqlx::query!(
                "UPDATE notices SET status = 'sent', sent_at = now(), attempts = attempts + 1, outcome = $2,
                        handled_by = $3, address = coalesce($4, ''), lease_until = NULL
                 WHERE id = $1",
                id,
                said,
                user.label,
                call.phone
            )
            .execute(&mut *tx)
            .await?;
        }
        CallStep::Retry => {
            sqlx::query!(
                "UPDATE notices SET attempts = attempts + 1, outcome = $2, handled_by = $3,
                        next_attempt_at = now() + make_interval(hours => $4), lease_until = NULL
                 WHERE id = $1",
                id,
                said,
                user.label,
                RETRY_AFTER_HOURS as i32
            )
            .execute(&mut *tx)
            .await?;
        }
        CallStep::Fail(reason) => {
            sqlx::query!(
                "UPDATE notices SET attempts = attempts + 1, outcome = $2, handled_by = $3, address = coalesce($4, '')
                 WHERE id = $1",
                id,
                said,
                user.label,
                call.phone
            )
            .execute(&mut *tx)
            .await?;
            db::fail_and_fall_back(&mut tx, id, reason).await?;
        }
    }
    let change = Change {
        action: "record_outcome",
        entity: "notice",
        entity_id: Some(id),
        summary: format!("{} {} {}", call.kind, outcome, call.customer_id),
        before: Some(json!({ "status": "queued", "attempts": call.attempts })),
        after: Some(json!({ "outcome": outcome, "note": note, "step": format!("{step:?}") })),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/notices/calls?done={outcome}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_answer_retries_twice_then_falls_back() {
        assert_eq!(call_step("reached", 0), CallStep::Sent);
        assert_eq!(call_step("no_answer", 0), CallStep::Retry);
        assert_eq!(call_step("no_answer", 1), CallStep::Retry);
        assert_eq!(call_step("no_answer", 2), CallStep::Fail("no answer after 3 calls"));
        assert_eq!(call_step("wrong_number", 0), CallStep::Fail("wrong number"));
    }

    #[test]
    fn a_call_needs_an_outcome_and_a_short_note() {
        assert_eq!(check_call("reached", " said thanks ").unwrap(), ("reached", "said thanks".to_owned()));
        assert!(check_call("", "").unwrap_err().has("outcome"));
        assert!(check_call("maybe", "").unwrap_err().has("outcome"));
        assert!(check_call("no_answer", &"x".repeat(501)).unwrap_err().has("note"));
    }
}
