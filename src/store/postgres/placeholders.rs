//! SQLite's numbered placeholders (`?1`, `?2`, ...) rewritten as PostgreSQL's (`$1`, `$2`,
//! ...), outside string literals (`'...'`, `''` inside), quoted identifiers (`"..."`) and
//! comments (`-- ...` to the end of the line, `/* ... */`). A bare `?` is refused: the store's
//! SQL always numbers its parameters, and a `?` PostgreSQL would read as an operator is a bug.
//! Strings are standard SQL strings (PostgreSQL's `standard_conforming_strings`, on by default):
//! a backslash is an ordinary character; `E'...'` escape strings and `$$` dollar quoting are
//! not part of the store's portable SQL and not understood here.

use crate::store::sql::SqlError;

/// `sql` with `?N` as `$N`, and the highest `N` (0 when there is none).
pub fn rewrite(sql: &str) -> Result<(String, usize), SqlError> {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut highest = 0usize;
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                // To the closing quote; a doubled quote is an escaped one and the scan
                // simply goes on through it.
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek().is_some_and(|&(_, d)| d == '-') => {
                out.push(c);
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek().is_some_and(|&(_, d)| d == '*') => {
                out.push(c);
                let mut prev = '\0';
                // Skip the '*' of the opener so "/*/" does not close the comment.
                if let Some((_, star)) = chars.next() {
                    out.push(star);
                }
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
            }
            '?' => {
                let mut n = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    n.push(d);
                    chars.next();
                }
                let index = n.parse::<usize>().ok().filter(|&i| i > 0).ok_or_else(|| {
                    SqlError::Value(
                        "a statement has a parameter without a number (write ?1, ?2, ...)".into(),
                    )
                })?;
                highest = highest.max(index);
                out.push('$');
                out.push_str(&n);
            }
            c => out.push(c),
        }
    }
    Ok((out, highest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbered_placeholders_become_dollar_placeholders() {
        let (s, n) = rewrite("SELECT a FROM t WHERE b = ?1 AND c IN (?2, ?12)").unwrap();
        assert_eq!(s, "SELECT a FROM t WHERE b = $1 AND c IN ($2, $12)");
        assert_eq!(n, 12);
        assert_eq!(rewrite("SELECT 1").unwrap(), ("SELECT 1".into(), 0));
    }

    #[test]
    fn strings_identifiers_and_comments_are_left_alone() {
        let sql = "SELECT '?1', 'it''s ?2', \"col?3\" -- ?4 here\n, ?1 /* ?5 */ FROM t";
        let (s, n) = rewrite(sql).unwrap();
        assert_eq!(
            s,
            "SELECT '?1', 'it''s ?2', \"col?3\" -- ?4 here\n, $1 /* ?5 */ FROM t"
        );
        assert_eq!(n, 1);
        assert_eq!(rewrite("SELECT 1 - -?1").unwrap().0, "SELECT 1 - -$1");
        assert_eq!(
            rewrite("SELECT /*/ ?1 */ 2").unwrap().0,
            "SELECT /*/ ?1 */ 2"
        );
    }

    #[test]
    fn a_bare_or_zero_question_mark_is_an_error() {
        for sql in [
            "SELECT ?",
            "SELECT a FROM t WHERE b = ? AND c = ?1",
            "SELECT ?0",
        ] {
            let e = rewrite(sql).unwrap_err();
            assert!(matches!(e, SqlError::Value(_)), "{sql}");
            assert!(e.to_string().contains("?1"), "{e}");
        }
    }

    proptest! {
        /// Text with no placeholder outside quotes comes back unchanged, whatever is quoted.
        #[test]
        fn quoted_text_is_never_changed(inner in "[^'\"\n]*", ident in "[^\"]*") {
            let sql = format!("SELECT '{inner}' AS \"{ident}\" -- {inner}\n");
            let (s, n) = rewrite(&sql).unwrap();
            prop_assert_eq!(s, sql);
            prop_assert_eq!(n, 0);
        }

        /// SQL made of words, placeholders, quoted strings and identifiers with anything in
        /// them (doubled quotes included) and comments: exactly the placeholders outside
        /// quotes and comments change.
        #[test]
        fn only_placeholders_outside_quotes_and_comments_change(
            parts in proptest::collection::vec((0u8..5, "[a-z ?0-9$'\"\\-]{0,12}", 1usize..300), 0..12)
        ) {
            let (mut sql, mut want, mut highest) = (String::new(), String::new(), 0);
            for (kind, text, n) in parts {
                let (from, to) = match kind {
                    0 => {
                        let word: String = text.chars().filter(char::is_ascii_alphanumeric).collect();
                        (format!(" {word} "), format!(" {word} "))
                    }
                    1 => {
                        highest = highest.max(n);
                        (format!(" ?{n} "), format!(" ${n} "))
                    }
                    2 => {
                        let q = format!(" '{}' ", text.replace('\'', "''"));
                        (q.clone(), q)
                    }
                    3 => {
                        let q = format!(" \"{}\" ", text.replace('"', "\"\""));
                        (q.clone(), q)
                    }
                    _ => {
                        let c = format!(" -- {text}\n");
                        (c.clone(), c)
                    }
                };
                sql.push_str(&from);
                want.push_str(&to);
            }
            let (got, n) = rewrite(&sql).unwrap();
            prop_assert_eq!(got, want);
            prop_assert_eq!(n, highest);
        }

        /// Every `?N` outside quotes becomes `$N` and nothing else changes.
        #[test]
        fn each_placeholder_is_renumbered_in_place(ns in proptest::collection::vec(1usize..200, 1..8)) {
            let sql: Vec<String> = ns.iter().map(|n| format!("?{n}")).collect();
            let want: Vec<String> = ns.iter().map(|n| format!("${n}")).collect();
            let (s, n) = rewrite(&format!("SELECT {} , '?9'", sql.join(", "))).unwrap();
            prop_assert_eq!(s, format!("SELECT {} , '?9'", want.join(", ")));
            prop_assert_eq!(n, *ns.iter().max().unwrap());
        }
    }
}
