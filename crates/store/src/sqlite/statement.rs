//! The SQLite side of `tx`'s macros: runs the shared `$N`-numbered SQL as a cached prepared
//! statement on a rusqlite connection, on the calling thread.

use crate::row::{Columns, FromColumns};
use crate::StoreResult;
use rusqlite::types::ToSql;
use rusqlite::{CachedStatement, Connection, Row};

/// Prepares (or takes from the connection's cache) and binds `args` by the number in each
/// `$N` placeholder, so one SQL text serves both databases.
fn prepare<'c>(
    conn: &'c Connection,
    sql: &str,
    args: &[&dyn ToSql],
) -> StoreResult<CachedStatement<'c>> {
    let mut statement = conn.prepare_cached(sql)?;
    for index in 1..=statement.parameter_count() {
        let argument = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|number| number.parse::<usize>().ok())
            .and_then(|number| args.get(number.checked_sub(1)?))
            .ok_or(rusqlite::Error::InvalidParameterCount(index, args.len()))?;
        let value = argument.to_sql()?;
        refuse_nul(&value)?;
        statement.raw_bind_parameter(index, value)?;
    }
    Ok(statement)
}

/// Refuses text with the NUL character, as PostgreSQL does, so that both stores take the same
/// input (SQLite would store it).
fn refuse_nul(value: &rusqlite::types::ToSqlOutput<'_>) -> StoreResult<()> {
    use rusqlite::types::{ToSqlOutput, Value, ValueRef};
    let text = match value {
        ToSqlOutput::Borrowed(ValueRef::Text(text)) => text.contains(&0),
        ToSqlOutput::Owned(Value::Text(text)) => text.contains('\0'),
        _ => false,
    };
    if text {
        return Err(crate::StoreError::nul_in_text());
    }
    Ok(())
}

/// Runs a statement to its end; the rows it changed.
pub(crate) fn execute(conn: &Connection, sql: &str, args: &[&dyn ToSql]) -> StoreResult<u64> {
    let mut statement = prepare(conn, sql, args)?;
    let mut rows = statement.raw_query();
    while rows.next()?.is_some() {}
    drop(rows);
    drop(statement);
    Ok(conn.changes())
}

fn rows<T>(
    conn: &Connection,
    sql: &str,
    args: &[&dyn ToSql],
    limit: usize,
    map: impl Fn(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut statement = prepare(conn, sql, args)?;
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while out.len() < limit {
        match rows.next()? {
            Some(row) => out.push(map(row)?),
            None => break,
        }
    }
    Ok(out)
}

fn decode<T: FromColumns>(row: &Row<'_>) -> StoreResult<T> {
    T::decode(&mut Columns::Sqlite(row, 0))
}

pub(crate) fn fetch_all<T: FromColumns>(
    conn: &Connection,
    sql: &str,
    args: &[&dyn ToSql],
) -> StoreResult<Vec<T>> {
    rows(conn, sql, args, usize::MAX, decode)
}

pub(crate) fn fetch_optional<T: FromColumns>(
    conn: &Connection,
    sql: &str,
    args: &[&dyn ToSql],
) -> StoreResult<Option<T>> {
    Ok(rows(conn, sql, args, 1, decode)?.pop())
}

pub(crate) fn fetch_one<T: FromColumns>(
    conn: &Connection,
    sql: &str,
    args: &[&dyn ToSql],
) -> StoreResult<T> {
    Ok(fetch_optional(conn, sql, args)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?)
}

/// The same three for a single column.
pub(crate) mod scalar {
    use super::rows;
    use crate::StoreResult;
    use rusqlite::types::{FromSql, ToSql};
    use rusqlite::Connection;

    pub(crate) fn fetch_all<T: FromSql>(
        conn: &Connection,
        sql: &str,
        args: &[&dyn ToSql],
    ) -> StoreResult<Vec<T>> {
        rows(conn, sql, args, usize::MAX, |row| Ok(row.get(0)?))
    }

    pub(crate) fn fetch_optional<T: FromSql>(
        conn: &Connection,
        sql: &str,
        args: &[&dyn ToSql],
    ) -> StoreResult<Option<T>> {
        Ok(rows(conn, sql, args, 1, |row| Ok(row.get(0)?))?.pop())
    }

    pub(crate) fn fetch_one<T: FromSql>(
        conn: &Connection,
        sql: &str,
        args: &[&dyn ToSql],
    ) -> StoreResult<T> {
        Ok(fetch_optional(conn, sql, args)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?)
    }
}
