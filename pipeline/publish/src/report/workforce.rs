//! The workforce page: representation, flows, pay gaps, benchmarks.

use super::*;

/// Organisations' published workforce shares side by side, for the latest
/// year of returns: each category's share, its Census share in the
/// organisation's area, and the median of the organisations.
pub(super) fn benchmark_section(batches: &[RecordBatch]) -> Vec<Block> {
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
        return Vec::new();
    };
    let mut s = vec![
        Block::h(2, format!("How we compare with other employers, {latest}")),
        Block::p(
            "Each organisation's published workforce return: the share of employees who gave an answer in each group, the same group's share of the organisation's area at the 2021 Census, and the median of the organisations that published that year. A rank of 1 is the highest share.",
        ),
    ];
    let characteristics: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.year == latest)
        .map(|r| r.characteristic.as_str())
        .collect();
    for ch in characteristics {
        let mut t = Table::new(
            format!(
                "Published workforce returns, {latest}: {}",
                characteristic_title(ch)
            ),
            &[
                "Organisation",
                "Return",
                "Group",
                "Share",
                "Area (Census 2021)",
                "Median of organisations",
                "Rank",
            ],
        );
        for r in rows
            .iter()
            .filter(|r| r.year == latest && r.characteristic == ch)
        {
            t.row(
                r.org.clone(),
                vec![
                    Cell::t(r.published.clone()),
                    Cell::t(label(&r.category)),
                    Cell::n(pct(r.share, false)),
                    Cell::n(pct(r.census, false)),
                    Cell::n(pct(r.median, false)),
                    Cell::n(match (r.rank, r.peers) {
                        (Some(k), Some(n)) => format!("{k:.0} of {n:.0}"),
                        _ => "–".into(),
                    }),
                ],
            );
        }
        s.push(t.into());
    }
    s
}

pub(super) fn characteristic_title(c: &str) -> &str {
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

/// One row of the representation indicator, as the report shows it.
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

/// The representation section: per characteristic, the organisation's
/// latest snapshot against the comparator (a chart and a table), then
/// women, ethnic minority and disabled shares by grade.
pub(super) fn representation_section(batches: &[RecordBatch]) -> Vec<Block> {
    let (rows, snapshots) = representation_rows(batches);
    let Some((_, latest)) = snapshots.iter().next_back().cloned() else {
        return Vec::new();
    };
    let mut s = vec![Block::h(2, format!("Workforce representation, {latest}"))];
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
        characteristic_table(&mut s, ch, &org, &cmp_label, &latest);
    }
    grades_table(&mut s, &rows, &latest, &first_cmp);
    s
}

/// The indicator's rows, and its snapshots (date value, shown date).
fn representation_rows(batches: &[RecordBatch]) -> (Vec<R>, BTreeSet<(i32, String)>) {
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
    (rows, snapshots)
}

/// One characteristic: a chart (up to 25 groups) and the table of the
/// organisation's groups against the comparator.
fn characteristic_table(s: &mut Vec<Block>, ch: &str, org: &[&R], cmp_label: &str, latest: &str) {
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
                name: cmp_label.to_string(),
                values: shown.iter().map(|r| r.cmp).collect(),
            },
        ];
        s.push(Block::figure(bar_chart(
            &format!("r-{id}"),
            &format!("{title}: workforce compared with {cmp_label}"),
            &cats,
            &series,
        )));
    }
    let mut t = Table::new(
        format!("{title}: workforce at {latest} compared with {cmp_label}"),
        &[
            "Group",
            "Employees",
            "Workforce share",
            cmp_label,
            "Representation ratio",
            "Change since previous snapshot (percentage points)",
        ],
    );
    for r in org {
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
        t.row(
            label(&r.category),
            vec![
                Cell::n(num(r.count, r.suppressed)),
                Cell::n(pct(r.share, r.suppressed)),
                Cell::n(pct(r.cmp, false)),
                Cell::n(ratio),
                Cell::n(change),
            ],
        );
    }
    s.push(t.into());
}

/// Representation by grade: female, ethnic minority and disabled shares
/// of each grade band and of the senior grades.
fn grades_table(s: &mut Vec<Block>, rows: &[R], latest: &str, first_cmp: &Option<String>) {
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
                    && r.cmp_name == *first_cmp
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
        s.push(Block::h(2, "Representation by grade"));
        s.push(Block::figure(bar_chart(
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
        )));
        let mut t = Table::new(
            "Representation by grade",
            &[
                "Grade",
                "Women",
                "Ethnic groups other than White",
                "Disabled",
            ],
        );
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
            t.row(
                g.clone(),
                vec![
                    Cell::n(show(&female[k])),
                    Cell::n(minority.unwrap_or_else(|| "–".into())),
                    Cell::n(show(&disabled[k])),
                ],
            );
        }
        s.push(t.into());
        s.push(Block::note(
            "Shares are of employees in the grade who stated the characteristic.",
        ));
    }
}

pub(super) fn flows_section(batches: &[RecordBatch]) -> Vec<Block> {
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
    let mut s = Vec::new();
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
        s.push(Block::h(2, format!("Recruitment, {period}")));
        s.push(Block::p("Relative likelihood of appointment from shortlisting (NHS WRES and WDES method): the reference group's likelihood divided by the group's. 1 means equal; above 1, the reference group is more likely to be appointed once shortlisted."));
        let mut t = Table::new(
            format!("Relative likelihood of appointment from shortlisting, {period}"),
            &[
                "Group",
                "Compared with",
                "Shortlisted",
                "Appointed",
                "Relative likelihood",
            ],
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
            t.row(
                label(&r.group),
                vec![
                    Cell::t(reference),
                    Cell::n(num(r.d, r.suppressed)),
                    Cell::n(num(r.n, r.suppressed)),
                    Cell::n(ratio(r)),
                ],
            );
        }
        s.push(t.into());
    }
    if let Some((day, period)) = latest("leaving_rate_pct") {
        s.push(Block::h(2, format!("Leavers, {period}")));
        let mut t = Table::new(
            format!("Leaving rate by age band, {period}"),
            &["Age band", "Employees at the start", "Left", "Leaving rate"],
        );
        for r in rows.iter().filter(|r| {
            r.end_day == day && r.measure == "leaving_rate_pct" && r.dimension == "age_band"
        }) {
            t.row(
                label(&r.group),
                vec![
                    Cell::n(num(r.d, r.suppressed)),
                    Cell::n(num(r.n, r.suppressed)),
                    Cell::n(pct(r.value, r.suppressed)),
                ],
            );
        }
        s.push(t.into());
    }
    s
}

/// The pay gap section: the statutory gender pay gap and quarter pay
/// bands, the ethnicity and disability gaps by group, and the gender gap
/// over time.
pub(super) fn pay_gap_section(batches: &[RecordBatch]) -> Vec<Block> {
    let rows = pay_gap_rows(batches);
    let Some(latest) = rows
        .iter()
        .max_by_key(|r| r.day)
        .map(|r| r.snapshot.clone())
    else {
        return Vec::new();
    };
    let gaps = PayGaps { rows, latest };
    let mut s = vec![
        Block::h(2, format!("Pay gaps, snapshot {}", gaps.latest)),
        Block::p("A positive gap means the group's pay is lower than the reference group's."),
    ];
    gaps.gender(&mut s);
    gaps.by_group(&mut s);
    gaps.trend(&mut s);
    s
}

/// One row of the pay gap indicator, as the report shows it.
pub(super) struct P {
    day: i32,
    pub(super) snapshot: String,
    pub(super) dimension: String,
    pub(super) measure: String,
    pub(super) group: String,
    pub(super) value: Option<f64>,
    pub(super) suppressed: bool,
}

/// The pay gap indicator's rows (also the benchmark's "computed by eqpipe").
pub(super) fn pay_gap_rows(batches: &[RecordBatch]) -> Vec<P> {
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
    rows
}

/// The pay gap indicator's rows and its latest snapshot.
struct PayGaps {
    rows: Vec<P>,
    latest: String,
}

/// A figure as shown: `[c]` if withheld, a dash if absent.
fn show_row(r: Option<&P>) -> String {
    r.map(|r| pct(r.value, r.suppressed))
        .unwrap_or_else(|| "–".into())
}

impl PayGaps {
    /// The latest snapshot's figure for a dimension, measure and group.
    fn find(&self, dim: &str, m: &str, g: &str) -> Option<&P> {
        self.rows.iter().find(|r| {
            r.snapshot == self.latest && r.dimension == dim && r.measure == m && r.group == g
        })
    }

    fn show(&self, dim: &str, m: &str, g: &str) -> String {
        show_row(self.find(dim, m, g))
    }

    /// Gender pay gap: the statutory figures, and the quarter pay bands.
    fn gender(&self, s: &mut Vec<Block>) {
        // Gender pay gap: the statutory figures.
        if self.find("sex", "mean_hourly_gap_pct", "F").is_some() {
            let mut t = Table::new("Gender pay gap (statutory measures)", &["Measure", "Value"]);
            for (m, g, text) in [
                ("mean_hourly_gap_pct", "F", "Mean hourly pay gap"),
                ("median_hourly_gap_pct", "F", "Median hourly pay gap"),
                ("mean_bonus_gap_pct", "F", "Mean bonus gap"),
                ("median_bonus_gap_pct", "F", "Median bonus gap"),
                ("pct_receiving_bonus", "M", "Men receiving a bonus"),
                ("pct_receiving_bonus", "F", "Women receiving a bonus"),
            ] {
                t.row(text, vec![Cell::n(self.show("sex", m, g))]);
            }
            s.push(t.into());
            let quartiles = [
                ("lower_quartile_pct", "Lower quarter"),
                ("lower_middle_quartile_pct", "Lower middle quarter"),
                ("upper_middle_quartile_pct", "Upper middle quarter"),
                ("upper_quartile_pct", "Upper quarter"),
            ];
            let val = |m: &str, g: &str| {
                self.find("sex", m, g)
                    .and_then(|r| if r.suppressed { None } else { r.value })
            };
            s.push(Block::figure(bar_chart(
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
            )));
            let mut t = Table::new(
                "Quarter pay bands: share of women and men",
                &["Pay band", "Women", "Men"],
            );
            for (m, text) in quartiles {
                t.row(
                    text,
                    vec![
                        Cell::n(self.show("sex", m, "F")),
                        Cell::n(self.show("sex", m, "M")),
                    ],
                );
            }
            s.push(t.into());
        }
    }

    /// Ethnicity and disability gaps, group by group.
    fn by_group(&self, s: &mut Vec<Block>) {
        for (dim, title) in [
            ("ethnicity", "Ethnicity pay gap (against White British)"),
            (
                "disability",
                "Disability pay gap (against non-disabled employees)",
            ),
        ] {
            let groups: Vec<String> = {
                let mut g = Vec::new();
                for r in self.rows.iter().filter(|r| {
                    r.snapshot == self.latest
                        && r.dimension == dim
                        && r.measure == "mean_hourly_gap_pct"
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
            let mut t = Table::new(
                title,
                &[
                    "Group",
                    "Mean hourly gap",
                    "Median hourly gap",
                    "Mean bonus gap",
                    "Median bonus gap",
                ],
            );
            for g in &groups {
                t.row(
                    label(g),
                    vec![
                        Cell::n(self.show(dim, "mean_hourly_gap_pct", g)),
                        Cell::n(self.show(dim, "median_hourly_gap_pct", g)),
                        Cell::n(self.show(dim, "mean_bonus_gap_pct", g)),
                        Cell::n(self.show(dim, "median_bonus_gap_pct", g)),
                    ],
                );
            }
            s.push(t.into());
            s.push(Block::note(format!(
                "Employees who did not state it: {} of all employees; they are left out of the gaps.",
                self.show(dim, "not_disclosed_pct", "not_disclosed")
            )));
        }
    }

    /// The gender gap over snapshots.
    fn trend(&self, s: &mut Vec<Block>) {
        // Trend of the gender gap over snapshots.
        let mut by_snapshot: BTreeMap<i32, (String, Option<&P>, Option<&P>)> = BTreeMap::new();
        for r in self
            .rows
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
            let mut t = Table::new(
                "Gender pay gap over time",
                &["Snapshot", "Mean hourly gap", "Median hourly gap"],
            );
            for (snapshot, mean, median) in by_snapshot.values() {
                t.row(
                    snapshot.clone(),
                    vec![Cell::n(show_row(*mean)), Cell::n(show_row(*median))],
                );
            }
            s.push(t.into());
        }
    }
}
