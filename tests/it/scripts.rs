//! Issue 21 goldens through the binary: labels and packing slips for buyers in Japanese, Arabic,
//! Hebrew, Polish, Turkish, Greek, Thai and Devanagari (sandbox orders sent to those countries
//! with `SandboxHandle::ship_to`). Each PDF reads back with `pdftotext` in logical order (a
//! Riyadh postcode 12345 stays 12345), embeds every font (`pdffonts`), renders (`pdftoppm`) and
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

/// The text `pdftotext` reads from `pdf`.
fn pdftotext(pdf: &Path) -> String {
    let out = tool("pdftotext", "poppler-utils")
        .arg(pdf)
        .arg("-")
        .output()
        .unwrap();
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

/// `s` without Thai's combining vowel and tone marks and Devanagari's vowel signs, virama and
/// other marks, and how many there were.
fn thai_marks(s: &str) -> (String, usize) {
    let mark = |c: &char| {
        matches!(*c as u32, 0x0E31 | 0x0E34..=0x0E3A | 0x0E47..=0x0E4E | 0x0900..=0x0903
            | 0x093A..=0x094F | 0x0951..=0x0957 | 0x0962..=0x0963)
    };
    (
        s.chars().filter(|c| !mark(c)).collect(),
        s.chars().filter(mark).count(),
    )
}

fn rtl(c: char) -> bool {
    matches!(c as u32, 0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFF)
}

/// True when `text` (pdftotext's, squeezed) holds `value` in logical order. In a left-to-right
/// address a value reads back whole. In a line with right-to-left words (`rtl_lines`), pdftotext puts the line's pieces
/// left to right as they stand on the page (in an Arabic line the postcode, set left of the
/// city, comes first; a hyphen inside a Hebrew word splits it too), each in its reading order:
/// so each run of right-to-left letters (across spaces) and each run of other characters must
/// read back as it is written (a postcode's digits never reversed).
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
            let text = squeezed(&pdftotext(&path));
            let parts = [&name, &street, &city, &phone, &postal];
            let marks_apart = matches!(*country, "TH" | "IN");
            if marks_apart {
                // Known limit of extraction (the page draws these right; see the report and
                // docs/warehouse.md): poppler files a Thai mark that shaping drew above or
                // below its line under a neighbouring line, and a glyph standing for a whole
                // Devanagari cluster reads back through one ToUnicode entry. The letters are
                // compared in order; Thai's marks by count.
                let (t, marks) = thai_marks(&text);
                for part in parts {
                    assert!(t.contains(&thai_marks(&squeezed(part)).0), "{what}: {text}");
                }
                if *country == "TH" {
                    let want: usize = parts.iter().map(|p| thai_marks(p).1).sum();
                    assert!(marks >= want, "{what}: {marks} marks of {want}: {text}");
                }
            }
            for part in parts.into_iter().filter(|_| !marks_apart) {
                assert!(
                    reads_back(&text, part, matches!(*country, "SA" | "IL")),
                    "{what}: a line reads back in logical order: {text}"
                );
            }
            assert!(text.contains(id.as_str()), "{what}: the order id");
            if *country == "SA" {
                assert!(text.contains("12345") && !text.contains("54321"), "{what}");
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
    let text = squeezed(&pdftotext(&path));
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
    let text = squeezed(&pdftotext(&pdf));
    assert!(
        text.contains("棚-3") && text.contains(&squeezed(&sku)),
        "{text}"
    );
    assert!(text.contains(&format!("{jp}JP")), "{text}");
    assert!(text.contains(&squeezed("JP (amazon.co.jp, JPY)")), "{text}");
}
