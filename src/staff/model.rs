//! What a staff account's own fields must look like.

use crate::web::error::FieldErrors;

/// A username: 2–40 characters of lower-case letters, digits, dot, dash, underscore.
pub fn parse_username(raw: &str, errors: &mut FieldErrors) -> String {
    let name = raw.trim().to_lowercase();
    let valid = (2..=40).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !valid {
        errors.add("username", "username_format");
    }
    name
}

/// A password needs at least 10 characters (OWASP ASVS 2.1.1 asks for 8+, we ask
/// a little more) and no more than 128.
pub fn check_password(raw: &str, field: &'static str, errors: &mut FieldErrors) {
    let n = raw.chars().count();
    if n < 10 {
        errors.add(field, "password_too_short");
    } else if n > 128 {
        errors.add(field, "too_long");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_checked() {
        let mut errors = FieldErrors::default();
        assert_eq!(parse_username(" Wang.Li ", &mut errors), "wang.li");
        assert!(errors.is_empty());
        parse_username("王丽", &mut errors);
        assert!(errors.has("username"));
    }

    #[test]
    fn short_passwords_are_refused() {
        let mut errors = FieldErrors::default();
        check_password("short", "password", &mut errors);
        assert!(errors.has("password"));
        let mut ok = FieldErrors::default();
        check_password("a long enough one", "password", &mut ok);
        assert!(ok.is_empty());
    }
}
