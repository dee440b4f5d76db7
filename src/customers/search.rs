//! What a search box entry means. Counter staff type an account number, part
//! of a name, a phone number or a meter serial into one box; this decides
//! which of those to look up.

/// The lookups one query asks for; each is run and the results merged.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SearchPlan {
    /// Account numbers starting with these digits.
    pub account_prefix: Option<String>,
    /// A phone number, exactly (customers' and their contacts').
    pub phone: Option<String>,
    /// Meter serials starting with this (upper-cased).
    pub serial_prefix: Option<String>,
    pub name: Option<NameQuery>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum NameQuery {
    /// One character: names that start with it (a surname).
    Prefix(String),
    /// Two or more: names containing it. The index is walked by one character
    /// pair of the query (`driver`, the last one: given names and brand words
    /// come last and are rarer than surnames), and each hit is checked against
    /// the whole `pattern`.
    Contains { driver: String, pattern: String },
}

pub fn plan(query: &str) -> SearchPlan {
    let q = query.trim();
    let mut plan = SearchPlan::default();
    if q.is_empty() {
        return plan;
    }
    let compact: String = q.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if compact.bytes().all(|b| b.is_ascii_digit()) {
        plan.account_prefix = Some(compact.clone());
        if let Some(phone) = crate::customers::model::parse_phone(&compact) {
            plan.phone = Some(phone);
        }
        if compact.len() >= 4 {
            plan.serial_prefix = Some(compact);
        }
        return plan;
    }
    let serial_like = q.len() >= 4 && q.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if serial_like && q.chars().any(|c| c.is_ascii_digit()) {
        plan.serial_prefix = Some(q.to_ascii_uppercase());
        return plan;
    }
    plan.name = Some(name_query(q));
    plan
}

fn name_query(q: &str) -> NameQuery {
    let lower = q.to_lowercase();
    let chars: Vec<char> = lower.chars().collect();
    if chars.len() == 1 {
        return NameQuery::Prefix(q.to_owned());
    }
    let driver = chars
        .windows(2)
        .rev()
        .find(|w| !w.iter().any(|c| c.is_whitespace()))
        .map(|w| w.iter().collect())
        .unwrap_or_default();
    NameQuery::Contains { driver, pattern: format!("%{}%", like_escape(q)) }
}

/// The smallest string above every string that starts with `prefix`, in code
/// point (and so UTF-8 byte, `COLLATE "C"`) order: `prefix <= s < bound`
/// holds exactly for the strings starting with `prefix`. Searches are ranges
/// because row-level security lets indexes use only leakproof comparisons,
/// and LIKE is not one.
pub fn prefix_upper_bound(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next scalar value, skipping the surrogate gap.
        let next = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return chars.into_iter().collect();
        }
    }
    // Only reachable for an empty prefix or one of char::MAX: everything is above.
    char::MAX.to_string()
}

/// Escapes LIKE's wildcards so that a typed `%` or `_` matches itself.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_look_up_account_phone_and_serial() {
        let p = plan("13800138000");
        assert_eq!(p.account_prefix.as_deref(), Some("13800138000"));
        assert_eq!(p.phone.as_deref(), Some("13800138000"));
        assert_eq!(p.serial_prefix.as_deref(), Some("13800138000"));
        assert_eq!(p.name, None);
    }

    #[test]
    fn a_short_number_is_an_account_prefix_only() {
        let p = plan("010");
        assert_eq!(p.account_prefix.as_deref(), Some("010"));
        assert_eq!(p.phone, None);
        assert_eq!(p.serial_prefix, None);
    }

    #[test]
    fn letters_and_digits_are_a_meter_serial() {
        let p = plan("zj-3300");
        assert_eq!(p.serial_prefix.as_deref(), Some("ZJ-3300"));
        assert_eq!(p.name, None);
    }

    #[test]
    fn chinese_is_a_name_by_character_pairs() {
        assert_eq!(plan(" 建国 ").name, Some(NameQuery::Contains { driver: "建国".into(), pattern: "%建国%".into() }));
        assert_eq!(
            plan("王建国").name,
            Some(NameQuery::Contains { driver: "建国".into(), pattern: "%王建国%".into() })
        );
    }

    #[test]
    fn one_character_is_a_surname() {
        assert_eq!(plan("王").name, Some(NameQuery::Prefix("王".into())));
        assert_eq!(plan("%").name, Some(NameQuery::Prefix("%".into())), "a range needs no escaping");
    }

    #[test]
    fn latin_names_match_case_insensitively() {
        assert_eq!(
            plan("Wang Li").name,
            Some(NameQuery::Contains { driver: "li".into(), pattern: "%Wang Li%".into() })
        );
        assert_eq!(plan("Li ").name, Some(NameQuery::Contains { driver: "li".into(), pattern: "%Li%".into() }));
    }

    #[test]
    fn prefix_bounds_enclose_exactly_the_prefixed_strings() {
        assert_eq!(prefix_upper_bound("0100"), "0101");
        assert_eq!(prefix_upper_bound("0109"), "010:");
        assert_eq!(
            prefix_upper_bound("王"),
            "王".chars().map(|c| char::from_u32(c as u32 + 1).unwrap()).collect::<String>()
        );
        let bound = prefix_upper_bound("3300");
        for s in ["3300", "33000000001", "3300ZZZ"] {
            assert!(s >= "3300" && s < bound.as_str(), "{s}");
        }
        for s in ["3301", "330", "3299ZZ"] {
            assert!(!(s >= "3300" && s < bound.as_str()), "{s}");
        }
        assert_eq!(prefix_upper_bound("a\u{d7ff}"), "a\u{e000}", "skips the surrogates");
    }

    #[test]
    fn wildcards_are_literal() {
        assert_eq!(like_escape("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(plan(""), SearchPlan::default());
    }
}
