//! The services page: who our services reach.

use super::*;

// Long: the services page in reading order, one table per service and
// dimension.
pub(super) fn services_section(batches: &[RecordBatch]) -> Vec<Block> {
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
    let mut s = vec![Block::p(format!(
        "Service users from {period} (each person counted once per service)."
    ))];
    for (k, service) in services.iter().enumerate() {
        s.push(Block::h(2, service.clone()));
        let rates: Vec<&S> = rows
            .iter()
            .filter(|r| &r.service == service && r.measure == "rate_per_1000")
            .collect();
        if !rates.is_empty() {
            let cats: Vec<String> = rates
                .iter()
                .map(|r| format!("Decile {}", r.group))
                .collect();
            s.push(Block::figure(chart(
                &format!("dep-{k}"),
                &format!("{service}: users per 1,000 residents by deprivation decile (1 = most deprived 10%)"),
                &cats,
                &[Series { name: "Users per 1,000 residents".into(), values: rates.iter().map(|r| if r.suppressed { None } else { r.value }).collect() }],
                false,
            )));
            let mut t = Table::new(
                format!("{service}: users per 1,000 residents by deprivation decile"),
                &[
                    "Decile (1 = most deprived 10%)",
                    "Users",
                    "Users per 1,000 residents",
                ],
            );
            for r in &rates {
                let rate = match (r.value, r.suppressed) {
                    (_, true) => "[c]".to_string(),
                    (v, _) => value(v),
                };
                t.row(
                    r.group.clone(),
                    vec![Cell::n(num(r.n, r.suppressed)), Cell::n(rate)],
                );
            }
            s.push(t.into());
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
                s.push(Block::p(format!(
                    "Slope index of inequality: {} users per 1,000 residents (relative index {}: the least deprived end's fitted rate over the most deprived end's). A negative slope, a relative index below 1, means more use in more deprived neighbourhoods.",
                    show(sii),
                    show(rii)
                )));
            }
        }
        let mut t = Table::new(
            format!("{service}: users by group against the population"),
            &[
                "Characteristic",
                "Group",
                "Users",
                "Share of users (95% interval)",
                "Population share",
            ],
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
            t.row(
                characteristic_title(&r.dimension),
                vec![
                    Cell::t(label(&r.group)),
                    Cell::n(num(r.n, r.suppressed)),
                    Cell::n(share),
                    Cell::n(pct(r.cmp, false)),
                ],
            );
        }
        s.push(t.into());
    }
    s
}
