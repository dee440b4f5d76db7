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

/// Rows an export reads per round trip.
pub const EXPORT_PAGE: i64 = 2_000;

/// Adds one page of an export (fetched with `EXPORT_PAGE + 1` rows) to
/// `rows`; the key to continue after, or None when that was the last page.
/// (A loop at the caller, not a helper taking an async closure: such futures
/// cannot be shown to be `Send` for axum's handlers.)
pub fn append_page<T, K>(rows: &mut Vec<T>, mut page: Vec<T>, key: impl Fn(&T) -> K) -> Option<K> {
    let more = page.len() as i64 > EXPORT_PAGE;
    page.truncate(EXPORT_PAGE as usize);
    let after = page.last().map(key).filter(|_| more);
    rows.append(&mut page);
    after
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

    #[test]
    fn an_export_reads_on_until_a_short_page() {
        let all: Vec<i64> = (0..4_500).collect();
        let (mut rows, mut after, mut calls) = (Vec::new(), None, 0);
        loop {
            calls += 1;
            let start = after.map_or(0, |a: i64| a + 1) as usize;
            let page: Vec<i64> = all.iter().skip(start).take((EXPORT_PAGE + 1) as usize).copied().collect();
            match append_page(&mut rows, page, |r| *r) {
                Some(a) => after = Some(a),
                None => break,
            }
        }
        assert_eq!((rows, calls), (all, 3));
    }
}
