//! The report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched.

use std::fmt::Write as _;

use super::{
    FAIL, GREY, NO_PII, STRIP_ROW, chart, day_counts, day_state, day_title, facts, findings,
    status, unusual, verdict,
};
use crate::audit::report::checks::{AuditReport, OPENINGS_PER_DAY};

/// `text` for HTML text and attribute values: control characters and bidirectional overrides
/// dropped (a file name may carry them), `& < > " '` escaped.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in crate::label::picklist::clean(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif;
  color: #1f2328; background: #ffffff; margin: 24px auto; max-width: 1120px; padding: 0 16px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
.verdict { font-weight: 600; padding: 8px 12px; border-radius: 6px; color: #ffffff; display: inline-block; }
.verdict.pass { background: #1a7f37; } .verdict.fail { background: #cf222e; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; margin: 12px 0; }
dl.facts dt { color: #59636e; } dl.facts dd { margin: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px; border-bottom: 1px solid #d0d7de; }
thead th { background: #f6f8fa; font-size: 13px; }
th.req { white-space: nowrap; font-family: ui-monospace, Menlo, Consolas, monospace; }
td.status { font-weight: 700; color: #ffffff; text-align: center; width: 56px; }
td.status.pass { background: #1a7f37; } td.status.fail { background: #cf222e; }
td.status.info { background: #0969da; }
td ul { margin: 0; padding-left: 18px; } td li { overflow-wrap: anywhere; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 8px 0; font-size: 13px; }
.legend span.key { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; margin-right: 6px; }
svg text.axis { fill: #59636e; }
svg text { font: 11px system-ui, Helvetica, Arial, sans-serif; fill: #1f2328; }
.flag { color: #cf222e; font-weight: 600; } .ok { color: #1a7f37; }
ol.findings li { overflow-wrap: anywhere; margin: 2px 0; }
ol.findings .req { font-family: ui-monospace, Menlo, Consolas, monospace; font-weight: 600; }
footer { margin-top: 32px; color: #59636e; font-size: 12px; }
";

/// The whole page.
pub fn render_html(r: &AuditReport) -> String {
    let mut h = String::with_capacity(64 << 10);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>fulfill audit report, {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&r.generated_at)
    );
    heading(&mut h, r);
    matrix(&mut h, r);
    strip(&mut h, r);
    operators(&mut h, r);
    openings(&mut h, r);
    list_findings(&mut h, r);
    let _ = write!(
        h,
        "<footer><p>{}</p><p>Made by <code>fulfill audit</code>; requirement ids as in COMPLIANCE.md.</p></footer>\n</body>\n</html>\n",
        esc(NO_PII)
    );
    h
}

fn heading(h: &mut String, r: &AuditReport) {
    let class = if r.findings == 0 { "pass" } else { "fail" };
    let _ = write!(
        h,
        "<header>\n<h1>fulfill audit report</h1>\n<p id=\"verdict\" class=\"verdict {class}\">{}</p>\n<dl class=\"facts\">\n",
        esc(&verdict(r))
    );
    for (k, v) in facts(r) {
        if k == "Generated" {
            // Local time shown, UTC on hover (and in the machine-readable attribute).
            let _ = writeln!(
                h,
                "<dt>Generated</dt><dd><time datetime=\"{utc}\" title=\"UTC {utc}\">{}</time> <span class=\"utc\">(UTC {utc})</span></dd>",
                esc(&r.generated_at_local),
                utc = esc(&r.generated_at)
            );
            continue;
        }
        let _ = writeln!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    }
    h.push_str("</dl>\n</header>\n");
}

fn matrix(h: &mut String, r: &AuditReport) {
    h.push_str(
        "<section id=\"matrix\">\n<h2>Compliance matrix</h2>\n<table>\n<thead><tr><th>Requirement</th>\
         <th>Check</th><th>Result</th><th>Details</th></tr></thead>\n<tbody>\n",
    );
    for c in &r.checks {
        let (label, class, _) = status(c.status);
        let _ = write!(
            h,
            "<tr class=\"check\" data-id=\"{id}\" data-status=\"{class}\"><th class=\"req\" scope=\"row\">{id}</th>\
             <td>{title}</td><td class=\"status {class}\">{label}</td><td><ul>",
            id = esc(c.id),
            title = esc(c.title),
        );
        for d in &c.details {
            let _ = write!(h, "<li>{}</li>", esc(d));
        }
        if let Some(next) = c.next_action {
            let _ = write!(
                h,
                "<li class=\"next\"><strong>Next:</strong> {}</li>",
                esc(next)
            );
        }
        h.push_str("</ul></td></tr>\n");
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

/// Cell size and pitch of the strip, in CSS pixels.
const CELL: usize = 10;
const PITCH: usize = 11;
const LABEL: usize = 84;

fn strip(h: &mut String, r: &AuditReport) {
    let days = &r.log_days;
    let _ = writeln!(
        h,
        "<section id=\"log-window\">\n<h2>Audit log window</h2>\n<p>{}</p>",
        esc(&super::strip_summary(r))
    );
    let rows = days.len().div_ceil(STRIP_ROW).max(1);
    let width = LABEL + STRIP_ROW * PITCH;
    let height = rows * (PITCH + 6);
    let _ = writeln!(
        h,
        "<svg id=\"strip\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"audit log window, one cell per day\">"
    );
    for (row, chunk) in days.chunks(STRIP_ROW).enumerate() {
        let y = row * (PITCH + 6);
        let _ = writeln!(
            h,
            "<text x=\"0\" y=\"{}\">{}</text>",
            y + CELL,
            esc(&chunk[0].day)
        );
        for (i, d) in chunk.iter().enumerate() {
            let (class, _, colour) = day_state(d.state);
            let _ = writeln!(
                h,
                "<rect class=\"day {class}\" data-day=\"{day}\" data-state=\"{class}\" x=\"{x}\" y=\"{y}\" \
                 width=\"{CELL}\" height=\"{CELL}\" rx=\"2\" fill=\"{fill}\"><title>{title}</title></rect>",
                day = esc(&d.day),
                x = LABEL + i * PITCH,
                fill = colour.hex(),
                title = esc(&day_title(d)),
            );
        }
    }
    h.push_str("</svg>\n<div class=\"legend\">");
    for (s, n) in day_counts(r) {
        let (class, text, colour) = day_state(s);
        let _ = write!(
            h,
            "<span class=\"legend-{class}\"><span class=\"key\" style=\"background:{}\"></span>{} ({n})</span>",
            colour.hex(),
            esc(text)
        );
    }
    h.push_str("</div>\n</section>\n");
}

/// A record time (UTC) as the local time of the machine making the report, UTC on hover.
fn local_time(utc: &str) -> String {
    match crate::mws::model::parse_mws_time(utc) {
        Some(t) => format!(
            "<time datetime=\"{u}\" title=\"UTC {u}\">{}</time>",
            esc(&super::local_time(t)),
            u = esc(utc)
        ),
        None => esc(utc),
    }
}

fn operators(h: &mut String, r: &AuditReport) {
    h.push_str(
        "<section id=\"operators\">\n<h2>Operators</h2>\n<table>\n<thead><tr><th>Operator</th><th>Role</th>\
         <th>State</th><th>Last used</th><th>Review</th></tr></thead>\n<tbody>\n",
    );
    for o in &r.operators {
        let review = if o.unused {
            format!(
                "<span class=\"flag\">unused for {}+ days: disable it</span>",
                crate::audit::report::checks::UNUSED_DAYS
            )
        } else {
            "<span class=\"ok\">ok</span>".to_string()
        };
        let _ = writeln!(
            h,
            "<tr class=\"operator\" data-operator=\"{name}\"><td>{name}</td><td>{role}</td><td>{state}</td><td>{last}</td><td>{review}</td></tr>",
            name = esc(&o.name),
            role = esc(&o.role),
            state = esc(o.state),
            last = o
                .last_used
                .as_deref()
                .map_or("never".to_string(), local_time),
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

/// The chart's plot height and the width it may use, in CSS pixels.
const PLOT: usize = 48;
const PLOT_WIDTH: usize = STRIP_ROW * PITCH;

fn openings(h: &mut String, r: &AuditReport) {
    h.push_str("<section id=\"openings\">\n<h2>PII openings per operator per day</h2>\n");
    let c = chart(r);
    if c.rows.is_empty() {
        h.push_str("<p>No PII was opened in the window.</p>\n</section>\n");
        return;
    }
    let n = r.log_days.len().max(1);
    // Bars share the strip's days; on a long window they get thinner, never below 1 px.
    let pitch = (PLOT_WIDTH as f32 / n as f32).clamp(1.0, PITCH as f32);
    let bar = (pitch - 1.0).max(1.0);
    let _ = writeln!(
        h,
        "<p>Each bar is one day of the strip above; bars share one scale (tallest: {} order(s) opened in a day, each order once). \
         More than {OPENINGS_PER_DAY} orders by one operator in a day is an alarm (R28), drawn red.</p>",
        c.max
    );
    let band = PLOT + 34;
    let width = LABEL + PLOT_WIDTH;
    let height = band * c.rows.len();
    let _ = writeln!(
        h,
        "<svg id=\"openings-chart\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"PII openings per operator per day\">"
    );
    for (row, (op, counts, total)) in c.rows.iter().enumerate() {
        let top = row * band;
        let base = top + PLOT + 4;
        let _ = writeln!(
            h,
            "<g class=\"operator-openings\" data-operator=\"{op}\" data-total=\"{total}\">\
             <text x=\"0\" y=\"{}\">{op}</text><text x=\"0\" y=\"{}\">{total} in all</text>\
             <line x1=\"{LABEL}\" y1=\"{base}\" x2=\"{width}\" y2=\"{base}\" stroke=\"{}\" stroke-width=\"1\"/>",
            top + 20,
            top + 36,
            GREY.hex(),
            op = esc(op),
        );
        if let (Some(f), Some(l)) = (r.log_days.first(), r.log_days.last()) {
            let _ = writeln!(
                h,
                "<text class=\"axis\" x=\"{LABEL}\" y=\"{y}\">{}</text>\
                 <text class=\"axis\" x=\"{width}\" y=\"{y}\" text-anchor=\"end\">{}</text>",
                esc(&f.day),
                esc(&l.day),
                y = base + 14,
            );
        }
        if c.max > OPENINGS_PER_DAY {
            let y = base as f32 - OPENINGS_PER_DAY as f32 / c.max as f32 * PLOT as f32;
            let _ = writeln!(
                h,
                "<line class=\"threshold\" x1=\"{LABEL}\" y1=\"{y:.1}\" x2=\"{width}\" y2=\"{y:.1}\" stroke=\"{}\" stroke-dasharray=\"4 3\"/>",
                FAIL.hex()
            );
        }
        for (i, &n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            let hgt = (n as f32 / c.max as f32 * PLOT as f32).max(2.0);
            let colour = if unusual(n) { FAIL } else { super::BAR };
            let _ = writeln!(
                h,
                "<rect class=\"bar\" data-operator=\"{op}\" data-day=\"{day}\" data-count=\"{n}\" x=\"{x:.1}\" y=\"{y:.1}\" \
                 width=\"{bar:.1}\" height=\"{hgt:.1}\" fill=\"{fill}\"><title>{op}, {day}: {n} opening(s)</title></rect>",
                op = esc(op),
                day = esc(&r.log_days[i].day),
                x = LABEL as f32 + i as f32 * pitch,
                y = base as f32 - hgt,
                fill = colour.hex(),
            );
        }
        h.push_str("</g>\n");
    }
    h.push_str("</svg>\n");
    if let Some(m) = super::openings_by_marketplace(r) {
        let _ = writeln!(h, "<p id=\"openings-by-marketplace\">{}</p>", esc(&m));
    }
    h.push_str("</section>\n");
}

fn list_findings(h: &mut String, r: &AuditReport) {
    h.push_str("<section id=\"findings\">\n<h2>Findings</h2>\n");
    let f = findings(r);
    if f.is_empty() {
        h.push_str("<p class=\"ok\">No findings.</p>\n</section>\n");
        return;
    }
    h.push_str("<ol class=\"findings\">\n");
    for (id, line) in f {
        let _ = writeln!(
            h,
            "<li data-id=\"{id}\"><span class=\"req\">{id}</span> {}</li>",
            esc(line),
            id = esc(id)
        );
    }
    h.push_str("</ol>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_stripped_of_controls() {
        assert_eq!(
            esc("<script>\"a\" & 'b'\u{202E}\u{7}</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
