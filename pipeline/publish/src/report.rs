//! The static HTML report written with every run (`report/`): an index with
//! the run, the data sources and their dates and the method; a page per
//! profiled area; and a page for the organisation's workforce. No server,
//! no script, no external asset: open `report/index.html` in a browser.
//!
//! It reads only the **published** indicator files (already through
//! disclosure control), never the restricted root. Accessibility: every
//! table has a caption and header cells with `scope`; every chart is an
//! `<svg role="img">` with a title and a description that states the
//! figures, next to a table with the same numbers; series differ by
//! pattern and are labelled in text, never by colour alone; suppressed
//! values are shown as `[c]` with the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::{Array, RecordBatch};
use eqpipe_plugin_sdk::{bool_values, date_values, f64_values, text_values};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use eqpipe_core::manifest::RunManifest;
use eqpipe_store::files::{self as store, PART_FILE, StoreError, read};

/// Folder of the report under the output root.
pub const REPORT_DIR: &str = "report";

const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:72rem;margin:0 auto;padding:1rem;line-height:1.45;color:#1b1b1b}\
table{border-collapse:collapse;margin:0.5rem 0 1.5rem}caption{text-align:left;font-weight:600;padding:0.25rem 0}\
th,td{border:1px solid #888;padding:0.2rem 0.5rem;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}\
th[scope=row].sub{padding-left:1.5rem;font-weight:normal}nav a{margin-right:1rem}.note{font-size:0.9rem}\
figure{margin:0.5rem 0 1rem}figcaption{font-size:0.9rem}a{color:#0b4f9c}";

const SUPPRESSED_NOTE: &str = "[c] = withheld to protect confidentiality (a count under the disclosure threshold, or a cell that would let one be worked out).";

/// Escapes text for HTML.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{t}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<nav aria-label=\"Report\"><a href=\"index.html\">Report home</a></nav>\n<main>\n<h1>{t}</h1>\n{body}\n</main>\n</body>\n</html>\n",
        t = esc(title)
    )
}

fn pct(v: Option<f64>, suppressed: bool) -> String {
    match (v, suppressed) {
        (_, true) => "[c]".into(),
        // Half away from zero, as the published files round.
        (Some(v), _) => format!("{:.1}%", (v * 10.0).round() / 10.0),
        (None, _) => "–".into(),
    }
}

fn num(v: Option<f64>, suppressed: bool) -> String {
    match (v, suppressed) {
        (None, true) => "[c]".into(),
        (Some(v), _) if v.fract() == 0.0 => format!("{v:.0}"),
        (Some(v), _) => format!("{v:.1}"),
        (None, _) => "–".into(),
    }
}

/// One series of a bar chart: its name and one value per category.
struct Series {
    name: String,
    values: Vec<Option<f64>>,
}

/// A horizontal grouped bar chart (percentages), drawn in SVG. Each bar is
/// labelled with its series and value; series are told apart by pattern.
fn bar_chart(id: &str, title: &str, categories: &[String], series: &[Series]) -> String {
    chart(id, title, categories, series, true)
}

/// Values shown as given (not percentages).
fn value(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into())
}

fn chart(id: &str, title: &str, categories: &[String], series: &[Series], percent: bool) -> String {
    let show = |v: Option<f64>| if percent { pct(v, false) } else { value(v) };
    let bar_h = 14.0;
    let gap = 6.0;
    let group_h = bar_h * series.len() as f64 + gap * 2.0;
    let label_w = 260.0;
    let plot_w = 360.0;
    let width = label_w + plot_w + 190.0;
    let height = group_h * categories.len() as f64 + 30.0;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(1.0f64, |m, v| m.max(*v));
    let mut desc = String::new();
    for (i, c) in categories.iter().enumerate() {
        let parts: Vec<String> = series
            .iter()
            .map(|s| format!("{} {}", s.name, show(s.values[i])))
            .collect();
        let _ = write!(desc, "{}: {}. ", c, parts.join(", "));
    }
    let mut svg = format!(
        "<figure>\n<svg role=\"img\" aria-labelledby=\"{id}-t {id}-d\" viewBox=\"0 0 {width} {height}\" width=\"100%\" style=\"max-width:{width}px\" xmlns=\"http://www.w3.org/2000/svg\">\n<title id=\"{id}-t\">{}</title>\n<desc id=\"{id}-d\">{}</desc>\n<defs><pattern id=\"{id}-hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fff\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#1d4f91\" stroke-width=\"3\"/></pattern><pattern id=\"{id}-dots\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\"><rect width=\"5\" height=\"5\" fill=\"#fff\"/><circle cx=\"2.5\" cy=\"2.5\" r=\"1.4\" fill=\"#333\"/></pattern></defs>\n",
        esc(title),
        esc(desc.trim())
    );
    let fills = [
        "#1d4f91".to_string(),
        format!("url(#{id}-hatch)"),
        format!("url(#{id}-dots)"),
    ];
    for (i, c) in categories.iter().enumerate() {
        let y0 = 10.0 + group_h * i as f64;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"12\">{}</text>",
            label_w - 8.0,
            y0 + group_h / 2.0,
            esc(&shorten(c, 40))
        );
        for (k, s) in series.iter().enumerate() {
            let y = y0 + gap + bar_h * k as f64;
            let v = s.values[i];
            let w = v.map(|v| (v / max * plot_w).max(0.0)).unwrap_or(0.0);
            let _ = writeln!(
                svg,
                "<rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\" stroke=\"#1b1b1b\" stroke-width=\"0.5\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{} {}</text>",
                bar_h - 2.0,
                fills[k % fills.len()],
                label_w + w + 4.0,
                y + bar_h - 4.0,
                esc(&s.name),
                show(v)
            );
        }
    }
    svg.push_str("</svg>\n");
    let legend: Vec<String> = series
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let look = ["solid bars", "hatched bars", "dotted bars"][k % 3];
            format!("{} ({look})", esc(&s.name))
        })
        .collect();
    let _ = write!(
        svg,
        "<figcaption>{}. Key: {}. The same figures are in the table below.</figcaption>\n</figure>\n",
        esc(title),
        legend.join("; ")
    );
    svg
}

fn shorten(s: &str, n: usize) -> String {
    // "Broad group: Detail" labels keep their detail.
    let s = match s.rsplit_once(": ") {
        Some((_, detail)) if s.chars().count() > n => detail,
        _ => s,
    };
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n - 1).collect();
        format!("{t}…")
    }
}

/// The row groups of a community profile that may hold areas with a page:
/// a row group whose `geography_level` statistics say it holds output
/// areas or LSOAs only is not read (a national OA profile is 85 million
/// rows, none of them with a page).
fn read_pageable_profile(path: &Path) -> Option<Vec<RecordBatch>> {
    use parquet::file::statistics::Statistics;
    let b = ParquetRecordBatchReaderBuilder::try_new(File::open(path).ok()?).ok()?;
    let md = b.metadata().clone();
    let level = md
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == "geography_level");
    let keep: Vec<usize> = (0..md.num_row_groups())
        .filter(|&rg| {
            let only = level.and_then(|i| match md.row_group(rg).column(i).statistics() {
                Some(Statistics::ByteArray(s)) => match (s.min_opt(), s.max_opt()) {
                    (Some(lo), Some(hi)) if lo == hi => Some(lo.as_utf8().ok()?.to_string()),
                    _ => None,
                },
                _ => None,
            });
            !only.is_some_and(|l| NO_PAGE_LEVELS.contains(&l.as_str()))
        })
        .collect();
    b.with_row_groups(keep)
        .build()
        .ok()?
        .collect::<Result<Vec<_>, _>>()
        .ok()
}

/// Columns of one batch, as text, numbers, flags and dates.
pub(crate) struct Cols<'a>(pub(crate) &'a RecordBatch);

impl Cols<'_> {
    pub(crate) fn text(&self, n: &str) -> Vec<String> {
        self.0
            .column_by_name(n)
            .and_then(|c| text_values(c.as_ref()).ok())
            .unwrap_or_else(|| vec![String::new(); self.0.num_rows()])
    }
    pub(crate) fn opt_text(&self, n: &str) -> Vec<Option<String>> {
        match self.0.column_by_name(n) {
            Some(c) => {
                let t = text_values(c.as_ref()).unwrap_or_default();
                (0..c.len())
                    .map(|i| (!c.is_null(i)).then(|| t[i].clone()))
                    .collect()
            }
            None => vec![None; self.0.num_rows()],
        }
    }
    pub(crate) fn num(&self, n: &str) -> Vec<Option<f64>> {
        self.0
            .column_by_name(n)
            .and_then(|c| f64_values(c.as_ref()).ok())
            .unwrap_or_else(|| vec![None; self.0.num_rows()])
    }
    pub(crate) fn flag(&self, n: &str) -> Vec<bool> {
        self.0
            .column_by_name(n)
            .and_then(|c| bool_values(c.as_ref()).ok())
            .map(|v| v.into_iter().map(|b| b.unwrap_or(false)).collect())
            .unwrap_or_else(|| vec![false; self.0.num_rows()])
    }
    pub(crate) fn days(&self, n: &str) -> Vec<Option<i32>> {
        self.0
            .column_by_name(n)
            .and_then(|c| date_values(c.as_ref()).ok())
            .unwrap_or_else(|| vec![None; self.0.num_rows()])
    }
    pub(crate) fn date(&self, n: &str) -> Vec<String> {
        self.0
            .column_by_name(n)
            .and_then(|c| date_values(c.as_ref()).ok())
            .map(|v| {
                v.into_iter()
                    .map(|d| d.map(day).unwrap_or_default())
                    .collect()
            })
            .unwrap_or_else(|| vec![String::new(); self.0.num_rows()])
    }
}

fn day(d: i32) -> String {
    chrono::DateTime::from_timestamp(i64::from(d) * 86_400, 0)
        .map(|t| t.format("%-d %B %Y").to_string())
        .unwrap_or_default()
}

/// Indicator outputs by the dataset they hold: (folder name, file). In a
/// partnership, `level` picks a partner's files (`None`: the partnership's);
/// indicators that are not run per partner are shared by every level.
fn published(root: &Path, level: Option<&str>) -> BTreeMap<String, Vec<(String, PathBuf)>> {
    let mut out: BTreeMap<String, Vec<(String, PathBuf)>> = BTreeMap::new();
    let Ok(dirs) = std::fs::read_dir(root.join(eqpipe_core::layout::INDICATORS_DIR)) else {
        return out;
    };
    let mut dirs: Vec<PathBuf> = dirs.flatten().map(|e| e.path()).collect();
    dirs.sort();
    for d in dirs {
        let name = d
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let f = match level {
            Some(id)
                if d.join(eqpipe_core::layout::partition(id))
                    .join(PART_FILE)
                    .exists() =>
            {
                d.join(eqpipe_core::layout::partition(id)).join(PART_FILE)
            }
            _ => eqpipe_store::files::published_file(root, &name),
        };
        if let Some((_, kv)) = eqpipe_store::files::file_metadata(&f)
            .filter(|_| f.exists())
            .map(|kv| ((), kv))
            && let Some(ds) = kv.get(eqpipe_core::provenance::keys::DATASET)
        {
            let name = d
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            out.entry(ds.clone()).or_default().push((name, f));
        }
    }
    out
}

/// A data source line for the index: what, from where, when, licence.
fn sources(root: &Path) -> String {
    let mut rows = String::new();
    for base in [root.to_path_buf(), root.join(store::RESTRICTED_DIR)] {
        let Ok(sets) = std::fs::read_dir(base.join(eqpipe_core::layout::DATASETS_DIR)) else {
            continue;
        };
        let mut sets: Vec<PathBuf> = sets.flatten().map(|e| e.path()).collect();
        sets.sort();
        for set in sets {
            let mut parts: Vec<PathBuf> = std::fs::read_dir(&set)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path().join(PART_FILE))
                .filter(|p| p.exists())
                .collect();
            parts.sort();
            for p in parts {
                // The footer only: a dataset can have millions of rows.
                let Some(kv) = eqpipe_store::files::file_metadata(&p) else {
                    continue;
                };
                let restricted = store::is_restricted(&p);
                let from = if restricted {
                    "organisation's own records (restricted; not published)".to_string()
                } else {
                    kv.get(eqpipe_core::provenance::keys::SOURCE_URLS)
                        .map(|u| u.replace(',', ", "))
                        .unwrap_or_default()
                };
                let g = |k: &str| kv.get(k).cloned().unwrap_or_default();
                let _ = writeln!(
                    rows,
                    "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&g(eqpipe_core::provenance::keys::DATASET)),
                    esc(&format!(
                        "{} {}",
                        g(eqpipe_core::provenance::keys::PLUGIN),
                        g(eqpipe_core::provenance::keys::PLUGIN_VERSION)
                    )),
                    esc(&from),
                    esc(&g(eqpipe_core::provenance::keys::FETCHED_AT)),
                    esc(&g(eqpipe_core::provenance::keys::LICENCE))
                );
            }
        }
    }
    format!(
        "<table>\n<caption>Data sources</caption>\n<thead><tr><th scope=\"col\">Dataset</th><th scope=\"col\">Read by</th><th scope=\"col\">From</th><th scope=\"col\">Fetched</th><th scope=\"col\">Licence</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n"
    )
}

const METHOD: &str = "<h2 id=\"method\">Method</h2>\n<ul>\n\
<li>Community profiles: percent = the area's count in a category / the same Census table's total for the area × 100 (ONS perturbs Census counts slightly, so each table's own total is used). Comparator areas are shown in the same way, with the difference in percentage points. Census 2021 counts are not suppressed again: ONS has already protected them.</li>\n\
<li>Deprivation: English Indices of Deprivation; an area's neighbourhoods (LSOAs) in decile 1 are among England's most deprived 10%, deciles 1 and 2 the most deprived 20%; the share of residents uses the indices' population denominators.</li>\n\
<li>Workforce representation: share = employees in a group / employees who stated that characteristic × 100; \"not disclosed\" is shown as a share of all employees (the disclosure rate). The population share comes from Census 2021 for the comparator area, leaving out \"Not answered\". Representation ratio = workforce share / population share (1 = in proportion).</li>\n\
<li>Pay gaps: the statutory gender pay gap method (Equality Act 2010 (Specific Duties and Public Authorities) Regulations 2017, Schedule 2): mean and median hourly pay gap of full-pay relevant employees = (men's − women's) / men's × 100; bonus gaps over those paid a bonus in the 12 months to the snapshot; quarter pay bands of equal size by hourly pay, with employees on a rate that spans two bands shared evenly. Ethnicity (White British against each group and all ethnic minorities) and disability (disabled against non-disabled) use the same measures (2023 government guidance). A positive gap means the group is paid less.</li>\n\
<li>Services: each group's share of a service's users (people counted once) with a 95% Wilson score interval, against the catchment population's share from Census 2021; users per 1,000 residents in each decile of the Index of Multiple Deprivation; the slope index of inequality (OHID method: deciles from most to least deprived at the midpoints of their cumulative population, rate fitted by population-weighted least squares; the fitted difference between the least and the most deprived end) and the relative index (SII / mean rate).</li>\n\
<li>Disclosure control: before publication, counts of employees under the threshold, and the figures built on them, are withheld; then further cells, so that no withheld figure can be worked out from totals. Published figures are rounded to one decimal place.</li>\n</ul>\n";

/// The partners whose levels are published (`indicators/*/partner=<id>/`
/// files marked as a partner's level), sorted.
fn partner_levels(root: &Path) -> Vec<String> {
    let mut ids = BTreeSet::new();
    for d in std::fs::read_dir(root.join(eqpipe_core::layout::INDICATORS_DIR))
        .into_iter()
        .flatten()
        .flatten()
    {
        for l in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            let n = l.file_name().to_string_lossy().to_string();
            if let Some(id) = eqpipe_core::layout::partition_id(&n)
                && eqpipe_store::files::file_metadata(&l.path().join(PART_FILE)).is_some_and(|kv| {
                    kv.get(eqpipe_core::provenance::LEVEL_KEY)
                        .is_some_and(|v| v == "partner")
                })
            {
                ids.insert(id.to_string());
            }
        }
    }
    ids.into_iter().collect()
}

/// Writes the report; returns the index path. In a partnership the main
/// report is the partnership's, each partner has its own under
/// `report/partner=<id>/`, and `partners.html` compares them.
pub fn write(root: &Path, manifest: &RunManifest) -> Result<PathBuf, StoreError> {
    let partners = partner_levels(root);
    let dir = root.join(REPORT_DIR);
    let mut extra = Vec::new();
    if !partners.is_empty() {
        let body = crate::report::partners_page(root, &partners);
        store::write_atomic(
            &dir.join("partners.html"),
            page("Partners compared", &body).as_bytes(),
        )?;
        extra.push((
            "Partners compared: each partner's figures side by side".to_string(),
            "partners.html".to_string(),
        ));
        for id in &partners {
            let f = format!("{}/index.html", eqpipe_core::layout::partition(id));
            render(
                root,
                &dir.join(eqpipe_core::layout::partition(id)),
                published(root, Some(id)),
                manifest,
                &format!("Equality evidence report: {id}"),
                &[],
            )?;
            extra.push((format!("Partner report: {id}"), f));
        }
    }
    render(
        root,
        &dir,
        published(root, None),
        manifest,
        if partners.is_empty() {
            "Equality evidence report"
        } else {
            "Equality evidence report: the partnership"
        },
        &extra,
    )
}

fn render(
    root: &Path,
    dir: &Path,
    outputs: BTreeMap<String, Vec<(String, PathBuf)>>,
    manifest: &RunManifest,
    title: &str,
    extra: &[(String, String)],
) -> Result<PathBuf, StoreError> {
    let mut links = Vec::new();
    let mut written: BTreeSet<String> = BTreeSet::new();
    let mut deprivation: BTreeMap<String, String> = BTreeMap::new();
    for (_, file) in outputs.get("deprivation_profile").into_iter().flatten() {
        if let Some((batches, _)) = read(file) {
            deprivation_sections(&batches, &mut deprivation);
        }
    }

    for (_, file) in outputs.get("community_profile").into_iter().flatten() {
        let Some(batches) = read_pageable_profile(file) else {
            continue;
        };
        for (code, (name, html)) in area_pages(&batches, &deprivation) {
            let f = format!("area-{}.html", slug(&code));
            store::write_atomic(
                &dir.join(&f),
                page(&format!("{name} ({code}): community profile"), &html).as_bytes(),
            )?;
            if written.insert(f.clone()) {
                links.push((format!("{name} ({code})"), f));
            }
        }
    }
    let mut workforce = String::new();
    for (_, file) in outputs
        .get("workforce_representation")
        .into_iter()
        .flatten()
    {
        if let Some((batches, _)) = read(file) {
            workforce.push_str(&representation_section(&batches));
        }
    }
    for (_, file) in outputs.get("workforce_flows").into_iter().flatten() {
        if let Some((batches, _)) = read(file) {
            workforce.push_str(&flows_section(&batches));
        }
    }
    for (_, file) in outputs.get("pay_gap").into_iter().flatten() {
        if let Some((batches, _)) = read(file) {
            workforce.push_str(&pay_gap_section(&batches));
        }
    }
    for (_, file) in outputs.get("workforce_benchmark").into_iter().flatten() {
        if let Some((batches, _)) = read(file) {
            workforce.push_str(&benchmark_section(&batches));
        }
    }
    let mut services = String::new();
    for (_, file) in outputs.get("service_equity").into_iter().flatten() {
        if let Some((batches, _)) = read(file) {
            services.push_str(&services_section(&batches));
        }
    }
    let has_services = !services.is_empty();
    if has_services {
        let body = format!(
            "<p class=\"note\">{SUPPRESSED_NOTE}</p>\n{services}<p><a href=\"index.html#method\">Method</a></p>\n"
        );
        store::write_atomic(
            &dir.join("services.html"),
            page("Who our services reach", &body).as_bytes(),
        )?;
    }
    let read_all = |dataset: &str| -> Vec<RecordBatch> {
        outputs
            .get(dataset)
            .into_iter()
            .flatten()
            .filter_map(|(_, f)| read(f))
            .flat_map(|(b, _)| b)
            .collect()
    };
    let objectives = crate::objectives::report::section(
        &read_all(crate::objectives::PROGRESS),
        &read_all(crate::objectives::HISTORY),
    );
    let has_objectives = objectives.is_some();
    if let Some(body) = objectives {
        store::write_atomic(
            &dir.join("objectives.html"),
            page("Equality objectives: progress", &body).as_bytes(),
        )?;
    }
    let has_workforce = !workforce.is_empty();
    if has_workforce {
        let body = format!(
            "<p class=\"note\">{SUPPRESSED_NOTE}</p>\n{workforce}<p><a href=\"index.html#method\">Method</a></p>\n"
        );
        store::write_atomic(
            &dir.join("workforce.html"),
            page("Our workforce", &body).as_bytes(),
        )?;
    }

    let mut body = format!(
        "<p>Run <code>{}</code>, {} to {}: <strong>{}</strong>. eqpipe {}.</p>\n",
        esc(&manifest.run_id),
        esc(&manifest.started_at),
        esc(&manifest.finished_at),
        manifest.outcome.as_str().replace('_', " "),
        esc(&manifest.pipeline_version)
    );
    body.push_str(&quality_section(manifest));
    body.push_str("<h2>Pages</h2>\n<ul>\n");
    if has_objectives {
        body.push_str("<li><a href=\"objectives.html\">Equality objectives: progress against each target</a></li>\n");
    }
    if has_workforce {
        body.push_str(
            "<li><a href=\"workforce.html\">Our workforce: representation and pay gaps</a></li>\n",
        );
    }
    if has_services {
        body.push_str("<li><a href=\"services.html\">Who our services reach: users against the population, and by deprivation</a></li>\n");
    }
    for (label, f) in links.iter().chain(extra) {
        let _ = writeln!(body, "<li><a href=\"{}\">{}</a></li>", esc(f), esc(label));
    }
    body.push_str("</ul>\n");
    body.push_str("<h2>Steps of this run</h2>\n<table>\n<caption>Steps of this run</caption>\n<thead><tr><th scope=\"col\">Step</th><th scope=\"col\">Plugin</th><th scope=\"col\">Status</th><th scope=\"col\">Rows</th><th scope=\"col\">Quarantined</th></tr></thead>\n<tbody>\n");
    for s in manifest.sources.iter().chain(&manifest.indicators) {
        let rows: u64 = s.datasets.values().map(|d| d.stats.rows).sum();
        let q: u64 = s.datasets.values().map(|d| d.stats.quarantined).sum();
        let _ = writeln!(
            body,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td class=\"n\">{rows}</td><td class=\"n\">{q}</td></tr>",
            esc(&s.name),
            esc(&s.plugin),
            s.status.as_str().replace('_', " ")
        );
    }
    body.push_str("</tbody>\n</table>\n");
    body.push_str(&sources(root));
    body.push_str(METHOD);
    body.push_str(&format!("<p class=\"note\">{SUPPRESSED_NOTE}</p>\n"));
    let index = dir.join("index.html");
    store::write_atomic(&index, page(title, &body).as_bytes())?;
    Ok(index)
}

/// The data-quality section at the top of the index: every step that
/// failed and why, and every loss a step that succeeded took (rows
/// rejected by reason, values nulled, coverage a plugin could not use,
/// accepted shrinks), with the quarantine file's name. Counts and column
/// names only, never a value.
fn quality_section(manifest: &RunManifest) -> String {
    use eqpipe_core::manifest::StepStatus;
    let steps: Vec<&eqpipe_core::manifest::StepReport> = manifest
        .sources
        .iter()
        .chain(&manifest.indicators)
        .collect();
    let failed: Vec<_> = steps
        .iter()
        .filter(|s| matches!(s.status, StepStatus::Failed | StepStatus::Cancelled))
        .collect();
    let warned: Vec<_> = steps.iter().filter(|s| !s.warnings.is_empty()).collect();
    let mut s = String::from(
        "<section aria-labelledby=\"quality\" class=\"quality\">\n<h2 id=\"quality\">Data quality</h2>\n",
    );
    if failed.is_empty() && warned.is_empty() {
        s.push_str("<p>Every step read all of its input: no rows rejected, no values lost, no areas or answers left out.</p>\n");
    } else {
        let _ = writeln!(
            s,
            "<p><strong>{} step(s) failed</strong> (their last good outputs are unchanged) and <strong>{} step(s) succeeded with warnings</strong>: the figures below were lost on the way. Rejected rows are kept, with the reason, in the quarantine files named here (restricted where the data is personal).</p>",
            failed.len(),
            warned.len()
        );
        s.push_str("<table>\n<caption>Data lost in this run, by step</caption>\n<thead><tr><th scope=\"col\">Step</th><th scope=\"col\">Status</th><th scope=\"col\">What</th><th scope=\"col\">How many</th><th scope=\"col\">Of</th><th scope=\"col\">Quarantine file</th></tr></thead>\n<tbody>\n");
        let quarantine = |st: &eqpipe_core::manifest::StepReport| {
            st.quarantine_file
                .as_deref()
                .map(|q| format!("<code>{}</code>", esc(q)))
                .unwrap_or_default()
        };
        for st in &failed {
            let _ = writeln!(
                s,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td></td><td></td><td>{}</td></tr>",
                esc(&st.name),
                st.status.as_str(),
                esc(st.error.as_deref().unwrap_or("")),
                quarantine(st)
            );
        }
        for st in &warned {
            for w in &st.warnings {
                let what = match &w.dataset {
                    Some(d) => format!("{d}: {}", w.what),
                    None => w.what.clone(),
                };
                let _ = writeln!(
                    s,
                    "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                    esc(&st.name),
                    st.status.as_str().replace('_', " "),
                    esc(&what),
                    w.count,
                    w.of.map(|o| o.to_string()).unwrap_or_default(),
                    if w.kind == eqpipe_core::config::WarningKind::RejectedRows {
                        quarantine(st)
                    } else {
                        String::new()
                    }
                );
            }
        }
        s.push_str("</tbody>\n</table>\n");
    }
    let withheld: Vec<String> = steps
        .iter()
        .flat_map(|st| {
            st.datasets.iter().flat_map(move |(d, r)| {
                r.stats
                    .markers
                    .iter()
                    .map(move |(c, n)| format!("{} ({d}.{c}): {n}", st.name))
            })
        })
        .collect();
    if !withheld.is_empty() {
        let _ = writeln!(
            s,
            "<p>Values the publishers withheld or marked missing (<code>..</code>, <code>[c]</code>, <code>[x]</code> and the like), stored as empty: {}.</p>",
            esc(&withheld.join("; "))
        );
    }
    s.push_str("</section>\n");
    s
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// A profile row: (table, topic, label, level, count, percent) and the
/// comparators' (name, percent, difference).
struct ProfileRow {
    label: String,
    level: u8,
    count: Option<f64>,
    percent: Option<f64>,
    comparators: Vec<(String, Option<f64>, Option<f64>)>,
}

/// Deprivation paragraphs and tables by area code.
fn deprivation_sections(batches: &[RecordBatch], out: &mut BTreeMap<String, String>) {
    for b in batches {
        let c = Cols(b);
        let (code, edition, domain, summary) = (
            c.text("area_code"),
            c.num("edition"),
            c.text("domain"),
            c.text("summary"),
        );
        let (lsoas, d10, d20) = (
            c.num("lsoas"),
            c.num("lsoas_most_deprived_10pct"),
            c.num("lsoas_most_deprived_20pct"),
        );
        let (p10, p20) = (
            c.num("pct_population_most_deprived_10pct"),
            c.num("pct_population_most_deprived_20pct"),
        );
        for i in 0..b.num_rows() {
            let s = out.entry(code[i].clone()).or_default();
            let _ = write!(
                s,
                "<section aria-labelledby=\"dep-{k}\">\n<h2 id=\"dep-{k}\">Deprivation: {} ({})</h2>\n<p>{}.</p>\n<table>\n<caption>Neighbourhoods (LSOAs) among England's most deprived: {} {}</caption>\n<thead><tr><th scope=\"col\">Measure</th><th scope=\"col\">Most deprived 10%</th><th scope=\"col\">Most deprived 20%</th></tr></thead>\n<tbody>\n<tr><th scope=\"row\">Neighbourhoods (of {})</th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n<tr><th scope=\"row\">Share of residents</th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n</tbody>\n</table>\n</section>\n",
                esc(&domain[i]),
                num(edition[i], false),
                esc(&summary[i]),
                esc(&domain[i]),
                num(edition[i], false),
                num(lsoas[i], false),
                num(d10[i], false),
                num(d20[i], false),
                pct(p10[i], false),
                pct(p20[i], false),
                k = i
            );
        }
    }
}

/// area code -> (name, page body).
/// Geography levels too fine for a report page each.
const NO_PAGE_LEVELS: [&str; 2] = ["oa", "lsoa"];

fn area_pages(
    batches: &[RecordBatch],
    deprivation: &BTreeMap<String, String>,
) -> BTreeMap<String, (String, String)> {
    // area -> (name, level) ; (area, table) -> (topic, rows by label in order)
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut tables: BTreeMap<(String, String), (String, Vec<ProfileRow>)> = BTreeMap::new();
    let mut comparator_names: BTreeSet<String> = BTreeSet::new();
    for b in batches {
        let c = Cols(b);
        let (code, name, table, topic, label) = (
            c.text("area_code"),
            c.text("area_name"),
            c.text("table_code"),
            c.text("topic"),
            c.text("category_label"),
        );
        let levels = c.text("geography_level");
        let (level, count, percent) = (c.num("category_level"), c.num("count"), c.num("percent"));
        let (cname, cpct, diff) = (
            c.opt_text("comparator_name"),
            c.num("comparator_percent"),
            c.num("difference_pp"),
        );
        for i in 0..b.num_rows() {
            // No page per output area or LSOA (190,000 and 35,000 of them):
            // their profiles are in the Parquet output.
            if NO_PAGE_LEVELS.contains(&levels[i].as_str()) {
                continue;
            }
            names
                .entry(code[i].clone())
                .or_insert_with(|| name[i].clone());
            let entry = tables
                .entry((code[i].clone(), table[i].clone()))
                .or_insert_with(|| (topic[i].clone(), Vec::new()));
            let row = match entry.1.last_mut().filter(|r| r.label == label[i]) {
                Some(r) => r,
                None => {
                    entry.1.push(ProfileRow {
                        label: label[i].clone(),
                        level: level[i].unwrap_or(1.0) as u8,
                        count: count[i],
                        percent: percent[i],
                        comparators: Vec::new(),
                    });
                    entry.1.last_mut().expect("just pushed")
                }
            };
            if let Some(n) = &cname[i] {
                comparator_names.insert(n.clone());
                row.comparators.push((n.clone(), cpct[i], diff[i]));
            }
        }
    }
    let mut out = BTreeMap::new();
    for (code, name) in &names {
        let mut body = format!(
            "<p>Census 2021, usual residents (households where the table says so). Each percentage is of the area's total in the same table. Compared with: {}.</p>\n",
            esc(&comparator_names
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "))
        );
        let mut toc = String::from("<ul>\n");
        let mut sections = String::new();
        // This area's tables only (the map is ordered by area first).
        for ((_, table), (topic, rows)) in tables
            .range((code.clone(), String::new())..)
            .take_while(|((area, _), _)| area == code)
        {
            let id = slug(table);
            let _ = writeln!(
                toc,
                "<li><a href=\"#{id}\">{} ({})</a></li>",
                esc(topic),
                esc(table)
            );
            let _ = writeln!(
                sections,
                "<section aria-labelledby=\"h-{id}\">\n<h2 id=\"h-{id}\">{} ({})</h2>",
                esc(topic),
                esc(table)
            );
            let cmp: Vec<String> = rows
                .first()
                .map(|r| r.comparators.iter().map(|c| c.0.clone()).collect())
                .unwrap_or_default();
            let top: Vec<&ProfileRow> = rows.iter().filter(|r| r.level == 1).collect();
            if top.len() > 1 && top.len() <= 25 {
                let cats: Vec<String> = top.iter().map(|r| r.label.clone()).collect();
                let mut series = vec![Series {
                    name: name.clone(),
                    values: top.iter().map(|r| r.percent).collect(),
                }];
                for (k, cn) in cmp.iter().enumerate().take(2) {
                    series.push(Series {
                        name: cn.clone(),
                        values: top
                            .iter()
                            .map(|r| r.comparators.get(k).and_then(|c| c.1))
                            .collect(),
                    });
                }
                sections.push_str(&bar_chart(
                    &format!("c-{id}"),
                    &format!("{topic}: {name} compared with {}", cmp.join(" and ")),
                    &cats,
                    &series,
                ));
            }
            let _ = write!(
                sections,
                "<table>\n<caption>{}: {} ({})</caption>\n<thead><tr><th scope=\"col\">Category</th><th scope=\"col\">Count</th><th scope=\"col\">Percent</th>",
                esc(topic),
                esc(name),
                esc(table)
            );
            for cn in &cmp {
                let _ = write!(
                    sections,
                    "<th scope=\"col\">{}</th><th scope=\"col\">Difference (percentage points)</th>",
                    esc(cn)
                );
            }
            sections.push_str("</tr></thead>\n<tbody>\n");
            for r in rows {
                let class = if r.level > 1 { " class=\"sub\"" } else { "" };
                let _ = write!(
                    sections,
                    "<tr><th scope=\"row\"{class}>{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td>",
                    esc(&r.label),
                    num(r.count, false),
                    pct(r.percent, false)
                );
                for (_, p, d) in &r.comparators {
                    let d = d.map(|d| format!("{d:+.1}")).unwrap_or_else(|| "–".into());
                    let _ = write!(
                        sections,
                        "<td class=\"n\">{}</td><td class=\"n\">{d}</td>",
                        pct(*p, false)
                    );
                }
                sections.push_str("</tr>\n");
            }
            sections.push_str("</tbody>\n</table>\n</section>\n");
        }
        toc.push_str("</ul>\n");
        body.push_str(&toc);
        if let Some(d) = deprivation.get(code) {
            body.push_str(d);
        }
        body.push_str(&sections);
        body.push_str("<p><a href=\"index.html#method\">Method and data sources</a></p>\n");
        out.insert(code.clone(), (name.clone(), body));
    }
    out
}

/// Organisations' published workforce shares side by side, for the latest
/// year of returns: each category's share, its Census share in the
/// organisation's area, and the median of the organisations.
fn benchmark_section(batches: &[RecordBatch]) -> String {
    struct R {
        year: i32,
        published: String,
        org: String,
        characteristic: String,
        category: String,
        share: Option<f64>,
        census: Option<f64>,
        median: Option<f64>,
        rank: Option<f64>,
        peers: Option<f64>,
    }
    let mut rows = Vec::new();
    for b in batches {
        let c = Cols(b);
        let (days, published, org, division) = (
            c.days("published"),
            c.date("published"),
            c.text("organisation"),
            c.opt_text("division"),
        );
        let (precision, ch, cat) = (
            c.opt_text("published_precision"),
            c.text("characteristic"),
            c.text("category"),
        );
        let (share, census, median, rank, peers) = (
            c.num("share"),
            c.num("census_share"),
            c.num("peer_median_share"),
            c.num("share_rank"),
            c.num("peers"),
        );
        for i in 0..b.num_rows() {
            if division[i].is_some() {
                continue;
            }
            let d = days[i].unwrap_or(0);
            let year: i32 = chrono::DateTime::from_timestamp(i64::from(d) * 86_400, 0)
                .map(|t| t.format("%Y").to_string().parse().unwrap_or(0))
                .unwrap_or(0);
            let shown = match precision[i].as_deref() {
                Some("year") => year.to_string(),
                Some("month") => chrono::DateTime::from_timestamp(i64::from(d) * 86_400, 0)
                    .map(|t| t.format("%B %Y").to_string())
                    .unwrap_or_default(),
                _ => published[i].clone(),
            };
            rows.push(R {
                year,
                published: shown,
                org: org[i].clone(),
                characteristic: ch[i].clone(),
                category: cat[i].clone(),
                share: share[i],
                census: census[i],
                median: median[i],
                rank: rank[i],
                peers: peers[i],
            });
        }
    }
    let Some(latest) = rows.iter().map(|r| r.year).max() else {
        return String::new();
    };
    let mut s = format!(
        "<h2>How we compare with other employers, {latest}</h2>\n<p>Each organisation's published workforce return: the share of employees who gave an answer in each group, the same group's share of the organisation's area at the 2021 Census, and the median of the organisations that published that year. A rank of 1 is the highest share.</p>\n"
    );
    let characteristics: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.year == latest)
        .map(|r| r.characteristic.as_str())
        .collect();
    for ch in characteristics {
        let _ = write!(
            s,
            "<table>\n<caption>Published workforce returns, {latest}: {}</caption>\n<thead><tr><th scope=\"col\">Organisation</th><th scope=\"col\">Return</th><th scope=\"col\">Group</th><th scope=\"col\">Share</th><th scope=\"col\">Area (Census 2021)</th><th scope=\"col\">Median of organisations</th><th scope=\"col\">Rank</th></tr></thead>\n<tbody>\n",
            esc(characteristic_title(ch))
        );
        for r in rows
            .iter()
            .filter(|r| r.year == latest && r.characteristic == ch)
        {
            let _ = writeln!(
                s,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&r.org),
                esc(&r.published),
                esc(&label(&r.category)),
                pct(r.share, false),
                pct(r.census, false),
                pct(r.median, false),
                match (r.rank, r.peers) {
                    (Some(k), Some(n)) => format!("{k:.0} of {n:.0}"),
                    _ => "–".into(),
                }
            );
        }
        s.push_str("</tbody>\n</table>\n");
    }
    s
}

fn label(category: &str) -> String {
    match category {
        "F" => "Female".into(),
        "M" => "Male".into(),
        "not_disclosed" => "Not disclosed".into(),
        "disabled" => "Disabled".into(),
        "not_disabled" => "Not disabled".into(),
        c => c.to_string(),
    }
}

fn characteristic_title(c: &str) -> &str {
    match c {
        "sex" => "Sex",
        "ethnic_group_broad" => "Ethnic group (broad)",
        "ethnic_group" => "Ethnic group (detailed)",
        "disability" => "Disability",
        "religion" => "Religion",
        "sexual_orientation" => "Sexual orientation",
        "gender_identity" => "Gender identity",
        "age_band" => "Age",
        c => c,
    }
}

fn representation_section(batches: &[RecordBatch]) -> String {
    struct R {
        snapshot: String,
        ch: String,
        scope: String,
        scope_value: String,
        category: String,
        count: Option<f64>,
        share: Option<f64>,
        cmp: Option<f64>,
        cmp_name: Option<String>,
        ratio: Option<f64>,
        change: Option<f64>,
        suppressed: bool,
    }
    let mut rows = Vec::new();
    let mut snapshots = BTreeSet::new();
    for b in batches {
        let c = Cols(b);
        let (snap, ch, scope, sv, cat) = (
            c.date("snapshot_date"),
            c.text("characteristic"),
            c.text("scope"),
            c.text("scope_value"),
            c.text("category"),
        );
        let (count, share, cmp, ratio, change, sup) = (
            c.num("count"),
            c.num("share_pct"),
            c.num("comparator_pct"),
            c.num("representation_ratio"),
            c.num("change_pp"),
            c.flag("suppressed"),
        );
        let (cmp_name, cmp_pop) = (
            c.opt_text("comparator_name"),
            c.opt_text("comparator_population"),
        );
        let raw =
            c.0.column_by_name("snapshot_date")
                .and_then(|d| date_values(d.as_ref()).ok())
                .unwrap_or_default();
        for i in 0..b.num_rows() {
            snapshots.insert((raw.get(i).copied().flatten().unwrap_or(0), snap[i].clone()));
            rows.push(R {
                snapshot: snap[i].clone(),
                ch: ch[i].clone(),
                scope: scope[i].clone(),
                scope_value: sv[i].clone(),
                category: cat[i].clone(),
                count: count[i],
                share: share[i],
                cmp: cmp[i],
                cmp_name: match (&cmp_name[i], &cmp_pop[i]) {
                    (Some(n), Some(p)) => Some(format!("{n}, {p}")),
                    (Some(n), None) => Some(n.clone()),
                    _ => None,
                },
                ratio: ratio[i],
                change: change[i],
                suppressed: sup[i],
            });
        }
    }
    let Some((_, latest)) = snapshots.iter().next_back().cloned() else {
        return String::new();
    };
    let mut s = format!("<h2>Workforce representation, {}</h2>\n", esc(&latest));
    let comparator = rows.iter().find_map(|r| r.cmp_name.clone());
    let cmp_label = comparator.clone().unwrap_or_else(|| "Population".into());
    let first_cmp = comparator.clone();
    let characteristics: Vec<String> = {
        let mut seen = Vec::new();
        for r in &rows {
            if !seen.contains(&r.ch) {
                seen.push(r.ch.clone());
            }
        }
        seen
    };
    for ch in &characteristics {
        let org: Vec<&R> = rows
            .iter()
            .filter(|r| {
                r.snapshot == latest
                    && &r.ch == ch
                    && r.scope == "organisation"
                    && r.cmp_name == first_cmp
            })
            .collect();
        if org.is_empty()
            || org
                .iter()
                .all(|r| r.category == "not_disclosed" || r.count == Some(0.0))
        {
            continue;
        }
        let id = slug(ch);
        let title = characteristic_title(ch);
        let shown: Vec<&&R> = org
            .iter()
            .filter(|r| r.category != "not_disclosed")
            .collect();
        if shown.len() <= 25 {
            let cats: Vec<String> = shown.iter().map(|r| label(&r.category)).collect();
            let series = vec![
                Series {
                    name: "Workforce".into(),
                    values: shown
                        .iter()
                        .map(|r| if r.suppressed { None } else { r.share })
                        .collect(),
                },
                Series {
                    name: cmp_label.clone(),
                    values: shown.iter().map(|r| r.cmp).collect(),
                },
            ];
            s.push_str(&bar_chart(
                &format!("r-{id}"),
                &format!("{title}: workforce compared with {cmp_label}"),
                &cats,
                &series,
            ));
        }
        let _ = write!(
            s,
            "<table>\n<caption>{}: workforce at {} compared with {}</caption>\n<thead><tr><th scope=\"col\">Group</th><th scope=\"col\">Employees</th><th scope=\"col\">Workforce share</th><th scope=\"col\">{}</th><th scope=\"col\">Representation ratio</th><th scope=\"col\">Change since previous snapshot (percentage points)</th></tr></thead>\n<tbody>\n",
            esc(title),
            esc(&latest),
            esc(&cmp_label),
            esc(&cmp_label)
        );
        for r in &org {
            let ratio = match (r.ratio, r.suppressed) {
                (_, true) => "[c]".into(),
                (Some(v), _) => format!("{v:.2}"),
                _ => "–".into(),
            };
            let change = match (r.change, r.suppressed) {
                (_, true) => "[c]".into(),
                (Some(v), _) => format!("{v:+.1}"),
                _ => "–".into(),
            };
            let _ = writeln!(
                s,
                "<tr><th scope=\"row\">{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{ratio}</td><td class=\"n\">{change}</td></tr>",
                esc(&label(&r.category)),
                num(r.count, r.suppressed),
                pct(r.share, r.suppressed),
                pct(r.cmp, false)
            );
        }
        s.push_str("</tbody>\n</table>\n");
    }
    // Representation by grade: female and ethnic minority shares.
    let grades: Vec<String> = {
        let mut g: Vec<String> = rows
            .iter()
            .filter(|r| r.snapshot == latest && r.scope == "grade_band")
            .map(|r| r.scope_value.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        g.sort_by_key(|x| {
            (
                x.trim_start_matches(|c: char| c.is_alphabetic())
                    .parse::<u32>()
                    .unwrap_or(0),
                x.clone(),
            )
        });
        g
    };
    if !grades.is_empty() {
        let cell = |grade: &str, scope: &str, ch: &str, cat: &str| {
            rows.iter().find(|r| {
                r.snapshot == latest
                    && r.scope == scope
                    && (scope != "grade_band" || r.scope_value == grade)
                    && r.ch == ch
                    && r.category == cat
                    && r.cmp_name == first_cmp
            })
        };
        let mut scopes: Vec<(String, &str)> =
            grades.iter().map(|g| (g.clone(), "grade_band")).collect();
        scopes.push(("Senior grades".into(), "senior"));
        let female: Vec<Option<&R>> = scopes
            .iter()
            .map(|(g, sc)| cell(g, sc, "sex", "F"))
            .collect();
        let white: Vec<Option<&R>> = scopes
            .iter()
            .map(|(g, sc)| cell(g, sc, "ethnic_group_broad", "White"))
            .collect();
        let disabled: Vec<Option<&R>> = scopes
            .iter()
            .map(|(g, sc)| cell(g, sc, "disability", "disabled"))
            .collect();
        let val = |r: &Option<&R>| r.and_then(|r| if r.suppressed { None } else { r.share });
        let cats: Vec<String> = scopes.iter().map(|(g, _)| g.clone()).collect();
        s.push_str("<h2>Representation by grade</h2>\n");
        s.push_str(&bar_chart(
            "grades",
            "Share of each grade who are women, and who are disabled",
            &cats,
            &[
                Series {
                    name: "Women".into(),
                    values: female.iter().map(val).collect(),
                },
                Series {
                    name: "Disabled".into(),
                    values: disabled.iter().map(val).collect(),
                },
            ],
        ));
        s.push_str("<table>\n<caption>Representation by grade</caption>\n<thead><tr><th scope=\"col\">Grade</th><th scope=\"col\">Women</th><th scope=\"col\">Ethnic groups other than White</th><th scope=\"col\">Disabled</th></tr></thead>\n<tbody>\n");
        for (k, (g, _)) in scopes.iter().enumerate() {
            let show = |r: &Option<&R>| {
                r.map(|r| pct(r.share, r.suppressed))
                    .unwrap_or_else(|| "–".into())
            };
            let minority = white[k].map(|r| {
                if r.suppressed {
                    "[c]".to_string()
                } else {
                    pct(r.share.map(|w| 100.0 - w), false)
                }
            });
            let _ = writeln!(
                s,
                "<tr><th scope=\"row\">{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(g),
                show(&female[k]),
                minority.unwrap_or_else(|| "–".into()),
                show(&disabled[k])
            );
        }
        s.push_str("</tbody>\n</table>\n<p class=\"note\">Shares are of employees in the grade who stated the characteristic.</p>\n");
    }
    s
}

fn services_section(batches: &[RecordBatch]) -> String {
    struct S {
        service: String,
        dimension: String,
        measure: String,
        group: String,
        value: Option<f64>,
        lower: Option<f64>,
        upper: Option<f64>,
        cmp: Option<f64>,
        n: Option<f64>,
        suppressed: bool,
    }
    let mut rows = Vec::new();
    let mut period = String::new();
    for b in batches {
        let c = Cols(b);
        let (start, end) = (c.date("period_start"), c.date("period_end"));
        let (service, dim, measure, group) = (
            c.text("service"),
            c.text("dimension"),
            c.text("measure"),
            c.text("group"),
        );
        let (value, lower, upper, cmp, n, sup) = (
            c.num("value"),
            c.num("lower_ci"),
            c.num("upper_ci"),
            c.num("comparator_pct"),
            c.num("numerator_n"),
            c.flag("suppressed"),
        );
        for i in 0..b.num_rows() {
            period = format!("{} to {}", start[i], end[i]);
            rows.push(S {
                service: service[i].clone(),
                dimension: dim[i].clone(),
                measure: measure[i].clone(),
                group: group[i].clone(),
                value: value[i],
                lower: lower[i],
                upper: upper[i],
                cmp: cmp[i],
                n: n[i],
                suppressed: sup[i],
            });
        }
    }
    let mut services: Vec<String> = Vec::new();
    for r in &rows {
        if !services.contains(&r.service) {
            services.push(r.service.clone());
        }
    }
    let mut s = format!(
        "<p>Service users from {} (each person counted once per service).</p>\n",
        esc(&period)
    );
    for (k, service) in services.iter().enumerate() {
        let _ = writeln!(s, "<h2>{}</h2>", esc(service));
        let rates: Vec<&S> = rows
            .iter()
            .filter(|r| &r.service == service && r.measure == "rate_per_1000")
            .collect();
        if !rates.is_empty() {
            let cats: Vec<String> = rates
                .iter()
                .map(|r| format!("Decile {}", r.group))
                .collect();
            s.push_str(&chart(
                &format!("dep-{k}"),
                &format!("{service}: users per 1,000 residents by deprivation decile (1 = most deprived 10%)"),
                &cats,
                &[Series { name: "Users per 1,000 residents".into(), values: rates.iter().map(|r| if r.suppressed { None } else { r.value }).collect() }],
                false,
            ));
            let _ = write!(
                s,
                "<table>\n<caption>{}: users per 1,000 residents by deprivation decile</caption>\n<thead><tr><th scope=\"col\">Decile (1 = most deprived 10%)</th><th scope=\"col\">Users</th><th scope=\"col\">Users per 1,000 residents</th></tr></thead>\n<tbody>\n",
                esc(service)
            );
            for r in &rates {
                let rate = match (r.value, r.suppressed) {
                    (_, true) => "[c]".to_string(),
                    (v, _) => value(v),
                };
                let _ = writeln!(
                    s,
                    "<tr><th scope=\"row\">{}</th><td class=\"n\">{}</td><td class=\"n\">{rate}</td></tr>",
                    esc(&r.group),
                    num(r.n, r.suppressed)
                );
            }
            s.push_str("</tbody>\n</table>\n");
            let find = |m: &str| {
                rows.iter()
                    .find(|r| &r.service == service && r.measure == m)
            };
            if let (Some(sii), Some(rii)) = (find("sii"), find("rii")) {
                let show = |r: &S| match (r.value, r.suppressed) {
                    (_, true) => "[c]".to_string(),
                    (Some(v), _) => format!("{v:.2}"),
                    _ => "–".into(),
                };
                let _ = writeln!(
                    s,
                    "<p>Slope index of inequality: {} users per 1,000 residents (relative index {}). A negative value means more use in more deprived neighbourhoods.</p>",
                    show(sii),
                    show(rii)
                );
            }
        }
        let _ = write!(
            s,
            "<table>\n<caption>{}: users by group against the population</caption>\n<thead><tr><th scope=\"col\">Characteristic</th><th scope=\"col\">Group</th><th scope=\"col\">Users</th><th scope=\"col\">Share of users (95% interval)</th><th scope=\"col\">Population share</th></tr></thead>\n<tbody>\n",
            esc(service)
        );
        for r in rows
            .iter()
            .filter(|r| &r.service == service && r.measure == "share_pct")
        {
            let share = if r.suppressed {
                "[c]".to_string()
            } else {
                match (r.value, r.lower, r.upper) {
                    (Some(v), Some(l), Some(u)) => format!(
                        "{} ({} to {})",
                        pct(Some(v), false),
                        pct(Some(l), false),
                        pct(Some(u), false)
                    ),
                    (v, _, _) => pct(v, false),
                }
            };
            let _ = writeln!(
                s,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{share}</td><td class=\"n\">{}</td></tr>",
                esc(characteristic_title(&r.dimension)),
                esc(&label(&r.group)),
                num(r.n, r.suppressed),
                pct(r.cmp, false)
            );
        }
        s.push_str("</tbody>\n</table>\n");
    }
    s
}

fn flows_section(batches: &[RecordBatch]) -> String {
    struct F {
        end_day: i32,
        period: String,
        dimension: String,
        measure: String,
        group: String,
        value: Option<f64>,
        n: Option<f64>,
        d: Option<f64>,
        suppressed: bool,
    }
    let mut rows = Vec::new();
    for b in batches {
        let c = Cols(b);
        let end_raw =
            c.0.column_by_name("period_end")
                .and_then(|d| date_values(d.as_ref()).ok())
                .unwrap_or_default();
        let (start, end) = (c.date("period_start"), c.date("period_end"));
        let (dim, measure, group, value, n, d, sup) = (
            c.text("dimension"),
            c.text("measure"),
            c.text("group"),
            c.num("value"),
            c.num("numerator_n"),
            c.num("denominator_n"),
            c.flag("suppressed"),
        );
        for i in 0..b.num_rows() {
            rows.push(F {
                end_day: end_raw.get(i).copied().flatten().unwrap_or(0),
                period: format!("{} to {}", start[i], end[i]),
                dimension: dim[i].clone(),
                measure: measure[i].clone(),
                group: group[i].clone(),
                value: value[i],
                n: n[i],
                d: d[i],
                suppressed: sup[i],
            });
        }
    }
    let mut s = String::new();
    let latest = |m: &str| {
        rows.iter()
            .filter(|r| r.measure == m)
            .max_by_key(|r| r.end_day)
            .map(|r| (r.end_day, r.period.clone()))
    };
    let ratio = |r: &F| match (r.value, r.suppressed) {
        (_, true) => "[c]".to_string(),
        (Some(v), _) => format!("{v:.2}"),
        _ => "–".into(),
    };
    if let Some((day, period)) = latest("relative_likelihood_appointed") {
        let _ = write!(
            s,
            "<h2>Recruitment, {}</h2>\n<p>Relative likelihood of appointment from shortlisting (NHS WRES and WDES method): the reference group's likelihood divided by the group's. 1 means equal; above 1, the reference group is more likely to be appointed once shortlisted.</p>\n<table>\n<caption>Relative likelihood of appointment from shortlisting, {}</caption>\n<thead><tr><th scope=\"col\">Group</th><th scope=\"col\">Compared with</th><th scope=\"col\">Shortlisted</th><th scope=\"col\">Appointed</th><th scope=\"col\">Relative likelihood</th></tr></thead>\n<tbody>\n",
            esc(&period),
            esc(&period)
        );
        for r in rows
            .iter()
            .filter(|r| r.end_day == day && r.measure == "relative_likelihood_appointed")
        {
            let reference = match r.dimension.as_str() {
                "ethnicity" => "White",
                "disability" => "Not disabled",
                _ => "Male",
            };
            let _ = writeln!(
                s,
                "<tr><th scope=\"row\">{}</th><td>{reference}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&label(&r.group)),
                num(r.d, r.suppressed),
                num(r.n, r.suppressed),
                ratio(r)
            );
        }
        s.push_str("</tbody>\n</table>\n");
    }
    if let Some((day, period)) = latest("leaving_rate_pct") {
        let _ = write!(
            s,
            "<h2>Leavers, {}</h2>\n<table>\n<caption>Leaving rate by age band, {}</caption>\n<thead><tr><th scope=\"col\">Age band</th><th scope=\"col\">Employees at the start</th><th scope=\"col\">Left</th><th scope=\"col\">Leaving rate</th></tr></thead>\n<tbody>\n",
            esc(&period),
            esc(&period)
        );
        for r in rows.iter().filter(|r| {
            r.end_day == day && r.measure == "leaving_rate_pct" && r.dimension == "age_band"
        }) {
            let _ = writeln!(
                s,
                "<tr><th scope=\"row\">{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&label(&r.group)),
                num(r.d, r.suppressed),
                num(r.n, r.suppressed),
                pct(r.value, r.suppressed)
            );
        }
        s.push_str("</tbody>\n</table>\n");
    }
    s
}

fn pay_gap_section(batches: &[RecordBatch]) -> String {
    struct P {
        day: i32,
        snapshot: String,
        dimension: String,
        measure: String,
        group: String,
        value: Option<f64>,
        suppressed: bool,
    }
    let mut rows = Vec::new();
    for b in batches {
        let c = Cols(b);
        let raw =
            c.0.column_by_name("snapshot_date")
                .and_then(|d| date_values(d.as_ref()).ok())
                .unwrap_or_default();
        let (snap, dim, measure, group, value, sup) = (
            c.date("snapshot_date"),
            c.text("dimension"),
            c.text("measure"),
            c.text("group"),
            c.num("value"),
            c.flag("suppressed"),
        );
        for i in 0..b.num_rows() {
            rows.push(P {
                day: raw.get(i).copied().flatten().unwrap_or(0),
                snapshot: snap[i].clone(),
                dimension: dim[i].clone(),
                measure: measure[i].clone(),
                group: group[i].clone(),
                value: value[i],
                suppressed: sup[i],
            });
        }
    }
    let Some(latest) = rows
        .iter()
        .max_by_key(|r| r.day)
        .map(|r| r.snapshot.clone())
    else {
        return String::new();
    };
    let find = |dim: &str, m: &str, g: &str| {
        rows.iter()
            .find(|r| r.snapshot == latest && r.dimension == dim && r.measure == m && r.group == g)
    };
    let show = |r: Option<&P>| {
        r.map(|r| pct(r.value, r.suppressed))
            .unwrap_or_else(|| "–".into())
    };
    let mut s = format!(
        "<h2>Pay gaps, snapshot {}</h2>\n<p>A positive gap means the group's pay is lower than the reference group's.</p>\n",
        esc(&latest)
    );
    // Gender pay gap: the statutory figures.
    if find("sex", "mean_hourly_gap_pct", "F").is_some() {
        s.push_str("<table>\n<caption>Gender pay gap (statutory measures)</caption>\n<thead><tr><th scope=\"col\">Measure</th><th scope=\"col\">Value</th></tr></thead>\n<tbody>\n");
        for (m, g, text) in [
            ("mean_hourly_gap_pct", "F", "Mean hourly pay gap"),
            ("median_hourly_gap_pct", "F", "Median hourly pay gap"),
            ("mean_bonus_gap_pct", "F", "Mean bonus gap"),
            ("median_bonus_gap_pct", "F", "Median bonus gap"),
            ("pct_receiving_bonus", "M", "Men receiving a bonus"),
            ("pct_receiving_bonus", "F", "Women receiving a bonus"),
        ] {
            let _ = writeln!(
                s,
                "<tr><th scope=\"row\">{text}</th><td class=\"n\">{}</td></tr>",
                show(find("sex", m, g))
            );
        }
        s.push_str("</tbody>\n</table>\n");
        let quartiles = [
            ("lower_quartile_pct", "Lower quarter"),
            ("lower_middle_quartile_pct", "Lower middle quarter"),
            ("upper_middle_quartile_pct", "Upper middle quarter"),
            ("upper_quartile_pct", "Upper quarter"),
        ];
        let val = |m: &str, g: &str| {
            find("sex", m, g).and_then(|r| if r.suppressed { None } else { r.value })
        };
        s.push_str(&bar_chart(
            "quartiles",
            "Women and men in each quarter pay band",
            &quartiles
                .iter()
                .map(|q| q.1.to_string())
                .collect::<Vec<_>>(),
            &[
                Series {
                    name: "Women".into(),
                    values: quartiles.iter().map(|q| val(q.0, "F")).collect(),
                },
                Series {
                    name: "Men".into(),
                    values: quartiles.iter().map(|q| val(q.0, "M")).collect(),
                },
            ],
        ));
        s.push_str("<table>\n<caption>Quarter pay bands: share of women and men</caption>\n<thead><tr><th scope=\"col\">Pay band</th><th scope=\"col\">Women</th><th scope=\"col\">Men</th></tr></thead>\n<tbody>\n");
        for (m, text) in quartiles {
            let _ = writeln!(
                s,
                "<tr><th scope=\"row\">{text}</th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                show(find("sex", m, "F")),
                show(find("sex", m, "M"))
            );
        }
        s.push_str("</tbody>\n</table>\n");
    }
    for (dim, title) in [
        ("ethnicity", "Ethnicity pay gap (against White British)"),
        (
            "disability",
            "Disability pay gap (against non-disabled employees)",
        ),
    ] {
        let groups: Vec<String> = {
            let mut g = Vec::new();
            for r in rows.iter().filter(|r| {
                r.snapshot == latest && r.dimension == dim && r.measure == "mean_hourly_gap_pct"
            }) {
                if !g.contains(&r.group) {
                    g.push(r.group.clone());
                }
            }
            g
        };
        if groups.is_empty() {
            continue;
        }
        let _ = write!(
            s,
            "<table>\n<caption>{title}</caption>\n<thead><tr><th scope=\"col\">Group</th><th scope=\"col\">Mean hourly gap</th><th scope=\"col\">Median hourly gap</th><th scope=\"col\">Mean bonus gap</th><th scope=\"col\">Median bonus gap</th></tr></thead>\n<tbody>\n"
        );
        for g in &groups {
            let _ = writeln!(
                s,
                "<tr><th scope=\"row\">{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&label(g)),
                show(find(dim, "mean_hourly_gap_pct", g)),
                show(find(dim, "median_hourly_gap_pct", g)),
                show(find(dim, "mean_bonus_gap_pct", g)),
                show(find(dim, "median_bonus_gap_pct", g))
            );
        }
        let _ = writeln!(
            s,
            "</tbody>\n</table>\n<p class=\"note\">Employees who did not state it: {} of all employees; they are left out of the gaps.</p>",
            show(find(dim, "not_disclosed_pct", "not_disclosed"))
        );
    }
    // Trend of the gender gap over snapshots.
    let mut by_snapshot: BTreeMap<i32, (String, Option<&P>, Option<&P>)> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.dimension == "sex" && r.group == "F")
    {
        let e = by_snapshot
            .entry(r.day)
            .or_insert((r.snapshot.clone(), None, None));
        match r.measure.as_str() {
            "mean_hourly_gap_pct" => e.1 = Some(r),
            "median_hourly_gap_pct" => e.2 = Some(r),
            _ => {}
        }
    }
    if by_snapshot.len() > 1 {
        s.push_str("<table>\n<caption>Gender pay gap over time</caption>\n<thead><tr><th scope=\"col\">Snapshot</th><th scope=\"col\">Mean hourly gap</th><th scope=\"col\">Median hourly gap</th></tr></thead>\n<tbody>\n");
        for (snapshot, mean, median) in by_snapshot.values() {
            let _ = writeln!(
                s,
                "<tr><th scope=\"row\">{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(snapshot),
                show(*mean),
                show(*median)
            );
        }
        s.push_str("</tbody>\n</table>\n");
    }
    s
}

/// One figure of the partners' comparison: a row key and each level's value.
type Comparison = BTreeMap<Vec<String>, BTreeMap<usize, (Option<f64>, bool)>>;

/// The partners' comparison page: for each indicator run per partner, the
/// headline figures of every partner and of the partnership side by side.
/// Only published (disclosure-controlled) values appear; a withheld one
/// stays withheld ([c]).
pub(crate) fn partners_page(root: &Path, partners: &[String]) -> String {
    let mut body = format!(
        "<p class=\"note\">Each partner's figures and the partnership's, from the published files. {SUPPRESSED_NOTE} Cells are also withheld where a partner's figure could be worked out from the partnership's and the other partners'.</p>\n"
    );
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join(eqpipe_core::layout::INDICATORS_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    let mut heads: Vec<String> = partners.to_vec();
    heads.push("Partnership".into());
    for d in dirs {
        let name = d
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let mut files: Vec<PathBuf> = partners
            .iter()
            .map(|id| d.join(eqpipe_core::layout::partition(id)).join(PART_FILE))
            .collect();
        files.push(eqpipe_store::files::published_file(root, &name));
        if !files[0].exists() {
            continue;
        }
        let Some(dataset) = eqpipe_store::files::file_metadata(&files[0])
            .and_then(|kv| kv.get(eqpipe_core::provenance::keys::DATASET).cloned())
        else {
            continue;
        };
        let mut table: Comparison = BTreeMap::new();
        let (title, unit) = match dataset.as_str() {
            "workforce_representation" => {
                ("Workforce share of each group (whole organisation)", "%")
            }
            "pay_gap" => ("Pay gaps", ""),
            _ => continue,
        };
        for (level, f) in files.iter().enumerate() {
            for b in read(f).map(|(b, _)| b).unwrap_or_default() {
                let c = Cols(&b);
                let sup = c.flag("suppressed");
                if dataset == "workforce_representation" {
                    let (scope, ch, cat, v) = (
                        c.text("scope"),
                        c.text("characteristic"),
                        c.text("category"),
                        c.num("share_pct"),
                    );
                    for i in 0..b.num_rows() {
                        if scope[i] == "organisation" {
                            table
                                .entry(vec![
                                    characteristic_title(&ch[i]).to_string(),
                                    label(&cat[i]),
                                ])
                                .or_default()
                                .entry(level)
                                .or_insert((v[i], sup[i]));
                        }
                    }
                } else {
                    let (dim, measure, group, v) = (
                        c.text("dimension"),
                        c.text("measure"),
                        c.text("group"),
                        c.num("value"),
                    );
                    for i in 0..b.num_rows() {
                        table
                            .entry(vec![dim[i].clone(), measure[i].clone(), group[i].clone()])
                            .or_default()
                            .entry(level)
                            .or_insert((v[i], sup[i]));
                    }
                }
            }
        }
        if table.is_empty() {
            continue;
        }
        let _ = write!(
            body,
            "<h2>{}</h2>\n<table>\n<caption>{} (<code>{}</code>), each partner and the partnership</caption>\n<thead><tr><th scope=\"col\">Figure</th>",
            esc(title),
            esc(title),
            esc(&name)
        );
        for h in &heads {
            let _ = write!(body, "<th scope=\"col\">{}</th>", esc(h));
        }
        body.push_str("</tr></thead>\n<tbody>\n");
        for (key, cells) in &table {
            let _ = write!(body, "<tr><th scope=\"row\">{}</th>", esc(&key.join(" · ")));
            for level in 0..heads.len() {
                let text = match cells.get(&level) {
                    Some((v, s)) if unit == "%" => pct(*v, *s),
                    Some((v, s)) => match (v, s) {
                        (_, true) => "[c]".into(),
                        (Some(v), _) => format!("{v:.1}"),
                        (None, _) => "–".into(),
                    },
                    None => "–".into(),
                };
                let _ = write!(body, "<td class=\"n\">{}</td>", esc(&text));
            }
            body.push_str("</tr>\n");
        }
        body.push_str("</tbody>\n</table>\n");
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_groups_of_output_areas_only_are_not_read_for_pages() {
        use arrow_array::{DictionaryArray, types::Int32Type};
        use arrow_schema::{DataType, Field, Schema};
        let schema = std::sync::Arc::new(Schema::new(vec![Field::new(
            "geography_level",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            false,
        )]));
        let batch = |levels: Vec<&str>| {
            let a: DictionaryArray<Int32Type> = levels.into_iter().collect();
            RecordBatch::try_new(schema.clone(), vec![std::sync::Arc::new(a)]).unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.parquet");
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(3))
            .build();
        let mut w = parquet::arrow::ArrowWriter::try_new(
            File::create(&path).unwrap(),
            schema.clone(),
            Some(props),
        )
        .unwrap();
        // Row groups: OAs only; OAs and an authority; LSOAs only; authorities.
        for levels in [
            vec!["oa", "oa", "oa"],
            vec!["oa", "ltla", "oa"],
            vec!["lsoa", "lsoa", "lsoa"],
            vec!["ltla", "ltla", "ltla"],
        ] {
            w.write(&batch(levels)).unwrap();
            w.flush().unwrap();
        }
        w.close().unwrap();
        let read = read_pageable_profile(&path).unwrap();
        let levels: Vec<String> = read
            .iter()
            .flat_map(|b| text_values(b.column(0).as_ref()).unwrap())
            .collect();
        assert_eq!(levels, ["oa", "ltla", "oa", "ltla", "ltla", "ltla"]);
    }

    #[test]
    fn text_is_escaped_and_charts_describe_their_figures() {
        assert_eq!(esc("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
        let svg = bar_chart(
            "x",
            "Sex <test>",
            &["Female".into(), "Male".into()],
            &[
                Series {
                    name: "Ward".into(),
                    values: vec![Some(51.25), None],
                },
                Series {
                    name: "City".into(),
                    values: vec![Some(50.0), Some(50.0)],
                },
            ],
        );
        assert!(svg.contains("role=\"img\"") && svg.contains("aria-labelledby=\"x-t x-d\""));
        assert!(svg.contains("<title id=\"x-t\">Sex &lt;test&gt;</title>"));
        assert!(
            svg.contains("Female: Ward 51.3%, City 50.0%. Male: Ward –, City 50.0%."),
            "{svg}"
        );
        assert!(svg.contains("hatched bars"));
    }
}
