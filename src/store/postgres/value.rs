//! [`ValueRef`]s bound to a statement's parameters and read out of its columns, by the types
//! the server gives them. The store's values are the five SQLite storage classes; PostgreSQL's
//! columns have richer types, so each side is converted by the type the server inferred for a
//! parameter or declared for a column, and a value of another kind is refused with the
//! parameter's or column's number and both types, never the value.

use std::error::Error as StdError;

use ::postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use bytes::BytesMut;

use crate::store::sql::{Columns, Result, SqlError, ValueRef};

/// A value converted for the type of the parameter it binds.
#[derive(Debug)]
pub(super) enum Bound<'a> {
    Null,
    Int8(i64),
    Int4(i32),
    Int2(i16),
    Bool(bool),
    Float8(f64),
    Float4(f32),
    Text(&'a str),
    Bytes(&'a [u8]),
}

/// Parameter `number` (1-based, as in `?N`) holding `v`, for a parameter of type `ty`.
pub(super) fn bind<'a>(number: usize, v: ValueRef<'a>, ty: &Type) -> Result<Bound<'a>> {
    let mismatch = || {
        SqlError::Value(format!(
            "parameter ?{number} is {}, but the statement wants {}",
            v.kind(),
            ty.name()
        ))
    };
    let range = || {
        SqlError::Value(format!(
            "parameter ?{number} is out of the range of {}",
            ty.name()
        ))
    };
    Ok(match v {
        ValueRef::Null => Bound::Null,
        ValueRef::Integer(i) => match *ty {
            Type::INT8 => Bound::Int8(i),
            Type::INT4 => Bound::Int4(i32::try_from(i).map_err(|_| range())?),
            Type::INT2 => Bound::Int2(i16::try_from(i).map_err(|_| range())?),
            Type::BOOL => match i {
                0 => Bound::Bool(false),
                1 => Bound::Bool(true),
                _ => return Err(range()),
            },
            _ => return Err(mismatch()),
        },
        ValueRef::Real(r) => match *ty {
            Type::FLOAT8 => Bound::Float8(r),
            Type::FLOAT4 => {
                let f = r as f32;
                if r.is_finite() && !f.is_finite() {
                    return Err(range());
                }
                Bound::Float4(f)
            }
            _ => return Err(mismatch()),
        },
        ValueRef::Text(s) => match *ty {
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => Bound::Text(s),
            _ => return Err(mismatch()),
        },
        ValueRef::Blob(b) => match *ty {
            Type::BYTEA => Bound::Bytes(b),
            _ => return Err(mismatch()),
        },
    })
}

impl ToSql for Bound<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Bound::Null => Ok(IsNull::Yes),
            Bound::Int8(v) => v.to_sql(ty, out),
            Bound::Int4(v) => v.to_sql(ty, out),
            Bound::Int2(v) => v.to_sql(ty, out),
            Bound::Bool(v) => v.to_sql(ty, out),
            Bound::Float8(v) => v.to_sql(ty, out),
            Bound::Float4(v) => v.to_sql(ty, out),
            Bound::Text(v) => v.to_sql(ty, out),
            Bound::Bytes(v) => v.to_sql(ty, out),
        }
    }

    /// [`bind`] chose the value by the parameter's type already.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A row of a PostgreSQL result, read as the store's values.
pub(super) struct PgRow<'r>(pub(super) &'r ::postgres::Row);

fn read<'r, T: FromSql<'r>>(
    row: &'r ::postgres::Row,
    idx: usize,
    as_value: impl FnOnce(T) -> ValueRef<'r>,
) -> Result<ValueRef<'r>> {
    match row.try_get::<_, Option<T>>(idx) {
        Ok(Some(v)) => Ok(as_value(v)),
        Ok(None) => Ok(ValueRef::Null),
        Err(_) => Err(SqlError::Value(format!(
            "column {idx} could not be read as {}",
            row.columns()[idx].type_().name()
        ))),
    }
}

impl Columns for PgRow<'_> {
    fn count(&self) -> usize {
        self.0.len()
    }

    fn value(&self, idx: usize) -> Result<ValueRef<'_>> {
        let row = self.0;
        let column = row
            .columns()
            .get(idx)
            .ok_or_else(|| SqlError::Value(format!("the query has no column {idx}")))?;
        match *column.type_() {
            Type::INT8 => read::<i64>(row, idx, ValueRef::Integer),
            Type::INT4 => read::<i32>(row, idx, |v| ValueRef::Integer(v.into())),
            Type::INT2 => read::<i16>(row, idx, |v| ValueRef::Integer(v.into())),
            Type::BOOL => read::<bool>(row, idx, |v| ValueRef::Integer(v.into())),
            Type::FLOAT8 => read::<f64>(row, idx, ValueRef::Real),
            Type::FLOAT4 => read::<f32>(row, idx, |v| ValueRef::Real(v.into())),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => {
                read::<&str>(row, idx, ValueRef::Text)
            }
            Type::BYTEA => read::<&[u8]>(row, idx, ValueRef::Blob),
            ref other => Err(SqlError::Value(format!(
                "column {idx} is of type {}, which the store does not read (CAST it to BIGINT, \
                 DOUBLE PRECISION or TEXT)",
                other.name()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_bind_by_the_parameter_type_with_range_checks() {
        assert!(matches!(
            bind(1, ValueRef::Integer(7), &Type::INT8),
            Ok(Bound::Int8(7))
        ));
        assert!(matches!(
            bind(1, ValueRef::Integer(-7), &Type::INT2),
            Ok(Bound::Int2(-7))
        ));
        assert!(matches!(
            bind(1, ValueRef::Integer(1), &Type::BOOL),
            Ok(Bound::Bool(true))
        ));
        assert!(matches!(
            bind(1, ValueRef::Null, &Type::BYTEA),
            Ok(Bound::Null)
        ));
        let e = bind(2, ValueRef::Integer(1 << 40), &Type::INT4).unwrap_err();
        assert_eq!(e.to_string(), "parameter ?2 is out of the range of int4");
        assert!(bind(2, ValueRef::Integer(2), &Type::BOOL).is_err());
        assert!(bind(2, ValueRef::Real(1e300), &Type::FLOAT4).is_err());
    }

    #[test]
    fn a_mismatch_names_the_parameter_and_both_types_and_never_the_value() {
        let e = bind(3, ValueRef::Text("Jane Buyer"), &Type::INT8).unwrap_err();
        assert_eq!(
            e.to_string(),
            "parameter ?3 is text, but the statement wants int8"
        );
        let e = bind(1, ValueRef::Blob(b"secret"), &Type::TEXT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "parameter ?1 is bytes, but the statement wants text"
        );
        assert!(bind(1, ValueRef::Integer(5), &Type::FLOAT8).is_err());
    }
}
