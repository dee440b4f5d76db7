//! The account manager's portfolio: their customers with what needs attention
//! first, their visits (planned, then recorded with an outcome and follow-ups
//! that become tasks), and bulk assignment of managers to customers.
//!
//! Contracts are not in the archive yet, so "contract due" is not among the
//! attention items.

pub mod api;
pub mod assign;
pub mod db;
pub mod pages;
pub mod visits;

use chrono::{Datelike, Days, NaiveDate};
use uuid::Uuid;

use crate::web::{error::FieldErrors, input};

/// What needs an account manager's attention, most urgent first: the order
/// of this list is the order of the portfolio.
pub const ATTENTION_KINDS: [&str; 9] = [
    "new_arrears",
    "tier_change",
    "overdue_contact",
    "overdue_order",
    "expansion",
    "load_anomaly",
    "meter_verification",
    "visit_due",
    "follow_up",
];

/// A visit is planned, then done or cancelled.
pub const VISIT_STATUSES: [&str; 3] = ["planned", "done", "cancelled"];

/// Bills that fell overdue this many days ago or less are "new" arrears;
/// tier changes and meter verifications look the same distance back / ahead.
pub const ATTENTION_DAYS: u64 = 30;
/// Planned visits up to this many days ahead are due.
pub const VISIT_DUE_DAYS: u64 = 7;

pub fn urgency(kind: &str) -> usize {
    ATTENTION_KINDS.iter().position(|k| *k == kind).unwrap_or(ATTENTION_KINDS.len())
}

/// How many items of each kind, in urgency order (kinds without items too).
pub fn count_by_kind<'a>(kinds: impl Iterator<Item = &'a str>) -> Vec<(&'static str, usize)> {
    let mut counts: Vec<(&'static str, usize)> = ATTENTION_KINDS.iter().map(|k| (*k, 0)).collect();
    for kind in kinds {
        if let Some(slot) = counts.iter_mut().find(|(k, _)| *k == kind) {
            slot.1 += 1;
        }
    }
    counts
}

/// A visit as asked for, checked.
#[derive(Debug, PartialEq)]
pub struct VisitPlan {
    pub customer_id: Uuid,
    pub planned_on: NaiveDate,
    pub purpose: String,
}

/// The latest day a visit may be planned for, from today.
pub fn latest_plannable(today: NaiveDate) -> NaiveDate {
    today.checked_add_days(Days::new(2 * 366)).unwrap_or(today)
}

/// Checks a plan's fields (customer, date, purpose), naming each that is wrong.
pub fn check_plan(customer: &str, planned_on: &str, purpose: &str, today: NaiveDate) -> Result<VisitPlan, FieldErrors> {
    let mut errors = FieldErrors::default();
    let customer_id = match customer.trim() {
        "" => {
            errors.add("customer_id", "required");
            Uuid::nil()
        }
        raw => raw.parse().unwrap_or_else(|_| {
            errors.add("customer_id", "unknown_customer");
            Uuid::nil()
        }),
    };
    let planned_on = input::date_field(planned_on, latest_plannable(today)).unwrap_or_else(|code| {
        errors.add("planned_on", code);
        today
    });
    let purpose = input::visible_text(purpose, 500, "purpose", true, &mut errors);
    errors.finish(VisitPlan { customer_id, planned_on, purpose })
}

/// A follow-up of a visit: a task for someone, due on a day.
#[derive(Debug, PartialEq)]
pub struct FollowUp {
    pub task: String,
    pub due_on: NaiveDate,
    pub assignee_id: Uuid,
}

/// The follow-up rows of an outcome form (task, due date, assignee; the
/// assignee left empty is `me`). Rows with neither task nor date are blank
/// and skipped; errors name the row's field, e.g. `follow_due_2` (1-based).
pub fn check_follow_ups(
    tasks: &[String],
    dues: &[String],
    assignees: &[String],
    me: Option<Uuid>,
    today: NaiveDate,
    errors: &mut FieldErrors,
) -> Vec<FollowUp> {
    let mut rows = Vec::new();
    for (i, task) in tasks.iter().enumerate() {
        let due = dues.get(i).map_or("", |d| d.trim());
        if task.trim().is_empty() && due.is_empty() {
            continue;
        }
        let n = i + 1;
        let task = row_text(task, 500, format!("follow_task_{n}"), errors);
        let due_on = input::date_field(due, latest_plannable(today)).unwrap_or_else(|code| {
            errors.add(format!("follow_due_{n}"), code);
            today
        });
        let assignee = match assignees.get(i).map_or("", |a| a.trim()) {
            "" => me,
            raw => raw.parse().ok(),
        };
        let Some(assignee_id) = assignee else {
            errors.add(format!("follow_assignee_{n}"), "unknown_user");
            continue;
        };
        rows.push(FollowUp { task, due_on, assignee_id });
    }
    rows
}

/// Free text of a numbered row: the same rules as `input::visible_text`.
fn row_text(value: &str, max: usize, field: String, errors: &mut FieldErrors) -> String {
    let value = value.trim();
    if value.chars().count() > max {
        errors.add(field, "too_long");
    } else if value.is_empty() {
        errors.add(field, "required");
    } else if !input::has_visible_char(value) {
        errors.add(field, "not_visible");
    }
    value.to_owned()
}

/// The most follow-up rows an outcome takes at once.
pub const MAX_FOLLOW_UPS: usize = 10;

/// The weeks of a month for a calendar grid, Monday first; days outside the month are `None`.
pub fn month_grid(month: NaiveDate) -> Vec<[Option<NaiveDate>; 7]> {
    let first = crate::months::start_of(month);
    let next = crate::months::next(first);
    let mut weeks = Vec::new();
    let mut week = [None; 7];
    let mut day = first;
    while day < next {
        let col = day.weekday().num_days_from_monday() as usize;
        week[col] = Some(day);
        if col == 6 {
            weeks.push(week);
            week = [None; 7];
        }
        day = day.succ_opt().expect("a next day");
    }
    if week.iter().any(Option::is_some) {
        weeks.push(week);
    }
    weeks
}

/// What a bulk assignment would do: of `total` selected customers, how many
/// have the target manager already, another manager, or none.
#[derive(Clone, Copy, Debug, Default, PartialEq, sqlx::FromRow)]
pub struct AssignCounts {
    pub total: i64,
    pub already: i64,
    pub other_manager: i64,
    pub unassigned: i64,
}

impl AssignCounts {
    /// The customers whose manager the assignment changes.
    pub fn changing(&self) -> i64 {
        self.total - self.already
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn arrears_come_first_and_follow_ups_last() {
        assert!(urgency("new_arrears") < urgency("tier_change"));
        assert!(urgency("overdue_order") < urgency("visit_due"));
        assert_eq!(urgency("follow_up"), ATTENTION_KINDS.len() - 1);
        let counts = count_by_kind(["visit_due", "new_arrears", "visit_due"].into_iter());
        assert_eq!(counts[0], ("new_arrears", 1));
        assert_eq!(counts.iter().find(|c| c.0 == "visit_due").unwrap().1, 2);
        assert_eq!(counts.len(), ATTENTION_KINDS.len(), "kinds without items are counted as 0");
    }

    #[test]
    fn a_plan_names_each_wrong_field() {
        let today = d(2026, 12, 2);
        let id = Uuid::now_v7();
        let ok = check_plan(&id.to_string(), "2026-12-09", " check the transformer ", today).unwrap();
        assert_eq!(
            ok,
            VisitPlan { customer_id: id, planned_on: d(2026, 12, 9), purpose: "check the transformer".into() }
        );
        let errors = check_plan("", "9 Dec", "  ", today).unwrap_err();
        assert!(errors.has("customer_id") && errors.has("planned_on") && errors.has("purpose"));
        let errors = check_plan("not-a-uuid", "2031-01-01", "x", today).unwrap_err();
        assert!(errors.has("customer_id") && errors.has("planned_on") && !errors.has("purpose"));
        assert_eq!(input::date_field("2026-02-30", latest_plannable(today)), Err("date_format"));
        assert_eq!(input::date_field("1999-12-31", latest_plannable(today)), Err("time_too_early"));
    }

    #[test]
    fn blank_follow_up_rows_are_skipped_and_the_assignee_defaults_to_me() {
        let today = d(2026, 12, 2);
        let me = Uuid::now_v7();
        let other = Uuid::now_v7();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let mut errors = FieldErrors::default();
        let rows = check_follow_ups(
            &s(&["send the tariff offer", "", "call the plant manager"]),
            &s(&["2026-12-10", "", "2026-12-20"]),
            &s(&["", "", &other.to_string()]),
            Some(me),
            today,
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].assignee_id, rows[1].assignee_id), (me, other));
        let mut errors = FieldErrors::default();
        check_follow_ups(&s(&["", "a task"]), &s(&["2026-12-10", "soon"]), &[], Some(me), today, &mut errors);
        assert!(errors.has("follow_task_1") && errors.has("follow_due_2"));
    }

    #[test]
    fn a_month_grid_starts_on_monday() {
        // December 2026 starts on a Tuesday and has 31 days.
        let weeks = month_grid(d(2026, 12, 1));
        assert_eq!(weeks.len(), 5);
        assert_eq!(weeks[0][0], None);
        assert_eq!(weeks[0][1], Some(d(2026, 12, 1)));
        assert_eq!(weeks[4][3], Some(d(2026, 12, 31)));
        assert_eq!(weeks[4][4], None);
        // February 2027 starts on a Monday and fills four weeks.
        assert_eq!(month_grid(d(2027, 2, 1)).len(), 4);
    }

    #[test]
    fn the_assignment_changes_only_customers_of_another_manager_or_none() {
        let counts = AssignCounts { total: 10, already: 3, other_manager: 5, unassigned: 2 };
        assert_eq!(counts.changing(), 7);
    }
}
