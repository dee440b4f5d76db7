//! The segment pages: the list, the editor with its preview, a segment's
//! members (with CSV) and last run, recompute now, and delete after a
//! confirmation. Account managers and tenant admins edit
//! (`ManageSegments`); everyone who reads accounts may look.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    segments::{
        DefinitionProblem, FormProblems, SCHEDULES, SegmentForm,
        db::{self, ChangeRow, MemberRow, Run, Saved, Segment},
        filter, parse_definition, validate,
    },
    staff::Permission,
    web::{
        AppState,
        auth::CurrentUser,
        csrf::CsrfForm,
        csv_export,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/segments", get(list).post(create))
        .route("/segments/new", get(new))
        .route("/segments/preview", post(preview))
        .route("/segments/{id}", get(show))
        .route("/segments/{id}/members.csv", get(export))
        .route("/segments/{id}/edit", get(edit).post(update))
        .route("/segments/{id}/recompute", post(recompute))
        .route("/segments/{id}/delete", get(confirm_delete).post(delete))
}

/// Members shown per page.
const PAGE_SIZE: i64 = 50;
/// Joined/left customers shown of the last run.
const CHANGES_SHOWN: i64 = 200;

#[derive(askama::Template)]
#[template(path = "segments/list.html")]
struct ListPage {
    p: Page,
    segments: Vec<Segment>,
    can_manage: bool,
}

async fn list(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut tx = user.tx(&state.db).await?;
    let segments = db::list(&mut tx).await?;
    tx.commit().await?;
    let p = Page::for_user(&user, "segments.title");
    let can_manage = user.role.can(Permission::ManageSegments);
    Ok(render(&ListPage { p, segments, can_manage })?.into_response())
}

#[derive(askama::Template)]
#[template(path = "segments/form.html")]
struct FormPage {
    p: Page,
    /// None for a new segment.
    id: Option<Uuid>,
    form: SegmentForm,
    errors: FieldErrors,
    definition_error: Option<String>,
    /// Another segment of the tenant has this name.
    name_taken: bool,
    /// Set after Preview: the count and a sample.
    preview: Option<(i64, Vec<MemberRow>)>,
    schedules: [&'static str; 2],
    fields: [&'static str; 11],
    metrics: [&'static str; 14],
}

impl FormPage {
    fn new(user: &CurrentUser, id: Option<Uuid>, form: SegmentForm) -> Self {
        let title = if id.is_some() { "segments.edit_title" } else { "segments.new_title" };
        Self {
            p: Page::for_user(user, title),
            id,
            form,
            errors: FieldErrors::default(),
            definition_error: None,
            name_taken: false,
            preview: None,
            schedules: SCHEDULES,
            fields: filter::FIELDS,
            metrics: filter::METRICS,
        }
    }

    fn with_problems(mut self, problems: FormProblems) -> Self {
        self.definition_error = problems.definition.map(|d| d.message(&self.p.i));
        self.errors = problems.fields;
        self
    }

    fn action(&self) -> String {
        match self.id {
            Some(id) => format!("/segments/{id}/edit"),
            None => "/segments".to_owned(),
        }
    }
}

const EXAMPLE: &str = r#"{"all": [
  {"field": "class", "op": "in", "value": ["large_industry"]},
  {"metric": "energy_kwh", "agg": "sum", "months": 12, "op": "ge", "value": "100000"}
]}"#;

async fn new(user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::ManageSegments)?;
    let form = SegmentForm { schedule: "daily".into(), definition: EXAMPLE.into(), ..Default::default() };
    Ok(render(&FormPage::new(&user, None, form))?.into_response())
}

fn today(user: &CurrentUser) -> chrono::NaiveDate {
    Utc::now().with_timezone(&user.tz).date_naive()
}

/// Shows the count and a sample for the form's definition, saving nothing.
async fn preview(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<SegmentForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageSegments)?;
    // The form posts its segment's id along when it edits one.
    let id = Uuid::parse_str(&form.segment).ok();
    let mut page = FormPage::new(&user, id, form);
    match parse_definition(&page.form.definition) {
        Ok(definition) => {
            let mut tx = user.tx(&state.db).await?;
            let result = db::preview(&mut tx, &definition, today(&user)).await?;
            tx.commit().await?;
            match result {
                Ok(preview) => page.preview = Some(preview),
                Err(e) => page.definition_error = Some(DefinitionProblem::Invalid(e).message(&page.p.i)),
            }
        }
        Err(problem) => page.definition_error = Some(problem.message(&page.p.i)),
    }
    let status = if page.definition_error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok((status, render(&page)?).into_response())
}

fn audit_body(input: &db::SegmentInput) -> serde_json::Value {
    json!({ "name": input.name, "description": input.description, "schedule": input.schedule, "definition": input.definition })
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<SegmentForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageSegments)?;
    let input = match validate(&form) {
        Ok(input) => input,
        Err(problems) => {
            let page = FormPage::new(&user, None, form).with_problems(problems);
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let mut tx = user.tx(&state.db).await?;
    let id = match db::create(&mut tx, &input, &user.label).await? {
        Saved::Ok(id) => id,
        Saved::NameTaken | Saved::Stale => {
            let mut page = FormPage::new(&user, None, form);
            page.name_taken = true;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let change = Change {
        action: "create",
        entity: "segment",
        entity_id: Some(id),
        summary: input.name.clone(),
        before: None,
        after: Some(audit_body(&input)),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/segments/{id}?saved=true")).into_response())
}

async fn edit(State(state): State<AppState>, user: CurrentUser, Path(id): Path<Uuid>) -> Result<Response, AppError> {
    user.require(Permission::ManageSegments)?;
    let mut tx = user.tx(&state.db).await?;
    let segment = db::get(&mut tx, id).await?;
    tx.commit().await?;
    Ok(render(&FormPage::new(&user, Some(id), form_of(&segment)))?.into_response())
}

fn form_of(segment: &Segment) -> SegmentForm {
    SegmentForm {
        name: segment.name.clone(),
        description: segment.description.clone(),
        schedule: segment.schedule.clone(),
        definition: serde_json::to_string_pretty(&segment.definition).unwrap_or_default(),
        version: Some(segment.version),
        segment: segment.id.to_string(),
    }
}

async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<SegmentForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageSegments)?;
    let mut tx = user.tx(&state.db).await?;
    let before = db::get(&mut tx, id).await?;
    let input = match validate(&form) {
        Ok(input) => input,
        Err(problems) => {
            let page = FormPage::new(&user, Some(id), form).with_problems(problems);
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let version = form.version.unwrap_or(before.version);
    match db::update(&mut tx, id, version, &input).await? {
        Saved::Ok(_) => {}
        Saved::NameTaken => {
            let mut page = FormPage::new(&user, Some(id), form);
            page.name_taken = true;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
        Saved::Stale => {
            // Show what is saved now; the person makes their change again.
            let mut page = FormPage::new(&user, Some(id), form_of(&before));
            page.errors.add("definition", "stale_item");
            return Ok((StatusCode::CONFLICT, render(&page)?).into_response());
        }
    }
    let before_body = json!({ "name": before.name, "description": before.description,
        "schedule": before.schedule, "definition": before.definition });
    let change = Change {
        action: "update",
        entity: "segment",
        entity_id: Some(id),
        summary: input.name.clone(),
        before: Some(before_body),
        after: Some(audit_body(&input)),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/segments/{id}?saved=true")).into_response())
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    #[serde(default)]
    after: String,
    #[serde(default)]
    saved: bool,
}

#[derive(askama::Template)]
#[template(path = "segments/show.html")]
struct ShowPage {
    p: Page,
    segment: Segment,
    members: Vec<MemberRow>,
    next_after: Option<String>,
    after: String,
    runs: Vec<Run>,
    joined: Vec<ChangeRow>,
    left: Vec<ChangeRow>,
    saved: bool,
    can_manage: bool,
    definition: String,
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut tx = user.tx(&state.db).await?;
    let segment = db::get(&mut tx, id).await?;
    let mut members = db::members(&mut tx, id, &q.after, PAGE_SIZE + 1).await?;
    let runs = db::runs(&mut tx, id, 10).await?;
    let changes = match runs.first() {
        Some(run) => db::changes(&mut tx, run.id, CHANGES_SHOWN).await?,
        None => Vec::new(),
    };
    tx.commit().await?;
    let next_after = crate::web::paging::next_cursor(&mut members, PAGE_SIZE, |m| m.account_no.clone());
    let (joined, left) = changes.into_iter().partition(|c| c.change == "joined");
    let p = Page::for_user(&user, "segments.title");
    let definition = serde_json::to_string_pretty(&segment.definition).unwrap_or_default();
    let can_manage = user.role.can(Permission::ManageSegments);
    let page = ShowPage {
        p,
        segment,
        members,
        next_after,
        after: q.after,
        runs,
        joined,
        left,
        saved: q.saved,
        can_manage,
        definition,
    };
    Ok(render(&page)?.into_response())
}

/// Every member as CSV, in the user's language.
async fn export(State(state): State<AppState>, user: CurrentUser, Path(id): Path<Uuid>) -> Result<Response, AppError> {
    user.require(Permission::ReadAccounts)?;
    let mut tx = user.tx(&state.db).await?;
    db::get(&mut tx, id).await?;
    let members = db::members(&mut tx, id, "", i64::MAX).await?;
    tx.commit().await?;
    let p = Page::for_user(&user, "segments.title");
    let header: Vec<String> = [
        "customers.account_no",
        "customers.name",
        "segments.class",
        "segments.industry",
        "segments.manager",
        "segments.since",
    ]
    .iter()
    .map(|k| p.t(k))
    .collect();
    let rows = members.iter().map(|m| {
        vec![
            m.account_no.clone(),
            m.name.clone(),
            m.class_code.clone(),
            m.industry_code.clone(),
            m.manager.clone().unwrap_or_default(),
            m.since.map(|s| p.datetime(&s)).unwrap_or_default(),
        ]
    });
    let body = csv_export::to_csv(&header, rows)?;
    Ok(csv_export::download(&format!("segment_{id}_{}.csv", today(&user)), body))
}

type AnyForm = CsrfForm<std::collections::HashMap<String, String>>;

async fn recompute(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    _: AnyForm,
) -> Result<Response, AppError> {
    user.require(Permission::ManageSegments)?;
    let mut tx = user.tx(&state.db).await?;
    db::get(&mut tx, id).await?;
    let run = db::recompute(&mut tx, id, today(&user)).await?;
    let change = Change {
        action: "recompute",
        entity: "segment",
        entity_id: Some(id),
        summary: String::new(),
        before: None,
        after: Some(json!({ "members": run.members, "joined": run.joined, "left": run.left_count })),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/segments/{id}#last-run")).into_response())
}

#[derive(askama::Template)]
#[template(path = "segments/delete.html")]
struct DeletePage {
    p: Page,
    segment: Segment,
}

async fn confirm_delete(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageSegments)?;
    let mut tx = user.tx(&state.db).await?;
    let segment = db::get(&mut tx, id).await?;
    tx.commit().await?;
    let p = Page::for_user(&user, "segments.delete_title");
    Ok(render(&DeletePage { p, segment })?.into_response())
}

async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    _: AnyForm,
) -> Result<Response, AppError> {
    user.require(Permission::ManageSegments)?;
    let mut tx = user.tx(&state.db).await?;
    let segment = db::get(&mut tx, id).await?;
    db::delete(&mut tx, id).await?;
    let change = Change {
        action: "delete",
        entity: "segment",
        entity_id: Some(id),
        summary: segment.name.clone(),
        before: Some(json!({ "name": segment.name, "definition": segment.definition })),
        after: None,
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to("/segments").into_response())
}
