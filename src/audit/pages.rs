//! The audit log page, filtered by user, entity and date.

use axum::{
    Router,
    extract::{Query, State},
    response::Html,
    routing::get,
};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    audit::{self, AuditEntry, AuditFilter},
    staff::{Permission, db as staff_db},
    web::{
        AppState,
        auth::CurrentUser,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/audit", get(audit_page))
}

/// Every kind of record the audit log names, for the filter (a test checks
/// each has a name in both languages).
pub const ENTITIES: &[&str] = &[
    "customer",
    "portal_user",
    "contact",
    "work_order",
    "business_hall",
    "hall_appointment",
    "supply_point",
    "meter_reading",
    "bill",
    "bill_run",
    "payment",
    "cash_day",
    "refund",
    "cost_control",
    "credit_rating",
    "visit",
    "visit_follow_up",
    "segment",
    "notice",
    "notice_rule",
    "notice_template",
    "notice_broadcast",
    "notice_preferences",
    "outage",
    "supply_contract",
    "load_anomaly",
    "dr_event",
    "points_item",
    "customer_archive",
    "reference_code",
    "reading_route",
    "tariff_version",
    "calendar_day",
    "service_calendar",
    "sla_limits",
    "billing_settings",
    "credit_settings",
    "points_settings",
    "value_settings",
    "notice_settings",
    "change_of_use_settings",
    "print_settings",
    "privacy_settings",
    "retention",
    "user",
    "session",
    "api_key",
    "tenant",
];
const PAGE_SIZE: i64 = 50;

#[derive(Deserialize, Default, Clone)]
struct AuditQuery {
    #[serde(default)]
    user: String,
    #[serde(default)]
    entity: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// Keyset cursor: "<rfc3339>_<uuid>" of the last entry shown.
    #[serde(default)]
    before: String,
}

impl AuditQuery {
    /// The query string for the next page.
    fn next(&self, last: &AuditEntry) -> String {
        serde_urlencoded::to_string([
            ("user", self.user.as_str()),
            ("entity", self.entity.as_str()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("before", &format!("{}_{}", last.at.to_rfc3339(), last.id)),
        ])
        .unwrap_or_default()
    }
}

#[derive(askama::Template)]
#[template(path = "audit/list.html")]
struct AuditPage {
    p: Page,
    q: AuditQuery,
    users: Vec<(Uuid, String)>,
    entities: &'static [&'static str],
    entries: Vec<AuditEntry>,
    next: Option<String>,
    errors: FieldErrors,
}

fn parse_filter(q: &AuditQuery, tz: chrono_tz::Tz, errors: &mut FieldErrors) -> AuditFilter {
    let day_start = |s: &str, field: &'static str, errors: &mut FieldErrors| -> Option<DateTime<Utc>> {
        if s.is_empty() {
            return None;
        }
        match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) => tz.from_local_datetime(&d.and_hms_opt(0, 0, 0)?).earliest().map(|t| t.with_timezone(&Utc)),
            Err(_) => {
                errors.add(field, "date_format");
                None
            }
        }
    };
    let actor = match q.user.as_str() {
        "" => None,
        s => Uuid::try_parse(s).ok().or_else(|| {
            errors.add("user", "unknown_code");
            None
        }),
    };
    let entity = match q.entity.as_str() {
        "" => None,
        s if ENTITIES.contains(&s) => Some(s.to_owned()),
        _ => {
            errors.add("entity", "unknown_code");
            None
        }
    };
    let from = day_start(&q.from, "from", errors);
    // "to" is inclusive of that whole day.
    let to = day_start(&q.to, "to", errors).map(|t| t + chrono::Duration::days(1));
    let before = q.before.split_once('_').and_then(|(at, id)| {
        Some((DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc), Uuid::try_parse(id).ok()?))
    });
    AuditFilter { actor, entity, entity_id: None, from, to, before, limit: PAGE_SIZE + 1 }
}

async fn audit_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<AuditQuery>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::ReadAudit)?;
    let mut errors = FieldErrors::default();
    let filter = parse_filter(&q, user.tz, &mut errors);
    let mut tx = user.tx(&state.db).await?;
    let users = staff_db::list_users(&mut tx).await?.into_iter().map(|u| (u.id, u.display_name)).collect();
    let mut entries = if errors.is_empty() { audit::list(&mut tx, &filter).await? } else { Vec::new() };
    tx.commit().await?;
    let next = (entries.len() as i64 > PAGE_SIZE).then(|| {
        entries.truncate(PAGE_SIZE as usize);
        entries.last().map(|e| q.next(e)).unwrap_or_default()
    });
    render(&AuditPage { p: Page::for_user(&user, "audit.title"), q, users, entities: ENTITIES, entries, next, errors })
}

#[cfg(test)]
mod tests {
    use crate::web::i18n::{I18n, Locale};

    #[test]
    fn every_record_type_of_the_filter_has_a_name_in_both_languages() {
        for locale in [Locale::ZhCn, Locale::En] {
            for entity in super::ENTITIES {
                assert!(I18n(locale).has(&format!("audit.entity.{entity}")), "{entity} in {locale:?}");
            }
        }
    }

    /// Every record type the code audits (`entity: "..."`) is offered by the
    /// filter, so a new area cannot forget to add it.
    #[test]
    fn the_filter_offers_every_audited_record_type() {
        fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for part in text.split("entity: \"").skip(1) {
                        let name: String = part.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                        if part[name.len()..].starts_with('"') && !name.is_empty() {
                            found.push(name);
                        }
                    }
                }
            }
        }
        let mut audited = Vec::new();
        walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut audited);
        assert!(audited.len() > 20, "the source was read: {audited:?}");
        for entity in audited {
            assert!(super::ENTITIES.contains(&entity.as_str()), "{entity} is audited but not in ENTITIES");
        }
    }
}
