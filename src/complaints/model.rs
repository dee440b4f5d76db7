//! What a contact is made of, and the checks on a new one. No database, no HTTP.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    customers::model::parse_phone,
    web::{
        error::FieldErrors,
        input::{self, visible_text},
    },
};

pub const KINDS: [&str; 5] = ["complaint", "inquiry", "suggestion", "praise", "report"];
pub const CHANNELS: [&str; 5] = ["hall", "hotline", "web", "wechat", "letter"];
pub const SUBJECTS: [&str; 7] =
    ["service_attitude", "outage", "billing", "metering", "power_quality", "business_expansion", "other"];

/// Satisfaction at a return visit: 5 very satisfied … 1 very dissatisfied.
pub const SATISFACTION: [i16; 5] = [5, 4, 3, 2, 1];
/// At or below this, the result counts as dissatisfied and may reopen the complaint.
pub const DISSATISFIED_AT_MOST: i16 = 2;

/// A contact as typed at the counter or sent by the call centre.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ContactDraft {
    /// complaint, inquiry, suggestion, praise or report.
    #[serde(default)]
    #[schema(required = true, schema_with = crate::complaints::api::kind_schema)]
    pub kind: String,
    /// hall, hotline (95598), web, wechat or letter.
    #[serde(default)]
    #[schema(required = true, schema_with = crate::complaints::api::channel_schema)]
    pub channel: String,
    /// service_attitude, outage, billing, metering, power_quality, business_expansion or other.
    #[serde(default)]
    #[schema(required = true, schema_with = crate::complaints::api::subject_schema)]
    pub subject: String,
    /// The customer, when the caller is identified.
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    pub customer_id: Option<String>,
    #[serde(default)]
    #[schema(max_length = 100)]
    pub caller_name: String,
    /// A mobile (11 digits from 13) or a landline with its area code (0 and 9–11 digits).
    #[serde(default)]
    #[schema(pattern = r"^(1[3-9][0-9]{9}|0[0-9]{9,11})?$")]
    pub caller_phone: String,
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 4000, example = "电费比上月高出一倍")]
    pub description: String,
    /// When the contact came in (the call-centre's time); now when left out.
    /// Not before 2000-01-01, at most five minutes ahead of the server's clock.
    #[serde(default)]
    pub received_at: Option<DateTime<Utc>>,
    /// API only: the username of the person who took the contact and owns it.
    #[serde(default)]
    pub owner: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ValidContact {
    pub kind: String,
    pub channel: String,
    pub subject: String,
    pub customer_id: Option<Uuid>,
    pub caller_name: String,
    pub caller_phone: Option<String>,
    pub description: String,
    pub received_at: DateTime<Utc>,
}

pub fn one_of(value: &str, allowed: &[&str], field: &'static str, errors: &mut FieldErrors) -> String {
    let value = value.trim();
    if value.is_empty() {
        errors.add(field, "required");
    } else if !allowed.contains(&value) {
        errors.add(field, "unknown_code");
    }
    value.to_owned()
}

pub fn validate(draft: &ContactDraft, now: DateTime<Utc>) -> Result<ValidContact, FieldErrors> {
    let mut errors = FieldErrors::default();
    let kind = one_of(&draft.kind, &KINDS, "kind", &mut errors);
    let channel = one_of(&draft.channel, &CHANNELS, "channel", &mut errors);
    let subject = one_of(&draft.subject, &SUBJECTS, "subject", &mut errors);
    let customer_id = match draft.customer_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match Uuid::parse_str(raw) {
            Ok(id) => Some(id),
            Err(_) => {
                errors.add("customer_id", "unknown_customer");
                None
            }
        },
    };
    let caller_name = visible_text(&draft.caller_name, 100, "caller_name", false, &mut errors);
    let caller_phone = match draft.caller_phone.trim() {
        "" => None,
        raw => {
            let parsed = parse_phone(raw);
            if parsed.is_none() {
                errors.add("caller_phone", "phone_format");
            }
            parsed
        }
    };
    let description = visible_text(&draft.description, 4000, "description", true, &mut errors);
    // A contact cannot come in from the future, nor before the system's time.
    let received_at = draft.received_at.unwrap_or(now);
    if let Err(code) = input::received_in_window(received_at, now) {
        errors.add("received_at", code);
    }
    errors.finish(ValidContact {
        kind,
        channel,
        subject,
        customer_id,
        caller_name,
        caller_phone,
        description,
        received_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> ContactDraft {
        ContactDraft {
            kind: "complaint".into(),
            channel: "hall".into(),
            subject: "billing".into(),
            description: "Bill doubled since the meter was replaced".into(),
            caller_phone: "138 0013 8000".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_walk_in_complaint_without_customer_is_valid() {
        let now = Utc::now();
        let valid = validate(&draft(), now).unwrap();
        assert_eq!(valid.customer_id, None);
        assert_eq!(valid.caller_phone.as_deref(), Some("13800138000"));
        assert_eq!(valid.received_at, now);
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = ContactDraft {
            kind: "rant".into(),
            channel: String::new(),
            subject: "weather".into(),
            customer_id: Some("not-a-uuid".into()),
            caller_phone: "12".into(),
            description: "  ".into(),
            received_at: Some(Utc::now() + chrono::Duration::days(1)),
            ..Default::default()
        };
        let errors = validate(&bad, Utc::now()).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            fields,
            vec![
                ("kind", "unknown_code"),
                ("channel", "required"),
                ("subject", "unknown_code"),
                ("customer_id", "unknown_customer"),
                ("caller_phone", "phone_format"),
                ("description", "required"),
                ("received_at", "in_future"),
            ]
        );
    }

    #[test]
    fn names_must_show_and_times_must_be_plausible() {
        let now = Utc::now();
        let year_one = chrono::NaiveDate::from_ymd_opt(1, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
        let bad = ContactDraft {
            caller_name: "\u{200B}\u{FEFF}".into(),
            description: "\u{2060}".into(),
            received_at: Some(year_one),
            ..draft()
        };
        let errors = validate(&bad, now).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            fields,
            [("caller_name", "not_visible"), ("description", "not_visible"), ("received_at", "time_too_early")]
        );
    }
}
