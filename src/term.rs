//! The one sanitiser for remote text on its way to a terminal.
//!
//! Text that came from Amazon (or from whatever answered in its place) can carry escape
//! sequences that clear or rewrite the screen, and bidirectional overrides that make `abc`
//! display as `cba`. Before such text is printed, in a table or inside an error, it goes through
//! [`clean`]: every control character (C0, DEL, C1, so also ESC, CR, LF and TAB) and every
//! bidi control becomes U+FFFD. Text quoted inside an error is also cut short by [`quote`].
//! The stored data is left as Amazon sent it; this is about display only.

use std::borrow::Cow;

/// The replacement for a character that must not reach a terminal.
pub const REPLACEMENT: char = '\u{FFFD}';

/// Whether `c` may not be shown as is: a control character, a bidi embedding, override,
/// isolate or mark, or a line/paragraph separator.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `s` with every unsafe character replaced by U+FFFD (borrowed when there was none).
pub fn clean(s: &str) -> Cow<'_, str> {
    if s.chars().any(is_unsafe) {
        Cow::Owned(
            s.chars()
                .map(|c| if is_unsafe(c) { REPLACEMENT } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(s)
    }
}

/// `s` cleaned and cut to at most `max` characters (an ellipsis marks the cut).
pub fn quote(s: &str, max: usize) -> String {
    let s = clean(s);
    if s.chars().count() <= max {
        s.into_owned()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Longest remote text quoted in one error message.
pub const MAX_QUOTE: usize = 200;

/// Remote text for an error line: whitespace runs folded to one space, cleaned, cut to
/// [`MAX_QUOTE`] characters.
pub fn one_line(s: &str) -> String {
    let folded: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    quote(&folded, MAX_QUOTE)
}

/// `value` as pretty JSON in which every unsafe character is written as a `\uXXXX` escape
/// (serde_json escapes only C0 controls), so the output is safe to show and decodes to exactly
/// the same strings.
pub fn json_pretty<T: serde::Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, SafeJson::default());
    value.serialize(&mut ser).expect("serializing to memory");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// serde_json's pretty formatter, escaping [`is_unsafe`] characters too.
#[derive(Default)]
struct SafeJson(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for SafeJson {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut rest = fragment;
        while let Some((i, c)) = rest.char_indices().find(|(_, c)| is_unsafe(*c)) {
            w.write_all(&rest.as_bytes()[..i])?;
            write!(w, "\\u{:04x}", c as u32)?;
            rest = &rest[i + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bidi_overrides_are_replaced_and_plain_text_is_untouched() {
        assert!(matches!(clean("SKU-1 Café 中"), Cow::Borrowed(_)));
        let hostile = "a\u{1b}[2Jb\u{202e}cba\u{7}\r\n\u{9b}31m\u{2066}x";
        let c = clean(hostile);
        assert!(!c.chars().any(is_unsafe), "{c:?}");
        assert!(!c.contains('\u{1b}') && !c.contains('\u{202e}'));
        assert_eq!(c.chars().filter(|&c| c == REPLACEMENT).count(), 7);
        assert!(c.starts_with('a') && c.ends_with('x'));
    }

    #[test]
    fn json_escapes_what_the_terminal_must_not_see_and_decodes_back() {
        let v = vec![serde_json::json!({"title": "a\u{1b}[2J\u{202e}b\u{9b}c é", "n": [1, 2]})];
        let text = json_pretty(&v);
        assert!(!text.chars().any(|c| is_unsafe(c) && c != '\n'), "{text:?}");
        assert!(text.contains("\\u001b") && text.contains("\\u202e") && text.contains("\\u009b"));
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, serde_json::Value::Array(v));
        assert_eq!(
            json_pretty(&serde_json::json!({"a": 1})),
            serde_json::to_string_pretty(&serde_json::json!({"a": 1})).unwrap()
        );
    }

    #[test]
    fn quotes_are_cut_on_a_character_boundary() {
        assert_eq!(quote("abc", 3), "abc");
        assert_eq!(quote("abcd", 3), "ab…");
        let q = quote(&"é".repeat(1000), 10);
        assert_eq!(q.chars().count(), 10);
        let l = one_line(&format!("x\n{}\u{1b}", "y ".repeat(5000)));
        assert!(l.chars().count() <= MAX_QUOTE && !l.contains('\n') && !l.contains('\u{1b}'));
    }
}
