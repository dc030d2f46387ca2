//! The spending page: where the council's money goes (social value) and
//! its grants to voluntary groups.

use super::*;

/// Pounds as the report writes them: `£1,234,567`, negatives `−£1,234`.
pub(super) fn pounds(v: f64) -> String {
    let whole = v.abs().round() as u64;
    let sign = if v < 0.0 && whole > 0 { "−" } else { "" };
    format!("{sign}£{}", grouped(whole))
}

/// Each social value measure: its name in the chart, and in the table.
const MEASURES: &[(&str, &str, &str)] = &[
    ("in_area", "In the area", "Suppliers based in the area"),
    (
        "area_most_deprived_20pct",
        "Area's most deprived 20%",
        "Suppliers in the area's most deprived 20% of neighbourhoods",
    ),
    (
        "area_most_deprived_10pct",
        "Area's most deprived 10%",
        "Suppliers in the area's most deprived 10% of neighbourhoods",
    ),
    (
        "england_most_deprived_20pct",
        "England's most deprived 20%",
        "Suppliers in England's most deprived 20% of neighbourhoods",
    ),
    (
        "england_most_deprived_10pct",
        "England's most deprived 10%",
        "Suppliers in England's most deprived 10% of neighbourhoods",
    ),
    (
        "vcse",
        "VCSE organisations",
        "Voluntary, community and social enterprise organisations",
    ),
    ("sme", "SMEs", "Small and medium-sized enterprises"),
    (
        "no_location",
        "No known neighbourhood",
        "Suppliers with no known neighbourhood",
    ),
];

/// Social value: per period, the matched spend's shares, and what could
/// not be matched, stated beside them.
pub(super) fn social_value_section(batches: &[RecordBatch]) -> Vec<Block> {
    // period -> measure -> (amount, suppliers, share of matched, share of all)
    type Row = (f64, Option<f64>, Option<f64>, Option<f64>);
    let mut periods: BTreeMap<(i32, String), BTreeMap<String, Row>> = BTreeMap::new();
    let mut basis = String::new();
    for b in batches {
        let c = Cols(b);
        let (period, start, measure) =
            (c.text("period"), c.days("period_start"), c.text("measure"));
        let (amount, suppliers, matched, all) = (
            c.num("amount"),
            c.num("suppliers"),
            c.num("share_of_matched_pct"),
            c.num("share_of_all_pct"),
        );
        let b_text = c.text("basis");
        for i in 0..b.num_rows() {
            basis.clone_from(&b_text[i]);
            periods
                .entry((start[i].unwrap_or(0), period[i].clone()))
                .or_default()
                .insert(
                    measure[i].clone(),
                    (amount[i].unwrap_or(0.0), suppliers[i], matched[i], all[i]),
                );
        }
    }
    let Some(((_, latest), rows)) = periods.iter().next_back() else {
        return Vec::new();
    };
    let get = |m: &str| rows.get(m).copied().unwrap_or((0.0, None, None, None));
    let mut s = vec![Block::h(
        2,
        format!("Social value: where our spending goes, {latest}"),
    )];
    let (all, withheld, unmatched, matched) = (
        get("all_spend"),
        get("withheld_payee"),
        get("unmatched"),
        get("matched"),
    );
    s.push(Block::p(format!(
        "Of {} spent, {} ({}) went to suppliers found in the supplier register; {} ({}) to named suppliers not in it, and {} ({}) to payees the council withheld or did not name. The shares below are of the matched spend.",
        pounds(all.0),
        pounds(matched.0),
        pct(matched.3, false),
        pounds(unmatched.0),
        pct(unmatched.3, false),
        pounds(withheld.0),
        pct(withheld.3, false),
    )));
    let shown: Vec<&(&str, &str, &str)> = MEASURES
        .iter()
        .filter(|(m, _, _)| rows.contains_key(*m))
        .collect();
    s.push(Block::figure(bar_chart(
        "social-value",
        &format!("Share of matched spend, {latest}"),
        &shown
            .iter()
            .map(|(_, t, _)| t.to_string())
            .collect::<Vec<_>>(),
        &[Series {
            name: "Share of matched spend".into(),
            values: shown.iter().map(|(m, _, _)| get(m).2).collect(),
        }],
    )));
    let mut t = Table::new(
        format!("Spend by kind of supplier, {latest}"),
        &[
            "Suppliers",
            "Spend",
            "Suppliers paid",
            "Share of matched spend",
        ],
    );
    for (m, _, title) in &shown {
        let r = get(m);
        t.row(
            *title,
            vec![
                Cell::n(pounds(r.0)),
                Cell::n(num(r.1, false)),
                Cell::n(pct(r.2, false)),
            ],
        );
    }
    s.push(t.into());
    if periods.len() > 1 {
        let mut t = Table::new(
            "Share of matched spend with local and VCSE suppliers over time",
            &[
                "Period",
                "Matched spend",
                "Local suppliers",
                "VCSE organisations",
                "Unmatched (of all spend)",
            ],
        );
        for ((_, p), r) in &periods {
            let g = |m: &str| r.get(m).copied().unwrap_or((0.0, None, None, None));
            t.row(
                p.clone(),
                vec![
                    Cell::n(pounds(g("matched").0)),
                    Cell::n(pct(g("in_area").2, false)),
                    Cell::n(pct(g("vcse").2, false)),
                    Cell::n(pct(g("unmatched").3, false)),
                ],
            );
        }
        s.push(t.into());
    }
    s.push(Block::note(format!(
        "Net spend (credits subtracted), from the council's published spend files matched to its supplier register by supplier number, then by name. Neighbourhoods: {basis}."
    )));
    s
}

/// Grants to voluntary groups: the latest year by programme, kind of
/// recipient and community served, and how the grants were placed.
pub(super) fn grants_section(batches: &[RecordBatch]) -> Vec<Block> {
    // period -> dimension -> group -> (grants, amount, share)
    type Groups = BTreeMap<String, BTreeMap<String, (f64, f64, Option<f64>)>>;
    let mut periods: BTreeMap<(i32, String), Groups> = BTreeMap::new();
    for b in batches {
        let c = Cols(b);
        let (period, start, dim, group) = (
            c.text("period"),
            c.days("period_start"),
            c.text("dimension"),
            c.text("group"),
        );
        let (grants, amount, share) = (
            c.num("grants"),
            c.num("amount"),
            c.num("share_of_amount_pct"),
        );
        for i in 0..b.num_rows() {
            periods
                .entry((start[i].unwrap_or(0), period[i].clone()))
                .or_default()
                .entry(dim[i].clone())
                .or_default()
                .insert(
                    group[i].clone(),
                    (grants[i].unwrap_or(0.0), amount[i].unwrap_or(0.0), share[i]),
                );
        }
    }
    if periods.is_empty() {
        return Vec::new();
    }
    let mut s = vec![Block::h(
        2,
        "Grants to voluntary, community and social enterprise groups",
    )];
    let mut t = Table::new("Grants by year", &["Year", "Grants", "Amount"]);
    for ((_, p), dims) in &periods {
        let all = dims
            .get("all")
            .and_then(|g| g.values().next())
            .copied()
            .unwrap_or((0.0, 0.0, None));
        t.row(
            p.clone(),
            vec![Cell::n(num(Some(all.0), false)), Cell::n(pounds(all.1))],
        );
    }
    s.push(t.into());
    let ((_, latest), dims) = periods.iter().next_back().expect("not empty");
    for (dim, title) in [
        ("programme", "By programme"),
        ("recipient_kind", "By kind of recipient"),
        (
            "classification",
            "By community served (where the grant is classified)",
        ),
        (
            "imd_decile",
            "By deprivation decile of the recipient's neighbourhood (1 = most deprived 10% in England)",
        ),
        ("location_basis", "How grants were placed"),
    ] {
        let Some(groups) = dims.get(dim) else {
            continue;
        };
        let mut t = Table::new(
            format!("{title}, {latest}"),
            &["Group", "Grants", "Amount", "Share of the amount"],
        );
        for (g, (n, a, share)) in groups {
            t.row(
                g.clone(),
                vec![
                    Cell::n(num(Some(*n), false)),
                    Cell::n(pounds(*a)),
                    Cell::n(pct(*share, false)),
                ],
            );
        }
        s.push(t.into());
    }
    s.push(Block::note("From the council's grants data in the 360Giving Data Standard. A grant is placed by its recipient's postcode, or by a ward or neighbourhood code the data gives for where it benefits; grants known only by a borough-wide code are in no ward."));
    s
}

/// A map of the latest year's grant funding by ward (the `ward`
/// dimension of `vcse_grants`) over the authority's wards in
/// `boundaries`: wards no grant reached at £0, classes by quintiles.
/// Nothing when no grant was placed in a ward with a boundary.
pub(super) fn grants_map(batches: &[RecordBatch], shapes: &BTreeMap<String, Shape>) -> Vec<Block> {
    // period start -> (period, ward -> amount)
    type Periods = BTreeMap<i32, (String, BTreeMap<String, f64>)>;
    let mut periods: Periods = BTreeMap::new();
    for b in batches {
        let c = Cols(b);
        let (period, start, dim, group) = (
            c.text("period"),
            c.days("period_start"),
            c.text("dimension"),
            c.text("group"),
        );
        let amount = c.num("amount");
        for i in 0..b.num_rows() {
            if dim[i] == "ward" {
                periods
                    .entry(start[i].unwrap_or(0))
                    .or_insert_with(|| (period[i].clone(), BTreeMap::new()))
                    .1
                    .insert(group[i].clone(), amount[i].unwrap_or(0.0));
            }
        }
    }
    let Some((_, (latest, wards))) = periods.into_iter().next_back() else {
        return Vec::new();
    };
    // The authority: the parent most of the funded wards' boundaries share.
    let mut parents: BTreeMap<&str, usize> = BTreeMap::new();
    for code in wards.keys() {
        if let Some(s) = shapes.get(code).filter(|s| !s.parent.is_empty()) {
            *parents.entry(s.parent.as_str()).or_default() += 1;
        }
    }
    let Some((parent, _)) = parents
        .into_iter()
        .max_by_key(|(p, n)| (*n, std::cmp::Reverse(*p)))
    else {
        return Vec::new();
    };
    let area: Vec<&Shape> = shapes.values().filter(|s| s.parent == parent).collect();
    let values: Values = area
        .iter()
        .map(|s| {
            let amount = wards.get(&s.code).copied().unwrap_or(0.0);
            (s.code.clone(), (Some(amount), false))
        })
        .collect();
    let amounts: Vec<f64> = values.values().filter_map(|v| v.0).collect();
    let breaks = quintile_breaks(&amounts);
    let outside = wards.keys().filter(|w| !values.contains_key(*w)).count();
    let mut out = vec![Block::h(3, format!("Grant funding by ward, {latest}"))];
    out.extend(choropleth(
        "grants-map",
        &format!("Grant funding to voluntary groups by ward, {latest}"),
        &area,
        &values,
        (
            &breaks,
            "quintiles of the wards' funding (tied values in one class)",
        ),
        &|v| v.map(pounds).unwrap_or_else(|| "–".into()),
    ));
    out.push(Block::note(format!(
        "Grants placed in a ward by the recipient's postcode or the ward the grant benefits; wards no grant reached are shown at £0.{}",
        if outside > 0 {
            format!(" {outside} ward(s) with grants have no boundary in this authority and are not on the map.")
        } else {
            String::new()
        }
    )));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pounds_are_written_as_the_report_reads() {
        assert_eq!(pounds(1_234_567.4), "£1,234,567");
        assert_eq!(pounds(999.5), "£1,000");
        assert_eq!(pounds(-1234.0), "−£1,234");
        assert_eq!(pounds(0.0), "£0");
    }
}
