//! `fulfill audit --html FILE --pdf FILE` through the binary on a sandbox home: the page is
//! rendered in real headless Chromium (its DOM and a screenshot), the PDF by poppler
//! (`pdftoppm`, `pdftotext`); neither holds a PII value the sandbox made; a tampered log shows
//! its requirement failing; the log window strip tells records, no activity, missing and
//! pruned days apart.
//!
//! Chromium, poppler-utils and a font (fonts-liberation) are system packages (`.ci/run`
//! installs them). A test that needs one fails, saying what to install, when it is missing: it
//! never skips. Set
//! `FULFILL_REPORT_ARTIFACTS=DIR` to keep the rendered pages there for a look.

use crate::fetch_support;
use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use fetch_support::CliEnv;
use support::{Run, count};

/// Every requirement id the matrix has a row for.
const IDS: [&str; 11] = [
    "R25", "R27", "R15", "R20", "R21", "R26", "R12", "R11", "R4/R5", "R6/R28", "R2/R24",
];

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

struct Env {
    e: CliEnv,
    auditor: PathBuf,
    pat: PathBuf,
}

fn env(seed: u64) -> Env {
    let e = CliEnv::new(40, seed, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let (r, auditor) = e.dir.add_operator("olga", &e.pass, "aud", "auditor");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (r, pat) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
    assert_eq!(r.code, 0, "{}", r.stderr);
    Env { e, auditor, pat }
}

impl Env {
    /// `audit` as the auditor, with `global` flags before the subcommand.
    fn audit(&self, global: &[&str], args: &[&str]) -> Run {
        let mut a = global.to_vec();
        a.extend_from_slice(&["--operator", "aud", "--passphrase-file"]);
        a.push(self.auditor.to_str().unwrap());
        a.push("audit");
        a.extend_from_slice(args);
        self.e.run(&a)
    }

    /// A file in the test's folder, as a string argument.
    fn file(&self, name: &str) -> PathBuf {
        self.e.dir.path().join(name)
    }

    /// Every PII value the sandbox made for its orders (the ground truth), 5 characters or
    /// longer (a two-letter state code also occurs in ordinary words).
    fn pii_values(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .e
            .sb
            .orders()
            .iter()
            .flat_map(|o| {
                o.order
                    .pii
                    .fields()
                    .into_iter()
                    .map(|(_, p)| p.expose_pii().to_string())
            })
            .filter(|s| s.chars().count() >= 5)
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Headless Chromium on `page` with `args` (a fresh profile each time, nothing networked),
/// stopped after two minutes at most.
fn chromium(dir: &Path, page: &Path, args: &[&str]) -> Run {
    let bin = support::system_tool("chromium", "chromium");
    let profile = tempfile::Builder::new()
        .prefix("chromium-profile-")
        .tempdir_in(dir)
        .unwrap();
    let mut c = Command::new("timeout");
    c.arg("120")
        .arg(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()));
    let r = support::run(&mut c);
    assert_eq!(r.code, 0, "chromium {args:?}: {}", r.stderr);
    r
}

/// The page's DOM as Chromium built it.
fn dom(dir: &Path, page: &Path) -> String {
    chromium(dir, page, &["--dump-dom"]).stdout
}

/// A decoded 8-bit RGB(A) picture: (width, height, pixels as RGB).
fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    // The size as the header says it, before decoding.
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (w, h));
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        c => panic!("unexpected colour type {c:?}"),
    };
    let px = buf[..info.buffer_size()]
        .chunks(step)
        .map(|p| {
            if step < 3 {
                [p[0]; 3]
            } else {
                [p[0], p[1], p[2]]
            }
        })
        .collect();
    (w, h, px)
}

/// Pixels within a small distance of `#rrggbb`.
fn pixels_near(px: &[[u8; 3]], hex: &str) -> usize {
    let c: Vec<i32> = (0..3)
        .map(|i| i32::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).unwrap())
        .collect();
    px.iter()
        .filter(|p| (0..3).all(|i| (i32::from(p[i]) - c[i]).abs() <= 8))
        .count()
}

/// Grey pixels darker than mid-grey: text in the ink colour, at any anti-aliasing.
fn dark(px: &[[u8; 3]]) -> usize {
    px.iter()
        .filter(|p| {
            let (lo, hi) = (p.iter().min().unwrap(), p.iter().max().unwrap());
            *hi < 128 && hi - lo < 24
        })
        .count()
}

fn distinct(px: &[[u8; 3]]) -> usize {
    let mut s: Vec<[u8; 3]> = px.to_vec();
    s.sort_unstable();
    s.dedup();
    s.len()
}

/// `pdftoppm -png -r 50` on `pdf`: the pages' pictures, in order.
fn pdf_pages(dir: &Path, pdf: &Path) -> Vec<PathBuf> {
    let out = dir.join("pages");
    std::fs::create_dir(&out).unwrap();
    let r = support::run(
        Command::new(support::system_tool("pdftoppm", "poppler-utils"))
            .args(["-png", "-r", "50"])
            .arg(pdf)
            .arg(out.join("page")),
    );
    assert_eq!(r.code, 0, "pdftoppm: {}", r.stderr);
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    pages.sort();
    pages
}

fn pdf_text(pdf: &Path) -> String {
    let r = support::run(
        Command::new(support::system_tool("pdftotext", "poppler-utils"))
            .arg("-layout")
            .arg(pdf)
            .arg("-"),
    );
    assert_eq!(r.code, 0, "pdftotext: {}", r.stderr);
    r.stdout
}

/// The DOM's row for requirement `id` (from its `<tr` to its `</tr>`).
fn row<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!("data-id=\"{id}\""))
        .unwrap_or_else(|| panic!("no row for {id} in the DOM"));
    let start = dom[..at].rfind("<tr").unwrap();
    let end = at + dom[at..].find("</tr>").unwrap();
    &dom[start..end]
}

/// The strip's cells in the page: (day, state), in order.
fn strip_cells(page: &str) -> Vec<(String, String)> {
    page.split("<rect class=\"day ")
        .skip(1)
        .map(|cell| {
            let attr = |name: &str| {
                let k = format!("{name}=\"");
                let from = cell.find(&k).unwrap() + k.len();
                cell[from..from + cell[from..].find('"').unwrap()].to_string()
            };
            (attr("data-day"), attr("data-state"))
        })
        .collect()
}

/// Copies rendered files to `FULFILL_REPORT_ARTIFACTS`, when set, for a person to look at.
fn keep(name: &str, files: &[&Path]) {
    if let Some(dir) = std::env::var_os("FULFILL_REPORT_ARTIFACTS") {
        let dir = PathBuf::from(dir).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for f in files {
            std::fs::copy(f, dir.join(f.file_name().unwrap())).unwrap();
        }
    }
}

/// Noon of the day of the home's first day file (day 0 of a test, even across midnight).
fn noon_of_first_day(t: &Env) -> DateTime<Utc> {
    let first = t.e.dir.audit_day_files().remove(0);
    let name = first.file_name().unwrap().to_string_lossy().to_string();
    fulfill::clock::parse_time(&format!("{}T12:00:00Z", &name[6..16])).unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_report_renders_in_chromium_and_poppler_with_every_requirement_and_no_pii() {
    let t = env(91);
    // The packer prints three labels: three PII openings (purpose label) to chart.
    let ids = t.e.order_ids(
        "lifecycle = 'unshipped' AND pii_state = 'sealed' AND pii_missing = 0 AND items_fetched = 1",
        3,
    );
    for id in &ids {
        let r = t.e.run_as("pat", &t.pat, &["label", id]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let (html, pdf) = (t.file("report.html"), t.file("report.pdf"));
    let r = t.audit(
        &[],
        &[
            "--html",
            html.to_str().unwrap(),
            "--pdf",
            pdf.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("Wrote the audit report (HTML)"),
        "{}",
        r.stderr
    );
    assert_eq!((mode(&html), mode(&pdf)), (0o600, 0o600));
    let page = std::fs::read_to_string(&html).unwrap();
    for banned in [
        "<script", "src=", "href=", "url(", "@import", "http:", "https:",
    ] {
        assert!(!page.contains(banned), "{banned} in the page");
    }

    // The DOM Chromium built: a row per requirement id, each passing (or informing).
    let dom = dom(t.e.dir.path(), &html);
    for id in IDS {
        let row = row(&dom, id);
        let passed = row.contains("data-status=\"pass\"")
            && row.contains("<td class=\"status pass\">PASS</td>");
        let informs = row.contains("data-status=\"info\"")
            && row.contains("<td class=\"status info\">INFO</td>");
        assert!(passed || informs, "{id}: {row}");
    }
    assert!(row(&dom, "R25").contains("PASS"));
    assert!(dom.contains("No findings."));
    // The strip: a cell for today, with records.
    let today = noon_of_first_day(&t).format("%Y-%m-%d").to_string();
    let cells = strip_cells(&dom);
    assert!(
        cells.contains(&(today.clone(), "records".to_string())),
        "{cells:?}"
    );
    // Every operator, and the packer's three openings today as a bar.
    for op in ["olga", "cron", "aud", "pat"] {
        assert!(
            dom.contains(&format!("<tr class=\"operator\" data-operator=\"{op}\">")),
            "{op}"
        );
    }
    assert!(
        dom.contains(&format!(
            "data-operator=\"pat\" data-day=\"{today}\" data-count=\"3\""
        )),
        "no bar for pat's openings"
    );

    // A real picture: the window's size, many colours, the passing checks' green.
    let shot = t.file("report.png");
    chromium(
        t.e.dir.path(),
        &html,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,1600",
        ],
    );
    let (w, h, px) = decode_png(&shot);
    assert_eq!((w, h), (1200, 1600));
    assert!(distinct(&px) > 20, "{} colours", distinct(&px));
    let white = pixels_near(&px, "#ffffff");
    assert!(white < px.len() * 97 / 100, "the page is blank");
    assert!(
        pixels_near(&px, fulfill::audit::report::PASS_COLOUR) > 500,
        "no passing check is drawn green"
    );
    // Text was drawn (a font was found): pixels of the ink colour.
    assert!(
        pixels_near(&px, "#1f2328") > 3000,
        "no text drawn: is a font installed (fonts-liberation)?"
    );

    // The PDF: poppler draws non-blank pages and reads every requirement id back.
    let pages = pdf_pages(t.e.dir.path(), &pdf);
    assert!(!pages.is_empty());
    for p in &pages {
        let (w, h, px) = decode_png(p);
        assert!(w > 300 && h > 400, "{w}x{h}");
        assert!(distinct(&px) > 2, "{} is blank", p.display());
    }
    let (_, _, first) = decode_png(&pages[0]);
    assert!(pixels_near(&first, "#ffffff") < first.len() * 99 / 100);
    assert!(
        dark(&first) > 1000,
        "no text drawn on the PDF's first page: is a font installed (fonts-liberation)?"
    );
    let text = pdf_text(&pdf);
    for id in IDS {
        assert!(text.contains(id), "{id} not in the PDF's text:\n{text}");
    }
    let r25 = text.lines().find(|l| l.contains("R25")).unwrap();
    assert!(r25.contains("PASS"), "{r25}");
    for needle in [
        "Compliance matrix",
        "Audit log window",
        "Operators",
        "pat",
        "3 in all",
    ] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
    keep("clean", &[&html, &shot, &pdf, &pages[0]]);

    // No PII: no value the sandbox made is in the page, the DOM, the PDF or its text, nor
    // the marker every generated value carries ...
    let values = t.pii_values();
    assert!(values.len() > 40, "{} values", values.len());
    let marker = t.e.sb.pii_marker();
    let pdf_bytes = std::fs::read(&pdf).unwrap();
    for (what, hay) in [
        ("page", page.as_bytes()),
        ("DOM", dom.as_bytes()),
        ("PDF", &pdf_bytes[..]),
        ("PDF text", text.as_bytes()),
    ] {
        assert_eq!(
            count(hay, marker.as_bytes()),
            0,
            "the PII marker in the {what}"
        );
        for v in &values {
            assert_eq!(count(hay, v.as_bytes()), 0, "a PII value in the {what}");
        }
    }
    // ... while the same scan finds them in a label the packer printed (the control).
    let spool: Vec<PathBuf> = std::fs::read_dir(t.e.dir.home().join("spool"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(spool.len(), 3);
    let label = std::fs::read(&spool[0]).unwrap();
    assert!(count(&label, marker.as_bytes()) > 0);
    assert!(values.iter().any(|v| count(&label, v.as_bytes()) > 0));
}

#[test]
fn a_tampered_log_shows_r25_failing_in_the_page_and_the_pdf() {
    let t = env(92);
    let day = t.e.dir.audit_day_files().remove(0);
    let text = std::fs::read_to_string(&day).unwrap();
    // Rewrite the third record's operator: a well-formed edit the hash chain must catch.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[2] = lines[2].replacen("\"operator\":\"olga\"", "\"operator\":\"eve\"", 1);
    assert_ne!(lines[2], text.lines().nth(2).unwrap(), "the edit applies");
    std::fs::write(&day, lines.join("\n") + "\n").unwrap();
    let (html, pdf) = (t.file("tampered.html"), t.file("tampered.pdf"));
    let r = t.audit(
        &[],
        &[
            "--html",
            html.to_str().unwrap(),
            "--pdf",
            pdf.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);

    let dom = dom(t.e.dir.path(), &html);
    let r25 = row(&dom, "R25");
    assert!(
        r25.contains("data-status=\"fail\"") && r25.contains("<td class=\"status fail\">FAIL</td>"),
        "{r25}"
    );
    assert!(
        r25.contains(":3 seq 3"),
        "the finding names file and line: {r25}"
    );
    // The other checks still pass: the report tells which requirement broke.
    assert!(row(&dom, "R15").contains("data-status=\"pass\""));
    let day_name = day.file_name().unwrap().to_string_lossy().to_string();
    let d = &day_name["audit-".len()..day_name.len() - ".jsonl".len()];
    assert!(
        strip_cells(&dom).contains(&(d.to_string(), "damaged".to_string())),
        "{:?}",
        strip_cells(&dom)
    );
    let findings = &dom[dom.find("id=\"findings\"").unwrap()..];
    assert!(findings.contains("data-id=\"R25\""), "{findings}");
    assert!(dom.contains("class=\"verdict fail\""));

    let text = pdf_text(&pdf);
    let line = text.lines().find(|l| l.contains("R25")).unwrap();
    assert!(line.contains("FAIL"), "{line}");
    assert!(text.contains("[R25]"), "the findings list it:\n{text}");
    let pages = pdf_pages(t.e.dir.path(), &pdf);
    assert!(pages.iter().all(|p| distinct(&decode_png(p).2) > 2));
    keep("tampered", &[&html, &pdf]);
}

#[test]
fn the_strip_tells_missing_days_from_quiet_ones_and_pruned_ones() {
    let t = env(93);
    let now = noon_of_first_day(&t);
    let day = |d: i64| (now + Duration::days(d)).format("%Y-%m-%d").to_string();
    // Records on day 2 and day 4; nothing on days 1 and 3.
    for d in [2, 4] {
        let r = t.e.run_as(
            "olga",
            &t.e.pass,
            &["--now", &at(now + Duration::days(d)), "orders"],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let html = t.file("window.html");
    let r = t.audit(
        &["--now", &at(now + Duration::days(5))],
        &["--html", html.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let cells = strip_cells(&std::fs::read_to_string(&html).unwrap());
    let want = |states: &[(i64, &str)]| -> Vec<(String, String)> {
        states
            .iter()
            .map(|(d, s)| (day(*d), s.to_string()))
            .collect()
    };
    assert_eq!(
        cells,
        want(&[
            (0, "records"),
            (1, "no-activity"),
            (2, "records"),
            (3, "no-activity"),
            (4, "records"),
            (5, "records"),
        ])
    );

    // Day 2's file deleted: the chain says it had records, so it is missing, and the break
    // shows in day 4's file.
    let files = t.e.dir.audit_day_files();
    let two = files
        .iter()
        .find(|p| p.to_string_lossy().contains(&day(2)))
        .unwrap();
    std::fs::remove_file(two).unwrap();
    std::fs::remove_file(&html).unwrap();
    let r = t.audit(
        &["--now", &at(now + Duration::days(5))],
        &["--html", html.to_str().unwrap()],
    );
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);
    let page = std::fs::read_to_string(&html).unwrap();
    let cells = strip_cells(&page);
    assert_eq!(
        cells,
        want(&[
            (0, "records"),
            (1, "no-activity"),
            (2, "missing"),
            (3, "no-activity"),
            (4, "damaged"),
            (5, "records"),
        ])
    );
    assert!(row(&page, "R25").contains("data-status=\"fail\""));
    keep("missing", &[&html]);
}

#[test]
fn pruned_days_show_as_pruned_and_a_bad_report_path_is_one_clear_error() {
    let t = env(94);
    let now = noon_of_first_day(&t);
    let day = |d: i64| (now + Duration::days(d)).format("%Y-%m-%d").to_string();
    let r = t.e.run_as(
        "olga",
        &t.e.pass,
        &["--now", &at(now + Duration::days(2)), "orders"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // 100 days on, purge prunes the day files older than the profile's 90 days.
    let later = at(now + Duration::days(100));
    let r = t.e.run(&["--now", &later, "--operator", "cron", "purge"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        t.e.dir
            .audit_day_files()
            .iter()
            .all(|p| !p.to_string_lossy().contains(&day(2))),
        "day 2 was pruned"
    );
    let html = t.file("pruned.html");
    let r = t.audit(
        &["--now", &later],
        &["--window", "120", "--html", html.to_str().unwrap()],
    );
    // Operators unused for 90 days are findings (exit 1); the log itself is whole.
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let page = std::fs::read_to_string(&html).unwrap();
    let cells = strip_cells(&page);
    assert_eq!(cells.len(), 120, "one cell per day of the window");
    let state = |d: i64| {
        cells
            .iter()
            .find(|(x, _)| *x == day(d))
            .map(|(_, s)| s.as_str())
            .unwrap_or_else(|| panic!("no cell for day {d}"))
    };
    assert_eq!(state(-19), "pruned");
    assert_eq!(state(0), "pruned");
    assert_eq!(state(2), "pruned");
    assert_eq!(state(3), "no-activity");
    assert_eq!(state(99), "no-activity");
    assert_eq!(state(100), "records");
    assert!(
        row(&page, "R25").contains("data-status=\"pass\""),
        "{}",
        row(&page, "R25")
    );
    assert!(row(&page, "R4/R5").contains("data-status=\"fail\""));
    assert!(page.contains("unused for 90+ days"));
    keep("pruned", &[&html]);

    // A window longer than the strip shows its newest 400 days; `--json` carries the same facts.
    std::fs::remove_file(&html).unwrap();
    let r = t.audit(
        &["--now", &later],
        &[
            "--window",
            "36500",
            "--json",
            "--html",
            html.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let cells = strip_cells(&std::fs::read_to_string(&html).unwrap());
    assert_eq!(cells.len(), 400);
    assert_eq!(cells.last().unwrap(), &(day(100), "records".to_string()));
    assert_eq!(cells[0], (day(100 - 399), "pruned".to_string()));
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["log_days"].as_array().unwrap().len(), 400);
    assert_eq!(v["log_days"][399]["state"], "records");
    assert_eq!(v["operators"].as_array().unwrap().len(), 4);
    assert!(v["pii_openings"].as_array().is_some());

    // The same file for both, and a folder that does not exist: one line each, nothing left.
    let r = t.audit(&["--now", &later], &["--html", "x.out", "--pdf", "x.out"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    let nowhere = t.file("no/such/folder/report.pdf");
    let r = t.audit(&["--now", &later], &["--pdf", nowhere.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("cannot write"), "{}", r.stderr);
    assert!(!nowhere.exists());
}
