//! A person's queue of open contacts or work orders, and the supervisor
//! board's tabs: the filters (state, kind, overdue only) and pages they share.

use serde::Deserialize;
use sqlx::{Postgres, QueryBuilder};

/// Rows per page of a queue or a board tab.
pub const PAGE_ROWS: usize = 25;
/// Counting stops here ("1000+"), never a scan of a whole backlog.
pub const COUNT_CAP: i64 = 1_000;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct QueueFilter {
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub kind: String,
    /// `1`: only items past their deadline.
    #[serde(default)]
    pub overdue: String,
    /// 1-based.
    #[serde(default)]
    pub page: String,
}

impl QueueFilter {
    pub fn overdue_only(&self) -> bool {
        self.overdue == "1"
    }

    /// The page asked for (1 when absent or not a number), at most 400:
    /// deeper than that a filter is the way, not paging.
    pub fn page(&self) -> usize {
        self.page.trim().parse::<usize>().unwrap_or(1).clamp(1, 400)
    }

    pub fn offset(&self) -> i64 {
        ((self.page() - 1) * PAGE_ROWS) as i64
    }

    /// Adds the filter's conditions. A state or kind outside the lists given
    /// matches nothing, as a filter by an unknown code should.
    pub fn push_conditions(&self, q: &mut QueryBuilder<'_, Postgres>) {
        for (column, value) in [("state", &self.state), ("kind", &self.kind)] {
            if !value.is_empty() {
                q.push(format_args!(" AND {column} = ")).push_bind(value.clone());
            }
        }
        if self.overdue_only() {
            q.push(" AND due_at < now()");
        }
    }

    /// The query string of this filter on another page (`page` left out for the first).
    pub fn query(&self, page: impl PageNo) -> String {
        let page = page.page_no();
        let mut url = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [("state", &self.state), ("kind", &self.kind), ("overdue", &self.overdue)] {
            if !value.is_empty() {
                url.append_pair(name, value);
            }
        }
        if page > 1 {
            url.append_pair("page", &page.to_string());
        }
        url.finish()
    }
}

/// A page number as templates hand it over (by value or by reference).
pub trait PageNo {
    fn page_no(&self) -> usize;
}

impl PageNo for usize {
    fn page_no(&self) -> usize {
        *self
    }
}

impl<T: PageNo + ?Sized> PageNo for &T {
    fn page_no(&self) -> usize {
        (**self).page_no()
    }
}

/// A page of rows fetched with one extra: whether a next page exists.
pub struct QueuePage {
    pub page: usize,
    pub has_next: bool,
}

impl QueuePage {
    /// Trims the extra row off `rows`.
    pub fn cut<T>(rows: &mut Vec<T>, page: usize) -> Self {
        let has_next = rows.len() > PAGE_ROWS;
        rows.truncate(PAGE_ROWS);
        Self { page, has_next }
    }

    pub fn prev(&self) -> Option<usize> {
        (self.page > 1).then(|| self.page - 1)
    }

    pub fn next(&self) -> Option<usize> {
        self.has_next.then(|| self.page + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_parse_and_link() {
        let f = QueueFilter { state: "received".into(), overdue: "1".into(), page: "3".into(), ..Default::default() };
        assert_eq!((f.page(), f.offset()), (3, 50));
        assert_eq!(f.query(2usize), "state=received&overdue=1&page=2");
        assert_eq!(f.query(1usize), "state=received&overdue=1");
        let junk = QueueFilter { page: "x".into(), ..Default::default() };
        assert_eq!(junk.page(), 1);
        assert_eq!(QueueFilter { page: "0".into(), ..Default::default() }.page(), 1);
    }

    #[test]
    fn an_extra_row_means_a_next_page() {
        let mut rows: Vec<u32> = (0..=PAGE_ROWS as u32).collect();
        let p = QueuePage::cut(&mut rows, 1);
        assert_eq!((rows.len(), p.prev(), p.next()), (PAGE_ROWS, None, Some(2)));
        let mut rows = vec![1];
        let p = QueuePage::cut(&mut rows, 2);
        assert_eq!((p.prev(), p.next()), (Some(1), None));
    }

    #[test]
    fn filters_become_conditions() {
        let f = QueueFilter { kind: "complaint".into(), overdue: "1".into(), ..Default::default() };
        let mut q = QueryBuilder::new("SELECT 1 FROM t WHERE true");
        f.push_conditions(&mut q);
        assert_eq!(q.sql(), "SELECT 1 FROM t WHERE true AND kind = $1 AND due_at < now()");
    }
}
