//! The SQLite backend of [`super::sql::Sql`]: one vault file on one bench. Every statement
//! goes through the connection's prepared-statement cache.

use std::ops::ControlFlow;

use rusqlite::types::{ToSqlOutput, ValueRef as SqliteValue};

use super::sql::{Columns, Dialect, Result, Row, Sql, SqlError, ToValue, ValueRef};

/// Statements a connection keeps prepared (the store has about two hundred).
pub const STATEMENT_CACHE: usize = 256;

fn backend(e: rusqlite::Error) -> SqlError {
    SqlError::Backend(e.into())
}

fn bind<'a>(params: &'a [&'a dyn ToValue]) -> Result<Vec<ToSqlOutput<'a>>> {
    params
        .iter()
        .map(|p| {
            Ok(ToSqlOutput::Borrowed(match p.to_value()? {
                ValueRef::Null => SqliteValue::Null,
                ValueRef::Integer(i) => SqliteValue::Integer(i),
                ValueRef::Real(r) => SqliteValue::Real(r),
                ValueRef::Text(s) => SqliteValue::Text(s.as_bytes()),
                ValueRef::Blob(b) => SqliteValue::Blob(b),
            }))
        })
        .collect()
}

struct SqliteRow<'r, 's>(&'r rusqlite::Row<'s>);

impl Columns for SqliteRow<'_, '_> {
    fn value(&self, idx: usize) -> Result<ValueRef<'_>> {
        Ok(match self.0.get_ref(idx).map_err(backend)? {
            SqliteValue::Null => ValueRef::Null,
            SqliteValue::Integer(i) => ValueRef::Integer(i),
            SqliteValue::Real(r) => ValueRef::Real(r),
            SqliteValue::Text(t) => ValueRef::Text(std::str::from_utf8(t).map_err(|_| {
                SqlError::Value(format!("column {idx} holds text that is not UTF-8"))
            })?),
            SqliteValue::Blob(b) => ValueRef::Blob(b),
        })
    }
}

impl Sql for rusqlite::Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: &str, params: &[&dyn ToValue]) -> Result<usize> {
        let values = bind(params)?;
        let mut st = self.prepare_cached(sql).map_err(backend)?;
        st.execute(rusqlite::params_from_iter(values))
            .map_err(backend)
    }

    fn execute_batch(&self, sql: &str) -> Result<()> {
        rusqlite::Connection::execute_batch(self, sql).map_err(backend)
    }

    fn query(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        each: &mut dyn FnMut(&Row<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        let values = bind(params)?;
        let mut st = self.prepare_cached(sql).map_err(backend)?;
        let mut rows = st
            .query(rusqlite::params_from_iter(values))
            .map_err(backend)?;
        while let Some(r) = rows.next().map_err(backend)? {
            if each(&Row::new(&SqliteRow(r)))?.is_break() {
                break;
            }
        }
        Ok(())
    }
}
