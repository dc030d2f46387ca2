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
mod index;
mod map;
mod pack;
mod partners;
mod quality;
mod services;
mod spending;
mod summary;
pub(crate) mod tpl;
mod workforce;
use areas::*;
use chart::*;
use community::*;
use evidence::*;
use html::*;
use index::*;
use map::*;
use partners::*;
use quality::*;
use services::*;
use spending::*;
use summary::*;
use workforce::*;

pub use tpl::{BUILT_IN as BUILT_IN_TEMPLATES, TemplateError, Templates};
use tpl::{Block, Cell, Inline, Table};

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

/// What a report is written with: the templates folder (`[report]
/// templates`, absolute; none for the built-in set) and the evidence packs.
/// Each report records them in the output's state, so `eqpipe runs restore`
/// rewrites the same report without the config.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// The folder of templates replacing built-in ones.
    pub templates: Option<PathBuf>,
    /// The evidence packs (`[[evidence_packs]]`).
    pub evidence_packs: Vec<eqpipe_core::config::evidence::EvidencePack>,
}

impl Settings {
    /// The settings a config gives.
    pub fn of(config: &eqpipe_core::config::Config) -> Settings {
        Settings {
            templates: config.report.templates.as_ref().map(|d| config.resolve(d)),
            evidence_packs: config.evidence_packs.clone(),
        }
    }

    /// The settings the last report in `root` was written with (the
    /// defaults when none was recorded).
    pub fn recorded(root: &Path) -> Settings {
        std::fs::read(eqpipe_core::layout::Layout::new(root).report_settings())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }
}

/// A report that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A page could not be written.
    #[error(transparent)]
    Write(#[from] eqpipe_core::fsio::FsError),
    /// A template could not be loaded or rendered.
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// Writes the report; returns the index path. In a partnership the main
/// report is the partnership's, each partner has its own under
/// `report/partner=<id>/`, and `partners.html` compares them.
pub fn write(
    root: &Path,
    manifest: &RunManifest,
    settings: &Settings,
) -> Result<PathBuf, ReportError> {
    let templates = Templates::load(settings.templates.as_deref())?;
    let partners = partner_levels(root);
    let dir = eqpipe_core::layout::Layout::new(root).report();
    let mut extra = Vec::new();
    if !partners.is_empty() {
        let body = crate::report::partners_page(root, &partners);
        store::write_atomic(
            &dir.join("partners.html"),
            topic(&templates, "Partners compared", false, body, false)?.as_bytes(),
        )?;
        extra.push(Link {
            label: "Partners compared: each partner's figures side by side".to_string(),
            href: "partners.html".to_string(),
        });
        for id in &partners {
            let f = format!("{}/index.html", eqpipe_core::layout::partition(id));
            render(
                &templates,
                root,
                &dir.join(eqpipe_core::layout::partition(id)),
                published(root, Some(id)),
                manifest,
                &format!("Equality evidence report: {id}"),
                Vec::new(),
                &[],
            )?;
            extra.push(Link {
                label: format!("Partner report: {id}"),
                href: f,
            });
        }
    }
    let index = render(
        &templates,
        root,
        &dir,
        published(root, None),
        manifest,
        if partners.is_empty() {
            "Equality evidence report"
        } else {
            "Equality evidence report: the partnership"
        },
        extra,
        &settings.evidence_packs,
    )?;
    // A partner no longer in the partnership leaves no report behind.
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(id) = eqpipe_core::layout::partition_id(&name)
            && e.path().is_dir()
            && !partners.iter().any(|p| p == id)
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let recorded = serde_json::to_vec_pretty(settings).unwrap_or_default();
    store::write_atomic(
        &eqpipe_core::layout::Layout::new(root).report_settings(),
        &recorded,
    )?;
    Ok(index)
}

/// A topic page (`topic.html`): the [c] note where `note`, its blocks, a
/// link to the method where `method`.
fn topic(
    templates: &Templates,
    title: &str,
    note: bool,
    blocks: Vec<Block>,
    method: bool,
) -> Result<String, TemplateError> {
    templates.render(
        "topic.html",
        minijinja::context! { title, note, blocks, method },
    )
}

/// A topic page's blocks made from one indicator's batches.
type Section = fn(&[RecordBatch]) -> Vec<Block>;

/// Each published file's batches, by the dataset it holds.
type Loaded = BTreeMap<String, Vec<Vec<RecordBatch>>>;

/// Each dataset's blocks, in the order given, from every published file of
/// each.
fn sections_of(loaded: &Loaded, parts: &[(&str, Section)]) -> Vec<Block> {
    let mut out = Vec::new();
    for (dataset, section) in parts {
        for batches in loaded.get(*dataset).into_iter().flatten() {
            out.extend(section(batches));
        }
    }
    out
}

// Long: the report's pages assembled in their order (area pages, the
// topic pages, the evidence packs, the index last), sharing the page list.
#[allow(clippy::too_many_arguments)]
fn render(
    templates: &Templates,
    root: &Path,
    dir: &Path,
    outputs: BTreeMap<String, Vec<(String, PathBuf)>>,
    manifest: &RunManifest,
    title: &str,
    extra: Vec<Link>,
    packs: &[eqpipe_core::config::evidence::EvidencePack],
) -> Result<PathBuf, ReportError> {
    let mut links = Vec::new();
    let mut written: BTreeSet<String> = BTreeSet::new();

    // Every output read once (the community profile, which can be large,
    // by its pageable row groups below).
    let loaded: Loaded = outputs
        .iter()
        .filter(|(d, _)| d.as_str() != "community_profile")
        .map(|(d, files)| {
            let batches = files.iter().filter_map(|(_, f)| read(f)).map(|(b, _)| b);
            (d.clone(), batches.collect())
        })
        .collect();
    let read_all = |dataset: &str| -> Vec<RecordBatch> {
        loaded
            .get(dataset)
            .into_iter()
            .flatten()
            .flatten()
            .cloned()
            .collect()
    };
    let mut deprivation: BTreeMap<String, Vec<Block>> = BTreeMap::new();
    for batches in loaded.get("deprivation_profile").into_iter().flatten() {
        deprivation_sections(batches, &mut deprivation);
    }
    let deprived_batches = read_all("deprivation_profile");
    let shapes = read_boundaries(root);
    let deprived = deprivation_values(&deprived_batches);
    let mut profile = Vec::new();
    for (_, file) in outputs.get("community_profile").into_iter().flatten() {
        let Some(batches) = read_pageable_profile(file) else {
            continue;
        };
        profile.extend(batches.iter().cloned());
        for (code, area) in area_pages(&batches, &shapes) {
            let f = format!("area-{}.html", slug(&code));
            let html = templates.render(
                "area.html",
                minijinja::context! {
                    title => format!("{} ({code}): community profile", area.name),
                    map => area_map(&code, &area.name, &shapes, deprived.as_ref()),
                    deprivation => deprivation.get(&code).map(Vec::as_slice).unwrap_or_default(),
                    comparators => &area.comparators,
                    tables => &area.tables,
                },
            )?;
            store::write_atomic(&dir.join(&f), html.as_bytes())?;
            if written.insert(f.clone()) {
                links.push(Link {
                    label: format!("{} ({code})", area.name),
                    href: f,
                });
            }
        }
    }
    // Shared by several pages.
    let (pay_gap, service_equity, health_inequalities) = (
        read_all("pay_gap"),
        read_all("service_equity"),
        read_all("health_inequalities"),
    );
    let mut workforce = sections_of(
        &loaded,
        &[
            ("workforce_representation", representation_section),
            ("workforce_flows", flows_section),
            ("pay_gap", pay_gap_section),
            ("workforce_benchmark", benchmark_section),
        ],
    );
    workforce.extend(pay_benchmark_section(
        &read_all("pay_gap_benchmark"),
        &pay_gap,
    ));
    let services = sections_of(&loaded, &[("service_equity", services_section)]);
    let mut spending = sections_of(
        &loaded,
        &[
            ("social_value", social_value_section),
            ("vcse_grants", grants_section),
        ],
    );
    if !spending.is_empty() {
        spending.extend(grants_map(&read_all("vcse_grants"), &shapes));
    }
    let community = sections_of(
        &loaded,
        &[
            ("engagement_reach", reach_section),
            ("engagement_estimates", answers_section),
            ("hate_crime_trends", hate_crime_section),
        ],
    );
    let health = health_page(&health_inequalities, &service_equity);
    let objectives = crate::objectives::report::section(
        &read_all(crate::objectives::PROGRESS),
        &read_all(crate::objectives::HISTORY),
    );
    let mut index_links = Vec::new();
    if let Some(page) = objectives {
        let html = templates.render(
            "objectives.html",
            minijinja::context! { title => "Equality objectives: progress", ..minijinja::Value::from_serialize(&page) },
        )?;
        store::write_atomic(&dir.join("objectives.html"), html.as_bytes())?;
        index_links.push(Link {
            href: "objectives.html".into(),
            label: "Equality objectives: progress against each target".into(),
        });
    }
    // (file, title, [c] note, method link, sections, the index's words)
    let pages = [
        (
            "workforce.html",
            "Our workforce",
            true,
            true,
            workforce,
            "Our workforce: representation and pay gaps",
        ),
        (
            "services.html",
            "Who our services reach",
            true,
            true,
            services,
            "Who our services reach: users against the population, and by deprivation",
        ),
        (
            "health.html",
            "Health inequalities: the deprivation gradient",
            false,
            false,
            health,
            "Health inequalities: public health indicators across deprivation deciles, beside our services' gradients",
        ),
        (
            "community.html",
            "Hearing from everyone: engagement, cohesion and hate crime",
            true,
            false,
            community,
            "Hearing from everyone: who our consultations reached, what they heard, and hate crime",
        ),
        (
            "spending.html",
            "Where our money goes: social value and grants",
            false,
            false,
            spending,
            "Where our money goes: spending with local, VCSE and SME suppliers, and grants to voluntary groups",
        ),
    ];
    for (file, page_title, note, method, sections, label) in pages {
        if sections.is_empty() {
            continue;
        }
        let html = topic(templates, page_title, note, sections, method)?;
        store::write_atomic(&dir.join(file), html.as_bytes())?;
        index_links.push(Link {
            href: file.to_string(),
            label: label.to_string(),
        });
    }
    let pack_links = write_packs(
        templates,
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
    index_links.extend(pack_links);
    index_links.extend(links);
    index_links.extend(extra);
    let headlines = headlines(
        &deprived_batches,
        &pay_gap,
        &service_equity,
        &health_inequalities,
    );
    // The pages this report has; any other page in the folder is an
    // earlier report's (an indicator or area no longer configured) and
    // would show old figures to whoever kept its address.
    let mut kept: BTreeSet<String> = index_links
        .iter()
        .filter(|l| !l.href.contains('/'))
        .map(|l| l.href.clone())
        .collect();
    kept.insert("index.html".into());
    let index = dir.join("index.html");
    let html = index_page(templates, root, manifest, title, headlines, index_links)?;
    store::write_atomic(&index, html.as_bytes())?;
    remove_other_pages(dir, &kept);
    Ok(index)
}

/// Removes the `.html` pages in `dir` that are not in `kept`.
fn remove_other_pages(dir: &Path, kept: &BTreeSet<String>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".html") && !kept.contains(&name) && e.path().is_file() {
            match std::fs::remove_file(e.path()) {
                Ok(()) => tracing::info!(page = %name, "removed a page the report no longer has"),
                Err(err) => tracing::warn!(page = %name, "cannot remove an old page: {err}"),
            }
        }
    }
}

/// Writes each evidence pack's page and workbook; removes the pages and
/// workbooks of packs no longer configured. Returns the index's links.
fn write_packs(
    templates: &Templates,
    root: &Path,
    dir: &Path,
    packs: &[eqpipe_core::config::evidence::EvidencePack],
    inputs: &pack::PackInputs<'_>,
) -> Result<Vec<Link>, ReportError> {
    let layout = eqpipe_core::layout::Layout::new(root);
    let mut links = Vec::new();
    let mut kept = BTreeSet::new();
    for p in packs {
        let facts = pack::facts(p, inputs);
        let page_name = format!("evidence-{}.html", p.name);
        let title = format!("Equality impact evidence: {}", p.title);
        let html = pack::page(templates, &title, p, &facts, sources_table(root))?;
        store::write_atomic(&dir.join(&page_name), html.as_bytes())?;
        let bytes = pack::workbook(p, &facts).map_err(|message| StoreError::Parquet {
            path: dir.join(&page_name),
            message,
        })?;
        store::write_atomic(
            &layout.export_file(&format!("evidence-{}", p.name), "xlsx"),
            &bytes,
        )?;
        kept.insert(p.name.clone());
        links.push(Link {
            label: title,
            href: page_name,
        });
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
