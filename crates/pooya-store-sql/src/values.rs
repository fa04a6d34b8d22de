//! Multi-row statements over `VALUES` lists (PostgreSQL): the set-based batch's writes and the
//! grouped verification reads. A list's length is padded to a power of two with rows of NULLs so
//! that a handful of statement texts serve every batch size.

use crate::sqlx_exec::AnyQuery;

/// PostgreSQL binds at most this many parameters to one statement.
pub(crate) const PG_MAX_PARAMS: usize = 65_535;

/// The rows of one multi-row statement: `n` rounded up to a power of two, filled with NULL rows.
/// The statements' texts depend on their row counts, and sqlx keeps a connection's prepared
/// statements by text (100 at most, least recently used out): a handful of sizes stay prepared,
/// where every batch size would push each other out and cost a Parse round trip each.
pub(crate) fn padded(n: usize, casts: &[&str]) -> usize {
    n.next_power_of_two().min(PG_MAX_PARAMS / casts.len())
}

/// Binds a row of NULLs typed as `casts`: a padding row, which matches or inserts nothing.
pub(crate) fn bind_nulls<'q>(mut q: AnyQuery<'q>, casts: &[&str]) -> AnyQuery<'q> {
    for cast in casts {
        q = match *cast {
            "bigint" => q.bind(None::<i64>),
            "bytea" => q.bind(None::<Vec<u8>>),
            _ => q.bind(None::<String>),
        };
    }
    q
}

/// `($f::t1, $f+1::t2, …), (…), …`: `rows` rows of `casts.len()` parameters, numbered from
/// `first`. The casts type the parameters: the `Any` driver's are loosely typed.
pub(crate) fn values_rows(first: usize, rows: usize, casts: &[&str]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(rows * casts.len() * 12);
    let mut n = first - 1;
    for r in 0..rows {
        s.push_str(if r == 0 { "(" } else { ", (" });
        for (k, cast) in casts.iter().enumerate() {
            n += 1;
            let _ = write!(s, "{}${n}::{cast}", if k == 0 { "" } else { ", " });
        }
        s.push(')');
    }
    s
}
