//! The tenant admin's print settings: the letterhead's address and hotline,
//! and the payment instructions printed on bills. Audited.

use axum::{
    Router,
    extract::{Query, State},
    response::{Html, Response},
    routing::get,
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    audit::{self, Actor, Change},
    prints::{self, Letterhead},
    staff::Permission,
    web::{
        AppState,
        auth::CurrentUser,
        csrf::CsrfForm,
        error::{AppError, FieldErrors},
        input,
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/print-settings", get(settings).post(save))
}

#[derive(askama::Template)]
#[template(path = "prints/settings.html")]
struct SettingsPage {
    p: Page,
    l: Letterhead,
    saved: bool,
    errors: FieldErrors,
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
    user.require(Permission::ManageTariffs)?;
    let mut tx = user.tx(&state.db).await?;
    let l = prints::letterhead(&mut tx).await?;
    tx.commit().await?;
    render(&SettingsPage {
        p: Page::for_user(&user, "prints.settings_title"),
        l,
        saved: q.saved,
        errors: FieldErrors::default(),
    })
}

#[derive(Deserialize, Default)]
struct SettingsForm {
    #[serde(default)]
    address: String,
    #[serde(default)]
    hotline: String,
    #[serde(default)]
    payment_instructions: String,
}

async fn save(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<SettingsForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageTariffs)?;
    let mut errors = FieldErrors::default();
    let address = input::visible_text(&form.address, 200, "address", false, &mut errors);
    let hotline = input::visible_text(&form.hotline, 40, "hotline", true, &mut errors);
    let instructions = form.payment_instructions.trim().to_owned();
    if instructions.chars().count() > 1000 {
        errors.add("payment_instructions", "too_long");
    }
    input::check_text("payment_instructions", &instructions, &mut errors);
    let mut wanted = Letterhead { name: String::new(), address, hotline, payment_instructions: instructions };
    let result = async {
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let mut tx = user.tx(&state.db).await?;
        let before = prints::letterhead(&mut tx).await?;
        prints::save(&mut tx, &wanted).await?;
        audit::record(
            &mut tx,
            &Actor::from(&user),
            Change {
                action: "update",
                entity: "print_settings",
                entity_id: None,
                summary: "letterhead".to_owned(),
                before: Some(json!({ "address": before.address, "hotline": before.hotline,
                    "payment_instructions": before.payment_instructions })),
                after: Some(json!({ "address": wanted.address, "hotline": wanted.hotline,
                    "payment_instructions": wanted.payment_instructions })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    crate::web::change::after_change(result, "/admin/print-settings", |errors, _| async {
        wanted.name = user.tenant_name.clone();
        Ok(SettingsPage { p: Page::for_user(&user, "prints.settings_title"), l: wanted, saved: false, errors })
    })
    .await
}
