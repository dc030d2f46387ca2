//! Equality impact evidence packs (`[[evidence_packs]]`): for one
//! decision, the evidence for each of the nine protected characteristics
//! of the Equality Act 2010 and deprivation: the affected areas'
//! population (Census 2021, the community profile), the service's users
//! against its catchment (`service_equity`), the workforce against its
//! comparator and its change since the last snapshot
//! (`workforce_representation`), and an explicit "no data held" where
//! eqpipe has none, with the sources, dates and licences. Written as
//! `report/evidence-<name>.html` and `exports/evidence-<name>.xlsx` from
//! the same rows, from published (disclosure-controlled) files only.

use super::*;
use eqpipe_core::config::evidence::EvidencePack;

/// A characteristic and where its evidence is: the Census table, the
/// service's dimension and the workforce's characteristic.
struct Characteristic {
    name: &'static str,
    census: Option<&'static str>,
    service: Option<&'static str>,
    workforce: Option<&'static str>,
    /// Why the Census holds nothing, when it asks nothing.
    not_asked: Option<&'static str>,
}

const CHARACTERISTICS: [Characteristic; 9] = [
    Characteristic {
        name: "Age",
        census: Some("TS007A"),
        service: Some("age_band"),
        workforce: Some("age_band"),
        not_asked: None,
    },
    Characteristic {
        name: "Disability",
        census: Some("TS038"),
        service: Some("disability"),
        workforce: Some("disability"),
        not_asked: None,
    },
    Characteristic {
        name: "Gender reassignment",
        census: Some("TS078"),
        service: None,
        workforce: Some("gender_identity"),
        not_asked: None,
    },
    Characteristic {
        name: "Marriage and civil partnership",
        census: Some("TS002"),
        service: None,
        workforce: None,
        not_asked: None,
    },
    Characteristic {
        name: "Pregnancy and maternity",
        census: None,
        service: None,
        workforce: None,
        not_asked: Some("Census 2021 does not ask about pregnancy or maternity"),
    },
    Characteristic {
        name: "Race",
        census: Some("TS021"),
        service: Some("ethnic_group_broad"),
        workforce: Some("ethnic_group_broad"),
        not_asked: None,
    },
    Characteristic {
        name: "Religion or belief",
        census: Some("TS030"),
        service: None,
        workforce: Some("religion"),
        not_asked: None,
    },
    Characteristic {
        name: "Sex",
        census: Some("TS008"),
        service: Some("sex"),
        workforce: Some("sex"),
        not_asked: None,
    },
    Characteristic {
        name: "Sexual orientation",
        census: Some("TS077"),
        service: None,
        workforce: Some("sexual_orientation"),
        not_asked: None,
    },
];

/// The three kinds of evidence, as the pack names them.
const POPULATION: &str = "Population";
const SERVICE: &str = "Service users";
const WORKFORCE: &str = "Workforce";
const DEPRIVATION: &str = "Deprivation";

/// One figure of a pack (or the statement that none is held).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Fact {
    pub(super) characteristic: String,
    pub(super) evidence: &'static str,
    pub(super) scope: String,
    pub(super) category: String,
    pub(super) value: Option<f64>,
    pub(super) unit: &'static str,
    pub(super) compared: Option<f64>,
    pub(super) change: Option<f64>,
    pub(super) suppressed: bool,
    pub(super) note: String,
}

impl Fact {
    fn none(characteristic: &str, evidence: &'static str, why: &str) -> Fact {
        Fact {
            characteristic: characteristic.into(),
            evidence,
            scope: String::new(),
            category: "No data held".into(),
            value: None,
            unit: "",
            compared: None,
            change: None,
            suppressed: false,
            note: why.into(),
        }
    }
}

/// The published inputs of the packs.
pub(super) struct PackInputs<'a> {
    pub(super) profile: &'a [RecordBatch],
    pub(super) services: &'a [RecordBatch],
    pub(super) workforce: &'a [RecordBatch],
    pub(super) deprivation: &'a [RecordBatch],
}

/// A Census table's top-level categories and their percent, in order.
type Categories = Vec<(String, Option<f64>)>;

/// The pack's facts, characteristic by characteristic, deprivation last.
// Long: each characteristic's three kinds of evidence in turn, with the
// reason where there is none.
pub(super) fn facts(pack: &EvidencePack, inputs: &PackInputs<'_>) -> Vec<Fact> {
    let mut out = Vec::new();
    // Census: (area, table) -> [(label, percent)] of top-level categories.
    let mut census: BTreeMap<(String, String), Categories> = BTreeMap::new();
    let mut area_names: BTreeMap<String, String> = BTreeMap::new();
    for b in inputs.profile {
        let c = Cols(b);
        let (code, name, table, label) = (
            c.text("area_code"),
            c.text("area_name"),
            c.text("table_code"),
            c.text("category_label"),
        );
        let (level, percent) = (c.num("category_level"), c.num("percent"));
        for i in 0..b.num_rows() {
            if level[i] != Some(1.0) || !pack.areas.contains(&code[i]) {
                continue;
            }
            area_names.insert(code[i].clone(), name[i].clone());
            let e = census
                .entry((code[i].clone(), table[i].clone()))
                .or_default();
            // One row per comparator: each category once.
            if !e.iter().any(|(l, _)| *l == label[i]) {
                e.push((label[i].clone(), percent[i]));
            }
        }
    }
    let area_label = |a: &str| match area_names.get(a) {
        Some(n) => format!("{n} ({a})"),
        None => a.to_string(),
    };
    for ch in &CHARACTERISTICS {
        // Population.
        let before = out.len();
        if let Some(t) = ch.census {
            for a in &pack.areas {
                for (label, percent) in census
                    .get(&(a.clone(), t.to_string()))
                    .into_iter()
                    .flatten()
                {
                    out.push(Fact {
                        characteristic: ch.name.into(),
                        evidence: POPULATION,
                        scope: area_label(a),
                        category: label.clone(),
                        value: *percent,
                        unit: "% of residents",
                        compared: None,
                        change: None,
                        suppressed: false,
                        note: format!("Census 2021, {t}"),
                    });
                }
            }
        }
        if out.len() == before {
            let why = match (ch.not_asked, ch.census) {
                (Some(w), _) => w.to_string(),
                (None, Some(t)) => {
                    format!("Census 2021 table {t} is not among the tables loaded for these areas")
                }
                (None, None) => "no source for it".to_string(),
            };
            out.push(Fact::none(ch.name, POPULATION, &why));
        }
        // Service users.
        let before = out.len();
        if let (Some(service), Some(dim)) = (&pack.service, ch.service) {
            for b in inputs.services {
                let c = Cols(b);
                let (svc, d, measure, group) = (
                    c.text("service"),
                    c.text("dimension"),
                    c.text("measure"),
                    c.text("group"),
                );
                let (value, comparator, sup) = (
                    c.num("value"),
                    c.num("comparator_pct"),
                    c.flag("suppressed"),
                );
                for i in 0..b.num_rows() {
                    if svc[i] == *service && d[i] == dim && measure[i] == "share_pct" {
                        out.push(Fact {
                            characteristic: ch.name.into(),
                            evidence: SERVICE,
                            scope: service.clone(),
                            category: group[i].clone(),
                            value: value[i],
                            unit: "% of users who stated it",
                            compared: comparator[i],
                            change: None,
                            suppressed: sup[i],
                            note: "compared with the catchment's residents (Census 2021)".into(),
                        });
                    }
                }
            }
        }
        if out.len() == before {
            let why = match (&pack.service, ch.service) {
                (None, _) => "no service named for this decision".to_string(),
                (Some(_), None) => {
                    "the service's records do not hold this characteristic".to_string()
                }
                (Some(s), Some(_)) => format!("no published figures for `{s}` in service_equity"),
            };
            out.push(Fact::none(ch.name, SERVICE, &why));
        }
        // Workforce.
        let before = out.len();
        if let (true, Some(wc)) = (pack.workforce, ch.workforce) {
            let latest = latest_snapshot(inputs.workforce);
            let mut seen = BTreeSet::new();
            for b in inputs.workforce {
                let c = Cols(b);
                let (snap, chr, scope, category) = (
                    c.date("snapshot_date"),
                    c.text("characteristic"),
                    c.text("scope"),
                    c.text("category"),
                );
                let (share, comparator, change, sup) = (
                    c.num("share_pct"),
                    c.num("comparator_pct"),
                    c.num("change_pp"),
                    c.flag("suppressed"),
                );
                for i in 0..b.num_rows() {
                    if Some(&snap[i]) == latest.as_ref()
                        && chr[i] == wc
                        && scope[i] == "organisation"
                        && seen.insert(category[i].clone())
                    {
                        out.push(Fact {
                            characteristic: ch.name.into(),
                            evidence: WORKFORCE,
                            scope: format!("whole organisation, {}", snap[i]),
                            category: category[i].clone(),
                            value: share[i],
                            unit: "% of employees who stated it",
                            compared: comparator[i],
                            change: change[i],
                            suppressed: sup[i],
                            note: "compared with the comparator area's residents; change since the previous snapshot in points".into(),
                        });
                    }
                }
            }
        }
        if out.len() == before {
            let why = match (pack.workforce, ch.workforce) {
                (false, _) => "the workforce is not in scope for this decision",
                (true, None) => "the workforce extract does not hold this characteristic",
                (true, Some(_)) => "no published workforce figures",
            };
            out.push(Fact::none(ch.name, WORKFORCE, why));
        }
    }
    deprivation_facts(pack, inputs, &area_label, &mut out);
    out
}

/// The latest workforce snapshot, as the report shows dates.
fn latest_snapshot(batches: &[RecordBatch]) -> Option<String> {
    let mut best: Option<(i32, String)> = None;
    for b in batches {
        let c = Cols(b);
        let (days, text) = (c.days("snapshot_date"), c.date("snapshot_date"));
        for i in 0..b.num_rows() {
            if let Some(d) = days[i]
                && best.as_ref().is_none_or(|(x, _)| d > *x)
            {
                best = Some((d, text[i].clone()));
            }
        }
    }
    best.map(|b| b.1)
}

/// Deprivation: the areas' residents in England's most deprived 10% and
/// 20% of neighbourhoods, and the service's use by decile and its SII.
// Long: the areas' three facts, then the service's by decile and its gradient.
fn deprivation_facts(
    pack: &EvidencePack,
    inputs: &PackInputs<'_>,
    area_label: &dyn Fn(&str) -> String,
    out: &mut Vec<Fact>,
) {
    let before = out.len();
    let mut latest = f64::MIN;
    for b in inputs.deprivation {
        for e in Cols(b).num("edition").into_iter().flatten() {
            latest = latest.max(e);
        }
    }
    for b in inputs.deprivation {
        let c = Cols(b);
        let (code, domain, edition) = (c.text("area_code"), c.text("domain"), c.num("edition"));
        let (p10, p20, lsoas, d20) = (
            c.num("pct_population_most_deprived_10pct"),
            c.num("pct_population_most_deprived_20pct"),
            c.num("lsoas"),
            c.num("lsoas_most_deprived_20pct"),
        );
        for i in 0..b.num_rows() {
            if pack.areas.contains(&code[i])
                && domain[i].starts_with("Index of Multiple Deprivation")
                && edition[i] == Some(latest)
            {
                let share = match (d20[i], lsoas[i]) {
                    (Some(d), Some(n)) if n > 0.0 => Some(d / n * 100.0),
                    _ => None,
                };
                for (category, v, unit) in [
                    (
                        "Residents in England's most deprived 10%",
                        p10[i],
                        "% of residents",
                    ),
                    (
                        "Residents in England's most deprived 20%",
                        p20[i],
                        "% of residents",
                    ),
                    (
                        "Neighbourhoods (LSOAs) among England's most deprived 20%",
                        share,
                        "% of neighbourhoods",
                    ),
                ] {
                    out.push(Fact {
                        characteristic: DEPRIVATION.into(),
                        evidence: POPULATION,
                        scope: area_label(&code[i]),
                        category: category.into(),
                        value: v,
                        unit,
                        compared: None,
                        change: None,
                        suppressed: false,
                        note: format!("English Indices of Deprivation {}", year(Some(latest))),
                    });
                }
            }
        }
    }
    if out.len() == before {
        out.push(Fact::none(
            DEPRIVATION,
            POPULATION,
            "no deprivation profile for these areas",
        ));
    }
    let before = out.len();
    if let Some(service) = &pack.service {
        for b in inputs.services {
            let c = Cols(b);
            let (svc, d, measure, group) = (
                c.text("service"),
                c.text("dimension"),
                c.text("measure"),
                c.text("group"),
            );
            let (value, sup) = (c.num("value"), c.flag("suppressed"));
            for i in 0..b.num_rows() {
                if svc[i] != *service || d[i] != "deprivation" {
                    continue;
                }
                let (category, unit) = match measure[i].as_str() {
                    "rate_per_1000" => (
                        format!("IMD decile {} (1 = most deprived)", group[i]),
                        "users per 1,000 residents",
                    ),
                    "sii" => (
                        "Slope index of inequality".to_string(),
                        "users per 1,000 residents",
                    ),
                    "rii" => ("Relative index of inequality".to_string(), "ratio"),
                    _ => continue,
                };
                out.push(Fact {
                    characteristic: DEPRIVATION.into(),
                    evidence: SERVICE,
                    scope: service.clone(),
                    category,
                    value: value[i],
                    unit,
                    compared: None,
                    change: None,
                    suppressed: sup[i],
                    note: "residents of the catchment's neighbourhoods in each decile".into(),
                });
            }
        }
    }
    if out.len() == before {
        let why = if pack.service.is_some() {
            "no published figures by deprivation decile for the service"
        } else {
            "no service named for this decision"
        };
        out.push(Fact::none(DEPRIVATION, SERVICE, why));
    }
    out.push(Fact::none(
        DEPRIVATION,
        WORKFORCE,
        if pack.workforce {
            "workforce records hold no home neighbourhood, so no deprivation measure"
        } else {
            "the workforce is not in scope for this decision"
        },
    ));
}

/// A fact's figure as the page shows it.
fn figure(f: &Fact) -> String {
    match (f.value, f.suppressed) {
        (_, true) => "[c]".into(),
        (Some(v), _) if f.unit.starts_with('%') => pct(Some(v), false),
        (Some(v), _) if f.unit == "ratio" => format!("{v:.2}"),
        (v, _) => num(v, false),
    }
}

/// The pack's page (`pack.html`).
pub(super) fn page(
    templates: &tpl::Templates,
    title: &str,
    pack: &EvidencePack,
    facts: &[Fact],
    sources: tpl::Table,
) -> Result<String, tpl::TemplateError> {
    use tpl::{Cell, Table};
    let names: Vec<&str> = CHARACTERISTICS
        .iter()
        .map(|c| c.name)
        .chain([DEPRIVATION])
        .collect();
    // The overview: what is held for each characteristic.
    let mut overview = Table::new(
        "Evidence held, by characteristic",
        &["Characteristic", "Population", "Service users", "Workforce"],
    );
    for n in &names {
        let held = |e: &str| {
            let any = facts
                .iter()
                .any(|f| f.characteristic == *n && f.evidence == e && f.category != "No data held");
            let none = facts
                .iter()
                .any(|f| f.characteristic == *n && f.evidence == e);
            Cell::t(match (any, none) {
                (true, _) => "held",
                (false, true) => "no data held",
                (false, false) => "–",
            })
        };
        overview
            .row(
                n.to_string(),
                vec![held(POPULATION), held(SERVICE), held(WORKFORCE)],
            )
            .href = Some(format!("#{}", slug(&n.to_lowercase())));
    }
    #[derive(serde::Serialize)]
    struct Characteristic {
        id: String,
        name: String,
        table: Table,
    }
    let mut characteristics = Vec::new();
    for n in &names {
        let mut t = Table::new(
            format!("{n}: the evidence"),
            &[
                "Evidence",
                "Area or scope",
                "Group",
                "Figure",
                "Compared with",
                "Change (points)",
                "Source and note",
            ],
        );
        for f in facts.iter().filter(|f| f.characteristic == *n) {
            let compared = f.compared.map(|v| pct(Some(v), false)).unwrap_or_default();
            let change = match (f.change, f.suppressed) {
                (_, true) if f.change.is_some() => "[c]".to_string(),
                (Some(v), _) => num(Some(v), false),
                _ => String::new(),
            };
            let shown = if f.category == "No data held" {
                String::new()
            } else {
                figure(f)
            };
            t.row(
                f.evidence,
                vec![
                    Cell::t(f.scope.clone()),
                    Cell::t(f.category.clone()),
                    Cell::n(shown),
                    Cell::n(compared),
                    Cell::n(change),
                    Cell::t(f.note.clone()),
                ],
            );
        }
        characteristics.push(Characteristic {
            id: slug(&n.to_lowercase()),
            name: n.to_string(),
            table: t,
        });
    }
    templates.render(
        "pack.html",
        minijinja::context! { title, pack, overview, characteristics, sources },
    )
}

/// The same facts as a workbook: the evidence on the first sheet, the
/// pack's scope and the suppression rule on the second.
pub(super) fn workbook(pack: &EvidencePack, facts: &[Fact]) -> Result<Vec<u8>, String> {
    use rust_xlsxwriter::{Format, Workbook};
    let err = |e: rust_xlsxwriter::XlsxError| e.to_string();
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let ws = wb.add_worksheet();
    ws.set_name("Evidence").map_err(err)?;
    let header = [
        "Characteristic",
        "Evidence",
        "Area or scope",
        "Group",
        "Figure",
        "Unit",
        "Compared with (%)",
        "Change (points)",
        "Withheld",
        "Source and note",
    ];
    for (c, h) in header.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)
            .map_err(err)?;
    }
    for (r, f) in facts.iter().enumerate() {
        let r = r as u32 + 1;
        ws.write_string(r, 0, &f.characteristic).map_err(err)?;
        ws.write_string(r, 1, f.evidence).map_err(err)?;
        ws.write_string(r, 2, &f.scope).map_err(err)?;
        ws.write_string(r, 3, &f.category).map_err(err)?;
        if let (Some(v), false) = (f.value, f.suppressed) {
            ws.write_number(r, 4, v).map_err(err)?;
        }
        ws.write_string(r, 5, f.unit).map_err(err)?;
        if let Some(v) = f.compared {
            ws.write_number(r, 6, v).map_err(err)?;
        }
        if let (Some(v), false) = (f.change, f.suppressed) {
            ws.write_number(r, 7, v).map_err(err)?;
        }
        ws.write_string(r, 8, if f.suppressed { "yes" } else { "" })
            .map_err(err)?;
        ws.write_string(r, 9, &f.note).map_err(err)?;
    }
    ws.set_freeze_panes(1, 0).map_err(err)?;
    ws.autofilter(0, 0, facts.len() as u32, header.len() as u16 - 1)
        .map_err(err)?;
    let about = wb.add_worksheet();
    about.set_name("About").map_err(err)?;
    let rows = [
        ("Decision", pack.title.clone()),
        ("Areas", pack.areas.join(", ")),
        ("Service", pack.service.clone().unwrap_or_else(|| "none named".into())),
        ("Workforce", if pack.workforce { "in scope" } else { "not in scope" }.into()),
        (
            "Disclosure control",
            "Published figures only: counts under the threshold, and figures built on them, are withheld (Withheld = yes).".into(),
        ),
        (
            "No data held",
            "Rows saying \"No data held\" give the reason: nothing is left out without saying so.".into(),
        ),
    ];
    for (r, (k, v)) in rows.iter().enumerate() {
        about
            .write_string_with_format(r as u32, 0, *k, &bold)
            .map_err(err)?;
        about.write_string(r as u32, 1, v).map_err(err)?;
    }
    wb.save_to_buffer().map_err(err)
}
