//! Paging, the one way: list queries in the store fetch one row more than a page (`limit + 1`),
//! and [`split`] takes it off again, so "is there a next page" costs no second query.

use serde::Serialize;

/// A page of results and the opaque cursor of the next one.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Splits a page off rows fetched with one extra: (the page, whether more follow).
pub fn split<T>(mut rows: Vec<T>, limit: i64) -> (Vec<T>, bool) {
    let limit = usize::try_from(limit).unwrap_or(0);
    let more = rows.len() > limit;
    rows.truncate(limit);
    (rows, more)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_extra_row_only_says_more_follow() {
        assert_eq!(super::split(vec![1, 2, 3], 2), (vec![1, 2], true));
        assert_eq!(super::split(vec![1, 2], 2), (vec![1, 2], false));
        assert_eq!(super::split(vec![1], -1), (vec![], true));
    }
}
