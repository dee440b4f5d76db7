//! The rules page (`/notices/rules`): which kind goes to whom, when and how,
//! the delivery settings, and sending advice to an audience.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{
    CHANNELS, Kind, Source, plan,
    rules::{self, AUDIENCES, OFFSET_UNITS, RuleForm, SettingsForm},
    rules_db::{self, RuleRow},
};
use crate::{
    audit::{self, Actor, Change},
    segments,
    staff::Permission,
    web::{
        AppState,
        auth::CurrentUser,
        csrf::CsrfForm,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notices/rules", get(rules_page).post(add_rule))
        .route("/notices/rules/{id}/enabled", post(set_enabled))
        .route("/notices/rules/{id}/delete", post(delete_rule))
        .route("/notices/rules/{id}/broadcast", get(broadcast_page).post(broadcast))
        .route("/notices/settings", post(save_settings))
}

#[derive(askama::Template)]
#[template(path = "notices/rules.html")]
struct RulesPage {
    p: Page,
    rules: Vec<RuleRow>,
    can_manage: bool,
    can_send: bool,
    rule: RuleForm,
    rule_errors: FieldErrors,
    segments: Vec<(Uuid, String)>,
    routes: Vec<(Uuid, String, String)>,
    settings: SettingsForm,
    settings_errors: FieldErrors,
    saved: String,
}

impl RulesPage {
    fn kinds(&self) -> Vec<&'static str> {
        rules::rule_kinds().map(Kind::as_str).collect()
    }
    fn audiences(&self) -> &'static [&'static str] {
        &AUDIENCES
    }
    fn units(&self) -> &'static [&'static str] {
        &OFFSET_UNITS
    }
    fn channels(&self) -> &'static [&'static str] {
        &CHANNELS
    }
    fn offset(&self, minutes: &i32) -> (i32, &'static str, &'static str) {
        rules::offset_parts(*minutes)
    }
    /// Whether the form's channel `field` (channel_1..3) holds `channel`.
    fn picked(&self, field: &str, channel: &str) -> bool {
        let value = match field {
            "channel_1" => &self.rule.channel_1,
            "channel_2" => &self.rule.channel_2,
            _ => &self.rule.channel_3,
        };
        value == channel
    }
    fn is_broadcast(&self, kind: &str) -> bool {
        Kind::parse(kind).is_some_and(|k| k.source() == Source::Broadcast)
    }
}

#[derive(Deserialize, Default)]
struct RulesQuery {
    #[serde(default)]
    saved: String,
}

async fn rules_view(
    state: &AppState,
    user: &CurrentUser,
    rule: Option<(RuleForm, FieldErrors)>,
    settings: Option<(SettingsForm, FieldErrors)>,
    saved: String,
) -> Result<RulesPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let rules = rules_db::list(&mut tx).await?;
    let current = rules_db::settings(&mut tx).await?;
    let segments = segments::db::list(&mut tx).await?.into_iter().map(|s| (s.id, s.name)).collect();
    let routes = rules_db::routes(&mut tx).await?;
    tx.commit().await?;
    let (rule, rule_errors) = rule.unwrap_or_else(|| {
        (
            RuleForm { audience: "concerned".into(), offset_unit: "days".into(), ..Default::default() },
            FieldErrors::default(),
        )
    });
    let (settings, settings_errors) =
        settings.unwrap_or_else(|| (SettingsForm::from(&current), FieldErrors::default()));
    Ok(RulesPage {
        p: Page::for_user(user, "notice_rules.title"),
        rules,
        can_manage: user.require(Permission::ManageNoticeRules).is_ok(),
        can_send: user.require(Permission::SendNotices).is_ok(),
        rule,
        rule_errors,
        segments,
        routes,
        settings,
        settings_errors,
        saved,
    })
}

fn may_see(user: &CurrentUser) -> Result<(), AppError> {
    user.require(Permission::ManageNoticeRules).or_else(|_| user.require(Permission::SendNotices))
}

async fn rules_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<RulesQuery>,
) -> Result<Response, AppError> {
    may_see(&user)?;
    let saved =
        if ["rule", "settings", "removed", "sent"].contains(&q.saved.as_str()) { q.saved } else { String::new() };
    Ok(render(&rules_view(&state, &user, None, None, saved).await?)?.into_response())
}

fn unprocessable(page: RulesPage) -> Result<Response, AppError> {
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

async fn tenant_zone(tx: &mut sqlx::PgConnection) -> Result<chrono_tz::Tz, AppError> {
    let zone: String =
        sqlx::query_scalar("SELECT time_zone FROM tenants WHERE id = app_tenant_id()").fetch_one(tx).await?;
    Ok(zone.parse().unwrap_or(chrono_tz::Asia::Shanghai))
}

async fn add_rule(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<RuleForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageNoticeRules)?;
    let mut tx = user.tx(&state.db).await?;
    let tz = tenant_zone(&mut tx).await?;
    let rule = match rules::check_rule(&form, tz, chrono::Utc::now()) {
        Ok(rule) => rule,
        Err(errors) => {
            drop(tx);
            return unprocessable(rules_view(&state, &user, Some((form, errors)), None, String::new()).await?);
        }
    };
    let Some(id) = rules_db::add(&mut tx, &rule, &user.label).await? else {
        drop(tx);
        let mut errors = FieldErrors::default();
        errors.add(if rule.segment_id.is_some() { "segment_id" } else { "route_id" }, "malformed");
        return unprocessable(rules_view(&state, &user, Some((form, errors)), None, String::new()).await?);
    };
    let change = Change {
        action: "create",
        entity: "notice_rule",
        entity_id: Some(id),
        summary: rule.kind.to_owned(),
        before: None,
        after: Some(json!(rule)),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to("/notices/rules?saved=rule").into_response())
}

#[derive(Deserialize)]
struct EnabledForm {
    #[serde(default)]
    enabled: String,
}

async fn set_enabled(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<EnabledForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageNoticeRules)?;
    let enabled = form.enabled == "on";
    let mut tx = user.tx(&state.db).await?;
    let rule = rules_db::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    rules_db::set_enabled(&mut tx, id, enabled, &user.label).await?;
    let change = Change {
        action: "update",
        entity: "notice_rule",
        entity_id: Some(id),
        summary: rule.kind.clone(),
        before: Some(json!({ "enabled": rule.enabled })),
        after: Some(json!({ "enabled": enabled })),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to("/notices/rules?saved=rule").into_response())
}

async fn delete_rule(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<serde_json::Value>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageNoticeRules)?;
    let mut tx = user.tx(&state.db).await?;
    let rule = rules_db::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    rules_db::delete(&mut tx, id).await?;
    let change = Change {
        action: "delete",
        entity: "notice_rule",
        entity_id: Some(id),
        summary: rule.kind.clone(),
        before: Some(json!({ "kind": rule.kind, "audience": rule.audience, "channels": rule.channels })),
        after: None,
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to("/notices/rules?saved=removed").into_response())
}

async fn save_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<SettingsForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageNoticeRules)?;
    let proposed = match rules::check_settings(&form) {
        Ok(s) => s,
        Err(errors) => {
            return unprocessable(rules_view(&state, &user, None, Some((form, errors)), String::new()).await?);
        }
    };
    let mut tx = user.tx(&state.db).await?;
    let before = rules_db::settings(&mut tx).await?;
    rules_db::save_settings(&mut tx, &proposed, &user.label).await?;
    let change = Change {
        action: "update",
        entity: "notice_settings",
        entity_id: None,
        summary: String::new(),
        before: Some(json!(before)),
        after: Some(json!(proposed)),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to("/notices/rules?saved=settings").into_response())
}

// ---------------------------------------------------------------- sending advice

#[derive(askama::Template)]
#[template(path = "notices/broadcast.html")]
struct BroadcastPage {
    p: Page,
    rule: RuleRow,
    reach: i64,
    message: String,
    errors: FieldErrors,
    sent: Option<u64>,
}

#[derive(Deserialize, Default)]
struct BroadcastForm {
    #[serde(default)]
    message: String,
}

#[derive(Deserialize, Default)]
struct BroadcastQuery {
    sent: Option<u64>,
}

async fn broadcast_view(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    message: String,
    errors: FieldErrors,
    sent: Option<u64>,
) -> Result<BroadcastPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let rule = rules_db::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    if Kind::parse(&rule.kind).is_none_or(|k| k.source() != Source::Broadcast) {
        return Err(AppError::NotFound);
    }
    let reach = plan::broadcast_reach(&mut tx, id).await?;
    tx.commit().await?;
    Ok(BroadcastPage { p: Page::for_user(user, "notice_rules.broadcast_title"), rule, reach, message, errors, sent })
}

async fn broadcast_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<BroadcastQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::SendNotices)?;
    Ok(render(&broadcast_view(&state, &user, id, String::new(), FieldErrors::default(), q.sent).await?)?
        .into_response())
}

async fn broadcast(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<BroadcastForm>,
) -> Result<Response, AppError> {
    user.require(Permission::SendNotices)?;
    let mut errors = FieldErrors::default();
    let message = crate::web::input::visible_text(&form.message, 500, "message", true, &mut errors);
    if !errors.is_empty() {
        let page = broadcast_view(&state, &user, id, form.message, errors, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let mut tx = user.tx(&state.db).await?;
    let sent = plan::broadcast(&mut tx, id, &message).await?.ok_or(AppError::NotFound)?;
    let change = Change {
        action: "create",
        entity: "notice_broadcast",
        entity_id: Some(id),
        summary: message.chars().take(80).collect(),
        before: None,
        after: Some(json!({ "message": message, "notices": sent })),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/notices/rules/{id}/broadcast?sent={sent}")).into_response())
}
