//! The objectives page of the report (`report/objectives.html`): per
//! objective and measure, the status and why, the key figures, a chart of
//! the series against the target, the series as a table, and the method in
//! plain English. Built from the published `objective_progress` and
//! `objective_history` files only.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use arrow_array::RecordBatch;

use super::progress::{percent_interval, show};
use crate::report::Cols;
use crate::report::html::esc;

/// One measure's row of `objective_progress`.
struct Row {
    objective_id: String,
    objective_title: String,
    owner: Option<String>,
    measure_id: String,
    title: String,
    unit: String,
    direction: String,
    target: Option<f64>,
    target_day: Option<i32>,
    target_date: String,
    baseline_date: String,
    baseline: Option<f64>,
    latest_date: String,
    latest: Option<f64>,
    lower: Option<f64>,
    upper: Option<f64>,
    change: Option<f64>,
    change_lower: Option<f64>,
    change_upper: Option<f64>,
    assessment: Option<String>,
    projected: Option<f64>,
    status: String,
    reason: String,
}

/// One recorded figure.
struct Fig {
    day: i32,
    date: String,
    value: Option<f64>,
    numerator: Option<f64>,
    denominator: Option<f64>,
    base: Option<f64>,
    suppressed: bool,
}

fn rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let c = Cols(b);
        let t = |n| c.text(n);
        let (oid, otitle, owner, mid, title, unit, dir, status, reason) = (
            t("objective_id"),
            t("objective_title"),
            c.opt_text("owner"),
            t("measure_id"),
            t("measure_title"),
            t("unit"),
            t("direction"),
            t("status"),
            t("reason"),
        );
        let assessment = c.opt_text("change_assessment");
        let (target, baseline, latest, lower, upper) = (
            c.num("target"),
            c.num("baseline_value"),
            c.num("latest_value"),
            c.num("latest_lower"),
            c.num("latest_upper"),
        );
        let (change, cl, cu, projected) = (
            c.num("change_since_baseline"),
            c.num("change_lower"),
            c.num("change_upper"),
            c.num("projected_value"),
        );
        let target_days = c.days("target_date");
        let (td, bd, ld) = (
            c.date("target_date"),
            c.date("baseline_period"),
            c.date("latest_period"),
        );
        for i in 0..b.num_rows() {
            out.push(Row {
                objective_id: oid[i].clone(),
                objective_title: otitle[i].clone(),
                owner: owner[i].clone(),
                measure_id: mid[i].clone(),
                title: title[i].clone(),
                unit: unit[i].clone(),
                direction: dir[i].clone(),
                target: target[i],
                target_day: target_days[i],
                target_date: td[i].clone(),
                baseline_date: bd[i].clone(),
                baseline: baseline[i],
                latest_date: ld[i].clone(),
                latest: latest[i],
                lower: lower[i],
                upper: upper[i],
                change: change[i],
                change_lower: cl[i],
                change_upper: cu[i],
                assessment: assessment[i].clone(),
                projected: projected[i],
                status: status[i].clone(),
                reason: reason[i].clone(),
            });
        }
    }
    out
}

fn history(batches: &[RecordBatch]) -> BTreeMap<(String, String), Vec<Fig>> {
    let mut out: BTreeMap<(String, String), Vec<Fig>> = BTreeMap::new();
    for b in batches {
        let c = Cols(b);
        let (oid, mid, days, dates) = (
            c.text("objective_id"),
            c.text("measure_id"),
            c.days("period"),
            c.date("period"),
        );
        let (v, n, d, base, s) = (
            c.num("value"),
            c.num("numerator"),
            c.num("denominator"),
            c.num("base"),
            c.flag("suppressed"),
        );
        for i in 0..b.num_rows() {
            let Some(day) = days[i] else { continue };
            out.entry((oid[i].clone(), mid[i].clone()))
                .or_default()
                .push(Fig {
                    day,
                    date: dates[i].clone(),
                    value: v[i],
                    numerator: n[i],
                    denominator: d[i],
                    base: base[i],
                    suppressed: s[i],
                });
        }
    }
    for figs in out.values_mut() {
        figs.sort_by_key(|f| f.day);
    }
    out
}

fn short_date(day: i32) -> String {
    chrono::DateTime::from_timestamp(i64::from(day) * 86_400, 0)
        .map(|t| t.format("%b %Y").to_string())
        .unwrap_or_default()
}

fn fig(v: Option<f64>, unit: &str) -> String {
    v.map(|v| show(v, unit)).unwrap_or_else(|| "–".into())
}

fn signed(v: Option<f64>) -> String {
    v.map(|v| format!("{v:+.1}").replace('-', "−"))
        .unwrap_or_else(|| "–".into())
}

/// A line chart of the series with its 95% intervals, the target (a
/// diamond at the target date, and a dashed line at its level) and the
/// projection (a dotted line from the latest figure to the target date).
// Long: one SVG drawn top to bottom (axes, intervals, series, target,
// projection) on one coordinate system.
fn chart(id: &str, r: &Row, figs: &[Fig]) -> String {
    let shown: Vec<&Fig> = figs
        .iter()
        .filter(|f| f.value.is_some() && !f.suppressed)
        .collect();
    let (w, h, left, right, top, bottom) = (640.0, 260.0, 60.0, 130.0, 20.0, 40.0);
    let first = figs.first().map(|f| f.day).unwrap_or(0);
    let last = r
        .target_day
        .unwrap_or(first)
        .max(figs.last().map(|f| f.day).unwrap_or(first));
    let span = (last - first).max(1) as f64;
    let mut ys: Vec<f64> = shown.iter().filter_map(|f| f.value).collect();
    ys.extend(r.target);
    ys.extend(r.projected);
    ys.extend(
        shown
            .iter()
            .filter_map(|f| percent_interval(f.numerator, f.denominator))
            .flat_map(|(l, u)| [l, u]),
    );
    let (mut lo, mut hi) = ys
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(*y), b.max(*y))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.1).max(0.5);
    let (lo, hi) = (lo - pad, hi + pad);
    let x = |day: i32| left + (day - first) as f64 / span * (w - left - right);
    let y = |v: f64| top + (hi - v) / (hi - lo) * (h - top - bottom);
    let unit = r.unit.as_str();
    let mut desc = String::from("Figures: ");
    for f in figs {
        let v = if f.suppressed {
            "withheld".to_string()
        } else {
            fig(f.value, unit)
        };
        let _ = write!(desc, "{} {v}; ", f.date);
    }
    let _ = write!(desc, "target {} by {}", fig(r.target, unit), r.target_date);
    if let Some(p) = r.projected {
        let _ = write!(desc, "; the trend reaches {} by then", show(p, unit));
    }
    let title = format!("{}: figures against the target", r.title);
    let mut s = format!(
        "<figure>\n<svg role=\"img\" aria-labelledby=\"{id}-t {id}-d\" viewBox=\"0 0 {w} {h}\" width=\"100%\" style=\"max-width:{w}px\" xmlns=\"http://www.w3.org/2000/svg\">\n<title id=\"{id}-t\">{}</title>\n<desc id=\"{id}-d\">{}.</desc>\n",
        esc(&title),
        esc(&desc)
    );
    // Axes: value gridlines at the bottom, middle and top.
    for v in [lo + pad, (lo + hi) / 2.0, hi - pad] {
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ccc\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            w - right,
            y(v),
            y(v),
            left - 6.0,
            y(v) + 4.0,
            esc(&format!("{v:.1}"))
        );
    }
    // Period labels, short, skipping any that would overlap the last drawn.
    let mut last_x = f64::NEG_INFINITY;
    for day in figs.iter().map(|f| f.day).chain(r.target_day) {
        if x(day) - last_x < 56.0 {
            continue;
        }
        last_x = x(day);
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            x(day),
            h - bottom + 16.0,
            esc(&short_date(day))
        );
    }
    if let (Some(t), Some(td)) = (r.target, r.target_day) {
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#1b1b1b\" stroke-dasharray=\"6 4\"/><path d=\"M {:.1} {:.1} l 7 7 l -7 7 l -7 -7 z\" fill=\"#fff\" stroke=\"#1b1b1b\" stroke-width=\"2\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">Target {}</text>",
            x(td),
            y(t),
            y(t),
            x(td),
            y(t) - 7.0,
            x(td) + 10.0,
            y(t) + 4.0,
            esc(&show(t, unit)),
        );
    }
    // Intervals, then the line and points.
    for f in &shown {
        if let Some((l, u)) = percent_interval(f.numerator, f.denominator) {
            let _ = writeln!(
                s,
                "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1:.1}\" y2=\"{2:.1}\" stroke=\"#1d4f91\" stroke-width=\"1.5\"/>",
                x(f.day),
                y(l),
                y(u)
            );
        }
    }
    if shown.len() > 1 {
        let pts: Vec<String> = shown
            .iter()
            .map(|f| format!("{:.1},{:.1}", x(f.day), y(f.value.unwrap_or(0.0))))
            .collect();
        let _ = writeln!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#1d4f91\" stroke-width=\"2.5\"/>",
            pts.join(" ")
        );
    }
    for f in &shown {
        let v = f.value.unwrap_or(0.0);
        let _ = writeln!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4.5\" fill=\"#1d4f91\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{}</text>",
            x(f.day),
            y(v),
            x(f.day) + 7.0,
            y(v) - 7.0,
            esc(&show(v, unit))
        );
    }
    if let (Some(p), Some(td), Some(l)) = (r.projected, r.target_day, shown.last()) {
        let _ = writeln!(
            s,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#1d4f91\" stroke-width=\"2\" stroke-dasharray=\"2 4\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">Trend: {}</text>",
            x(l.day),
            y(l.value.unwrap_or(0.0)),
            x(td),
            y(p),
            x(td) + 10.0,
            y(p) + 16.0,
            esc(&show(p, unit))
        );
    }
    s.push_str("</svg>\n");
    let _ = writeln!(
        s,
        "<figcaption>{}. Key: solid line and dots, the recorded figures (vertical bars: 95% intervals, for percentages); dashed line and diamond, the target; dotted line, the trend projected to the target date. The same figures are in the table below.</figcaption>\n</figure>",
        esc(&title)
    );
    s
}

const METHOD: &str = "<h2 id=\"objectives-method\">How progress is judged</h2>\n\
<p>Each measure is a figure from one of the published indicators, recorded every run for the period it covers (a snapshot date or a financial year). A period already recorded is replaced when its figure is revised; earlier periods are kept, so the series grows from year to year. Only published figures are used: a figure withheld to protect confidentiality stays withheld.</p>\n\
<ul>\n\
<li><strong>No data</strong>: there is no figure for the latest period, or none for the baseline period.</li>\n\
<li><strong>Not enough data</strong>: the latest figure was withheld, or rests on fewer people than the measure's minimum (30 unless the objective says otherwise), or there is only one period so far. We say so rather than give a status that small numbers cannot support.</li>\n\
<li><strong>On track</strong>: the target is already met; or the figure has improved since the baseline by more than its margin of uncertainty <em>and</em> the trend reaches the target by its date.</li>\n\
<li><strong>At risk</strong>: improved beyond the margin of uncertainty, but at this rate the target would be missed; or the trend would reach the target, but the change so far is within the margin of uncertainty.</li>\n\
<li><strong>Off track</strong>: worse than at the baseline by more than the margin of uncertainty; no clear change and a trend that misses the target; or the target date has passed without the target met.</li>\n\
</ul>\n\
<p>The margin of uncertainty: for percentages of people, the 95% confidence interval of the difference between the two percentages (Newcombe's hybrid score method, from the counts behind them); a change is only called an improvement when the whole interval is on the better side of zero. For other figures, such as pay gaps, the objective sets a tolerance: changes within it are not counted as a change. The trend is a straight line fitted (least squares) through the figures from the baseline to the latest period, and the projection is that line at the target date.</p>\n";

/// The page body, or `None` when no objective was assessed.
// Long: the page's HTML in reading order (summary table, then one
// block per objective and measure).
pub(crate) fn section(progress: &[RecordBatch], recorded: &[RecordBatch]) -> Option<String> {
    let rows = rows(progress);
    if rows.is_empty() {
        return None;
    }
    let figs = history(recorded);
    let mut s = String::new();
    s.push_str("<table>\n<caption>Progress of every measure</caption>\n<thead><tr><th scope=\"col\">Objective</th><th scope=\"col\">Measure</th><th scope=\"col\">Latest</th><th scope=\"col\">Target</th><th scope=\"col\">Status</th></tr></thead>\n<tbody>\n");
    for r in &rows {
        let latest = if r.latest.is_none() && !r.latest_date.is_empty() {
            format!("[c] ({})", r.latest_date)
        } else if r.latest_date.is_empty() {
            "–".into()
        } else {
            format!("{} ({})", fig(r.latest, &r.unit), r.latest_date)
        };
        let _ = writeln!(
            s,
            "<tr><td>{}</td><th scope=\"row\"><a href=\"#{}-{}\">{}</a></th><td class=\"n\">{}</td><td class=\"n\">{} by {}</td><td><strong>{}</strong></td></tr>",
            esc(&r.objective_title),
            esc(&r.objective_id),
            esc(&r.measure_id),
            esc(&r.title),
            esc(&latest),
            esc(&fig(r.target, &r.unit)),
            esc(&r.target_date),
            esc(&r.status)
        );
    }
    s.push_str("</tbody>\n</table>\n<p class=\"note\"><a href=\"#objectives-method\">How progress is judged</a>.</p>\n");
    let mut current = String::new();
    for (k, r) in rows.iter().enumerate() {
        if r.objective_id != current {
            current = r.objective_id.clone();
            let _ = writeln!(
                s,
                "<h2 id=\"{}\">{}</h2>",
                esc(&r.objective_id),
                esc(&r.objective_title)
            );
            if let Some(o) = &r.owner {
                let _ = writeln!(s, "<p>Lead: {}</p>", esc(o));
            }
        }
        let unit = r.unit.as_str();
        let _ = writeln!(
            s,
            "<section aria-labelledby=\"{0}-{1}\">\n<h3 id=\"{0}-{1}\">{2}</h3>\n<p><strong>Status: {3}.</strong> {4}</p>",
            esc(&r.objective_id),
            esc(&r.measure_id),
            esc(&r.title),
            esc(&r.status),
            esc(&r.reason)
        );
        let better = if r.direction == "decrease" {
            "lower is better"
        } else {
            "higher is better"
        };
        let interval = match (r.lower, r.upper) {
            (Some(l), Some(u)) => format!(" (95% interval {l:.1} to {u:.1})"),
            _ => String::new(),
        };
        let change_band = match (r.change_lower, r.change_upper) {
            (Some(l), Some(u)) => format!(" (range {} to {})", signed(Some(l)), signed(Some(u))),
            _ => String::new(),
        };
        let _ = write!(
            s,
            "<table>\n<caption>{}: key figures ({better})</caption>\n<tbody>\n<tr><th scope=\"row\">Baseline</th><td>{}{}</td></tr>\n<tr><th scope=\"row\">Latest</th><td>{}{}{}</td></tr>\n<tr><th scope=\"row\">Change since the baseline</th><td>{}{}{}</td></tr>\n<tr><th scope=\"row\">Target</th><td>{} by {}</td></tr>\n<tr><th scope=\"row\">Trend at the target date</th><td>{}</td></tr>\n</tbody>\n</table>\n",
            esc(&r.title),
            esc(&fig(r.baseline, unit)),
            if r.baseline_date.is_empty() {
                String::new()
            } else {
                format!(" ({})", esc(&r.baseline_date))
            },
            if r.latest.is_none() && !r.latest_date.is_empty() {
                "[c]".to_string()
            } else {
                esc(&fig(r.latest, unit))
            },
            if r.latest_date.is_empty() {
                String::new()
            } else {
                format!(" ({})", esc(&r.latest_date))
            },
            esc(&interval),
            esc(&signed(r.change)),
            esc(&change_band),
            r.assessment
                .as_ref()
                .map(|a| format!(": {}", esc(a)))
                .unwrap_or_default(),
            esc(&fig(r.target, unit)),
            esc(&r.target_date),
            esc(&fig(r.projected, unit)),
        );
        let series = figs
            .get(&(r.objective_id.clone(), r.measure_id.clone()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        if !series.is_empty() {
            s.push_str(&chart(&format!("obj{k}"), r, series));
            let _ = write!(
                s,
                "<table>\n<caption>{}: recorded figures</caption>\n<thead><tr><th scope=\"col\">Period</th><th scope=\"col\">Figure</th><th scope=\"col\">95% interval</th><th scope=\"col\">People (smallest group)</th></tr></thead>\n<tbody>\n",
                esc(&r.title)
            );
            for f in series {
                let (v, ci, n) = if f.suppressed {
                    ("[c]".to_string(), "[c]".to_string(), "[c]".to_string())
                } else {
                    (
                        fig(f.value, unit),
                        percent_interval(f.numerator, f.denominator)
                            .map(|(l, u)| format!("{l:.1} to {u:.1}"))
                            .unwrap_or_else(|| "–".into()),
                        f.base
                            .map(|d| format!("{d:.0}"))
                            .unwrap_or_else(|| "–".into()),
                    )
                };
                let _ = writeln!(
                    s,
                    "<tr><th scope=\"row\">{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                    esc(&f.date),
                    esc(&v),
                    esc(&ci),
                    esc(&n)
                );
            }
            s.push_str("</tbody>\n</table>\n");
        }
        s.push_str("</section>\n");
    }
    s.push_str(METHOD);
    Some(s)
}
