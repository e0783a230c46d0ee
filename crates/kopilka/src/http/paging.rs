//! Keyset paging of admin listings.

use super::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};

/// Keyset paging: `cursor` is the id to continue below, `limit` 1–500 (default 50).
#[derive(Debug, Deserialize)]
pub struct Paging {
    pub cursor: Option<i64>,
    pub limit: Option<i64>,
}

impl Paging {
    pub fn limit(&self) -> ApiResult<i64> {
        match self.limit {
            None => Ok(50),
            Some(l) if (1..=500).contains(&l) => Ok(l),
            Some(_) => Err(ApiError::invalid("limit", "must be between 1 and 500")),
        }
    }
}

/// A page of results, newest first; pass `next_cursor` as `cursor` for the next one.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PageOf<T: Serialize> {
    pub items: Vec<T>,
    pub next_cursor: Option<i64>,
}

impl<T: Serialize> PageOf<T> {
    pub fn new(items: Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> PageOf<T> {
        let next_cursor = if items.len() as i64 == limit {
            items.last().map(&id)
        } else {
            None
        };
        PageOf { items, next_cursor }
    }
}
