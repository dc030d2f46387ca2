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
pub(super) fn pay_benchmark_section(benchmark: &[RecordBatch], pay_gap: &[RecordBatch]) -> String {
    let rows = benchmark_rows(benchmark);
    let own = own_figures(pay_gap);
    let Some(latest) = rows.iter().map(|r| r.year.clone()).max() else {
        return String::new();
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
    let mut s = format!(
        "<h2>How our gender pay gap compares</h2>\n<p>{}'s published returns to the GOV.UK gender pay gap service against its peers ({}), and the figures eqpipe computes from the workforce extract for the same snapshot. Where the two differ, the return or the extract needs a look.</p>\n",
        esc(&first.employer),
        esc(&first.group)
    );
    let _ = write!(
        s,
        "<table>\n<caption>Gender pay gap, reporting year {}: ours against our peers</caption>\n<thead><tr><th scope=\"col\">Measure</th><th scope=\"col\">Computed by eqpipe</th><th scope=\"col\">Our published return</th><th scope=\"col\">Peers' median (quartiles)</th><th scope=\"col\">Our rank (1 = smallest)</th><th scope=\"col\">Check</th></tr></thead>\n<tbody>\n",
        esc(&latest)
    );
    for (m, _, _, label) in MEASURES {
        let Some(r) = rows.iter().find(|r| r.year == latest && r.measure == m) else {
            continue;
        };
        let _ = writeln!(
            s,
            "<tr><th scope=\"row\">{label}</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            ours(r),
            pct(r.value, false),
            peers(r),
            rank(r),
            if differs(r) {
                "differs from the return"
            } else {
                ""
            }
        );
    }
    s.push_str("</tbody>\n</table>\n");
    s.push_str("<table>\n<caption>Median hourly pay gap by reporting year</caption>\n<thead><tr><th scope=\"col\">Reporting year</th><th scope=\"col\">Computed by eqpipe</th><th scope=\"col\">Our published return</th><th scope=\"col\">Peers</th><th scope=\"col\">Peers' median (quartiles)</th><th scope=\"col\">Our rank</th></tr></thead>\n<tbody>\n");
    for r in rows.iter().filter(|r| r.measure == "median_hourly_gap_pct") {
        let _ = writeln!(
            s,
            "<tr><th scope=\"row\">{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&r.year),
            ours(r),
            pct(r.value, false),
            num(r.peers, false),
            peers(r),
            rank(r)
        );
    }
    s.push_str("</tbody>\n</table>\n");
    s
}

/// The health inequalities page: each indicator's gradient across
/// England's deprivation deciles, latest period first, and the council
/// services' gradients across the same scale.
pub(super) fn health_page(health: &[RecordBatch], services: &[RecordBatch]) -> String {
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
                    esc(&period[i]),
                    esc(&format!("{} ({})", area[i], dtype[i])),
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
        return String::new();
    }
    rows.sort();
    let mut s = String::from(
        "<p>Public health indicators from OHID Fingertips across England's deprivation deciles. The slope index of inequality (SII) is the fitted difference between the least and the most deprived end of the scale (OHID's method: each decile at the middle of its share of the population, the values fitted by population-weighted least squares); a negative SII means the value is higher in more deprived areas. The relative index (RII) is the least deprived end's fitted value over the most deprived end's.</p>\n",
    );
    let mut current = String::new();
    for (name, _, cells) in &rows {
        if *name != current {
            if !current.is_empty() {
                s.push_str("</tbody>\n</table>\n");
            }
            current.clone_from(name);
            let _ = write!(
                s,
                "<h2>{n}</h2>\n<table>\n<caption>{n}: the gradient across deprivation deciles</caption>\n<thead><tr><th scope=\"col\">Period</th><th scope=\"col\">Area (breakdown)</th><th scope=\"col\">Area's value</th><th scope=\"col\">Most deprived decile</th><th scope=\"col\">Least deprived decile</th><th scope=\"col\">Fitted, most deprived end</th><th scope=\"col\">Fitted, least deprived end</th><th scope=\"col\">SII</th><th scope=\"col\">RII</th><th scope=\"col\">Deciles</th></tr></thead>\n<tbody>\n",
                n = esc(name)
            );
        }
        let _ = writeln!(
            s,
            "<tr><th scope=\"row\">{}</th>{}</tr>",
            cells[0],
            cells[1..]
                .iter()
                .enumerate()
                .map(|(k, c)| if k == 0 {
                    format!("<td>{c}</td>")
                } else {
                    format!("<td class=\"n\">{c}</td>")
                })
                .collect::<String>()
        );
    }
    s.push_str("</tbody>\n</table>\n");
    s.push_str(&services_gradients(services));
    s
}

/// The council services' SII and RII across the catchment's deciles.
fn services_gradients(services: &[RecordBatch]) -> String {
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
        return String::new();
    }
    let mut s = String::from(
        "<h2>The council's services across the same scale</h2>\n<p>The same method over the catchment's own deprivation deciles (users per 1,000 residents; see <a href=\"services.html\">who our services reach</a>): a negative SII means more use in more deprived neighbourhoods.</p>\n<table>\n<caption>Services' slope and relative index of inequality</caption>\n<thead><tr><th scope=\"col\">Service</th><th scope=\"col\">SII (users per 1,000)</th><th scope=\"col\">RII</th></tr></thead>\n<tbody>\n",
    );
    for (service, (sii, rii, sup)) in &found {
        let ratio = match (rii, sup) {
            (_, true) => "[c]".to_string(),
            (Some(v), _) => format!("{v:.2}"),
            _ => "–".into(),
        };
        let _ = writeln!(
            s,
            "<tr><th scope=\"row\">{}</th><td class=\"n\">{}</td><td class=\"n\">{ratio}</td></tr>",
            esc(service),
            num(*sii, *sup)
        );
    }
    s.push_str("</tbody>\n</table>\n");
    s
}
