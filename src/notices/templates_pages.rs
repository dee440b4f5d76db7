//! The notice templates page (tenant admins): which kinds, channels and
//! languages the company worded itself, an editor per template with the
//! fields it may use and a live preview rendered with a real customer's
//! data, and a reset to the built-in wording.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    Kind, personal_bill,
    template::{self, TemplateError},
    templates_db,
};
use crate::{
    audit::{self, Actor, Change},
    staff::Permission,
    web::{
        AppState,
        auth::CurrentUser,
        csrf::CsrfForm,
        error::AppError,
        i18n::I18n,
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notices/templates", get(list_page))
        .route("/notices/templates/{kind}/{channel}/{lang}", get(edit_page).post(save_or_preview))
        .route("/notices/templates/{kind}/{channel}/{lang}/preview", post(live_preview))
        .route("/notices/templates/{kind}/{channel}/{lang}/reset", post(reset))
}

/// The channels in the order the page shows them.
pub const PAGE_CHANNELS: [&str; 5] = ["sms", "email", "wechat", "letter", "phone"];
pub const LANGS: [&str; 2] = ["zh-CN", "en"];

/// A template error in the reader's language, naming the part and the
/// placeholder: "Body: {balnce} is not a field of this notice".
pub fn error_message(i: &I18n, e: &TemplateError) -> String {
    let part = i.t(&format!("notice_prefs.part_{}", e.part()));
    let (key, name, at) = match e {
        TemplateError::UnknownField { name, .. } => ("terr_unknown_field", name.as_str(), 0),
        TemplateError::Unclosed { at, .. } => ("terr_unclosed", "", *at),
        TemplateError::StrayClose { at, .. } => ("terr_stray_close", "", *at),
        TemplateError::Empty { at, .. } => ("terr_empty", "", *at),
        TemplateError::Missing { name, .. } => ("terr_missing", name.as_str(), 0),
    };
    i.t_with(&format!("notice_prefs.{key}"), &[("part", &part), ("name", name), ("at", &at.to_string())])
}

// ---------------------------------------------------------------- the list

struct Row {
    kind: &'static str,
    /// Per channel, per language: whether the company has its own wording.
    cells: Vec<(&'static str, Vec<(&'static str, bool)>)>,
}

#[derive(askama::Template)]
#[template(path = "notices/templates.html")]
struct ListPage {
    p: Page,
    rows: Vec<Row>,
    channels: &'static [&'static str],
    own_count: usize,
}

async fn list_page(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::ManageNoticeTemplates)?;
    let mut tx = user.tx(&state.db).await?;
    let own = templates_db::own_keys(&mut tx).await?;
    tx.commit().await?;
    let rows = Kind::ALL
        .into_iter()
        .map(|k| Row {
            kind: k.as_str(),
            cells: PAGE_CHANNELS
                .into_iter()
                .map(|c| {
                    let langs = LANGS
                        .into_iter()
                        .map(|l| (l, own.iter().any(|(ok, oc, ol)| ok == k.as_str() && oc == c && ol == l)))
                        .collect();
                    (c, langs)
                })
                .collect(),
        })
        .collect();
    let page = ListPage {
        p: Page::for_user(&user, "notice_prefs.templates_title"),
        rows,
        channels: &PAGE_CHANNELS,
        own_count: own.len(),
    };
    Ok(render(&page)?.into_response())
}

// ---------------------------------------------------------------- the editor

/// Which template: from the path, each part checked.
fn which(kind: &str, channel: &str, lang: &str) -> Result<(Kind, &'static str, &'static str), AppError> {
    let kind = Kind::parse(kind).ok_or(AppError::NotFound)?;
    let channel = PAGE_CHANNELS.into_iter().find(|c| *c == channel).ok_or(AppError::NotFound)?;
    let lang = LANGS.into_iter().find(|l| *l == lang).ok_or(AppError::NotFound)?;
    Ok((kind, channel, lang))
}

/// A preview: the template rendered with a customer's data.
pub struct Preview {
    /// (name, account number) of the customer whose data it shows.
    pub customer: Option<(String, String)>,
    /// The account number asked for matched nobody.
    pub unknown_account: bool,
    pub subject: String,
    pub body: String,
    pub error: Option<String>,
    /// The fields filled with sample values (`[field]`).
    pub samples: Vec<&'static str>,
    /// Whether the channel uses a subject (email).
    pub shows_subject: bool,
}

/// The fields a preview fills for `kind` with `customer`'s real data: the
/// customer's own, the company's, today, and for bills the latest issued
/// bill; everything else from `template::sample_data`. Returns the data and
/// the fields that are samples.
async fn preview_data(
    conn: &mut PgConnection,
    kind: Kind,
    customer: Option<(Uuid, String, String)>,
    lang: &str,
    today: NaiveDate,
) -> sqlx::Result<(Value, Vec<&'static str>)> {
    let mut data = template::sample_data(kind);
    let tenant_name =
        sqlx::query_scalar!("SELECT name FROM tenants WHERE id = app_tenant_id()").fetch_one(&mut *conn).await?;
    data["tenant_name"] = json!(tenant_name);
    data["date"] = json!(today.to_string());
    if let Some((id, name, account_no)) = customer {
        data["customer_name"] = json!(name);
        data["account_no"] = json!(account_no);
        let bill_kind = matches!(kind, Kind::BillIssued | Kind::PaymentDue | Kind::Overdue | Kind::PersonalBill);
        if bill_kind && let Some((bill_id, facts)) = personal_bill::latest_bill(conn, id).await? {
            let lines = personal_bill::lines_of(conn, &[bill_id]).await?;
            let real = personal_bill::bill_data(
                &facts,
                lines.get(&bill_id).map(Vec::as_slice).unwrap_or_default(),
                true,
                lang,
                today,
            );
            for f in template::kind_fields(kind) {
                if let Some(v) = real.get(*f) {
                    data[*f] = v.clone();
                }
            }
        }
    }
    let samples = template::COMMON_FIELDS
        .iter()
        .chain(template::kind_fields(kind))
        .copied()
        .filter(|f| data.get(*f).and_then(Value::as_str) == Some(format!("[{f}]").as_str()))
        .collect();
    Ok((data, samples))
}

/// The customer a preview uses: the account number given, else the
/// company's first active customer; (id, name, account) and whether a given
/// number matched nobody.
async fn preview_customer(
    conn: &mut PgConnection,
    account_no: &str,
) -> sqlx::Result<(Option<(Uuid, String, String)>, bool)> {
    let account_no = account_no.trim();
    if !account_no.is_empty() {
        let found = sqlx::query!("SELECT id, name, account_no FROM customers WHERE account_no = $1", account_no)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(c) = found {
            return Ok((Some((c.id, c.name, c.account_no)), false));
        }
    }
    let first =
        sqlx::query!("SELECT id, name, account_no FROM customers WHERE status = 'active' ORDER BY account_no LIMIT 1")
            .fetch_optional(conn)
            .await?;
    Ok((first.map(|c| (c.id, c.name, c.account_no)), !account_no.is_empty()))
}

async fn preview(
    conn: &mut PgConnection,
    i: &I18n,
    (kind, channel, lang): (Kind, &str, &str),
    subject: &str,
    body: &str,
    account_no: &str,
) -> Result<Preview, AppError> {
    let today = crate::tenants::today(conn).await?;
    let (customer, unknown_account) = preview_customer(conn, account_no).await?;
    let shown = customer.as_ref().map(|(_, n, a)| (n.clone(), a.clone()));
    let (data, samples) = preview_data(conn, kind, customer, lang, today).await?;
    let checked = template::check(kind, subject, body).and_then(|()| template::render(subject, body, &data));
    let (subject, body, error) = match checked {
        Ok(r) => (r.subject, r.body, None),
        Err(e) => (String::new(), String::new(), Some(error_message(i, &e))),
    };
    Ok(Preview { customer: shown, unknown_account, subject, body, error, samples, shows_subject: channel == "email" })
}

#[derive(askama::Template)]
#[template(path = "notices/template_edit.html")]
struct EditPage {
    p: Page,
    kind: &'static str,
    channel: &'static str,
    lang: &'static str,
    subject: String,
    body: String,
    account_no: String,
    /// The company's own wording is in use (else the built-in).
    own: Option<templates_db::Saved>,
    fields: Vec<&'static str>,
    preview: Preview,
    /// Why saving was refused.
    error: Option<String>,
    saved: bool,
}

#[derive(askama::Template)]
#[template(path = "notices/template_preview.html")]
struct PreviewFragment {
    p: Page,
    preview: Preview,
}

#[derive(Deserialize, Default)]
struct EditQuery {
    #[serde(default)]
    saved: bool,
    #[serde(default)]
    reset: bool,
    #[serde(default)]
    account_no: String,
}

#[derive(Deserialize, Default)]
struct TemplateForm {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    account_no: String,
    /// `save` or `preview`.
    #[serde(default)]
    action: String,
}

#[allow(clippy::too_many_arguments)]
async fn edit_view(
    state: &AppState,
    user: &CurrentUser,
    (kind, channel, lang): (Kind, &'static str, &'static str),
    text: Option<(String, String)>,
    account_no: String,
    error: Option<String>,
    saved: bool,
) -> Result<EditPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let own = templates_db::saved(&mut tx, kind, channel, lang).await?;
    let (subject, body) = match text {
        Some(t) => t,
        None => templates_db::wording(&mut tx, kind, channel, lang).await?,
    };
    let i = I18n(user.locale);
    let preview = preview(&mut tx, &i, (kind, channel, lang), &subject, &body, &account_no).await?;
    tx.commit().await?;
    let mut p = Page::for_user(user, "notice_prefs.template_title");
    p.title = format!(
        "{} · {} · {} · {}",
        p.title,
        p.tc("notice.", kind.as_str()),
        p.tc("channel.", channel),
        p.tc("lang.", lang)
    );
    let fields = template::COMMON_FIELDS.iter().chain(template::kind_fields(kind)).copied().collect();
    Ok(EditPage {
        p,
        kind: kind.as_str(),
        channel,
        lang,
        subject,
        body,
        account_no,
        own,
        fields,
        preview,
        error,
        saved,
    })
}

async fn edit_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((kind, channel, lang)): Path<(String, String, String)>,
    Query(q): Query<EditQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageNoticeTemplates)?;
    let which = which(&kind, &channel, &lang)?;
    let page = edit_view(&state, &user, which, None, q.account_no, None, q.saved || q.reset).await?;
    Ok(render(&page)?.into_response())
}

/// What is wrong with a template before it is saved, in the reader's
/// language: the placeholders, then the lengths the table allows.
fn refusal(i: &I18n, kind: Kind, subject: &str, body: &str) -> Option<String> {
    if let Err(e) = template::check(kind, subject, body) {
        return Some(error_message(i, &e));
    }
    if body.trim().is_empty() {
        return Some(i.t("notice_prefs.body_required"));
    }
    if body.chars().count() > 10_000 {
        return Some(i.t("notice_prefs.body_too_long"));
    }
    if subject.chars().count() > 200 {
        return Some(i.t("notice_prefs.subject_too_long"));
    }
    None
}

async fn save_or_preview(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((kind, channel, lang)): Path<(String, String, String)>,
    CsrfForm(form): CsrfForm<TemplateForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageNoticeTemplates)?;
    let which @ (kind, channel, lang) = which(&kind, &channel, &lang)?;
    let subject = form.subject.trim().to_owned();
    let body = form.body.trim().to_owned();
    if form.action != "save" {
        let page = edit_view(&state, &user, which, Some((subject, body)), form.account_no, None, false).await?;
        return Ok(render(&page)?.into_response());
    }
    let i = I18n(user.locale);
    if let Some(error) = refusal(&i, kind, &subject, &body) {
        let page = edit_view(&state, &user, which, Some((subject, body)), form.account_no, Some(error), false).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let mut tx = user.tx(&state.db).await?;
    let before = templates_db::saved(&mut tx, kind, channel, lang).await?;
    templates_db::save(&mut tx, kind, channel, lang, &subject, &body, &user.label).await?;
    let change = Change {
        action: if before.is_some() { "update" } else { "create" },
        entity: "notice_template",
        entity_id: None,
        summary: format!("{} {} {}", kind.as_str(), channel, lang),
        before: before.map(|b| json!({"subject": b.subject, "body": b.body})),
        after: Some(json!({"subject": subject, "body": body})),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/notices/templates/{}/{channel}/{lang}?saved=true", kind.as_str())).into_response())
}

/// The preview alone, for the editor's script as the user types.
async fn live_preview(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((kind, channel, lang)): Path<(String, String, String)>,
    CsrfForm(form): CsrfForm<TemplateForm>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::ManageNoticeTemplates)?;
    let (kind, channel, lang) = which(&kind, &channel, &lang)?;
    let i = I18n(user.locale);
    let mut tx = user.tx(&state.db).await?;
    let preview =
        preview(&mut tx, &i, (kind, channel, lang), form.subject.trim(), form.body.trim(), &form.account_no).await?;
    tx.commit().await?;
    render(&PreviewFragment { p: Page::for_user(&user, "notice_prefs.preview"), preview })
}

async fn reset(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((kind, channel, lang)): Path<(String, String, String)>,
    CsrfForm(_): CsrfForm<TemplateForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageNoticeTemplates)?;
    let (kind, channel, lang) = which(&kind, &channel, &lang)?;
    let mut tx = user.tx(&state.db).await?;
    let before = templates_db::saved(&mut tx, kind, channel, lang).await?;
    if let Some(before) = before {
        templates_db::reset(&mut tx, kind, channel, lang).await?;
        let change = Change {
            action: "delete",
            entity: "notice_template",
            entity_id: None,
            summary: format!("{} {} {}", kind.as_str(), channel, lang),
            before: Some(json!({"subject": before.subject, "body": before.body})),
            after: None,
        };
        audit::record(&mut tx, &Actor::from(&user), change).await?;
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("/notices/templates/{}/{channel}/{lang}?reset=true", kind.as_str())).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::Locale;

    #[test]
    fn template_errors_name_the_part_and_the_placeholder_in_both_languages() {
        let e = TemplateError::UnknownField { part: "body", name: "balnce".into() };
        assert_eq!(error_message(&I18n(Locale::En), &e), "Body: {balnce} is not a field of this notice");
        let zh = error_message(&I18n(Locale::ZhCn), &e);
        assert!(zh.contains("{balnce}") && zh.contains("正文"), "{zh}");
        let e = TemplateError::Unclosed { part: "subject", at: 4 };
        assert!(error_message(&I18n(Locale::En), &e).starts_with("Subject:"));
        assert!(error_message(&I18n(Locale::En), &e).contains('4'));
        for e in [
            TemplateError::StrayClose { part: "body", at: 2 },
            TemplateError::Empty { part: "body", at: 2 },
            TemplateError::Missing { part: "body", name: "x".into() },
        ] {
            for l in Locale::ALL {
                assert!(!error_message(&I18n(l), &e).contains("notice_prefs."), "{e:?} in {l:?}");
            }
        }
    }

    #[test]
    fn a_save_is_refused_for_a_bad_placeholder_an_empty_or_long_body() {
        let i = I18n(Locale::En);
        assert!(refusal(&i, Kind::LowBalance, "", "余额 {balnce} 元").unwrap().contains("{balnce}"));
        assert!(refusal(&i, Kind::LowBalance, "", "  ").is_some());
        assert!(refusal(&i, Kind::LowBalance, &"x".repeat(201), "ok").is_some());
        assert_eq!(refusal(&i, Kind::LowBalance, "", "余额 {balance} 元"), None);
    }
}
