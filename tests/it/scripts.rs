//! Issue 21 goldens through the binary: labels and packing slips for buyers in Japanese, Arabic,
//! Hebrew, Polish, Turkish, Greek, Thai and Devanagari (sandbox orders sent to those countries
//! with `SandboxHandle::ship_to`). Each PDF reads back with `pdftotext -raw` with every
//! address value (name, street, city, postcode, phone) whole, in logical order and with its
//! marks (Thai vowels and tones, Devanagari vowel signs), for all eight scripts; with plain
//! `pdftotext` too, but for the lines with right-to-left words, which poppler's position sort
//! can only give piece by piece (see `reads_back` and docs/warehouse.md; a Riyadh postcode
//! 12345 stays 12345 in both). Each PDF embeds every font (`pdffonts`), renders (`pdftoppm`) and
//! its Code 128 barcode decodes from the rendered page (`zbarimg`). Abroad, a non-Latin address
//! ends with the destination's English name; at home it reads as it always did. A character no
//! font draws refuses a slip in one line; the leak scan finds a non-Latin name in a copied label;
//! the pick list draws any script and names every order's marketplace.

use crate::fetch_support;
use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use fetch_support::CliEnv;
use support::Run;

/// The countries, one per script (SA's Arabic with its postcode digits).
const COUNTRIES: [&str; 8] = ["JP", "SA", "IL", "PL", "TR", "GR", "TH", "IN"];

struct World {
    e: CliEnv,
    pat: PathBuf,
    /// (country, order id), one per country.
    orders: Vec<(&'static str, String)>,
}

/// An order of the sandbox as it is now: (recipient, street, city, postcode, phone).
type Address = (String, String, String, String, String);

impl World {
    /// Sandbox orders sent two to a country before the first fetch; for each country the first
    /// that is fetched unshipped with its address.
    fn new(seed: u64) -> World {
        let e = CliEnv::new(70, seed, 3000.0, "");
        let candidates: Vec<String> =
            e.sb.orders()
                .iter()
                .filter(|o| {
                    let i = &o.order.info;
                    i.order_status == "Unshipped"
                        && i.fulfillment_channel.as_deref() == Some("MFN")
                        && o.order.pii.address_line1.is_some()
                })
                .map(|o| o.order.info.amazon_order_id.clone())
                .collect();
        assert!(candidates.len() >= 16, "{} candidates", candidates.len());
        let mut moved: Vec<Vec<String>> = Vec::new();
        for (k, c) in COUNTRIES.iter().enumerate() {
            let two = &candidates[2 * k..2 * k + 2];
            for id in two {
                assert!(e.sb.ship_to(id, c), "{id} to {c}");
            }
            moved.push(two.to_vec());
        }
        assert!(!e.sb.ship_to(&candidates[0], "XX"), "no place in XX");
        assert_eq!(e.fetch().code, 0);
        let (r, pat) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
        assert_eq!(r.code, 0, "{}", r.stderr);
        let orders = COUNTRIES
            .iter()
            .zip(&moved)
            .map(|(c, two)| {
                let id = e.order_ids(
                    &format!(
                        "lifecycle = 'unshipped' AND pii_state = 'sealed' AND pii_missing = 0 \
                         AND ship_country = '{c}' AND amazon_order_id IN ('{}', '{}')",
                        two[0], two[1]
                    ),
                    1,
                );
                (*c, id[0].clone())
            })
            .collect();
        World { e, pat, orders }
    }

    fn as_pat(&self, args: &[&str]) -> Run {
        self.e.run_as("pat", &self.pat, args)
    }

    fn address(&self, id: &str) -> Address {
        let truth = self.e.sb.orders();
        let o = truth
            .iter()
            .find(|o| o.order.info.amazon_order_id == id)
            .unwrap();
        let v = |p: &Option<fulfill::pii::Pii>| p.as_ref().unwrap().expose_pii().to_string();
        let p = &o.order.pii;
        (
            v(&p.recipient_name),
            v(&p.address_line1),
            v(&p.city),
            v(&p.postal_code),
            v(&p.phone),
        )
    }
}

fn tool(name: &str, package: &str) -> Command {
    Command::new(support::system_tool(name, package))
}

/// The text `pdftotext` reads from `pdf`: by default (characters sorted by their position
/// into lines, a right-to-left run reversed), or with `-raw` (in the content stream's order,
/// each word as drawn, a right-to-left one reversed).
fn pdftotext(pdf: &Path, raw: bool) -> String {
    let mut cmd = tool("pdftotext", "poppler-utils");
    if raw {
        cmd.arg("-raw");
    }
    let out = cmd.arg(pdf).arg("-").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Text without white space (pdftotext breaks and spaces lines its own way) or the embedding
/// marks it puts around a right-to-left run.
fn squeezed(s: &str) -> String {
    s.split_whitespace()
        .flat_map(str::chars)
        .filter(|c| !matches!(c, '\u{202A}'..='\u{202E}'))
        .collect()
}

fn rtl(c: char) -> bool {
    matches!(c as u32, 0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFF)
}

/// True when `text` (plain pdftotext's, squeezed) holds `value` in logical order. In a
/// left-to-right address a value reads back whole, marks and all. In a line with right-to-left
/// words (`rtl_lines`), plain pdftotext sorts the line's pieces left to right as they stand on
/// the page and reverses the right-to-left ones as if the whole page ran left to right (one
/// direction per page, by its count of letters): in an Arabic line the Latin marker and the
/// postcode, set left of the city, come first, and a hyphen inside a Hebrew word, which poppler
/// counts with digits, splits the word. So there each run of right-to-left letters (across
/// spaces) and each run of other characters must read back as it is written (a postcode's
/// digits never reversed); `pdftotext -raw` reads these values whole.
fn reads_back(text: &str, value: &str, rtl_lines: bool) -> bool {
    if !rtl_lines {
        return text.contains(&squeezed(value));
    }
    let mut pieces: Vec<(bool, String)> = Vec::new();
    for c in value.chars() {
        let open = pieces.last().map(|(r, _)| *r);
        if c.is_whitespace() {
            if open == Some(false) {
                pieces.push((false, String::new()));
            }
            continue;
        }
        match pieces.last_mut() {
            Some((r, p)) if *r == rtl(c) => p.push(c),
            _ => pieces.push((rtl(c), c.to_string())),
        }
    }
    pieces.iter().all(|(_, p)| text.contains(p.as_str()))
}

/// Every font of `pdf` is embedded, subsetted and has a ToUnicode map; returns the names.
fn fonts_embedded(pdf: &Path) -> String {
    let out = tool("pdffonts", "poppler-utils").arg(pdf).output().unwrap();
    let fonts = String::from_utf8_lossy(&out.stdout).into_owned();
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!rows.is_empty(), "{fonts}");
    for row in &rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        let n = cols.len();
        assert_eq!(&cols[n - 5..n - 2], ["yes", "yes", "yes"], "{fonts}");
    }
    fonts
}

/// Renders the first page of `pdf` at 300 dpi and returns the barcodes `zbarimg` reads there.
fn rendered_barcodes(pdf: &Path) -> Vec<String> {
    let stem = pdf.file_stem().unwrap().to_str().unwrap();
    let prefix = pdf.with_file_name(format!("{stem}-page"));
    let r = tool("pdftoppm", "poppler-utils")
        .args([
            "-r",
            "300",
            "-png",
            "-gray",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
        ])
        .arg(pdf)
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let png = pdf.with_file_name(format!("{stem}-page.png"));
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "the page renders");
    let z = tool("zbarimg", "zbar-tools")
        .args(["--quiet", "--raw"])
        .arg(&png)
        .output()
        .unwrap();
    String::from_utf8_lossy(&z.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn labels_and_slips_in_eight_scripts_read_back_embed_their_fonts_render_and_scan() {
    let w = World::new(21);
    for (k, v) in support::SHIP_FROM {
        w.e.owner(&["config", "set", &format!("ship_from.{k}"), v]);
    }
    let out = w.e.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for (country, id) in &w.orders {
        let (name, street, city, postal, phone) = w.address(id);
        let english = fulfill::label::country::country_name(country);
        let latin = matches!(*country, "PL" | "TR");
        for kind in ["label", "slip"] {
            let path = out.join(format!("{kind}-{country}.pdf"));
            let mut args = vec![kind, id.as_str(), "--out", path.to_str().unwrap()];
            if kind == "label" {
                args.extend(["--format", "pdf"]);
            }
            let r = w.as_pat(&args);
            assert_eq!(r.code, 0, "{kind} {country}: {}", r.stderr);
            let what = format!("{kind} for {country}");
            let fonts = fonts_embedded(&path);
            let text = squeezed(&pdftotext(&path, false));
            let raw = squeezed(&pdftotext(&path, true));
            for part in [&name, &street, &city, &phone, &postal] {
                // In stream order every value is whole, in logical order, marks included.
                assert!(
                    raw.contains(&squeezed(part)),
                    "{what}: `pdftotext -raw` reads {part:?} whole: {raw}"
                );
                assert!(
                    reads_back(&text, part, matches!(*country, "SA" | "IL")),
                    "{what}: `pdftotext` reads {part:?} in logical order: {text}"
                );
            }
            assert!(text.contains(id.as_str()), "{what}: the order id");
            if *country == "SA" {
                for t in [&text, &raw] {
                    assert!(t.contains("12345") && !t.contains("54321"), "{what}: {t}");
                }
            }
            if *country == "JP" {
                assert!(fonts.contains("CJK"), "{what}: {fonts}");
            }
            assert_eq!(
                rendered_barcodes(&path),
                std::slice::from_ref(id),
                "{what}: scans"
            );
            if kind == "label" {
                // Shipped from the US: the country's English name; after the phone (the last
                // line of the block) when the address is not in Latin script.
                let at = |s: &str| text.find(&squeezed(s)).unwrap();
                assert!(text.contains(&squeezed(&english)), "{what}: {english}");
                assert_eq!(
                    at(&english) > at(&phone),
                    !latin,
                    "{what}: where {english} is"
                );
            } else {
                // The slip names the marketplace with its country, domain and currency.
                let m = fulfill::model::marketplace::MARKETPLACES
                    .iter()
                    .find(|m| m.country == *country)
                    .map_or("ATVPDKIKX0DER", |m| m.id);
                let sold = fulfill::model::marketplace::describe(m);
                assert!(text.contains(&squeezed(&sold)), "{what}: {sold}");
            }
        }
    }

    // At home (shipped from Japan), a Japanese label reads as it always did: the country
    // before the phone.
    w.e.owner(&["config", "set", "ship_from.country", "JP"]);
    let (_, jp) = &w.orders[0];
    let path = out.join("label-JP-home.pdf");
    let r = w.as_pat(&[
        "label",
        jp,
        "--format",
        "pdf",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = squeezed(&pdftotext(&path, false));
    let phone = squeezed(&w.address(jp).4);
    assert!(
        text.find("JAPAN").unwrap() < text.find(&phone).unwrap(),
        "{text}"
    );
    assert!(
        text.contains("amazon.co.jp"),
        "the label names the marketplace"
    );
}

#[test]
fn without_a_cjk_font_a_slip_is_refused_in_one_line_and_the_scan_finds_a_non_latin_name() {
    let w = World::new(22);
    let (_, jp) = &w.orders[0];
    let spool = w.e.dir.home().join("spool");
    let pdfs = || {
        std::fs::read_dir(&spool)
            .map(|d| {
                d.filter(|e| e.as_ref().unwrap().path().extension() == Some("pdf".as_ref()))
                    .count()
            })
            .unwrap_or(0)
    };
    let (name, ..) = w.address(jp);
    let empty = w.e.dir.path().join("no-fonts");
    std::fs::create_dir(&empty).unwrap();
    let r = support::run(
        w.e.dir
            .fulfill()
            .env("FULFILL_FONT_DIRS", &empty)
            .args(["--operator", "pat", "--passphrase-file"])
            .arg(&w.pat)
            .args(["slip", jp]),
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains(jp.as_str()), "{}", r.stderr);
    assert!(r.stderr.contains("fonts-noto-cjk"), "{}", r.stderr);
    assert!(!r.stderr.contains(&name), "no PII in the refusal");
    assert_eq!(pdfs(), 0, "nothing written");
    assert!(!w.e.dir.audit_text().contains("slip.printed"));
    // The control: with the system's fonts the slip prints.
    let r = w.as_pat(&["slip", jp]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(pdfs(), 1);

    // A label in Arabic, Hebrew or Thai copied to Downloads: the scan finds the buyer's name.
    let downloads = w.e.dir.path().join("Downloads");
    std::fs::create_dir(&downloads).unwrap();
    for (country, id) in w
        .orders
        .iter()
        .filter(|(c, _)| ["SA", "IL", "TH"].contains(c))
    {
        let path = downloads.join(format!("label-{country}.pdf"));
        let r = w.as_pat(&[
            "label",
            id,
            "--format",
            "pdf",
            "--out",
            path.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let v = w.e.scan(&downloads);
    for (country, id) in w
        .orders
        .iter()
        .filter(|(c, _)| ["SA", "IL", "TH"].contains(c))
    {
        assert!(
            v["leaks"].as_array().unwrap().iter().any(|l| {
                l["file"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("label-{country}.pdf"))
                    && l["order_id"] == id.as_str()
                    // The buyer's and the recipient's name are one value here, named once.
                    && (l["field"] == "recipient_name" || l["field"] == "buyer_name")
            }),
            "{country}: {}",
            v["leaks"]
        );
    }
}

#[test]
fn the_pick_list_draws_any_script_and_names_each_orders_marketplace() {
    let w = World::new(23);
    let (_, jp) = &w.orders[0];
    let sku: String =
        w.e.db()
            .query_row(
                "SELECT COALESCE(seller_sku, asin) FROM order_items WHERE amazon_order_id = ?1",
                [jp],
                |r| r.get(0),
            )
            .unwrap();
    w.e.owner(&["sku", "set-location", &sku, "棚-3"]);
    let r = w.as_pat(&["picklist"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("JP (amazon.co.jp, JPY)") && r.stdout.contains("SA (amazon.sa, SAR)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(&format!("{jp} JP")), "{}", r.stdout);
    let pdf = w.e.dir.path().join("pick.pdf");
    let r = w.as_pat(&[
        "picklist",
        "--format",
        "pdf",
        "--out",
        pdf.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    fonts_embedded(&pdf);
    let text = squeezed(&pdftotext(&pdf, false));
    assert!(
        text.contains("棚-3") && text.contains(&squeezed(&sku)),
        "{text}"
    );
    assert!(text.contains(&format!("{jp}JP")), "{text}");
    assert!(text.contains(&squeezed("JP (amazon.co.jp, JPY)")), "{text}");
}

/// What [`probe_pdf`] draws: text from (x, y), each letter `step` points right of the one
/// before (negative: to its left), or an `/ActualText` span opened (`span`: its text) or
/// closed (no text, no span).
type Probe<'a> = (Option<&'a str>, &'a str, (f32, f32), f32);

/// A one-page PDF whose content draws one-letter codes of Helvetica (500 units wide) mapped to
/// any characters by a ToUnicode map, as `ops` say.
fn probe_pdf(ops: &[Probe]) -> Vec<u8> {
    let mut codes: Vec<char> = Vec::new();
    let mut content = String::from("BT /F1 12 Tf\n");
    for (span, text, (x, y), step) in ops {
        match span {
            Some(actual) => {
                let hex: String = actual.encode_utf16().map(|u| format!("{u:04X}")).collect();
                content.push_str(&format!("/Span <</ActualText <FEFF{hex}>>> BDC\n"));
            }
            None if text.is_empty() => content.push_str("EMC\n"),
            None => {}
        }
        for (i, c) in text.chars().enumerate() {
            let code = match codes.iter().position(|&k| k == c) {
                Some(k) => k,
                None => {
                    codes.push(c);
                    codes.len() - 1
                }
            } + 0x21;
            let at = x + step * i as f32;
            content.push_str(&format!("1 0 0 1 {at:.2} {y:.2} Tm <{code:02X}> Tj\n"));
        }
    }
    content.push_str("ET\n");
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n/CIDSystemInfo \
         <</Registry (Adobe) /Ordering (UCS) /Supplement 0>> def\n/CMapName /Probe def \
         /CMapType 2 def\n1 begincodespacerange <00> <FF> endcodespacerange\n",
    );
    cmap.push_str(&format!("{} beginbfchar\n", codes.len()));
    for (k, c) in codes.iter().enumerate() {
        let hex: String = c
            .encode_utf16(&mut [0; 2])
            .iter()
            .map(|u| format!("{u:04X}"))
            .collect();
        cmap.push_str(&format!("<{:02X}> <{hex}>\n", k + 0x21));
    }
    cmap.push_str("endbfchar\nendcmap CMapName currentdict /CMap defineresource pop end end\n");
    let widths = vec!["500"; 223].join(" ");
    let objects = [
        "<</Type /Catalog /Pages 2 0 R>>".to_string(),
        "<</Type /Pages /Kids [3 0 R] /Count 1>>".to_string(),
        "<</Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R \
         /Resources <</Font <</F1 5 0 R>>>>>>"
            .to_string(),
        format!("<</Length {}>>\nstream\n{content}endstream", content.len()),
        format!(
            "<</Type /Font /Subtype /Type1 /BaseFont /Helvetica /FirstChar 33 /LastChar 255 \
             /Widths [{widths}] /ToUnicode 6 0 R>>"
        ),
        format!("<</Length {}>>\nstream\n{cmap}endstream", cmap.len()),
    ];
    let mut pdf = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        pdf.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer <</Size {} /Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

/// Why a right-to-left address is read with `pdftotext -raw` (docs/warehouse.md): the line
/// `عبد الله ZQX12` of an Arabic paragraph stands with `ZQX12` at its left, and on a page that
/// is mostly Latin plain `pdftotext` reads it by position, Latin first, however the content
/// stream draws it: in visual order, in logical order, or wrapped in an `/ActualText` span
/// with the logical text (which poppler lays out like drawn letters and reverses). Drawn in
/// logical order, `-raw` reads it in logical order. If poppler ever reads one of these right,
/// this fails and the goldens above can be made stricter.
#[test]
fn plain_pdftotext_reads_a_right_to_left_line_by_position_whatever_the_content_stream_says() {
    let dir = support::TestDir::new();
    let latin = (None, "SHIP TO Latin text here", (10.0, 150.0), 6.0);
    let logical = squeezed("عبد الله ZQX12");
    let read = |name: &str, ops: &[Probe], raw: bool| {
        let path = dir.path().join(name);
        std::fs::write(&path, probe_pdf(ops)).unwrap();
        squeezed(&pdftotext(&path, raw))
    };
    // Visual order: ZQX12, a space, then the Arabic letters right to left as they stand.
    let visual: String = "ZQX12 ".chars().chain("عبد الله".chars().rev()).collect();
    let drawn_visual = [latin, (None, visual.as_str(), (10.0, 100.0), 6.0)];
    // Logical order: the Arabic from its right end leftwards, then the Latin to its left.
    let drawn_logical = [
        latin,
        (None, "عبد الله", (10.0 + 6.0 * 13.0, 100.0), -6.0),
        (None, "ZQX12", (10.0, 100.0), 6.0),
    ];
    let spanned = [
        latin,
        (Some("عبد الله ZQX12"), "", (0.0, 0.0), 0.0),
        (None, visual.as_str(), (10.0, 100.0), 6.0),
        (None, "", (0.0, 0.0), 0.0),
    ];
    for (name, ops) in [
        ("visual.pdf", &drawn_visual[..]),
        ("logical.pdf", &drawn_logical[..]),
        ("actualtext.pdf", &spanned[..]),
    ] {
        let text = read(name, ops, false);
        assert!(
            text.contains("SHIPTOLatin"),
            "{name}: the control reads: {text}"
        );
        assert!(
            !text.contains(&logical),
            "{name}: poppler now reads it: {text}"
        );
    }
    assert!(read("actualtext.pdf", &spanned, false).contains("هللادبع"));
    assert!(read("logical.pdf", &drawn_logical, true).contains(&logical));
}

/// Beyond the sandbox's addresses: Arabic and Hebrew with vowel marks (one ending a word),
/// brackets, Arabic-Indic digits and separators inside right-to-left text, Thai with a tone
/// over a vowel, a Devanagari conjunct: `pdftotext -raw` reads each value whole.
#[test]
fn vocalised_right_to_left_text_and_stacked_marks_read_back_whole_with_pdftotext_raw() {
    use fulfill::pii::{BuyerPii, Pii};
    let dir = support::TestDir::new();
    let cases: [(&str, [&str; 3]); 4] = [
        ("AE", ["بَيت سلامٌ (الشيخ) كتابُ", "شارع ١٢ - 3/4 ZQX", "دبي"]),
        ("IL", ["שָׁלוֹם כֹּהֵן", "רחוב הרצל 12/3", "תל אביב-יפו"]),
        ("TH", ["กุ้ง ผู้ใหญ่", "ถนนสุขุมวิท ซอย 21", "กรุงเทพฯ"]),
        ("IN", ["क्षत्रिय श्रीमती", "कनॉट प्लेस 12", "नई दिल्ली"]),
    ];
    for (country, [name, street, city]) in cases {
        let pii = BuyerPii {
            recipient_name: Some(Pii::new(name)),
            address_line1: Some(Pii::new(street)),
            city: Some(Pii::new(city)),
            postal_code: Some(Pii::new("12345")),
            ..Default::default()
        };
        let facts = fulfill::label::LabelFacts {
            order_id: "111-2223334-4455566".into(),
            country: Some(country.into()),
            ..Default::default()
        };
        let pdf = fulfill::label::render_pdf(&facts, &pii, None).unwrap();
        let path = dir.path().join(format!("{country}.pdf"));
        std::fs::write(&path, &*pdf).unwrap();
        let raw = squeezed(&pdftotext(&path, true));
        for v in [name, street, city] {
            assert!(raw.contains(&squeezed(v)), "{country}: {v:?} in {raw}");
        }
    }
}
