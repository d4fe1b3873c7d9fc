//! The audit report a person looks at: `fulfill audit --html FILE` and `--pdf FILE`.
//!
//! Pure functions from a finished [`AuditReport`] (the compliance run, which also gathered the
//! log window, the operators and the PII openings, read-only) to bytes; the caller writes them.
//! `audit::report` mutates nothing and reads nothing: it can show only what the report holds,
//! and the report holds no PII value and no secret (orders by id, operators by name, files by
//! path, counts). What both renderings show, in this order:
//!
//! - the verdict and the facts of the run (profile, window, records verified, files scanned,
//!   the forms the leak scan searched);
//! - the compliance matrix: one row per requirement id, pass / fail / info, with its details;
//! - the log window strip: one cell per day ([`DayState`]);
//! - the operators, their role, state and last use;
//! - PII openings per operator per day, as small bar charts, with the alarm threshold;
//! - the findings: every line of every failed check.
//!
//! The HTML is one self-contained file: inline CSS and SVG, no script, no external resource
//! (a Content-Security-Policy forbids them too), every text HTML-escaped. The PDF uses the
//! built-in Helvetica (WinAnsi, as the pick list: any other character shows as `<U+XXXX>`).
//!
//! The checks themselves, one per COMPLIANCE id, are [`checks`] (`fulfill audit` runs them and
//! hands the finished report to the renderers here).

pub mod checks;
mod html;
mod pdf;

pub use html::render_html;
pub use pdf::render_pdf;

use crate::audit::report::checks::{AuditReport, DayState, LogDay, OPENINGS_PER_DAY, Status};

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#rrggbb`.
    pub(crate) fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// Components from 0 to 1 (PDF).
    pub(crate) fn unit(self) -> (f32, f32, f32) {
        (
            f32::from(self.0) / 255.0,
            f32::from(self.1) / 255.0,
            f32::from(self.2) / 255.0,
        )
    }
}

/// The colour of passing checks and healthy days.
pub const PASS_COLOUR: &str = "#1a7f37";
/// The colour of failed checks, missing days and alarms.
pub const FAIL_COLOUR: &str = "#cf222e";

pub(crate) const PASS: Rgb = Rgb(0x1a, 0x7f, 0x37);
pub(crate) const FAIL: Rgb = Rgb(0xcf, 0x22, 0x2e);
pub(crate) const INFO: Rgb = Rgb(0x09, 0x69, 0xda);
pub(crate) const GREY: Rgb = Rgb(0xd0, 0xd7, 0xde);
pub(crate) const INK: Rgb = Rgb(0x1f, 0x23, 0x28);
pub(crate) const BAR: Rgb = Rgb(0x54, 0x6e, 0x9a);

/// Label and colour of a verdict.
pub(crate) fn status(s: Status) -> (&'static str, &'static str, Rgb) {
    match s {
        Status::Pass => ("PASS", "pass", PASS),
        Status::Fail => ("FAIL", "fail", FAIL),
        Status::Info => ("INFO", "info", INFO),
    }
}

/// Every day state, in legend order.
pub(crate) const DAY_STATES: [DayState; 5] = [
    DayState::Records,
    DayState::NoActivity,
    DayState::Missing,
    DayState::Pruned,
    DayState::Damaged,
];

/// Class name, legend text and colour of a day state.
pub(crate) fn day_state(s: DayState) -> (&'static str, &'static str, Rgb) {
    match s {
        DayState::Records => ("records", "records present", Rgb(0x2d, 0xa4, 0x4e)),
        DayState::NoActivity => ("no-activity", "no activity", GREY),
        DayState::Missing => ("missing", "missing (deleted)", FAIL),
        DayState::Pruned => ("pruned", "pruned, with checkpoint", Rgb(0x82, 0x50, 0xdf)),
        DayState::Damaged => ("damaged", "break found", Rgb(0xbf, 0x87, 0x00)),
    }
}

/// A cell's tooltip: its day and what the log holds.
pub(crate) fn day_title(d: &LogDay) -> String {
    match d.state {
        DayState::Records => format!("{}: {} record(s)", d.day, d.records),
        DayState::Damaged => format!(
            "{}: {} readable record(s), and a break in the chain",
            d.day, d.records
        ),
        s => format!("{}: {}", d.day, day_state(s).1),
    }
}

/// How many days are in each state, in legend order, with the legend text.
pub(crate) fn day_counts(r: &AuditReport) -> Vec<(DayState, usize)> {
    DAY_STATES
        .iter()
        .map(|s| (*s, r.log_days.iter().filter(|d| d.state == *s).count()))
        .collect()
}

/// The strip's one-line summary: its span, where the log begins inside the window, and how
/// many days are in each state.
pub(crate) fn strip_summary(r: &AuditReport) -> String {
    let days = &r.log_days;
    let (first, last) = match (days.first(), days.last()) {
        (Some(f), Some(l)) => (f.day.as_str(), l.day.as_str()),
        _ => return "No days to show.".to_string(),
    };
    let mut s = format!(
        "{} day(s), {first} to {last}, one cell per day (UTC)",
        days.len()
    );
    if (days.len() as u64) < u64::from(r.window_days)
        && !days.iter().any(|d| d.state == DayState::Pruned)
    {
        s.push_str(&format!(
            "; the log begins on {first}, inside the {}-day window",
            r.window_days
        ));
    }
    let counts: Vec<String> = day_counts(r)
        .into_iter()
        .map(|(st, n)| format!("{} {n}", day_state(st).1))
        .collect();
    s.push_str(&format!(". {}.", counts.join(", ")));
    s
}

/// The strip's days in rows of this many (a quarter).
pub(crate) const STRIP_ROW: usize = 91;

/// PII openings for the chart: per operator (by name), the count on each of the strip's
/// days, and the operator's total over the whole window (days the strip does not show too).
pub(crate) struct Chart {
    /// (operator, counts per strip day, total).
    pub rows: Vec<(String, Vec<usize>, usize)>,
    /// The largest count on one day (at least 1, to scale by).
    pub max: usize,
}

pub(crate) fn chart(r: &AuditReport) -> Chart {
    let mut ops: Vec<&str> = r.pii_openings.iter().map(|o| o.operator.as_str()).collect();
    ops.sort_unstable();
    ops.dedup();
    let index: std::collections::HashMap<&str, usize> = r
        .log_days
        .iter()
        .enumerate()
        .map(|(i, d)| (d.day.as_str(), i))
        .collect();
    let rows: Vec<(String, Vec<usize>, usize)> = ops
        .iter()
        .map(|op| {
            let mut counts = vec![0; r.log_days.len()];
            let mut total = 0;
            for o in r.pii_openings.iter().filter(|o| o.operator == *op) {
                total += o.count;
                if let Some(&i) = index.get(o.day.as_str()) {
                    counts[i] += o.count;
                }
            }
            (op.to_string(), counts, total)
        })
        .collect();
    let max = rows
        .iter()
        .flat_map(|(_, c, _)| c.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    Chart { rows, max }
}

/// The orders opened in the window by marketplace (`US (amazon.com, USD) 12; DE ... 3`), for
/// the openings section; `None` when none was.
pub(crate) fn openings_by_marketplace(r: &AuditReport) -> Option<String> {
    let parts: Vec<String> = r
        .marketplaces
        .iter()
        .filter(|m| m.opened_in_window > 0)
        .map(|m| {
            format!(
                "{} {}",
                crate::model::marketplace::describe(&m.marketplace_id),
                m.opened_in_window
            )
        })
        .collect();
    (!parts.is_empty()).then(|| format!("Orders opened by marketplace: {}.", parts.join("; ")))
}

/// Whether a day's count raises the R28 alarm.
pub(crate) fn unusual(n: usize) -> bool {
    n > OPENINGS_PER_DAY
}

/// Every finding: (requirement id, line), in matrix order.
pub(crate) fn findings(r: &AuditReport) -> Vec<(&'static str, &str)> {
    r.checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .flat_map(|c| c.finding_lines().map(move |d| (c.id, d)))
        .collect()
}

/// A time in the local time zone of the machine making the report, with its UTC offset.
pub(crate) fn local_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

/// Who the report is for: the business name and seller id, as known.
pub(crate) fn seller(r: &AuditReport) -> String {
    match (&r.business_name, &r.seller_id) {
        (Some(n), Some(id)) => format!("{n} (seller {id})"),
        (Some(n), None) => format!("{n} (no seller id: no credentials stored)"),
        (None, Some(id)) => format!("seller {id} (name it: `fulfill config set business.name NAME`)"),
        (None, None) => "no seller yet (no credentials stored; `fulfill config set business.name NAME` names it)".to_string(),
    }
}

/// The report's first line in text: for whom, when (local time and UTC), which profile.
pub fn title_line(r: &AuditReport) -> String {
    format!(
        "fulfill audit for {}{}, {} ({} UTC), profile {}, last {} days",
        seller(r),
        if r.sandbox {
            ", SANDBOX HOME (no real buyer data)"
        } else {
            ""
        },
        r.generated_at_local,
        r.generated_at,
        r.profile,
        r.window_days
    )
}

/// The heading's facts, as (label, value).
pub(crate) fn facts(r: &AuditReport) -> Vec<(&'static str, String)> {
    let yes = |b: bool| if b { "yes" } else { "NO" }.to_string();
    let mut f = vec![("Seller", seller(r))];
    if r.sandbox {
        f.push((
            "Home",
            "SANDBOX: the built-in fake Amazon, no real buyer data".to_string(),
        ));
    }
    f.extend([
        (
            "Generated",
            format!("{} (UTC {})", r.generated_at_local, r.generated_at),
        ),
        ("Policy profile", r.profile.clone()),
        ("Window", format!("last {} days", r.window_days)),
        ("Audit chain intact", yes(r.chain_intact)),
        ("Vault database intact", yes(r.database_intact)),
        ("Records verified", r.records_verified.to_string()),
        (
            "PII values looked for",
            format!("{} in {} file(s)", r.pii_values_scanned, r.files_scanned),
        ),
        ("Forms searched", r.leak_forms.join("; ")),
        (
            "Orders from marketplaces not configured",
            match r.orders_unlisted_marketplace.as_slice() {
                [] => "none".to_string(),
                list => format!(
                    "{} (kept; Amazon returned them though no region lists their marketplace): {}",
                    list.len(),
                    list.iter()
                        .take(5)
                        .map(|(o, m)| format!(
                            "{o} in {}",
                            m.as_deref()
                                .map_or("-".into(), crate::model::marketplace::describe)
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            },
        ),
    ]);
    f.extend(marketplace_lines(r).into_iter().map(|l| ("Marketplace", l)));
    f
}

/// One line per marketplace the vault holds orders of: its orders, where their buyers'
/// details stand, and the orders opened in the window (issue 22).
pub(crate) fn marketplace_lines(r: &AuditReport) -> Vec<String> {
    if r.marketplaces.is_empty() {
        return vec!["no order stored".to_string()];
    }
    r.marketplaces
        .iter()
        .map(|m| {
            format!(
                "{}: {} order(s), {} with the buyer's details, {} waiting for them, {} purged; {} opened in the window",
                crate::model::marketplace::describe(&m.marketplace_id),
                m.orders,
                m.with_pii,
                m.waiting_for_pii,
                m.purged,
                m.opened_in_window
            )
        })
        .collect()
}

/// The verdict line.
pub(crate) fn verdict(r: &AuditReport) -> String {
    match r.findings {
        0 => "No findings: every check passed.".to_string(),
        1 => "1 check failed: see the findings.".to_string(),
        n => format!("{n} checks failed: see the findings."),
    }
}

/// What the report never holds, said at its foot.
pub(crate) const NO_PII: &str = "This report holds no PII and no secret: orders are named by id, \
operators by name, files by path; values are only counted.";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::report::checks::{Check, MarketplaceUse, OperatorUse, PiiOpenings};

    fn check(id: &'static str, status: Status, details: &[&str], failed: &[usize]) -> Check {
        Check {
            id,
            title: "a check",
            status,
            details: details.iter().map(|d| d.to_string()).collect(),
            next_action: (status == Status::Fail).then_some("do the next thing"),
            failed: failed.to_vec(),
        }
    }

    fn report() -> AuditReport {
        let day = |d: &str, state, records| LogDay {
            day: d.into(),
            state,
            records,
        };
        AuditReport {
            generated_at: "2026-03-03T10:00:00.000Z".into(),
            generated_at_local: "2026-03-03 11:00:00 +01:00".into(),
            seller_id: Some("A1SELLER".into()),
            business_name: Some("Acme <Goods>".into()),
            sandbox: true,
            marketplaces: vec![MarketplaceUse {
                marketplace_id: "ATVPDKIKX0DER".into(),
                country: Some("US"),
                currency: Some("USD"),
                orders: 3,
                with_pii: 2,
                waiting_for_pii: 1,
                purged: 0,
                opened_in_window: 1,
            }],
            orders_unlisted_marketplace: Vec::new(),
            profile: "mws-2020".into(),
            window_days: 90,
            findings: 1,
            chain_intact: false,
            database_intact: true,
            records_verified: 12,
            pii_values_scanned: 40,
            files_scanned: 3,
            leak_forms: vec!["text", "gzip"],
            checks: vec![
                check(
                    "R25",
                    Status::Fail,
                    &[
                        "audit-2026-03-02.jsonl:3 seq 7: <b>edited</b>",
                        "12 records verified",
                    ],
                    &[0],
                ),
                check("R15", Status::Pass, &["0 order(s) purged"], &[]),
                check("R2/R24", Status::Info, &[], &[]),
            ],
            chain_breaks: Vec::new(),
            leaks: Vec::new(),
            log_days: vec![
                day("2026-03-01", DayState::Records, 5),
                day("2026-03-02", DayState::Damaged, 7),
                day("2026-03-03", DayState::NoActivity, 0),
            ],
            operators: vec![OperatorUse {
                name: "pat <x>".into(),
                role: "packer".into(),
                state: "active",
                last_used: None,
                unused: true,
            }],
            pii_openings: vec![
                PiiOpenings {
                    operator: "pat <x>".into(),
                    day: "2026-03-01".into(),
                    count: 3,
                    by_marketplace: [("ATVPDKIKX0DER".to_string(), 3)].into(),
                },
                PiiOpenings {
                    operator: "pat <x>".into(),
                    day: "2026-03-02".into(),
                    count: 201,
                    by_marketplace: [("ATVPDKIKX0DER".to_string(), 201)].into(),
                },
            ],
        }
    }

    #[test]
    fn the_page_has_every_part_escaped_and_nothing_it_would_fetch_or_run() {
        let h = render_html(&report());
        for want in [
            r#"data-id="R25" data-status="fail""#,
            r#"data-id="R15" data-status="pass""#,
            r#"data-id="R2/R24" data-status="info""#,
            r#"data-day="2026-03-02" data-state="damaged""#,
            r#"data-day="2026-03-03" data-state="no-activity""#,
            r#"data-operator="pat &lt;x&gt;" data-day="2026-03-02" data-count="201""#,
            "class=\"threshold\"",
            "unused for 90+ days",
            "&lt;b&gt;edited&lt;/b&gt;",
        ] {
            assert!(h.contains(want), "{want} missing from\n{h}");
        }
        // The unusual day's bar is red, the other one not.
        assert!(h.contains(r#"data-count="201" x"#));
        let bar201 = h.split(r#"data-count="201""#).nth(1).unwrap();
        assert!(
            bar201
                .split("</rect>")
                .next()
                .unwrap()
                .contains(FAIL_COLOUR)
        );
        let bar3 = h.split(r#"data-count="3""#).nth(1).unwrap();
        assert!(!bar3.split("</rect>").next().unwrap().contains(FAIL_COLOUR));
        // Only the finding line is listed under the findings, not the summary.
        let findings = h.split("id=\"findings\"").nth(1).unwrap();
        assert!(findings.contains("edited"));
        assert!(!findings.contains("12 records verified"));
        assert!(!h.contains("<b>"));
        for banned in [
            "<script", "src=", "href=", "url(", "@import", "http:", "https:",
        ] {
            assert!(!h.contains(banned), "{banned} in the page");
        }
    }

    #[test]
    fn the_pdf_is_one_file_with_every_requirement_id() {
        let p = render_pdf(&report());
        assert!(p.starts_with(b"%PDF-"));
        let has = |needle: &[u8]| p.windows(needle.len()).any(|w| w == needle);
        for id in ["(R25)", "(R15)", "(R2/R24)", "(FAIL)", "(PASS)", "(INFO)"] {
            assert!(has(id.as_bytes()), "{id}");
        }
        // A long report goes on over pages, each with its footer.
        let mut big = report();
        big.checks[0].details = (0..300).map(|i| format!("finding {i}")).collect();
        big.checks[0].failed = (0..300).collect();
        let p = render_pdf(&big);
        let pages = p
            .windows(b"/Type /Page".len() + 1)
            .filter(|w| w.starts_with(b"/Type /Page") && w[w.len() - 1] != b's')
            .count();
        let footers = p
            .windows(b"page 1 of ".len())
            .filter(|w| w == b"page 1 of ")
            .count();
        assert!(pages > 2, "{pages} pages");
        assert_eq!(footers, 1);
    }
}
