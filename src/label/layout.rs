//! Text blocks that fit their box (pure): words wrapped to the box's width, the whole block
//! shrunk a step at a time until its lines fit the box's height, or a [`Misfit`] when even the
//! smallest size does not fit. Nothing is ever cut: a block either fits whole or is refused.
//!
//! Widths come from a [`Measure`], so the same layout serves every font: [`Helvetica`] (the
//! PDF's built-in font, from Adobe's Core 14 AFM metrics as the `pdf-canvas` crate ships them)
//! and [`ZplFont0`] (the printer's resident font 0, measured by a stated upper bound). A later
//! measurer for embedded fonts (Noto, any script) plugs in the same way.

use std::sync::OnceLock;

use pdf_canvas::{BuiltinFont, FontSource};
use zeroize::Zeroizing;

/// The width of text set in one font.
pub trait Measure {
    /// The advance width of `text` at font size `size`, in the unit `size` is given in
    /// (points for a PDF, dots for ZPL).
    fn width(&self, text: &str, size: f32) -> f32;
}

/// The box a block must fit, and the sizes it may be set at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// The widest a line may be.
    pub width: f32,
    /// The tallest the block may be: `lines × size × leading`.
    pub height: f32,
    /// The size tried first.
    pub max_size: f32,
    /// The smallest size allowed; below it the block is refused.
    pub min_size: f32,
    /// How much smaller each next try is.
    pub step: f32,
    /// Line advance as a multiple of the size.
    pub leading: f32,
}

/// A block that fits: its size and its lines (zeroizing: an address is PII).
#[derive(Debug)]
pub struct Block {
    /// The font size every line is set at.
    pub size: f32,
    /// The lines, top to bottom.
    pub lines: Vec<Zeroizing<String>>,
}

impl Block {
    /// The advance from one baseline to the next.
    pub fn advance(&self, frame: &Frame) -> f32 {
        self.size * frame.leading
    }
}

/// Why a block does not fit even at the smallest size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misfit {
    /// A word (text without a space) is wider than the box.
    Word,
    /// The wrapped lines are more than the box holds.
    Lines,
}

impl Misfit {
    /// In words, for a refusal (no text of the block in it).
    pub fn reason(self) -> &'static str {
        match self {
            Misfit::Word => "a word in it is wider than the space for it",
            Misfit::Lines => "it has more lines than the space holds",
        }
    }
}

/// Wraps `text`'s words into lines at most `width` wide at `size`, or [`Misfit::Word`].
/// Runs of white space become one space; an empty text gives no line.
pub fn wrap(
    m: &dyn Measure,
    text: &str,
    size: f32,
    width: f32,
) -> Result<Vec<Zeroizing<String>>, Misfit> {
    let mut lines = Vec::new();
    let mut line = Zeroizing::new(String::with_capacity(text.len()));
    for word in text.split_whitespace() {
        if m.width(word, size) > width {
            return Err(Misfit::Word);
        }
        if !line.is_empty() {
            let mut longer = Zeroizing::new(String::with_capacity(line.len() + 1 + word.len()));
            longer.push_str(&line);
            longer.push(' ');
            longer.push_str(word);
            if m.width(&longer, size) <= width {
                line = longer;
                continue;
            }
            lines.push(std::mem::replace(
                &mut line,
                Zeroizing::new(String::with_capacity(text.len())),
            ));
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    Ok(lines)
}

/// Sets `paragraphs` (each starts a new line; an empty one is left out) in `frame`: the
/// largest size, from `max_size` down by `step` to `min_size`, at which every word fits the
/// width and all the wrapped lines fit the height.
pub fn fit(m: &dyn Measure, paragraphs: &[&str], frame: &Frame) -> Result<Block, Misfit> {
    let mut why = Misfit::Lines;
    let mut i = 0u32;
    loop {
        let size = frame.max_size - frame.step * i as f32;
        // A hair of slack so a size reached by repeated steps is not lost to rounding.
        if size < frame.min_size - 1e-3 {
            return Err(why);
        }
        let size = size.max(frame.min_size);
        i += 1;
        let mut lines = Vec::new();
        let mut ok = true;
        for p in paragraphs {
            match wrap(m, p, size, frame.width) {
                Ok(l) => lines.extend(l),
                Err(e) => {
                    why = e;
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            continue;
        }
        if lines.len() as f32 * size * frame.leading <= frame.height + 1e-3 {
            return Ok(Block { size, lines });
        }
        why = Misfit::Lines;
    }
}

/// Advance widths of the 256 WinAnsi codes in 1/1000 em; 0 where the font has no glyph.
type Widths = [u16; 256];

fn widths(font: BuiltinFont) -> Widths {
    let metrics = font.get_metrics();
    let mut out = [0u16; 256];
    for (code, w) in out.iter_mut().enumerate() {
        *w = metrics.get_width(code as u8).unwrap_or(0);
    }
    out
}

fn helvetica() -> &'static Widths {
    static W: OnceLock<Widths> = OnceLock::new();
    W.get_or_init(|| widths(BuiltinFont::Helvetica))
}

fn helvetica_bold() -> &'static Widths {
    static W: OnceLock<Widths> = OnceLock::new();
    W.get_or_init(|| widths(BuiltinFont::Helvetica_Bold))
}

/// The width of one character in `table`, in 1/1000 em: as the PDF writes it (WinAnsi =
/// Latin-1 for U+0020..U+007E and U+00A0..U+00FF; a control character is drawn as a space), and
/// a full em for anything the table has no glyph for (an upper bound for any glyph).
fn char_width(table: &Widths, c: char) -> u32 {
    let code = match c as u32 {
        _ if c.is_control() => 0x20,
        n @ (0x20..=0x7E | 0xA0..=0xFF) => n,
        _ => return 1000,
    };
    match table[code as usize] {
        0 => 1000,
        w => u32::from(w),
    }
}

/// The PDF's built-in Helvetica (regular or bold), from Adobe's Core 14 AFM widths (the
/// `pdf-canvas` crate's copy of them). Kerning is not applied, as the PDF does not kern.
#[derive(Debug, Clone, Copy)]
pub struct Helvetica {
    /// Helvetica-Bold rather than Helvetica.
    pub bold: bool,
}

impl Measure for Helvetica {
    fn width(&self, text: &str, size: f32) -> f32 {
        let t = if self.bold {
            helvetica_bold()
        } else {
            helvetica()
        };
        text.chars().map(|c| char_width(t, c)).sum::<u32>() as f32 * size / 1000.0
    }
}

/// The ZPL printer's resident font 0 (`^A0N,h,h`), in dots, for a field set with `^FB`.
///
/// Zebra publishes no metrics for font 0 (CG Triumvirate Bold Condensed), so this measures an
/// upper bound: Helvetica-Bold's AFM widths with the em set to the field height `h`. Font 0 is
/// a condensed face, narrower than Helvetica-Bold, and `h` is the whole character cell, so the
/// printer's line is never wider than measured (one reported measurement: "Sample Text" at
/// `^A0N,30,30` prints about 112 dots wide; this measures 177). A character outside Latin-1
/// counts a full em (CJK ideographs are square), and a backslash counts twice, as `^FB` needs
/// it written `\\`.
#[derive(Debug, Clone, Copy)]
pub struct ZplFont0;

impl Measure for ZplFont0 {
    fn width(&self, text: &str, size: f32) -> f32 {
        let t = helvetica_bold();
        text.chars()
            .map(|c| match c {
                '\\' => 2 * char_width(t, c),
                _ => char_width(t, c),
            })
            .sum::<u32>() as f32
            * size
            / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character one unit wide: the layout's arithmetic without a font.
    struct Mono;
    impl Measure for Mono {
        fn width(&self, text: &str, size: f32) -> f32 {
            text.chars().count() as f32 * size
        }
    }

    fn frame(width: f32, height: f32, max: f32, min: f32) -> Frame {
        Frame {
            width,
            height,
            max_size: max,
            min_size: min,
            step: 1.0,
            leading: 1.0,
        }
    }

    fn text(b: &Block) -> Vec<&str> {
        b.lines.iter().map(|l| l.as_str()).collect()
    }

    #[test]
    fn a_block_that_fits_keeps_its_size_and_its_lines() {
        let b = fit(&Mono, &["ab cd", "", "ef"], &frame(5.0, 10.0, 1.0, 1.0)).unwrap();
        assert_eq!((b.size, text(&b)), (1.0, vec!["ab cd", "ef"]));
    }

    #[test]
    fn words_wrap_at_spaces_and_every_word_is_kept_in_order() {
        let words = "one two three four five six seven eight nine ten eleven";
        let b = fit(&Mono, &[words], &frame(12.0, 100.0, 1.0, 1.0)).unwrap();
        assert!(b.lines.iter().all(|l| Mono.width(l, 1.0) <= 12.0));
        assert_eq!(text(&b).join(" "), words);
        assert_eq!(
            text(&b),
            vec![
                "one two",
                "three four",
                "five six",
                "seven eight",
                "nine ten",
                "eleven"
            ]
        );
        // White space runs and ends do not make empty lines or double spaces.
        let b = fit(&Mono, &["  a \t b  "], &frame(12.0, 100.0, 1.0, 1.0)).unwrap();
        assert_eq!(text(&b), vec!["a b"]);
    }

    #[test]
    fn a_block_too_tall_or_too_wide_shrinks_until_it_fits() {
        // 4 lines of 2 units at size 3 need 12 > 10 units of height; at 2 they fit one line
        // each (8 tall); wrapping was not needed for width at 3 (6 <= 6).
        let b = fit(
            &Mono,
            &["ab", "cd", "ef", "gh"],
            &frame(6.0, 10.0, 3.0, 1.0),
        )
        .unwrap();
        assert_eq!((b.size, b.lines.len()), (2.0, 4));
        // A line 8 wide in a box 6 wide: at 1 it fits unwrapped rather than wrapping at 2.
        let b = fit(&Mono, &["abc defg"], &frame(8.0, 2.0, 2.0, 1.0)).unwrap();
        assert_eq!((b.size, text(&b)), (1.0, vec!["abc defg"]));
    }

    #[test]
    fn what_does_not_fit_at_the_smallest_size_is_refused_never_cut() {
        assert_eq!(
            fit(&Mono, &["abcdefgh"], &frame(6.0, 10.0, 2.0, 1.0)).unwrap_err(),
            Misfit::Word
        );
        assert_eq!(
            fit(&Mono, &["a", "b", "c"], &frame(6.0, 2.0, 2.0, 1.0)).unwrap_err(),
            Misfit::Lines
        );
        // The control: one size larger box, and both fit.
        assert!(fit(&Mono, &["abcdefgh"], &frame(8.0, 10.0, 2.0, 1.0)).is_ok());
        assert!(fit(&Mono, &["a", "b", "c"], &frame(6.0, 3.0, 2.0, 1.0)).is_ok());
    }

    #[test]
    fn sizes_step_down_exactly_to_the_minimum() {
        let f = Frame {
            step: 0.5,
            ..frame(1.0, 100.0, 2.0, 0.4)
        };
        // "ab" fits a width of 1 at 0.5, which the steps 2.0, 1.5, 1.0, 0.5 reach.
        let b = fit(&Mono, &["ab"], &f).unwrap();
        assert_eq!(b.size, 0.5);
        // Steps that would pass below the minimum stop at it.
        let f = Frame {
            step: 0.75,
            ..frame(1.0, 100.0, 2.0, 0.5)
        };
        assert_eq!(fit(&Mono, &["ab"], &f).unwrap().size, 0.5);
    }

    #[test]
    fn helvetica_widths_are_adobes() {
        // Adobe's Helvetica.afm / Helvetica-Bold.afm (WX values): H 722, e 556, l 222,
        // o 556, space 278 ... "Hello World" = 5167 units.
        assert!((Helvetica { bold: false }.width("Hello World", 1000.0) - 5167.0).abs() < 0.01);
        assert_eq!(Helvetica { bold: false }.width("W", 10.0), 9.44);
        assert_eq!(Helvetica { bold: true }.width("W", 10.0), 9.44);
        assert_eq!(Helvetica { bold: false }.width("ß", 1000.0), 611.0);
        assert_eq!(Helvetica { bold: true }.width("ü", 1000.0), 611.0);
        assert_eq!(Helvetica { bold: false }.width("1", 1000.0), 556.0);
        // Outside the font: a full em, never less.
        assert_eq!(Helvetica { bold: false }.width("Ж", 10.0), 10.0);
    }

    #[test]
    fn font_0_is_measured_wider_than_it_prints() {
        // The one published measurement: "Sample Text" at ^A0N,30,30 is about 112 dots.
        assert!(ZplFont0.width("Sample Text", 30.0) > 112.0);
        assert_eq!(ZplFont0.width("山", 40.0), 40.0);
        assert_eq!(ZplFont0.width("\\", 1000.0), 2.0 * 278.0);
    }
}
