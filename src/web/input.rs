//! The shape every value from outside must have before any rule of an area
//! looks at it: text without control characters, names that can be seen,
//! money as plain decimals, times in a sane window, URIs of bounded length.
//!
//! Text is checked once per input channel, not per handler: query strings,
//! path parameters and form bodies by the [`refuse_bad_text`] middleware,
//! JSON bodies by [`crate::web::api_json::ApiJson`] with [`check_json`].
//! Every field is single-line (no control character at all) unless its name
//! is one of [`MULTI_LINE_FIELDS`], where tab, CR and LF are allowed; NUL and
//! the other C0/C1 controls never are (PostgreSQL refuses NUL in text, and
//! the others only hide or garble what staff read). The field name decides,
//! so a form and its JSON twin behave alike and a new single-line field is
//! safe by default.

use std::borrow::Cow;

use axum::{
    body::{Body, to_bytes},
    extract::{FromRequestParts, RawPathParams, Request},
    http::{StatusCode, header},
    middleware::Next,
    response::Response,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

use crate::web::error::{AppError, FieldErrors};

/// The longest request URI (path and query) the application reads; longer
/// ones are refused with 414 before any handler runs. Long inputs belong in
/// a body.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The largest form body read, as axum's default body limit.
const MAX_FORM_BYTES: usize = 2 * 1024 * 1024;

/// Fields whose text may span lines (textareas and their API twins), matched
/// on the last segment of a field's path (`steps[0].note` is `note`).
pub const MULTI_LINE_FIELDS: [&str; 12] = [
    "description",
    "comment",
    "remarks",
    "supply_plan",
    "note",
    "resolution",
    "result",
    "definition",
    // A notice template's body.
    "body",
    // A planned outage's transformers and areas, one per line (the form's textareas).
    "transformer_lines",
    "area_lines",
    // Account numbers a demand response event invites, one per line.
    "account_lines",
];

/// No time from outside is before this: the system holds no older business.
pub const EARLIEST: NaiveDate = NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date");

/// No date from outside (a calendar day, a tariff's start) is after this.
pub const LATEST: NaiveDate = NaiveDate::from_ymd_opt(2100, 12, 31).expect("a valid date");

/// Whether `field` (a form key or a JSON path) holds multi-line text.
pub fn is_multi_line(field: &str) -> bool {
    let last = field.rsplit('.').next().unwrap_or(field);
    let last = last.split('[').next().unwrap_or(last);
    MULTI_LINE_FIELDS.contains(&last)
}

/// Whether `text` holds a character no field of its kind may hold: any
/// C0/C1 control or DEL, except tab, CR and LF in multi-line text.
pub fn has_control_char(text: &str, multi_line: bool) -> bool {
    text.chars().any(|c| c.is_control() && !(multi_line && matches!(c, '\t' | '\r' | '\n')))
}

/// Names `field` in `errors` when its text holds a forbidden control character.
pub fn check_text(field: &str, text: &str, errors: &mut FieldErrors) {
    if has_control_char(text, is_multi_line(field)) {
        errors.add(field, "control_character");
    }
}

/// Checks decoded name/value pairs (a query string, a form body); a bad
/// name is refused under the name itself.
pub fn check_pairs<'a>(pairs: impl Iterator<Item = (Cow<'a, str>, Cow<'a, str>)>, errors: &mut FieldErrors) {
    for (name, value) in pairs {
        check_text(&name, &name, errors);
        check_text(&name, &value, errors);
    }
}

/// Walks a JSON document and names the path of every string (or object key)
/// that holds a forbidden control character, in the notation of the
/// deserialisation errors (`steps[0].note`).
pub fn check_json(value: &Value, errors: &mut FieldErrors) {
    fn walk(value: &Value, path: &mut String, errors: &mut FieldErrors) {
        let shown = |path: &str| if path.is_empty() { ".".to_owned() } else { path.to_owned() };
        match value {
            Value::String(text) => check_text(&shown(path), text, errors),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(item, path, errors);
                    path.truncate(len);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                    if has_control_char(key, false) {
                        errors.add(shown(path), "control_character");
                    }
                    walk(item, path, errors);
                    path.truncate(len);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    walk(value, &mut String::new(), errors);
}

/// Characters that take no room and show nothing although Unicode files them
/// as letters or symbols (fillers, the blank braille pattern).
const BLANK_LOOKALIKES: [char; 5] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}', '\u{2800}'];

/// Whether `text` has at least one character a reader can see: a letter,
/// number, punctuation mark or symbol. Spaces, controls, format characters
/// (zero-width space U+200B, joiners U+200C/D, word joiner U+2060, BOM
/// U+FEFF, bidi marks), lone combining marks and blank fillers do not count.
pub fn has_visible_char(text: &str) -> bool {
    text.chars().any(|c| {
        !BLANK_LOOKALIKES.contains(&c)
            && matches!(
                c.general_category_group(),
                GeneralCategoryGroup::Letter
                    | GeneralCategoryGroup::Number
                    | GeneralCategoryGroup::Punctuation
                    | GeneralCategoryGroup::Symbol
            )
    })
}

/// Free text of at most `max` characters, trimmed. A required field left
/// empty is `required`; any field filled in with invisible characters only is
/// `not_visible` (which says more than "required" to whoever typed them).
pub fn visible_text(value: &str, max: usize, field: &'static str, required: bool, errors: &mut FieldErrors) -> String {
    let value = value.trim();
    if value.chars().count() > max {
        errors.add(field, "too_long");
    } else if value.is_empty() {
        if required {
            errors.add(field, "required");
        }
    } else if !has_visible_char(value) {
        errors.add(field, "not_visible");
    }
    value.to_owned()
}

/// A plain decimal, `^-?\d{1,int_digits}(\.\d{1,max_scale})?$` after
/// trimming: no exponent, no grouping commas, no currency sign, no `+`.
pub fn plain_decimal(raw: &str, int_digits: usize, max_scale: usize) -> Option<Decimal> {
    let raw = raw.trim();
    let unsigned = raw.strip_prefix('-').unwrap_or(raw);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |s: &str, max: usize| (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole, int_digits) || fraction.is_some_and(|f| !digits(f, max_scale)) {
        return None;
    }
    raw.parse().ok()
}

/// Money in yuan as stored (`numeric(14,2)`): a plain decimal with up to 12
/// whole digits and 2 decimals, e.g. `"120.50"` or `"-3.2"`.
pub fn money(raw: &str) -> Option<Decimal> {
    plain_decimal(raw, 12, 2)
}

/// Money that must be more than zero (a payment, a top-up).
pub fn positive_money(raw: &str) -> Option<Decimal> {
    money(raw).filter(|m| *m > Decimal::ZERO)
}

/// Checks a time from outside: not before [`EARLIEST`] and at most `ahead`
/// past `now` (a clock a little fast is tolerated). The error is the message
/// code for the field: `time_too_early` or `in_future`.
pub fn time_in_window(at: DateTime<Utc>, now: DateTime<Utc>, ahead: Duration) -> Result<(), &'static str> {
    if at < EARLIEST.and_hms_opt(0, 0, 0).expect("midnight").and_utc() {
        Err("time_too_early")
    } else if at > now + ahead {
        Err("in_future")
    } else {
        Ok(())
    }
}

/// When another system says it received something (a payment, a call): at
/// most five minutes ahead of our clock.
pub fn received_in_window(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), &'static str> {
    time_in_window(at, now, Duration::minutes(5))
}

/// A date from outside: not before [`EARLIEST`] and not after `latest`.
pub fn date_in_window(day: NaiveDate, latest: NaiveDate) -> Result<(), &'static str> {
    if day < EARLIEST {
        Err("time_too_early")
    } else if day > latest {
        Err("date_too_late")
    } else {
        Ok(())
    }
}

/// A date as typed: `YYYY-MM-DD`, within the accepted window; else the field's error code.
pub fn date_field(raw: &str, latest: NaiveDate) -> Result<NaiveDate, &'static str> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("required");
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| "date_format")?;
    date_in_window(day, latest)?;
    Ok(day)
}

/// Refuses, before any handler runs, a request whose URI is longer than
/// [`MAX_URI_BYTES`] (414), or whose path parameters, query string or form
/// body hold a control character (422 naming the parameter). A form body is
/// read here and handed on unchanged.
pub async fn refuse_bad_text(request: Request, next: Next) -> Result<Response, AppError> {
    let uri_len = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return Err(AppError::UriTooLong);
    }
    let (mut parts, body) = request.into_parts();
    let mut errors = FieldErrors::default();
    match RawPathParams::from_request_parts(&mut parts, &()).await {
        Ok(params) => {
            for (name, value) in &params {
                check_text(name, value, &mut errors);
            }
        }
        // Not a route with parameters (the fallback): nothing to check.
        Err(axum::extract::rejection::RawPathParamsRejection::MissingPathParams(_)) => {}
        Err(_) => errors.add("path", "malformed"),
    }
    if let Some(query) = parts.uri.query() {
        check_pairs(form_urlencoded::parse(query.as_bytes()), &mut errors);
    }
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body = if is_form {
        let bytes = to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| AppError::Http(StatusCode::PAYLOAD_TOO_LARGE, "the form is too large".into()))?;
        check_pairs(form_urlencoded::parse(&bytes), &mut errors);
        Body::from(bytes)
    } else {
        body
    };
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok(next.run(Request::from_parts(parts, body)).await)
}

/// A whole number in `range` from a form field; else `code` (or `required`
/// when empty) on `field`, and the range's start as a stand-in.
pub fn whole_number(
    raw: &str,
    range: std::ops::RangeInclusive<i32>,
    field: &'static str,
    code: &'static str,
    errors: &mut FieldErrors,
) -> i32 {
    use rust_decimal::prelude::ToPrimitive;
    let raw = raw.trim();
    match plain_decimal(raw, 9, 0).and_then(|d| d.to_i32()).filter(|n| range.contains(n)) {
        Some(n) => n,
        None => {
            errors.add(field, if raw.is_empty() { "required" } else { code });
            *range.start()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_fields_are_known_by_their_last_name() {
        assert!(is_multi_line("description"));
        assert!(is_multi_line("steps[0].note"));
        assert!(is_multi_line("items[2].comment"));
        assert!(!is_multi_line("name"));
        assert!(!is_multi_line("description.name"));
        assert!(!is_multi_line("route"));
    }

    #[test]
    fn control_characters_are_refused_and_line_breaks_only_in_multi_line_text() {
        assert!(has_control_char("a\0b", true));
        assert!(has_control_char("a\u{1b}[31m", true));
        assert!(has_control_char("a\u{85}", true), "C1 next-line");
        assert!(has_control_char("a\u{7f}", true), "DEL");
        assert!(!has_control_char("line one\r\n\tline two", true));
        assert!(has_control_char("R01\n", false));
        assert!(has_control_char("a\tb", false));
        assert!(!has_control_char("王建国 (Wang) №1", false));
    }

    #[test]
    fn pairs_and_json_name_the_offending_field() {
        let mut errors = FieldErrors::default();
        check_pairs(form_urlencoded::parse(b"q=ok&before=2026%00&description=a%0Ab&name=a%0Ab"), &mut errors);
        assert!(errors.has("before"));
        assert!(!errors.has("q"));
        assert!(!errors.has("description"), "a line break in a description is fine");
        assert!(errors.has("name"));

        let mut errors = FieldErrors::default();
        let doc = serde_json::json!({
            "name": "ok", "owner": "a\u{0}", "steps": [{"note": "x\ny"}, {"note": "x\u{7}"}], "tags": ["a", "b\u{0}"]
        });
        check_json(&doc, &mut errors);
        let named: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["owner", "steps[1].note", "tags[1]"]);
        let mut errors = FieldErrors::default();
        check_json(&serde_json::json!("\u{0}"), &mut errors);
        assert!(errors.has("."));
    }

    #[test]
    fn a_visible_name_has_something_to_see() {
        assert!(has_visible_char("王"));
        assert!(has_visible_char(" a "));
        assert!(has_visible_char("1"));
        assert!(has_visible_char("·"));
        for blank in ["", "   ", "\u{200B}\u{200C}\u{200D}", "\u{FEFF}\u{2060}", "\u{3000}", "\u{3164}", "\u{301}"] {
            assert!(!has_visible_char(blank), "{blank:?}");
        }
        let mut errors = FieldErrors::default();
        assert_eq!(visible_text(" \u{200B} ", 10, "name", true, &mut errors), "\u{200B}");
        assert!(errors.has("name"));
        let mut errors = FieldErrors::default();
        visible_text("\u{200B}", 10, "caller_name", false, &mut errors);
        visible_text("", 10, "address", false, &mut errors);
        visible_text("abcdef", 5, "title", false, &mut errors);
        assert_eq!(
            errors.iter().map(|e| (e.field.as_str(), e.code)).collect::<Vec<_>>(),
            [("caller_name", "not_visible"), ("title", "too_long")]
        );
    }

    #[test]
    fn money_is_a_plain_decimal() {
        assert_eq!(money("120.50"), Some(Decimal::new(12050, 2)));
        assert_eq!(money(" 7 "), Some(Decimal::from(7)));
        assert_eq!(money("-3.2"), Some(Decimal::new(-32, 1)));
        assert_eq!(money("999999999999.99"), Some(Decimal::new(99_999_999_999_999, 2)));
        for bad in ["1e3", "1,0,0", "¥5", "+5", "1.005", ".5", "5.", "", "-", "1 000", "0x10", "1000000000000", "NaN"]
        {
            assert_eq!(money(bad), None, "{bad:?}");
        }
        assert_eq!(positive_money("0.00"), None);
        assert_eq!(positive_money("-1"), None);
        assert_eq!(positive_money("0.01"), Some(Decimal::new(1, 2)));
        assert_eq!(plain_decimal("31.230416", 3, 6), Some(Decimal::new(31_230_416, 6)));
        assert_eq!(plain_decimal("1e1", 3, 6), None);
    }

    #[test]
    fn times_lie_between_2000_and_a_little_ahead_of_now() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z").unwrap().to_utc();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let ahead = Duration::minutes(5);
        assert_eq!(time_in_window(at("2026-11-27T10:04:00Z"), now, ahead), Ok(()));
        assert_eq!(time_in_window(at("2000-01-01T00:00:00Z"), now, ahead), Ok(()));
        assert_eq!(time_in_window(at("1999-12-31T23:59:59Z"), now, ahead), Err("time_too_early"));
        assert_eq!(time_in_window(at("0001-01-01T00:00:00Z"), now, ahead), Err("time_too_early"));
        assert_eq!(time_in_window(at("2026-11-27T10:06:00Z"), now, ahead), Err("in_future"));
        let latest = NaiveDate::from_ymd_opt(2030, 12, 31).unwrap();
        assert_eq!(date_in_window(NaiveDate::from_ymd_opt(1900, 1, 1).unwrap(), latest), Err("time_too_early"));
        assert_eq!(date_in_window(NaiveDate::from_ymd_opt(2031, 1, 1).unwrap(), latest), Err("date_too_late"));
        assert_eq!(date_in_window(latest, latest), Ok(()));
    }
}
