//! The headline figures at the top of the index, each linked to its page:
//! the area's residents in England's most deprived neighbourhoods, the
//! median gender pay gap, the services' deprivation gradient and the
//! first health indicator's. Only what the published files hold.

use super::*;

/// One headline: the figure, what it is, and its page and the page's name.
#[derive(Debug, serde::Serialize)]
pub(super) struct Headline {
    figure: String,
    what: String,
    page: String,
    link: String,
}

/// The index's headline figures; none when no indicator gives one.
pub(super) fn headlines(
    deprivation: &[RecordBatch],
    pay_gap: &[RecordBatch],
    services: &[RecordBatch],
    health: &[RecordBatch],
) -> Vec<Headline> {
    [
        deprivation_headline(deprivation),
        pay_gap_headline(pay_gap),
        services_headline(services),
        health_headline(health),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The one local authority profiled: its residents in the most deprived 20%.
fn deprivation_headline(deprivation: &[RecordBatch]) -> Option<Headline> {
    // (edition, code, name, residents' share, (deprived LSOAs, LSOAs))
    type Row = (f64, String, String, Option<f64>, Option<(f64, f64)>);
    let mut ltla: Vec<Row> = Vec::new();
    for b in deprivation {
        let c = Cols(b);
        let (code, name, level, domain) = (
            c.text("area_code"),
            c.text("area_name"),
            c.text("geography_level"),
            c.text("domain"),
        );
        let (edition, p20, lsoas, deprived) = (
            c.num("edition"),
            c.num("pct_population_most_deprived_20pct"),
            c.num("lsoas"),
            c.num("lsoas_most_deprived_20pct"),
        );
        for i in 0..b.num_rows() {
            if level[i] == "ltla" && domain[i].starts_with("Index of Multiple Deprivation") {
                ltla.push((
                    edition[i].unwrap_or(0.0),
                    code[i].clone(),
                    name[i].clone(),
                    p20[i],
                    deprived[i].zip(lsoas[i]),
                ));
            }
        }
    }
    let latest = ltla.iter().map(|r| r.0).fold(f64::MIN, f64::max);
    ltla.retain(|r| r.0 == latest);
    // Without population denominators (File 2 alone), the neighbourhoods.
    if let [(edition, code, name, None, Some((d, n)))] = ltla.as_slice() {
        return Some(Headline {
            figure: format!("{} of {}", num(Some(*d), false), num(Some(*n), false)),
            what: format!(
                "of {name}'s neighbourhoods (LSOAs) are among England's most deprived 20% (IoD{})",
                year(Some(*edition))
            ),
            page: format!("area-{}.html", slug(code)),
            link: format!("{name}'s profile"),
        });
    }
    if let [(edition, code, name, Some(v), _)] = ltla.as_slice() {
        return Some(Headline {
            figure: pct(Some(*v), false),
            what: format!(
                "of {name}'s residents live in England's most deprived 20% of neighbourhoods (IoD{})",
                year(Some(*edition))
            ),
            page: format!("area-{}.html", slug(code)),
            link: format!("{name}'s profile"),
        });
    }
    None
}

/// The latest median gender pay gap.
fn pay_gap_headline(pay_gap: &[RecordBatch]) -> Option<Headline> {
    let mut gap: Option<(i32, String, Option<f64>, bool)> = None;
    for b in pay_gap {
        let c = Cols(b);
        let (days, date, dim, measure, group) = (
            c.days("snapshot_date"),
            c.date("snapshot_date"),
            c.text("dimension"),
            c.text("measure"),
            c.text("group"),
        );
        let (value, sup) = (c.num("value"), c.flag("suppressed"));
        for i in 0..b.num_rows() {
            if dim[i] == "sex" && measure[i] == "median_hourly_gap_pct" && group[i] == "F" {
                let d = days[i].unwrap_or(i32::MIN);
                if gap.as_ref().is_none_or(|g| d > g.0) {
                    gap = Some((d, date[i].clone(), value[i], sup[i]));
                }
            }
        }
    }
    if let Some((_, date, value, sup)) = gap {
        return Some(Headline {
            figure: pct(value, sup),
            what: format!(
                "median gender pay gap, snapshot {date} (women's hourly pay below men's)"
            ),
            page: "workforce.html".into(),
            link: "Our workforce".into(),
        });
    }
    None
}

/// All services' slope index of inequality.
fn services_headline(services: &[RecordBatch]) -> Option<Headline> {
    for b in services {
        let c = Cols(b);
        let (service, measure, value, sup) = (
            c.text("service"),
            c.text("measure"),
            c.num("value"),
            c.flag("suppressed"),
        );
        if let Some(i) =
            (0..b.num_rows()).find(|&i| service[i] == "All services" && measure[i] == "sii")
        {
            return Some(Headline {
                figure: num(value[i], sup[i]),
                what: "users per 1,000 residents: the slope index of inequality of all services across the catchment's deprivation deciles (negative: more use in more deprived areas)".into(),
                page: "services.html".into(),
                link: "Who our services reach".into(),
            });
        }
    }
    None
}

/// The first health indicator's latest slope index of inequality.
fn health_headline(health: &[RecordBatch]) -> Option<Headline> {
    let mut first: Option<(String, f64, String, Option<f64>)> = None;
    for b in health {
        let c = Cols(b);
        let (name, period, sortable, sii) = (
            c.text("indicator_name"),
            c.text("time_period"),
            c.num("time_period_sortable"),
            c.num("sii"),
        );
        for i in 0..b.num_rows() {
            let s = sortable[i].unwrap_or(0.0);
            let better = first
                .as_ref()
                .is_none_or(|f| name[i] < f.0 || (name[i] == f.0 && s > f.1));
            if sii[i].is_some() && better {
                first = Some((name[i].clone(), s, period[i].clone(), sii[i]));
            }
        }
    }
    if let Some((name, _, period, sii)) = first {
        return Some(Headline {
            figure: num(sii, false),
            what: format!(
                "{name}, {period}: the slope index of inequality across England's deprivation deciles"
            ),
            page: "health.html".into(),
            link: "Health inequalities".into(),
        });
    }
    None
}
