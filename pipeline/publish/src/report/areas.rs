//! A page per profiled area: community profile and deprivation.

use super::*;

/// The row groups of a community profile that may hold areas with a page:
/// a row group whose `geography_level` statistics say it holds output
/// areas or LSOAs only is not read (a national OA profile is 85 million
/// rows, none of them with a page).
pub(super) fn read_pageable_profile(path: &Path) -> Option<Vec<RecordBatch>> {
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

/// A profile row: (table, topic, label, level, count, percent) and the
/// comparators' (name, percent, difference).
pub(super) struct ProfileRow {
    pub(super) label: String,
    pub(super) level: u8,
    pub(super) count: Option<f64>,
    pub(super) percent: Option<f64>,
    pub(super) comparators: Vec<(String, Option<f64>, Option<f64>)>,
}

/// Deprivation: each area's headings, summaries and tables, by area code.
pub(super) fn deprivation_sections(
    batches: &[RecordBatch],
    out: &mut BTreeMap<String, Vec<Block>>,
) {
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
            let edition = year(edition[i]);
            s.push(Block::Heading {
                level: 2,
                text: format!("Deprivation: {} ({edition})", domain[i]),
                id: Some(format!("dep-{i}")),
            });
            s.push(Block::p(format!("{}.", summary[i])));
            let mut t = Table::new(
                format!(
                    "Neighbourhoods (LSOAs) among England's most deprived: {} {edition}",
                    domain[i]
                ),
                &["Measure", "Most deprived 10%", "Most deprived 20%"],
            );
            t.row(
                format!("Neighbourhoods (of {})", num(lsoas[i], false)),
                vec![Cell::n(num(d10[i], false)), Cell::n(num(d20[i], false))],
            );
            t.row(
                "Share of residents",
                vec![Cell::n(pct(p10[i], false)), Cell::n(pct(p20[i], false))],
            );
            s.push(t.into());
        }
    }
}

/// Geography levels too fine for a report page each.
pub(super) const NO_PAGE_LEVELS: [&str; 2] = ["oa", "lsoa"];

/// An area's page (`area.html`): its name, the comparators, and a
/// section per Census table.
#[derive(Debug, serde::Serialize)]
pub(super) struct AreaPage {
    pub name: String,
    pub comparators: Vec<String>,
    pub tables: Vec<AreaTable>,
}

/// One Census table of an area's page: its anchor, topic and code, a chart
/// of its top-level categories (trusted markup; empty for one category or
/// more than 25), a map of its wards (or other areas within it) where
/// `boundaries` has them, and the table.
#[derive(Debug, serde::Serialize)]
pub(super) struct AreaTable {
    pub id: String,
    pub topic: String,
    pub code: String,
    pub chart: minijinja::Value,
    pub map: Vec<Block>,
    pub table: tpl::Table,
}

/// The area pages of the community profile, by area code.
// Long: one pass over the profile rows builds every area's page in
// reading order.
pub(super) fn area_pages(
    batches: &[RecordBatch],
    shapes: &BTreeMap<String, Shape>,
) -> BTreeMap<String, AreaPage> {
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
    let comparators: Vec<String> = comparator_names.into_iter().collect();
    let mut out = BTreeMap::new();
    for (code, name) in &names {
        let mut sections = Vec::new();
        // This area's tables only (the map is ordered by area first).
        for ((_, table), (topic, rows)) in tables
            .range((code.clone(), String::new())..)
            .take_while(|((area, _), _)| area == code)
        {
            let id = slug(table);
            let cmp: Vec<String> = rows
                .first()
                .map(|r| r.comparators.iter().map(|c| c.0.clone()).collect())
                .unwrap_or_default();
            let top: Vec<&ProfileRow> = rows.iter().filter(|r| r.level == 1).collect();
            let mut chart = String::new();
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
                chart = bar_chart(
                    &format!("c-{id}"),
                    &format!("{topic}: {name} compared with {}", cmp.join(" and ")),
                    &cats,
                    &series,
                );
            }
            let mut head = vec!["Category".to_string(), "Count".into(), "Percent".into()];
            for cn in &cmp {
                head.push(cn.clone());
                head.push("Difference (percentage points)".into());
            }
            let mut t = tpl::Table {
                caption: format!("{topic}: {name} ({table})"),
                head,
                rows: Vec::new(),
            };
            for r in rows {
                let mut cells = vec![
                    tpl::Cell::n(num(r.count, false)),
                    tpl::Cell::n(pct(r.percent, false)),
                ];
                for (_, p, d) in &r.comparators {
                    cells.push(tpl::Cell::n(pct(*p, false)));
                    cells.push(tpl::Cell::n(
                        d.map(|d| format!("{d:+.1}")).unwrap_or_else(|| "–".into()),
                    ));
                }
                t.row(r.label.clone(), cells).sub = r.level > 1;
            }
            let map = table_map((&id, code, name), table, topic, &tables, shapes);
            sections.push(AreaTable {
                id,
                topic: topic.clone(),
                code: table.clone(),
                chart: tpl::trusted(chart),
                map,
                table: t,
            });
        }
        out.insert(
            code.clone(),
            AreaPage {
                name: name.clone(),
                comparators: comparators.clone(),
                tables: sections,
            },
        );
    }
    out
}

/// (area, table) -> (topic, rows): the profile as `area_pages` holds it.
type Tables = BTreeMap<(String, String), (String, Vec<ProfileRow>)>;

/// A map of one Census table across the areas within `code` (its wards in
/// `boundaries`): the top-level category whose share differs most between
/// them (the largest range), shaded by quintiles. None when fewer than
/// three of those areas have the table.
fn table_map(
    (id, code, name): (&str, &str, &str),
    table: &str,
    topic: &str,
    tables: &Tables,
    shapes: &BTreeMap<String, Shape>,
) -> Vec<Block> {
    let children: Vec<&Shape> = shapes.values().filter(|s| s.parent == code).collect();
    // category -> child -> percent
    let mut shares: BTreeMap<&str, Values> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for child in &children {
        let Some((_, rows)) = tables.get(&(child.code.clone(), table.to_string())) else {
            continue;
        };
        // Not a group of people: "Does not apply" (children, for some
        // questions), "Not answered".
        let groups = rows.iter().filter(|r| {
            r.level == 1
                && !r.label.starts_with("Does not apply")
                && !r.label.starts_with("Not answered")
        });
        for r in groups {
            if !order.contains(&r.label.as_str()) {
                order.push(&r.label);
            }
            shares
                .entry(&r.label)
                .or_default()
                .insert(child.code.clone(), (r.percent, false));
        }
    }
    let range = |v: &Values| {
        let known: Vec<f64> = v.values().filter_map(|x| x.0).collect();
        let lo = known.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = known.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (known.len(), hi - lo)
    };
    // The first category in the table's order among those that vary most.
    let Some(label) = order
        .iter()
        .filter(|l| range(&shares[**l]).0 >= 3)
        .fold(None::<(&str, f64)>, |best, l| {
            let r = range(&shares[*l]).1;
            match best {
                Some((_, b)) if b >= r => best,
                _ => Some((l, r)),
            }
        })
        .map(|(l, _)| l)
    else {
        return Vec::new();
    };
    let values = &shares[label];
    let known: Vec<f64> = values.values().filter_map(|x| x.0).collect();
    let mut out = vec![Block::h(3, format!("Where it varies most: {label}"))];
    out.extend(choropleth(
        &format!("m-{id}"),
        &format!("{topic}: {label}, share in each area within {name} ({table})"),
        &children,
        values,
        (&quintile_breaks(&known), "quintiles of the areas' shares"),
        &|v| pct(v, false),
    ));
    out
}
