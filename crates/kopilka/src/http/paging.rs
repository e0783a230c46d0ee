//! Keyset paging of admin listings, and the one way they take a time range.

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

/// A listing's `from` and `to` (RFC 3339 instants with their offset) as unix milliseconds: the
/// half-open range `[from, to)`, either end open when absent. Bad input is a 400 naming the
/// parameter.
pub fn instant_range(
    from: Option<&str>,
    to: Option<&str>,
) -> ApiResult<(Option<i64>, Option<i64>)> {
    let from = instant("from", from)?;
    let to = instant("to", to)?;
    if let (Some(from), Some(to)) = (from, to) {
        if from >= to {
            return Err(ApiError::bad_parameter("to", "must be later than from"));
        }
    }
    Ok((from, to))
}

fn instant(field: &str, text: Option<&str>) -> ApiResult<Option<i64>> {
    text.map(|text| {
        chrono::DateTime::parse_from_rfc3339(text.trim())
            .map(|at| at.timestamp_millis())
            .map_err(|_| {
                ApiError::bad_parameter(
                    field,
                    "an RFC 3339 date and time with its offset (2026-12-01T00:00:00+02:00)",
                )
            })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_rfc3339_and_half_open() {
        assert_eq!(
            instant_range(
                Some("2026-12-01T00:00:00+02:00"),
                Some("2026-12-01T00:00:00.5Z")
            )
            .unwrap(),
            (Some(1_796_076_000_000), Some(1_796_083_200_500))
        );
        assert_eq!(instant_range(None, None).unwrap(), (None, None));
        for (from, to, field) in [
            (Some("1764547200000"), None, "from"),
            (None, Some("2026-12-01"), "to"),
            (
                Some("2026-12-01T00:00:00Z"),
                Some("2026-12-01T00:00:00Z"),
                "to",
            ),
        ] {
            let refused = instant_range(from, to).unwrap_err();
            assert_eq!(refused.status, axum::http::StatusCode::BAD_REQUEST);
            assert_eq!(refused.field.as_deref(), Some(field));
        }
    }
}
