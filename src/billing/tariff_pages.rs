//! The tenant admin's tariffs page: every version of every tariff, a form to
//! add a version from a future date, removing a version not yet in force,
//! and the billing settings (due days, late-fee rates, the jump factor, the
//! low-balance warning). Every change is audited.

use std::collections::HashMap;

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    billing::{
        db::{self as billing_db, TariffVersion},
        tariff_form::{self, BASIC_KINDS, ENERGY_KINDS, PF_STANDARDS, SettingsForm, VersionForm},
    },
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
        .route("/admin/tariffs", get(show))
        .route("/admin/tariffs/versions", post(add_version))
        .route("/admin/tariffs/versions/{id}/delete", post(delete_version))
        .route("/admin/tariffs/settings", post(save_settings))
}

#[derive(askama::Template)]
#[template(path = "billing/tariffs.html")]
struct TariffsPage {
    p: Page,
    versions: Vec<TariffVersion>,
    names: HashMap<String, String>,
    today: NaiveDate,
    v: VersionForm,
    s: SettingsForm,
    errors: FieldErrors,
    saved: bool,
}

impl TariffsPage {
    fn name(&self, code: &str) -> String {
        self.names.get(code).cloned().unwrap_or_else(|| code.to_owned())
    }
    fn codes(&self) -> Vec<&String> {
        let mut codes: Vec<&String> = self.names.keys().collect();
        codes.sort();
        codes
    }
    fn energy_kinds(&self) -> &'static [&'static str] {
        &ENERGY_KINDS
    }
    fn basic_kinds(&self) -> &'static [&'static str] {
        &BASIC_KINDS
    }
    fn pf_standards(&self) -> &'static [&'static str] {
        &PF_STANDARDS
    }
    /// The version a bill of today would use, per code: the latest that has started.
    fn in_force(&self, v: &TariffVersion) -> bool {
        v.effective_from <= self.today
            && !self.versions.iter().any(|o| {
                o.tariff_code == v.tariff_code && o.effective_from > v.effective_from && o.effective_from <= self.today
            })
    }
    fn opt(&self, d: &Option<rust_decimal::Decimal>) -> String {
        d.map(|d| self.p.number(&d)).unwrap_or_else(|| "—".into())
    }
}

async fn load(
    state: &AppState,
    user: &CurrentUser,
    v: Option<VersionForm>,
    s: Option<SettingsForm>,
    errors: FieldErrors,
    saved: bool,
) -> Result<TariffsPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let versions = billing_db::versions(&mut tx, None).await?;
    let names = tariff_names(&mut tx, user).await?;
    let settings = sqlx::query!(
        "SELECT due_days, late_fee_residential, late_fee_other, late_fee_other_across_year, jump_factor, low_balance_days
         FROM billing_settings"
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let percent = |d: rust_decimal::Decimal| (d * rust_decimal::Decimal::from(100)).normalize().to_string();
    let s = s.unwrap_or_else(|| match settings {
        Some(r) => SettingsForm {
            due_days: r.due_days.to_string(),
            late_fee_residential: percent(r.late_fee_residential),
            late_fee_other: percent(r.late_fee_other),
            late_fee_other_across_year: percent(r.late_fee_other_across_year),
            jump_factor: r.jump_factor.normalize().to_string(),
            low_balance_days: r.low_balance_days.to_string(),
        },
        None => SettingsForm::default(),
    });
    let v = v.unwrap_or_else(|| VersionForm { energy_kind: "flat".into(), ..Default::default() });
    Ok(TariffsPage { p: Page::for_user(user, "tariffs.title"), versions, names, today, v, s, errors, saved })
}

async fn tariff_names(tx: &mut crate::db::Tx, user: &CurrentUser) -> sqlx::Result<HashMap<String, String>> {
    let rows = sqlx::query!("SELECT code, name_zh, name_en FROM tariff_categories ORDER BY sort, code")
        .fetch_all(&mut **tx)
        .await?;
    let en = user.locale.code() == "en";
    Ok(rows.into_iter().map(|r| (r.code, if en { r.name_en } else { r.name_zh })).collect())
}

#[derive(Deserialize, Default)]
struct Saved {
    saved: Option<String>,
}

async fn show(State(state): State<AppState>, user: CurrentUser, Query(q): Query<Saved>) -> Result<Response, AppError> {
    user.require(Permission::ManageTariffs)?;
    Ok(render(&load(&state, &user, None, None, FieldErrors::default(), q.saved.is_some()).await?)?.into_response())
}

fn saved() -> Response {
    Redirect::to("/admin/tariffs?saved=1").into_response()
}

async fn add_version(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<VersionForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageTariffs)?;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let mut tx = user.tx(&state.db).await?;
    let codes: Vec<String> = tariff_names(&mut tx, &user).await?.into_keys().collect();
    let mut parsed = tariff_form::parse_version(&form, &codes, today);
    if let Ok(v) = &parsed {
        let taken = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM tariff_versions WHERE tariff_code = $1 AND effective_from = $2) AS "e!""#,
            v.tariff_code,
            v.effective_from
        )
        .fetch_one(&mut *tx)
        .await?;
        if taken {
            let mut e = FieldErrors::default();
            e.add("effective_from", "tariff_version_taken");
            parsed = Err(e);
        }
    }
    let v = match parsed {
        Ok(v) => v,
        Err(errors) => {
            tx.rollback().await?;
            let page = load(&state, &user, Some(form), None, errors, false).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let id = Uuid::now_v7();
    sqlx::query!(
        r#"INSERT INTO tariff_versions (tenant_id, id, tariff_code, effective_from, energy_kind, flat_price, peak_price,
                                        valley_price, tier1_yearly_kwh, tier2_yearly_kwh, tier2_surcharge, tier3_surcharge,
                                        basic_kind, basic_price, power_factor_standard, created_by)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"#,
        id,
        v.tariff_code,
        v.effective_from,
        v.energy_kind,
        v.flat_price,
        v.peak_price,
        v.valley_price,
        v.tier1_yearly_kwh,
        v.tier2_yearly_kwh,
        v.tier2_surcharge,
        v.tier3_surcharge,
        v.basic_kind,
        v.basic_price,
        v.power_factor_standard,
        user.user_id
    )
    .execute(&mut *tx)
    .await?;
    let change = Change {
        action: "create",
        entity: "tariff_version",
        entity_id: Some(id),
        summary: format!("{} {}", v.tariff_code, v.effective_from),
        before: None,
        after: Some(json!(v)),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(saved())
}

/// Only a version that has not started may go: a started one may be on bills.
async fn delete_version(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<HashMap<String, String>>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageTariffs)?;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let mut tx = user.tx(&state.db).await?;
    let gone = sqlx::query!(
        "DELETE FROM tariff_versions WHERE id = $1 AND effective_from > $2 RETURNING tariff_code, effective_from",
        id,
        today
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(gone) = gone else { return Err(AppError::Conflict("tariff_version_started")) };
    let change = Change {
        action: "delete",
        entity: "tariff_version",
        entity_id: Some(id),
        summary: format!("{} {}", gone.tariff_code, gone.effective_from),
        before: Some(json!({ "tariff_code": gone.tariff_code, "effective_from": gone.effective_from })),
        after: None,
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(saved())
}

async fn save_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<SettingsForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageTariffs)?;
    let s = match tariff_form::parse_settings(&form) {
        Ok(s) => s,
        Err(errors) => {
            let page = load(&state, &user, None, Some(form), errors, false).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let mut tx = user.tx(&state.db).await?;
    sqlx::query!(
        r#"INSERT INTO billing_settings (tenant_id, due_days, late_fee_residential, late_fee_other, late_fee_other_across_year,
                                         jump_factor, low_balance_days)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6)
           ON CONFLICT (tenant_id) DO UPDATE SET due_days = $1, late_fee_residential = $2, late_fee_other = $3,
               late_fee_other_across_year = $4, jump_factor = $5, low_balance_days = $6"#,
        s.due_days,
        s.late_fee_residential,
        s.late_fee_other,
        s.late_fee_other_across_year,
        s.jump_factor,
        s.low_balance_days
    )
    .execute(&mut *tx)
    .await?;
    let change = Change {
        action: "update",
        entity: "billing_settings",
        entity_id: None,
        summary: String::new(),
        before: None,
        after: Some(json!(s)),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(saved())
}
