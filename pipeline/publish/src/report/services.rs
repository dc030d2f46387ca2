//! The services page: who our services reach.

use super::*;

// Long: the services page's HTML in reading order, one table per service
// and dimension.
pub(super) fn services_section(batches: &[RecordBatch]) -> String {
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
                    "<p>Slope index of inequality: {} users per 1,000 residents (relative index {}: the least deprived end's fitted rate over the most deprived end's). A negative slope, a relative index below 1, means more use in more deprived neighbourhoods.</p>",
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
