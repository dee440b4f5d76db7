//! Pages of the change-of-use orders: the acceptance slip (受理回执) a completed
//! order prints, and the tenant's transfer rule (settle or carry the old
//! holder's debts).

use axum::{
    Router,
    extract::{Path, Query, State},
    response::{Html, Response},
    routing::get,
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    prints::{Slip, SlipPage},
    staff::Permission,
    web::{
        AppState,
        auth::CurrentUser,
        csrf::CsrfForm,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
    work_orders::{
        change::TRANSFER_ARREARS,
        change_db::{self, ChangeRecord},
        db,
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/work-orders/{id}/slip", get(slip))
        .route("/settings/change-of-use", get(settings).post(save_settings))
}

/// The outcome fields a slip shows, in order (nested objects joined with `_`).
pub const OUTCOME_FIELDS: [&str; 35] = [
    "old_holder_account_no",
    "old_holder_name",
    "new_holder_account_no",
    "new_holder_name",
    "points_moved",
    "arrears_rule",
    "arrears_carried",
    "credit_kept_by_old_holder",
    "name_before",
    "name_after",
    "tariff_before",
    "tariff_after",
    "from_period",
    "point_code",
    "address",
    "voltage_code",
    "capacity_kva",
    "meter_serial",
    "multiplier",
    "initial_reading",
    "installed_on",
    "capacity_before_kva",
    "capacity_after_kva",
    "status_before",
    "status_after",
    "on",
    "final_reading",
    "read_on",
    "final_bill_bill_no",
    "final_bill_amount",
    "owed",
    "from_credit",
    "from_deposit",
    "refund",
    "retired_points",
];

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}_{k}") };
                flatten(&key, v, out);
            }
        }
        Value::Array(items) => {
            let texts: Vec<String> =
                items.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect();
            out.push((prefix.to_owned(), texts.join(", ")));
        }
        Value::Null => out.push((prefix.to_owned(), "—".to_owned())),
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

/// The outcome as (field, value) rows in the slip's order; ids are left out.
/// `name(prefix, code)` names the values that are codes.
pub fn outcome_rows(outcome: &Value, name: impl Fn(&str, &str) -> String) -> Vec<(&'static str, String)> {
    let mut flat = Vec::new();
    flatten("", outcome, &mut flat);
    OUTCOME_FIELDS
        .iter()
        .filter_map(|field| flat.iter().find(|(k, _)| k == field).map(|(_, v)| (*field, v.clone())))
        .map(|(field, value)| match field {
            "arrears_rule" => (field, name("change.rule_", &value)),
            "status_before" | "status_after" => (field, name("customers.point_status_", &value)),
            _ => (field, value),
        })
        .collect()
}

/// The acceptance slip of a completed change of use, to print and hand over.
async fn slip(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::HandleService)?;
    let mut tx = user.tx(&state.db).await?;
    let o = db::get(&mut tx, id).await?;
    let record: Option<ChangeRecord> = change_db::get(&mut tx, id).await?;
    let letterhead = crate::prints::letterhead(&mut tx).await?;
    tx.commit().await?;
    let Some((record, at)) = record.and_then(|r| r.applied_at.map(|at| (r, at))) else {
        return Err(AppError::NotFound);
    };
    let mut p = Page::for_user(&user, "change.slip_title");
    p.title = format!("{} · {}", p.t("change.slip_title"), o.ref_no);
    let customer =
        format!("{} {}", o.customer_account_no.as_deref().unwrap_or(""), o.customer_name.as_deref().unwrap_or(""));
    let mut facts =
        vec![(p.t("work_orders.kind"), p.tc("work_order_kind.", &o.kind)), (p.t("contacts.customer"), customer)];
    if let Some(code) = &o.supply_point_code {
        facts.push((p.t("work_orders.supply_point"), code.clone()));
    }
    facts.extend([
        (p.t("work_orders.subject_title"), o.title.clone()),
        (p.t("work_orders.created_at"), p.datetime(&o.created_at)),
        (p.t("change.applied_at"), p.datetime(&at)),
    ]);
    let rows = outcome_rows(&record.outcome, |prefix, code| p.tc(prefix, code))
        .into_iter()
        .map(|(field, value)| (p.tc("change.outcome_", field), value))
        .collect();
    let slip = Slip {
        heading: p.t("change.slip_title"),
        ref_label: p.t("work_orders.ref_no"),
        ref_no: o.ref_no.clone(),
        facts,
        rows_title: p.t("change.outcome"),
        rows,
        documents: o.documents.iter().map(|d| p.tc("document.", d)).collect(),
        clerk: user.label.clone(),
        note: p.t("change.slip_note"),
    };
    render(&SlipPage { p, letterhead, slip })
}

#[derive(askama::Template)]
#[template(path = "work_orders/change_settings.html")]
struct SettingsPage {
    p: Page,
    rule: String,
    saved: bool,
    errors: FieldErrors,
}

impl SettingsPage {
    fn rules(&self) -> &'static [&'static str] {
        &TRANSFER_ARREARS
    }
}

#[derive(Deserialize, Default)]
struct SavedQuery {
    #[serde(default)]
    saved: bool,
}

async fn settings(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<SavedQuery>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::ManageServiceSettings)?;
    let mut tx = user.tx(&state.db).await?;
    let rule = change_db::transfer_arrears(&mut tx).await?;
    tx.commit().await?;
    render(&SettingsPage {
        p: Page::for_user(&user, "change.settings_title"),
        rule,
        saved: q.saved,
        errors: FieldErrors::default(),
    })
}

#[derive(Deserialize)]
struct SettingsForm {
    #[serde(default)]
    transfer_arrears: String,
}

async fn save_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<SettingsForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageServiceSettings)?;
    let rule = form.transfer_arrears.trim().to_owned();
    let result = async {
        if !TRANSFER_ARREARS.contains(&rule.as_str()) {
            let mut errors = FieldErrors::default();
            errors.add("transfer_arrears", "unknown_code");
            return Err(AppError::Invalid(errors));
        }
        let mut tx = user.tx(&state.db).await?;
        let before = change_db::transfer_arrears(&mut tx).await?;
        if before != rule {
            change_db::set_transfer_arrears(&mut tx, &rule).await?;
            audit::record(
                &mut tx,
                &Actor::from(&user),
                Change {
                    action: "update",
                    entity: "change_of_use_settings",
                    entity_id: None,
                    summary: format!("transfer_arrears {before} → {rule}"),
                    before: Some(json!({ "transfer_arrears": before })),
                    after: Some(json!({ "transfer_arrears": rule })),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
    .await;
    crate::web::change::after_change(result, "/settings/change-of-use", |errors, _| async {
        Ok(SettingsPage { p: Page::for_user(&user, "change.settings_title"), rule: rule.clone(), saved: false, errors })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slip_shows_the_outcome_in_its_order_without_ids() {
        let outcome = json!({
            "final_bill": { "id": "x", "bill_no": "202612001", "amount": "12.50" },
            "final_reading": "1520", "retired_points": ["P-1", "P-2"], "refund_id": null,
            "arrears_rule": "carry",
        });
        assert_eq!(
            outcome_rows(&outcome, |prefix, code| format!("{prefix}{code}")),
            vec![
                ("arrears_rule", "change.rule_carry".to_owned()),
                ("final_reading", "1520".to_owned()),
                ("final_bill_bill_no", "202612001".to_owned()),
                ("final_bill_amount", "12.50".to_owned()),
                ("retired_points", "P-1, P-2".to_owned()),
            ]
        );
        assert!(crate::work_orders::change::changes_archive("account_closing"));
    }
}
