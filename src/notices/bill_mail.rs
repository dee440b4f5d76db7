//! The personalised bill as a readable HTML mail.

use serde_json::Value;

/// The HTML part of a personalised bill's mail (`None` for other kinds,
/// which go as plain text).
pub fn html(_kind: super::Kind, _data: &Value, _lang: &str) -> Option<String> {
    None
}
