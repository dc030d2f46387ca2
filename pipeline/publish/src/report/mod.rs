//! The static HTML report written with every run (`report/`): an index with
//! the run, the data sources and their dates and the method; a page per
//! profiled area; pages for the organisation's workforce (with its pay gap
//! against its published returns and its peers'), its services, spending,
//! community evidence and health inequalities. No server,
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

mod areas;
mod chart;
mod community;
mod evidence;
pub(crate) mod html;
mod map;
mod pack;
mod partners;
mod quality;
mod services;
mod spending;
mod summary;
mod workforce;
use areas::*;
use chart::*;
use community::*;
use evidence::*;
use html::*;
use map::*;
use partners::*;
use quality::*;
use services::*;
use spending::*;
use summary::*;
use workforce::*;

/// Folder of the report under the output root.
pub use eqpipe_core::layout::REPORT_DIR;

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
<li>Services: each group's share of a service's users (people counted once) with a 95% Wilson score interval, against the catchment population's share from Census 2021; users per 1,000 residents in each decile of the Index of Multiple Deprivation; the slope index of inequality (OHID method: deciles from most to least deprived at the midpoints of their cumulative population, rate fitted by population-weighted least squares; the fitted difference between the least and the most deprived end) and the relative index (the fitted rate at the least deprived end over the fitted rate at the most deprived end, as OHID computes it).</li>\n\
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
pub fn write(
    root: &Path,
    manifest: &RunManifest,
    packs: &[eqpipe_core::config::evidence::EvidencePack],
) -> Result<PathBuf, StoreError> {
    let partners = partner_levels(root);
    let dir = eqpipe_core::layout::Layout::new(root).report();
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
        packs,
    )
}

// Long: the report's pages assembled in their order (data quality first,
// then each section, the index last), sharing the page list.
fn render(
    root: &Path,
    dir: &Path,
    outputs: BTreeMap<String, Vec<(String, PathBuf)>>,
    manifest: &RunManifest,
    title: &str,
    extra: &[(String, String)],
    packs: &[eqpipe_core::config::evidence::EvidencePack],
) -> Result<PathBuf, StoreError> {
    let mut links = Vec::new();
    let mut written: BTreeSet<String> = BTreeSet::new();

    let mut deprivation: BTreeMap<String, String> = BTreeMap::new();
    let mut deprived_batches = Vec::new();
    for (_, file) in outputs.get("deprivation_profile").into_iter().flatten() {
        if let Some((batches, _)) = read(file) {
            deprivation_sections(&batches, &mut deprivation);
            deprived_batches.extend(batches);
        }
    }
    let shapes = read_boundaries(root);
    let deprived = deprivation_values(&deprived_batches);
    let mut profile = Vec::new();
    for (_, file) in outputs.get("community_profile").into_iter().flatten() {
        let Some(batches) = read_pageable_profile(file) else {
            continue;
        };
        profile.extend(batches.iter().cloned());
        for (code, (name, html)) in area_pages(&batches, &deprivation) {
            let html = format!(
                "{}{html}",
                area_map(&code, &name, &shapes, deprived.as_ref())
            );
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
    let mut spending = String::new();
    for (_, file) in outputs.get("social_value").into_iter().flatten() {
        if let Some((batches, _)) = read(file) {
            spending.push_str(&social_value_section(&batches));
        }
    }
    for (_, file) in outputs.get("vcse_grants").into_iter().flatten() {
        if let Some((batches, _)) = read(file) {
            spending.push_str(&grants_section(&batches));
        }
    }
    let has_spending = !spending.is_empty();
    let mut community = String::new();
    for (dataset, section) in [
        (
            "engagement_reach",
            reach_section as fn(&[RecordBatch]) -> String,
        ),
        ("engagement_estimates", answers_section),
        ("hate_crime_trends", hate_crime_section),
    ] {
        for (_, file) in outputs.get(dataset).into_iter().flatten() {
            if let Some((batches, _)) = read(file) {
                community.push_str(&section(&batches));
            }
        }
    }
    let has_community = !community.is_empty();
    if has_community {
        let body = format!("<p class=\"note\">{SUPPRESSED_NOTE}</p>\n{community}");
        store::write_atomic(
            &dir.join("community.html"),
            page(
                "Hearing from everyone: engagement, cohesion and hate crime",
                &body,
            )
            .as_bytes(),
        )?;
    }
    if has_spending {
        store::write_atomic(
            &dir.join("spending.html"),
            page("Where our money goes: social value and grants", &spending).as_bytes(),
        )?;
    }
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
    // Read once for the pages that share them.
    let (pay_gap, service_equity, health_inequalities) = (
        read_all("pay_gap"),
        read_all("service_equity"),
        read_all("health_inequalities"),
    );
    workforce.push_str(&pay_benchmark_section(
        &read_all("pay_gap_benchmark"),
        &pay_gap,
    ));
    let health = health_page(&health_inequalities, &service_equity);
    let has_health = !health.is_empty();
    if has_health {
        store::write_atomic(
            &dir.join("health.html"),
            page("Health inequalities: the deprivation gradient", &health).as_bytes(),
        )?;
    }
    let headline_html = headlines(
        &deprived_batches,
        &pay_gap,
        &service_equity,
        &health_inequalities,
    );
    let pack_links = write_packs(
        root,
        dir,
        packs,
        &pack::PackInputs {
            profile: &profile,
            services: &service_equity,
            workforce: &read_all("workforce_representation"),
            deprivation: &deprived_batches,
        },
    )?;
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
        when(&manifest.started_at),
        when(&manifest.finished_at),
        manifest.outcome.as_str().replace('_', " "),
        esc(&manifest.pipeline_version)
    );
    // The headline figures first, and with them, when the run lost data,
    // where to read about it.
    body.push_str(&headline_html);
    if !headline_html.is_empty() && manifest.outcome.as_str() != "success" {
        body.push_str("<p class=\"note\">This run ended with data-quality warnings or failures: read these figures with the <a href=\"#quality\">data quality</a> section below.</p>\n");
    }
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
    if has_health {
        body.push_str("<li><a href=\"health.html\">Health inequalities: public health indicators across deprivation deciles, beside our services' gradients</a></li>\n");
    }
    if has_community {
        body.push_str("<li><a href=\"community.html\">Hearing from everyone: who our consultations reached, what they heard, and hate crime</a></li>\n");
    }
    if has_spending {
        body.push_str("<li><a href=\"spending.html\">Where our money goes: spending with local, VCSE and SME suppliers, and grants to voluntary groups</a></li>\n");
    }
    for (label, f) in pack_links.iter().chain(&links).chain(extra) {
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

/// Writes each evidence pack's page and workbook; removes the pages and
/// workbooks of packs no longer configured. Returns the index's links.
fn write_packs(
    root: &Path,
    dir: &Path,
    packs: &[eqpipe_core::config::evidence::EvidencePack],
    inputs: &pack::PackInputs<'_>,
) -> Result<Vec<(String, String)>, StoreError> {
    let layout = eqpipe_core::layout::Layout::new(root);
    let mut links = Vec::new();
    let mut kept = BTreeSet::new();
    for p in packs {
        let facts = pack::facts(p, inputs);
        let page_name = format!("evidence-{}.html", p.name);
        store::write_atomic(
            &dir.join(&page_name),
            page(
                &format!("Equality impact evidence: {}", p.title),
                &pack::page_body(p, &facts, &sources(root)),
            )
            .as_bytes(),
        )?;
        let bytes = pack::workbook(p, &facts).map_err(|message| StoreError::Parquet {
            path: dir.join(&page_name),
            message,
        })?;
        store::write_atomic(
            &layout.export_file(&format!("evidence-{}", p.name), "xlsx"),
            &bytes,
        )?;
        kept.insert(p.name.clone());
        links.push((format!("Equality impact evidence: {}", p.title), page_name));
    }
    // A pack no longer configured leaves no page or workbook behind.
    for (folder, ext) in [
        (dir.to_path_buf(), ".html"),
        (root.join("exports"), ".xlsx"),
    ] {
        for e in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(stem) = name
                .strip_prefix("evidence-")
                .and_then(|n| n.strip_suffix(ext))
                && !kept.contains(stem)
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(links)
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
