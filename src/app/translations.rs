//! Every code an area shows a person has a name in every language.

use crate::web::i18n::{I18n, Locale};

/// Every action a contact's or order's history can show.
const SERVICE_EVENTS: [&str; 13] = [
    "create",
    "handover",
    "escalate",
    "return_visit",
    "supervise",
    "update",
    "progress",
    "acknowledge",
    "start",
    "resolve",
    "close",
    "reopen",
    "cancel",
];
const SLA_CLOCKS: [&str; 3] = ["acknowledge", "resolve", "arrival"];

#[test]
fn every_workflow_action_and_clock_has_a_name() {
    for locale in Locale::ALL {
        let i = I18n(locale);
        for workflow in crate::workflow::ALL {
            for action in workflow.all_actions() {
                assert!(i.has(&format!("service_event.{action}")), "service_event.{action} in {}", locale.code());
            }
            for clock in workflow.clocks {
                assert!(i.has(&format!("sla_clock.{}", clock.clock)), "sla_clock.{} in {}", clock.clock, locale.code());
            }
        }
    }
}

/// Literal keys the templates ask for: `p.t("…")` and `p.tc("prefix.", …)` families.
fn template_keys() -> (Vec<String>, Vec<String>) {
    let mut keys = Vec::new();
    let mut prefixes = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/templates"))];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (marker, out) in [("p.t(\"", &mut keys), ("p.tc(\"", &mut prefixes)] {
            for part in text.split(marker).skip(1) {
                out.push(part[..part.find('"').unwrap()].to_owned());
            }
        }
    }
    (keys, prefixes)
}

#[test]
fn every_template_key_is_translated_in_both_languages() {
    let (keys, prefixes) = template_keys();
    assert!(keys.len() > 100, "found {} keys", keys.len());
    for locale in Locale::ALL {
        let i = I18n(locale);
        for key in &keys {
            assert!(i.has(key), "{key} missing in {}", locale.code());
        }
        // Each family a template translates by code: every code of it exists.
        let timeline_status: Vec<&str> = crate::complaints::model::KINDS
            .iter()
            .copied()
            .chain(crate::workflow::ALL.iter().flat_map(|w| w.states.iter().copied()))
            // Bills, payments (their channel) and cost control on the timeline.
            .chain(["issued", "cancelled", "booked", "reversed"])
            .chain(crate::payments::model::CHANNELS)
            .chain(["low_balance", "disconnection_ordered", "reconnection_ordered"])
            // Loyalty points on the timeline.
            .chain(["points_redeemed", "points_expired"])
            // Notices on the timeline.
            .chain(crate::notices::STATUSES)
            // Load anomalies on the timeline.
            .chain(crate::anomalies::DIRECTIONS)
            .collect();
        let notice_kinds: Vec<&str> = crate::notices::Kind::ALL.iter().map(|k| k.as_str()).collect();
        let work_order_states: Vec<&str> =
            [&crate::workflow::REPAIR, &crate::workflow::EXPANSION, &crate::workflow::TASK]
                .iter()
                .flat_map(|w| w.states.iter().copied())
                .collect();
        let families: Vec<(&str, &[&str])> = vec![
            ("timeline_status.", &timeline_status),
            (
                "timeline_kind.",
                &[
                    "contact",
                    "work_order",
                    "bill",
                    "payment",
                    "cost_control",
                    "value",
                    "credit",
                    "visit_planned",
                    "visit_done",
                    "visit_cancelled",
                    "points",
                    "notice",
                    "load_anomaly",
                    "demand_response",
                ],
            ),
            ("payment_channel.", &crate::payments::model::CHANNELS),
            ("allocation_part.", &["bill", "late_fee"]),
            ("arrears.", &crate::payments::model::AGE_BUCKETS),
            ("reading_flag.", &crate::readings::model::FLAGS),
            ("reading_kind.", &crate::readings::model::KINDS),
            ("bill_status.", &["issued", "cancelled"]),
            ("bill_line.", &crate::billing::calc::LINE_KINDS),
            ("skip_reason.", &crate::billing::run::SKIP_REASONS),
            ("run_status.", &["running", "done", "failed"]),
            ("energy_kind.", &crate::billing::tariff_form::ENERGY_KINDS),
            ("basic_kind.", &crate::billing::tariff_form::BASIC_KINDS),
            ("cost_control.standing_", &["fine", "low", "exhausted"]),
            ("cost_control.command_", &["disconnect", "reconnect"]),
            ("cost_control.command_status_", &["pending", "sent", "done", "failed"]),
            ("calendar_day.", &crate::sla::forms::DAY_KINDS),
            ("weekday.", &["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
            ("load.band_", &["peak", "flat", "valley"]),
            ("load.method_", &crate::forecast::dayahead::METHODS),
            ("load.by_", &crate::load::pages::GROUP_KINDS),
            ("work_order_kind.", &crate::work_orders::model::KINDS),
            ("work_order_state.", &work_order_states),
            ("priority.", &["1", "2", "3", "4"]),
            ("area_type.", &crate::work_orders::model::AREA_TYPES),
            ("portal.area_", &crate::work_orders::model::AREA_TYPES),
            ("portal.apply_for_", &crate::portal::applications::KINDS),
            ("portal.apply_intro_", &crate::portal::applications::KINDS),
            ("portal.supply_kind_", &crate::work_orders::model::CUSTOMER_TYPES),
            ("appointments.purpose_", &crate::appointments::PURPOSES),
            ("appointments.status_", &["booked", "cancelled", "attended", "no_show"]),
            ("customer_type.", &crate::work_orders::model::CUSTOMER_TYPES),
            ("document.", &crate::work_orders::model::DOCUMENTS),
            ("notice.", &notice_kinds),
            ("notice_rules.audience_", &crate::notices::rules::AUDIENCES),
            ("notice_rules.unit_", &crate::notices::rules::OFFSET_UNITS),
            ("notice_rules.side_", &["before", "after"]),
            // Error codes: every_error_code_is_translated_in_both_languages checks them.
            ("err.", &[]),
            ("contact_kind.", &crate::complaints::model::KINDS),
            ("contact_channel.", &crate::complaints::model::CHANNELS),
            ("contact_subject.", &crate::complaints::model::SUBJECTS),
            ("contact_state.", crate::workflow::CONTACT.states),
            ("contact_action.", &["acknowledge", "start", "resolve", "close", "reopen"]),
            ("satisfaction.", &["1", "2", "3", "4", "5"]),
            ("service_event.", &SERVICE_EVENTS),
            ("sla_clock.", &SLA_CLOCKS),
            ("sla_clock.change_", &["accepted", "reviewed"]),
            ("channel.", &crate::customers::model::CHANNELS),
            ("customers.importance_", &crate::customers::model::IMPORTANCE_GRADES),
            ("customers.status_", &crate::customers::model::STATUSES),
            ("customers.point_status_", &["in_service", "suspended", "removed"]),
            ("meters.kind_", &["mechanical", "smart", "prepaid"]),
            (
                "audit.action.",
                &[
                    "create",
                    "update",
                    "login",
                    "login_failed",
                    "logout",
                    "add_contact",
                    "remove_contact",
                    "accept",
                    "reject",
                    "cancel",
                    "reissue",
                    "reverse",
                    "start",
                    "end",
                    "delete",
                    "record_outcome",
                    "assign_manager",
                    "assign_managers",
                    "done",
                    "handover",
                    "recompute",
                    "return_visit",
                    "review",
                    "supervise",
                    "redeem_points",
                    "mark_printed",
                    "acknowledge",
                    "invite",
                    "send",
                    "respond",
                    "close",
                    "settle",
                    "retire",
                    "unretire",
                    // Supply points and meters.
                    "install",
                    "exchange",
                    // A supervisor's check of a cashier's day.
                    "sign_off",
                    // A portal login linking one more account, or taking one off.
                    "link",
                    "unlink",
                    // A customer's document for their application.
                    "upload",
                    // Who came to a hall appointment.
                    "attended",
                    "no_show",
                ],
            ),
            (
                "audit.entity.",
                &[
                    "customer",
                    "portal_user",
                    "work_order",
                    "business_hall",
                    "hall_appointment",
                    "user",
                    "session",
                    "tenant",
                    "api_key",
                    "meter_reading",
                    "bill",
                    "bill_run",
                    "payment",
                    "tariff_version",
                    "billing_settings",
                    "service_calendar",
                    "calendar_day",
                    "sla_limits",
                    "cost_control",
                    "value_settings",
                    "visit",
                    "visit_follow_up",
                    "segment",
                    "credit_rating",
                    "credit_settings",
                    "points_item",
                    "points_settings",
                    "notice_template",
                    "notice_preferences",
                    "notice",
                    "outage",
                    "supply_contract",
                    "load_anomaly",
                    "dr_event",
                    "reference_code",
                    "reading_route",
                    "supply_point",
                    // The cash drawer.
                    "cash_day",
                    "print_settings",
                ],
            ),
            ("lang.", &["zh-CN", "en"]),
            ("segments.schedule_", &crate::segments::SCHEDULES),
            ("segments.field_", &crate::segments::filter::FIELDS),
            ("segments.ops_", &crate::segments::filter::FIELDS),
            ("segments.metric_", &crate::segments::filter::METRICS),
            ("value.tier_", &crate::value::TIERS),
            ("value.factor_", &crate::value::FACTORS),
            ("value.movement_", &crate::value::MOVEMENTS),
            ("value.negative_", &["latest_arrears", "arrears_months"]),
            ("value.col_", &["name", "account", "industry", "energy_12m", "revenue_12m", "arrears", "tier", "score"]),
            ("portfolio.kind_", &crate::portfolio::ATTENTION_KINDS),
            ("credit.factor_", &crate::credit::FACTORS),
            ("credit.says_", &crate::credit::FACTORS),
            ("credit.method_", &crate::credit::METHODS),
            ("credit.method_reason_", &crate::credit::METHODS),
            ("credit.event_", &crate::credit::EVENT_KINDS),
            ("credit.security_", &crate::credit::SECURITY_KINDS),
            ("credit.risk_", &crate::credit::RISK_CLASSES),
            ("credit.list_reason_", &crate::credit::LIST_REASONS),
            ("credit.prompt_", &["stricter", "looser"]),
            ("portfolio.status_", &crate::portfolio::VISIT_STATUSES),
            ("points.kind_", &crate::points::KINDS),
            ("notice_prefs.content_", &crate::notices::preferences::BILL_CONTENTS),
            ("notice_prefs.outcome_", &crate::notices::staff_channels::CALL_OUTCOMES),
            ("outages.saved_", &["created", "changed", "unchanged", "cancelled"]),
            ("notice_status.", &crate::notices::STATUSES),
            ("contracts.term_", &crate::customers::contracts::TERMS),
            ("anomalies.direction_", &crate::anomalies::DIRECTIONS),
            ("anomalies.status_", &crate::anomalies::STATUSES),
            ("dr.status_", &crate::demand_response::STATUSES),
            ("dr.saved_", &["created", "invited", "sent", "answered", "closed", "settled", "nothing_new"]),
            ("dr.via_", &crate::demand_response::VIA),
            ("dr.decision_", &crate::demand_response::DECISIONS),
            ("dr.channel_", &crate::demand_response::CHANNELS),
            ("dr.result_", &crate::demand_response::RESULT_STATUSES),
            ("tariff_analysis.field_", &["before_from", "before_to", "after_from", "after_to"]),
            ("tariff_analysis.kind_", &crate::tariff_analysis::CHANGE_KINDS),
            ("tariff_analysis.position_", &["smallest", "median", "largest"]),
            ("tariff_analysis.option_", &["per_kva", "per_kw_demand"]),
            ("tariff_analysis.missing_", &crate::tariff_analysis::MISSING),
            ("reference.saved_", &crate::customers::reference_pages::SAVED),
            ("change.outcome_", &crate::work_orders::change_pages::OUTCOME_FIELDS),
            ("change.transfer_arrears_", &crate::work_orders::change::TRANSFER_ARREARS),
            ("change.rule_", &crate::work_orders::change::TRANSFER_ARREARS),
            ("cash_day_status.", &crate::payments::cash_days::STATUSES),
            ("bill_state.", &crate::billing::bills::STATES),
            ("readings.warn_", &crate::readings::model::FLAGS),
            ("refunds.channel_", &crate::work_orders::refund::CHANNELS),
            ("supply.band_", &["peak", "flat", "valley"]),
            ("settings.unit_", &crate::sla::forms::UNITS),
            ("customers.banner_", &crate::customers::banner::CODES),
        ];
        for prefix in &prefixes {
            let (_, codes) =
                families.iter().find(|(p, _)| p == prefix).unwrap_or_else(|| panic!("unknown family {prefix}"));
            for code in *codes {
                assert!(i.has(&format!("{prefix}{code}")), "{prefix}{code} missing in {}", locale.code());
            }
        }
        for role in crate::staff::Role::API_KEY_ROLES.into_iter().chain([crate::staff::Role::PlatformAdmin]) {
            assert!(i.has(&role.label_key()));
        }
    }
}

#[test]
fn every_error_code_is_translated_in_both_languages() {
    let mut codes = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // Codes appear as the second argument of FieldErrors::add and in AppError::Conflict.
        for part in text.split(".add(").skip(1) {
            let call = &part[..part.find(')').unwrap_or(0)];
            if let Some(code) = call.rsplit(", \"").next().filter(|_| call.contains(", \"")) {
                codes.push(code.trim_end_matches('"').to_owned());
            }
        }
        for marker in ["Conflict(\"", "Refused(\""] {
            for part in text.split(marker).skip(1) {
                codes.push(part[..part.find('"').unwrap()].to_owned());
            }
        }
    }
    assert!(codes.len() > 20, "found {codes:?}");
    for locale in Locale::ALL {
        for code in &codes {
            assert!(I18n(locale).has(&format!("err.{code}")), "err.{code} missing in {}", locale.code());
        }
        for title in [
            "not_found",
            "unauthenticated",
            "forbidden",
            "invalid",
            "conflict",
            "too_many_requests",
            "bad_request",
            "internal",
        ] {
            assert!(I18n(locale).has(&format!("err.title.{title}")));
        }
    }
}

/// Chinese sentences use full-width punctuation: no ASCII comma, semicolon,
/// question or exclamation mark, or parenthesis next to a Chinese character.
/// (A colon may stand in a format hint such as 时:分, and ASCII inside
/// bracketed syntax examples is left alone.)
#[test]
fn chinese_text_has_full_width_punctuation() {
    let cjk = |c: char| ('\u{3400}'..='\u{9fff}').contains(&c);
    let mut wrong = Vec::new();
    for line in include_str!("../../locales/zh-CN.yml").lines() {
        let chars: Vec<char> = line.chars().collect();
        // Inside [...] or {...} is a syntax example (JSON, a list of bounds).
        let mut depth = 0i32;
        for (i, c) in chars.iter().enumerate() {
            match c {
                '[' | '{' => depth += 1,
                ']' | '}' => depth -= 1,
                _ => {}
            }
            if depth > 0 {
                continue;
            }
            let before = i.checked_sub(1).and_then(|j| chars.get(j)).copied().is_some_and(cjk);
            let after = chars.get(i + 1).copied().is_some_and(cjk);
            let bad = match c {
                ',' | ';' | '?' | '!' | ')' => before,
                '(' => after,
                _ => false,
            };
            if bad {
                wrong.push(line.trim().to_owned());
                break;
            }
        }
    }
    assert!(wrong.is_empty(), "half-width punctuation in Chinese text: {wrong:#?}");
}
