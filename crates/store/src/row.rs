//! Rows read from either database. Each row type names its columns once ([`Row::COLUMNS`]) and
//! decodes them in that order ([`FromColumns`]), so a stored value is checked and turned into
//! its type in one place, and a value that does not decode is an error, never a default.

use crate::{StoreError, StoreResult};
use sqlx::postgres::PgRow;
use sqlx::Postgres;

/// A row as a query returns it, read column after column.
pub(crate) enum Columns<'r> {
    Sqlite(&'r rusqlite::Row<'r>, usize),
    Pg(&'r PgRow, usize),
}

/// A value both databases store the same way.
pub(crate) trait Column:
    rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>
{
}
impl<T> Column for T where
    T: rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>
{
}

impl Columns<'_> {
    /// The next column.
    pub(crate) fn next<T: Column>(&mut self) -> StoreResult<T> {
        match self {
            Columns::Sqlite(row, index) => {
                *index += 1;
                Ok(row.get(*index - 1)?)
            }
            Columns::Pg(row, index) => {
                *index += 1;
                Ok(sqlx::Row::try_get(*row, *index - 1)?)
            }
        }
    }

    /// The next column, decoded with `decode`; `what` names the value if it does not decode.
    pub(crate) fn parse<S: Column, T>(
        &mut self,
        what: &str,
        decode: impl FnOnce(&S) -> Option<T>,
    ) -> StoreResult<T> {
        let stored: S = self.next()?;
        decode(&stored).ok_or_else(|| StoreError::Corrupt(what.to_string()))
    }

    /// The next column: JSON text decoded into `T`.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&mut self, what: &str) -> StoreResult<T> {
        let text: String = self.next()?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
    }
}

/// A type read from a row's columns in order.
pub(crate) trait FromColumns: Sized {
    fn decode(columns: &mut Columns<'_>) -> StoreResult<Self>;
}

/// A stored row: its columns, qualified by their table's name so that joins select them as
/// they are, in the order [`FromColumns::decode`] reads them.
pub(crate) trait Row: FromColumns {
    const COLUMNS: &'static str;
}

/// Declares the columns and the decoding of a stored row in one place.
macro_rules! row {
    ($ty:ident, $columns:expr, |$c:ident| $decode:expr) => {
        impl $crate::row::FromColumns for $ty {
            fn decode($c: &mut $crate::row::Columns<'_>) -> $crate::StoreResult<Self> {
                Ok($decode)
            }
        }
        impl $crate::row::Row for $ty {
            const COLUMNS: &'static str = $columns;
        }
    };
}
pub(crate) use row;

macro_rules! tuple_row {
    ($($t:ident),*) => {
        impl<$($t: Column),*> FromColumns for ($($t,)*) {
            fn decode(columns: &mut Columns<'_>) -> StoreResult<Self> {
                Ok(($(columns.next::<$t>()?,)*))
            }
        }
    };
}
tuple_row!(A, B);
tuple_row!(A, B, C);
tuple_row!(A, B, C, D);
tuple_row!(A, B, C, D, E);
tuple_row!(A, B, C, D, E, F);

/// What a PostgreSQL fetch returned (one row, maybe one, all), decoded into the same shape.
pub(crate) trait PgFetched {
    type Decoded<T>;
    fn decode<T: FromColumns>(self) -> StoreResult<Self::Decoded<T>>;
}

impl PgFetched for PgRow {
    type Decoded<T> = T;
    fn decode<T: FromColumns>(self) -> StoreResult<T> {
        T::decode(&mut Columns::Pg(&self, 0))
    }
}

impl PgFetched for Option<PgRow> {
    type Decoded<T> = Option<T>;
    fn decode<T: FromColumns>(self) -> StoreResult<Option<T>> {
        self.map(PgFetched::decode).transpose()
    }
}

impl PgFetched for Vec<PgRow> {
    type Decoded<T> = Vec<T>;
    fn decode<T: FromColumns>(self) -> StoreResult<Vec<T>> {
        self.into_iter().map(PgFetched::decode).collect()
    }
}

/// `SELECT` the columns of `R` `FROM` `from` (a table and what follows it).
pub(crate) fn select<R: Row>(from: &str) -> String {
    format!("SELECT {} FROM {from}", R::COLUMNS)
}
