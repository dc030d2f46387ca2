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
use crate::report::tpl::{Cell, Table, trusted};

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

/// The objectives page's data (`objectives.html`): the summary table,
/// then each objective with its measures.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Page {
    summary: Table,
    objectives: Vec<Objective>,
}

/// One objective: its anchor, title, lead and measures.
#[derive(Debug, serde::Serialize)]
struct Objective {
    id: String,
    title: String,
    owner: Option<String>,
    measures: Vec<Measure>,
}

/// One measure: its anchor, title, status and why, the key figures, the
/// chart of its series (trusted markup) and the series as a table.
#[derive(Debug, serde::Serialize)]
struct Measure {
    id: String,
    title: String,
    status: String,
    reason: String,
    key: Table,
    chart: minijinja::Value,
    recorded: Option<Table>,
}

/// The page, or `None` when no objective was assessed.
// Long: the page in reading order (summary table, then one block per
// objective and measure).
pub(crate) fn section(progress: &[RecordBatch], recorded: &[RecordBatch]) -> Option<Page> {
    let rows = rows(progress);
    if rows.is_empty() {
        return None;
    }
    let figs = history(recorded);
    let mut summary = Table::new(
        "Progress of every measure",
        &["Measure", "Objective", "Latest", "Target", "Status"],
    );
    for r in &rows {
        let latest = if r.latest.is_none() && !r.latest_date.is_empty() {
            format!("[c] ({})", r.latest_date)
        } else if r.latest_date.is_empty() {
            "–".into()
        } else {
            format!("{} ({})", fig(r.latest, &r.unit), r.latest_date)
        };
        let mut status = Cell::t(r.status.clone());
        status.strong = true;
        summary
            .row(
                r.title.clone(),
                vec![
                    Cell::t(r.objective_title.clone()),
                    Cell::n(latest),
                    Cell::n(format!("{} by {}", fig(r.target, &r.unit), r.target_date)),
                    status,
                ],
            )
            .href = Some(format!("#{}-{}", r.objective_id, r.measure_id));
    }
    let mut objectives: Vec<Objective> = Vec::new();
    for (k, r) in rows.iter().enumerate() {
        if objectives.last().is_none_or(|o| o.id != r.objective_id) {
            objectives.push(Objective {
                id: r.objective_id.clone(),
                title: r.objective_title.clone(),
                owner: r.owner.clone(),
                measures: Vec::new(),
            });
        }
        let unit = r.unit.as_str();
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
        let dated = |d: &str| {
            if d.is_empty() {
                String::new()
            } else {
                format!(" ({d})")
            }
        };
        let latest = if r.latest.is_none() && !r.latest_date.is_empty() {
            "[c]".to_string()
        } else {
            fig(r.latest, unit)
        };
        let mut key = Table::new(format!("{}: key figures ({better})", r.title), &[]);
        key.row(
            "Baseline",
            vec![Cell::t(format!(
                "{}{}",
                fig(r.baseline, unit),
                dated(&r.baseline_date)
            ))],
        );
        key.row(
            "Latest",
            vec![Cell::t(format!(
                "{latest}{}{interval}",
                dated(&r.latest_date)
            ))],
        );
        key.row(
            "Change since the baseline",
            vec![Cell::t(format!(
                "{}{change_band}{}",
                signed(r.change),
                r.assessment
                    .as_ref()
                    .map(|a| format!(": {a}"))
                    .unwrap_or_default()
            ))],
        );
        key.row(
            "Target",
            vec![Cell::t(format!(
                "{} by {}",
                fig(r.target, unit),
                r.target_date
            ))],
        );
        key.row(
            "Trend at the target date",
            vec![Cell::t(fig(r.projected, unit))],
        );
        let series = figs
            .get(&(r.objective_id.clone(), r.measure_id.clone()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let (chart_html, recorded) = if series.is_empty() {
            (String::new(), None)
        } else {
            let mut t = Table::new(
                format!("{}: recorded figures", r.title),
                &[
                    "Period",
                    "Figure",
                    "95% interval",
                    "People (smallest group)",
                ],
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
                t.row(f.date.clone(), vec![Cell::n(v), Cell::n(ci), Cell::n(n)]);
            }
            (chart(&format!("obj{k}"), r, series), Some(t))
        };
        objectives
            .last_mut()
            .expect("pushed above")
            .measures
            .push(Measure {
                id: format!("{}-{}", r.objective_id, r.measure_id),
                title: r.title.clone(),
                status: r.status.clone(),
                reason: r.reason.clone(),
                key,
                chart: trusted(chart_html),
                recorded,
            });
    }
    Some(Page {
        summary,
        objectives,
    })
}
