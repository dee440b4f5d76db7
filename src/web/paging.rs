//! Keyset paging for API lists: one page size rule and one way to hand out
//! the next page's cursor.

use crate::web::error::FieldErrors;

/// The page size asked for: 50 when left out, 1–200 allowed; anything else
/// is an error on `limit`.
pub fn page_size(limit: Option<i64>, errors: &mut FieldErrors) -> i64 {
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        errors.add("limit", "limit_range");
    }
    limit.clamp(1, 200)
}

/// Lists fetch one row more than a page; this trims it and, when there was
/// one, gives the cursor of the next page (the last row's key).
pub fn next_cursor<T>(items: &mut Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(0);
    if items.len() <= limit {
        return None;
    }
    items.truncate(limit);
    items.last().map(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_extra_row_means_another_page() {
        let mut items = vec![1, 2, 3];
        assert_eq!(next_cursor(&mut items, 2, |i| i.to_string()), Some("2".into()));
        assert_eq!(items, [1, 2]);
        let mut items = vec![1, 2];
        assert_eq!(next_cursor(&mut items, 2, |i| i.to_string()), None);
    }

    #[test]
    fn page_sizes_outside_1_to_200_are_named() {
        let mut errors = FieldErrors::default();
        assert_eq!(page_size(None, &mut errors), 50);
        assert!(errors.is_empty());
        page_size(Some(0), &mut errors);
        assert!(errors.has("limit"));
    }
}
