//! Evidence beside the council's own figures: its gender pay gap against
//! its published returns and its peers' (`pay_gap_benchmark` next to
//! `pay_gap`), and health inequalities across deprivation deciles
//! (`health_inequalities`) next to the council services' own gradients
//! (`service_equity`).

use super::*;

/// One `pay_gap_benchmark` row.
struct B {
    employer: String,
    year: String,
    snapshot: String,
    measure: String,
    value: Option<f64>,
    peers: Option<f64>,
    median: Option<f64>,
    lower: Option<f64>,
    upper: Option<f64>,
    rank: Option<f64>,
    ranked: Option<f64>,
    group: String,
}

fn benchmark_rows(batches: &[RecordBatch]) -> Vec<B> {
    let mut out = Vec::new();
    for b in batches {
        let c = Cols(b);
        let (employer, year, snapshot, measure, group) = (
            c.text("employer"),
            c.text("reporting_year"),
            c.date("snapshot_date"),
            c.text("measure"),
            c.text("peer_group"),
        );
        let (value, peers, median, lower, upper, rank, ranked) = (
            c.num("value"),
            c.num("peers"),
            c.num("peer_median"),
            c.num("peer_lower_quartile"),
            c.num("peer_upper_quartile"),
            c.num("rank"),
            c.num("ranked"),
        );
        for i in 0..b.num_rows() {
            out.push(B {
                employer: employer[i].clone(),
                year: year[i].clone(),
                snapshot: snapshot[i].clone(),
                measure: measure[i].clone(),
                value: value[i],
                peers: peers[i],
                median: median[i],
                lower: lower[i],
                upper: upper[i],
                rank: rank[i],
                ranked: ranked[i],
                group: group[i].clone(),
            });
        }
    }
    out
}

/// The benchmark's measures, their `pay_gap` measure and group, and label.
const MEASURES: [(&str, &str, &str, &str); 10] = [
    (
        "mean_hourly_gap_pct",
        "mean_hourly_gap_pct",
        "F",
        "Mean hourly pay gap",
    ),
    (
        "median_hourly_gap_pct",
        "median_hourly_gap_pct",
        "F",
        "Median hourly pay gap",
    ),
    (
        "mean_bonus_gap_pct",
        "mean_bonus_gap_pct",
        "F",
        "Mean bonus gap",
    ),
    (
        "median_bonus_gap_pct",
        "median_bonus_gap_pct",
        "F",
        "Median bonus gap",
    ),
    (
        "male_bonus_pct",
        "pct_receiving_bonus",
        "M",
        "Men receiving a bonus",
    ),
    (
        "female_bonus_pct",
        "pct_receiving_bonus",
        "F",
        "Women receiving a bonus",
    ),
    (
        "female_lower_quartile_pct",
        "lower_quartile_pct",
        "F",
        "Women in the lower quarter pay band",
    ),
    (
        "female_lower_middle_quartile_pct",
        "lower_middle_quartile_pct",
        "F",
        "Women in the lower middle quarter",
    ),
    (
        "female_upper_middle_quartile_pct",
        "upper_middle_quartile_pct",
        "F",
        "Women in the upper middle quarter",
    ),
    (
        "female_top_quartile_pct",
        "upper_quartile_pct",
        "F",
        "Women in the top quarter pay band",
    ),
];

/// eqpipe's own statutory figure: `pay_gap`'s sex row for a snapshot.
type Own = BTreeMap<(String, String, String), (Option<f64>, bool)>;

fn own_figures(pay_gap: &[RecordBatch]) -> Own {
    pay_gap_rows(pay_gap)
        .into_iter()
        .filter(|r| r.dimension == "sex")
        .map(|r| ((r.snapshot, r.measure, r.group), (r.value, r.suppressed)))
        .collect()
}

/// "How our gender pay gap compares": the latest published year's
/// measures, ours (as eqpipe computes them for the same snapshot) beside
/// our published return and the peers'; and the median gap over the years.
// Long: two tables sharing the rows and the own-figure lookup.
pub(super) fn pay_benchmark_section(
    benchmark: &[RecordBatch],
    pay_gap: &[RecordBatch],
) -> Vec<Block> {
    let rows = benchmark_rows(benchmark);
    let own = own_figures(pay_gap);
    let Some(latest) = rows.iter().map(|r| r.year.clone()).max() else {
        return Vec::new();
    };
    let first = &rows[0];
    let ours = |r: &B| {
        MEASURES
            .iter()
            .find(|m| m.0 == r.measure)
            .and_then(|m| own.get(&(r.snapshot.clone(), m.1.to_string(), m.2.to_string())))
            .map(|(v, sup)| pct(*v, *sup))
            .unwrap_or_else(|| "–".into())
    };
    let differs = |r: &B| {
        MEASURES
            .iter()
            .find(|m| m.0 == r.measure)
            .and_then(|m| own.get(&(r.snapshot.clone(), m.1.to_string(), m.2.to_string())))
            .and_then(|(v, sup)| (!sup).then_some(*v).flatten())
            .zip(r.value)
            .is_some_and(|(a, b)| (a - b).abs() >= 0.05)
    };
    let peers = |r: &B| match (r.median, r.lower, r.upper) {
        (Some(m), Some(l), Some(u)) => format!(
            "{} ({} to {})",
            pct(Some(m), false),
            pct(Some(l), false),
            pct(Some(u), false)
        ),
        _ => "–".into(),
    };
    let rank = |r: &B| match (r.rank, r.ranked) {
        (Some(k), Some(n)) => format!("{} of {}", num(Some(k), false), num(Some(n), false)),
        _ => "–".into(),
    };
    let mut s = vec![
        Block::h(2, "How our gender pay gap compares"),
        Block::p(format!(
            "{}'s published returns to the GOV.UK gender pay gap service against its peers ({}), and the figures eqpipe computes from the workforce extract for the same snapshot. Where the two differ, the return or the extract needs a look.",
            first.employer, first.group
        )),
    ];
    let mut t = Table::new(
        format!("Gender pay gap, reporting year {latest}: ours against our peers"),
        &[
            "Measure",
            "Computed by eqpipe",
            "Our published return",
            "Peers' median (quartiles)",
            "Our rank (1 = smallest)",
            "Check",
        ],
    );
    for (m, _, _, label) in MEASURES {
        let Some(r) = rows.iter().find(|r| r.year == latest && r.measure == m) else {
            continue;
        };
        t.row(
            label,
            vec![
                Cell::n(ours(r)),
                Cell::n(pct(r.value, false)),
                Cell::n(peers(r)),
                Cell::n(rank(r)),
                Cell::t(if differs(r) {
                    "differs from the return"
                } else {
                    ""
                }),
            ],
        );
    }
    s.push(t.into());
    let mut t = Table::new(
        "Median hourly pay gap by reporting year",
        &[
            "Reporting year",
            "Computed by eqpipe",
            "Our published return",
            "Peers",
            "Peers' median (quartiles)",
            "Our rank",
        ],
    );
    for r in rows.iter().filter(|r| r.measure == "median_hourly_gap_pct") {
        t.row(
            r.year.clone(),
            vec![
                Cell::n(ours(r)),
                Cell::n(pct(r.value, false)),
                Cell::n(num(r.peers, false)),
                Cell::n(peers(r)),
                Cell::n(rank(r)),
            ],
        );
    }
    s.push(t.into());
    s
}

/// The health inequalities page: each indicator's gradient across
/// England's deprivation deciles, latest period first, and the council
/// services' gradients across the same scale.
pub(super) fn health_page(health: &[RecordBatch], services: &[RecordBatch]) -> Vec<Block> {
    let mut rows: Vec<(String, i64, Vec<String>)> = Vec::new();
    for b in health {
        let c = Cols(b);
        let (name, period, dtype, area) = (
            c.text("indicator_name"),
            c.text("time_period"),
            c.text("deprivation_type"),
            c.text("area_name"),
        );
        let sortable = c.num("time_period_sortable");
        let (most, least, fmost, fleast, sii, rii, own, deciles) = (
            c.num("value_most_deprived"),
            c.num("value_least_deprived"),
            c.num("fitted_most_deprived"),
            c.num("fitted_least_deprived"),
            c.num("sii"),
            c.num("rii"),
            c.num("area_value"),
            c.num("deciles"),
        );
        for i in 0..b.num_rows() {
            let ratio = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into());
            rows.push((
                name[i].clone(),
                -(sortable[i].unwrap_or(0.0) as i64),
                vec![
                    period[i].clone(),
                    format!("{} ({})", area[i], dtype[i]),
                    num(own[i], false),
                    num(most[i], false),
                    num(least[i], false),
                    num(fmost[i], false),
                    num(fleast[i], false),
                    num(sii[i], false),
                    ratio(rii[i]),
                    num(deciles[i], false),
                ],
            ));
        }
    }
    if rows.is_empty() {
        return Vec::new();
    }
    rows.sort();
    let mut s = vec![Block::p(
        "Public health indicators from OHID Fingertips across England's deprivation deciles. The slope index of inequality (SII) is the fitted difference between the least and the most deprived end of the scale (OHID's method: each decile at the middle of its share of the population, the values fitted by population-weighted least squares); a negative SII means the value is higher in more deprived areas. The relative index (RII) is the least deprived end's fitted value over the most deprived end's.",
    )];
    let mut current: Option<(String, Table)> = None;
    for (name, _, cells) in rows {
        if current.as_ref().is_none_or(|(n, _)| *n != name) {
            if let Some((n, t)) = current.take() {
                s.push(Block::h(2, n));
                s.push(t.into());
            }
            current = Some((
                name.clone(),
                Table::new(
                    format!("{name}: the gradient across deprivation deciles"),
                    &[
                        "Period",
                        "Area (breakdown)",
                        "Area's value",
                        "Most deprived decile",
                        "Least deprived decile",
                        "Fitted, most deprived end",
                        "Fitted, least deprived end",
                        "SII",
                        "RII",
                        "Deciles",
                    ],
                ),
            ));
        }
        let mut cells = cells.into_iter();
        let head = cells.next().unwrap_or_default();
        let row: Vec<Cell> = cells
            .enumerate()
            .map(|(k, c)| if k == 0 { Cell::t(c) } else { Cell::n(c) })
            .collect();
        if let Some((_, t)) = current.as_mut() {
            t.row(head, row);
        }
    }
    if let Some((n, t)) = current {
        s.push(Block::h(2, n));
        s.push(t.into());
    }
    s.extend(services_gradients(services));
    s
}

/// The council services' SII and RII across the catchment's deciles.
fn services_gradients(services: &[RecordBatch]) -> Vec<Block> {
    let mut found: BTreeMap<String, (Option<f64>, Option<f64>, bool)> = BTreeMap::new();
    for b in services {
        let c = Cols(b);
        let (service, measure, value, sup) = (
            c.text("service"),
            c.text("measure"),
            c.num("value"),
            c.flag("suppressed"),
        );
        for i in 0..b.num_rows() {
            let e = found.entry(service[i].clone()).or_default();
            match measure[i].as_str() {
                "sii" => e.0 = value[i],
                "rii" => e.1 = value[i],
                _ => continue,
            }
            e.2 |= sup[i];
        }
    }
    found.retain(|_, v| v.0.is_some() || v.2);
    if found.is_empty() {
        return Vec::new();
    }
    let mut t = Table::new(
        "Services' slope and relative index of inequality",
        &["Service", "SII (users per 1,000)", "RII"],
    );
    for (service, (sii, rii, sup)) in &found {
        let ratio = match (rii, sup) {
            (_, true) => "[c]".to_string(),
            (Some(v), _) => format!("{v:.2}"),
            _ => "–".into(),
        };
        t.row(
            service.clone(),
            vec![Cell::n(num(*sii, *sup)), Cell::n(ratio)],
        );
    }
    vec![
        Block::h(2, "The council's services across the same scale"),
        Block::rich(vec![
            "The same method over the catchment's own deprivation deciles (users per 1,000 residents; see ".into(),
            Inline::link("who our services reach", "services.html"),
            "): a negative SII means more use in more deprived neighbourhoods.".into(),
        ]),
        t.into(),
    ]
}
