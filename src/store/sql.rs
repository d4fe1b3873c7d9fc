//! The rows' SQL, said once for every backend: the store functions of [`crate::vault`] run
//! their statements through an [`Sql`] (object-safe, implemented by each backend) and read
//! typed values out of a [`Row`]. The shapes follow `rusqlite`'s (`prepare`, `query_map`,
//! `query_row`, `params!`, `optional()`) so a store function reads the same whichever
//! backend runs it.
//!
//! **The portable subset.** Statements use `?N` placeholders (a backend that numbers them
//! differently rewrites them), `INSERT ... ON CONFLICT`, `RETURNING`, `COALESCE` and
//! `substr`/`length`; values are the five SQLite storage classes ([`ValueRef`]), so a
//! backend with richer types stores integers as 64-bit integers, text as text and bytes as
//! bytes. What differs between backends (date arithmetic, `IS NOT` against `IS DISTINCT
//! FROM`) asks [`Sql::dialect`].
//!
//! **Errors** never carry a row's values: a value of the wrong type names its column and the
//! two types, nothing else.

use std::ops::ControlFlow;

/// Which SQL a backend speaks, for the few statements that differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (the one-bench vault file).
    Sqlite,
    /// PostgreSQL (a vault shared by several stations).
    Postgres,
}

/// What a statement can fail with.
#[derive(Debug)]
pub enum SqlError {
    /// `query_row` found no row ([`OptionalExtension::optional`] turns this into `None`).
    NoRows,
    /// A column held a value of another type than the one asked for.
    Type {
        /// The column's index.
        column: usize,
        /// What was asked for.
        wanted: &'static str,
        /// What the column held.
        found: &'static str,
    },
    /// A value the store cannot represent or read (a number out of range, a bad time).
    Value(String),
    /// Another transaction's change conflicts with this one's (a serialization failure or a
    /// deadlock): the whole unit of work is run again, never shown.
    Conflict,
    /// The backend failed (already worded for the user, with its exit code).
    Backend(crate::error::Error),
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SqlError::NoRows => f.write_str("a row the vault should hold is missing"),
            SqlError::Type {
                column,
                wanted,
                found,
            } => write!(f, "column {column} holds {found}, not {wanted}"),
            SqlError::Value(s) => f.write_str(s),
            SqlError::Conflict => f.write_str("another station changed the same rows; try again"),
            SqlError::Backend(e) => write!(f, "{e}"),
        }
    }
}

impl From<SqlError> for crate::error::Error {
    fn from(e: SqlError) -> Self {
        match e {
            SqlError::Backend(e) => e,
            other => crate::error::Error::Failed(format!("vault database: {other}")),
        }
    }
}

/// The result of a statement.
pub type Result<T, E = SqlError> = std::result::Result<T, E>;

/// A value as a statement binds or a row returns it, borrowed.
#[derive(Clone, Copy)]
pub enum ValueRef<'a> {
    /// NULL.
    Null,
    /// A 64-bit integer (booleans are 0 and 1).
    Integer(i64),
    /// A floating-point number.
    Real(f64),
    /// UTF-8 text.
    Text(&'a str),
    /// Bytes.
    Blob(&'a [u8]),
}

impl ValueRef<'_> {
    /// The storage class's name, for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            ValueRef::Null => "NULL",
            ValueRef::Integer(_) => "an integer",
            ValueRef::Real(_) => "a real",
            ValueRef::Text(_) => "text",
            ValueRef::Blob(_) => "bytes",
        }
    }
}

/// Values print their kind only: a row may hold an operator's name or a sealed record.
impl std::fmt::Debug for ValueRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

/// A Rust value a statement can bind.
pub trait ToValue {
    /// The value, borrowed from `self`.
    fn to_value(&self) -> Result<ValueRef<'_>>;
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Result<ValueRef<'_>> {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Result<ValueRef<'_>> {
        match self {
            Some(v) => v.to_value(),
            None => Ok(ValueRef::Null),
        }
    }
}

impl ToValue for str {
    fn to_value(&self) -> Result<ValueRef<'_>> {
        Ok(ValueRef::Text(self))
    }
}

impl ToValue for String {
    fn to_value(&self) -> Result<ValueRef<'_>> {
        Ok(ValueRef::Text(self))
    }
}

impl ToValue for std::borrow::Cow<'_, str> {
    fn to_value(&self) -> Result<ValueRef<'_>> {
        Ok(ValueRef::Text(self))
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Result<ValueRef<'_>> {
        Ok(ValueRef::Blob(self))
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Result<ValueRef<'_>> {
        Ok(ValueRef::Blob(self))
    }
}

impl<const N: usize> ToValue for [u8; N] {
    fn to_value(&self) -> Result<ValueRef<'_>> {
        Ok(ValueRef::Blob(self))
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Result<ValueRef<'_>> {
        Ok(ValueRef::Integer(i64::from(*self)))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Result<ValueRef<'_>> {
        Ok(ValueRef::Real(*self))
    }
}

macro_rules! integer_values {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Result<ValueRef<'_>> {
                i64::try_from(*self).map(ValueRef::Integer).map_err(|_| {
                    SqlError::Value(format!("a number too large for the vault ({})", stringify!($t)))
                })
            }
        }

        impl FromValue for $t {
            fn from_value(v: ValueRef<'_>) -> Result<Self, &'static str> {
                match v {
                    ValueRef::Integer(i) => <$t>::try_from(i).map_err(|_| concat!("an integer that fits ", stringify!($t))),
                    _ => Err(concat!("an integer (", stringify!($t), ")")),
                }
            }
        }
    )*};
}

integer_values!(i64, i32, u32, u64, usize, u16, u8);

/// A Rust value a column can be read as.
pub trait FromValue: Sized {
    /// The value, or what was wanted when the column holds something else.
    fn from_value(v: ValueRef<'_>) -> Result<Self, &'static str>;
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: ValueRef<'_>) -> Result<Self, &'static str> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl FromValue for String {
    fn from_value(v: ValueRef<'_>) -> Result<Self, &'static str> {
        match v {
            ValueRef::Text(s) => Ok(s.to_owned()),
            _ => Err("text"),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: ValueRef<'_>) -> Result<Self, &'static str> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            _ => Err("bytes"),
        }
    }
}

impl<const N: usize> FromValue for [u8; N] {
    fn from_value(v: ValueRef<'_>) -> Result<Self, &'static str> {
        match v {
            ValueRef::Blob(b) => b.try_into().map_err(|_| "bytes of another length"),
            _ => Err("bytes"),
        }
    }
}

impl FromValue for bool {
    fn from_value(v: ValueRef<'_>) -> Result<Self, &'static str> {
        match v {
            ValueRef::Integer(i) => Ok(i != 0),
            _ => Err("a boolean"),
        }
    }
}

impl FromValue for f64 {
    fn from_value(v: ValueRef<'_>) -> Result<Self, &'static str> {
        match v {
            ValueRef::Real(r) => Ok(r),
            ValueRef::Integer(i) => Ok(i as f64),
            _ => Err("a real"),
        }
    }
}

/// A row's columns, as a backend hands them out.
pub trait Columns {
    /// Column `idx`'s value (an error past the last column).
    fn value(&self, idx: usize) -> Result<ValueRef<'_>>;

    /// How many columns the row has.
    fn count(&self) -> usize;
}

/// One row of a query's result.
pub struct Row<'r> {
    columns: &'r dyn Columns,
}

impl<'r> Row<'r> {
    /// A row over a backend's columns.
    pub fn new(columns: &'r dyn Columns) -> Row<'r> {
        Row { columns }
    }

    /// How many columns it has.
    pub fn column_count(&self) -> usize {
        self.columns.count()
    }

    /// Column `idx`'s value as it is stored.
    pub fn value(&self, idx: usize) -> Result<ValueRef<'_>> {
        self.columns.value(idx)
    }

    /// Column `idx` as a `T` (`r.get(0)?`, `r.get::<_, i64>(1)?` as in `rusqlite`).
    pub fn get<I: ColumnIndex, T: FromValue>(&self, idx: I) -> Result<T> {
        let column = idx.index();
        let v = self.columns.value(column)?;
        T::from_value(v).map_err(|wanted| SqlError::Type {
            column,
            wanted,
            found: v.kind(),
        })
    }
}

/// How a column is named in [`Row::get`]: by its index.
pub trait ColumnIndex {
    /// The index.
    fn index(&self) -> usize;
}

impl ColumnIndex for usize {
    fn index(&self) -> usize {
        *self
    }
}

/// Statements on one connection, inside the transaction it is in. Each backend implements it;
/// the store functions reach it through [`Statement`].
pub trait Sql {
    /// The SQL this backend speaks.
    fn dialect(&self) -> Dialect;

    /// Runs one statement with `params` bound to `?1`, `?2`, ...: the number of rows changed.
    fn execute(&self, sql: &str, params: &[&dyn ToValue]) -> Result<usize>;

    /// Runs statements without parameters, separated by `;`.
    fn execute_batch(&self, sql: &str) -> Result<()>;

    /// Runs a query and hands each row to `each` until it says stop or the rows end.
    fn query(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        each: &mut dyn FnMut(&Row<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<()>;
}

/// Parameters a statement binds: `params![a, b]`, an array or slice of one type (`[id]`,
/// `&names[..]`), or `[]`.
pub trait Params {
    /// Calls `f` with the parameters as a slice.
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToValue]) -> R) -> R;
}

impl<T: ToValue> Params for &[T] {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToValue]) -> R) -> R {
        let refs: Vec<&dyn ToValue> = self.iter().map(|v| v as &dyn ToValue).collect();
        f(&refs)
    }
}

impl Params for [&dyn ToValue; 0] {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToValue]) -> R) -> R {
        f(&[])
    }
}

macro_rules! array_params {
    ($($n:literal),*) => {$(
        impl<T: ToValue> Params for [T; $n] {
            fn with<R>(&self, f: impl FnOnce(&[&dyn ToValue]) -> R) -> R {
                let refs: [&dyn ToValue; $n] = std::array::from_fn(|i| &self[i] as &dyn ToValue);
                f(&refs)
            }
        }
    )*};
}

array_params!(1, 2, 3, 4, 5, 6, 7, 8);

/// The parameters of a statement, of any types: `params![id, n, blob]`.
macro_rules! params {
    () => { &[] as &[&dyn $crate::store::sql::ToValue] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::store::sql::ToValue),+] as &[&dyn $crate::store::sql::ToValue] };
}
pub(crate) use params;

/// `n` placeholders numbered from `first`, for an `IN (...)` list: `?1, ?2, ?3`.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `query_row(...).optional()`: no row is `None`, as in `rusqlite`.
pub trait OptionalExtension<T> {
    /// `Ok(None)` for [`SqlError::NoRows`].
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(SqlError::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// One statement's text on a connection, run with parameters (backends cache what they
/// prepare, so preparing again is cheap).
pub struct Statement<'c> {
    sql: &'c dyn Sql,
    text: String,
}

impl<'c> Statement<'c> {
    /// `text` on `sql`.
    pub fn new(sql: &'c dyn Sql, text: &str) -> Statement<'c> {
        Statement {
            sql,
            text: text.to_owned(),
        }
    }

    /// Runs it: the number of rows changed.
    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        params.with(|p| self.sql.execute(&self.text, p))
    }

    /// Every row, mapped by `f` (which stops at its first error).
    pub fn query_map<T>(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let mut out = Vec::new();
        params.with(|p| {
            self.sql.query(&self.text, p, &mut |r| {
                let v = f(r);
                let stop = v.is_err();
                out.push(v);
                Ok(if stop {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })
        })?;
        Ok(out.into_iter())
    }

    /// Each row in turn, without holding them all (`f`'s first error stops it).
    pub fn for_each(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row<'_>) -> crate::error::Result<()>,
    ) -> crate::error::Result<()> {
        let mut failed = None;
        params.with(|p| {
            self.sql.query(&self.text, p, &mut |r| match f(r) {
                Ok(()) => Ok(ControlFlow::Continue(())),
                Err(e) => {
                    failed = Some(e);
                    Ok(ControlFlow::Break(()))
                }
            })
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// The first row, mapped by `f`; [`SqlError::NoRows`] when there is none.
    pub fn query_row<T>(
        &mut self,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut f = Some(f);
        let mut out = None;
        params.with(|p| {
            self.sql.query(&self.text, p, &mut |r| {
                if let Some(f) = f.take() {
                    out = Some(f(r));
                }
                Ok(ControlFlow::Break(()))
            })
        })?;
        out.unwrap_or(Err(SqlError::NoRows))
    }

    /// Whether the query returns any row.
    pub fn exists(&mut self, params: impl Params) -> Result<bool> {
        let mut any = false;
        params.with(|p| {
            self.sql.query(&self.text, p, &mut |_| {
                any = true;
                Ok(ControlFlow::Break(()))
            })
        })?;
        Ok(any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Cols(Vec<ValueRef<'static>>);

    impl Columns for Cols {
        fn value(&self, idx: usize) -> Result<ValueRef<'_>> {
            self.0
                .get(idx)
                .copied()
                .ok_or_else(|| SqlError::Value(format!("no column {idx}")))
        }

        fn count(&self) -> usize {
            self.0.len()
        }
    }

    #[test]
    fn a_column_of_the_wrong_type_names_the_column_and_both_types_and_never_the_value() {
        let cols = Cols(vec![ValueRef::Text("Jane Buyer"), ValueRef::Integer(-1)]);
        let row = Row::new(&cols);
        let e = row.get::<_, i64>(0).unwrap_err().to_string();
        assert_eq!(e, "column 0 holds text, not an integer (i64)");
        assert!(!format!("{:?}", ValueRef::Text("Jane Buyer")).contains("Jane"));
        let e = row.get::<_, u32>(1).unwrap_err().to_string();
        assert_eq!(e, "column 1 holds an integer, not an integer that fits u32");
        assert_eq!(
            row.get::<_, Option<String>>(0).unwrap().as_deref(),
            Some("Jane Buyer")
        );
    }

    #[test]
    fn numbers_too_large_for_a_64_bit_column_are_refused_not_wrapped() {
        assert!(u64::MAX.to_value().is_err());
        assert!(matches!(
            (i64::MAX as u64).to_value(),
            Ok(ValueRef::Integer(i64::MAX))
        ));
        assert!(matches!(true.to_value(), Ok(ValueRef::Integer(1))));
    }
}
