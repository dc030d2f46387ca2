//! The community page: who the council's consultations heard, what they
//! heard (raked to the Census), and police recorded hate crime.

use super::*;

/// What each characteristic is called on the page.
fn characteristic_name(c: &str) -> &str {
    match c {
        "sex" => "Sex",
        "age_band" => "Age",
        "ethnic_group_broad" => "Ethnic group",
        "ethnic_group" => "Ethnic group (detailed)",
        "disability" => "Disability",
        "religion" => "Religion",
        "sexual_orientation" => "Sexual orientation",
        "gender_identity" => "Gender identity",
        c => c,
    }
}

/// Each exercise: the groups it under-represented named first, then a
/// table per characteristic against the Census.
pub(super) fn reach_section(batches: &[RecordBatch]) -> Vec<Block> {
    // exercise -> characteristic -> rows (category, respondents, share, population, label, suppressed)
    type Row = (String, Option<f64>, Option<f64>, Option<f64>, String, bool);
    let mut ex: BTreeMap<String, BTreeMap<String, Vec<Row>>> = BTreeMap::new();
    for b in batches {
        let c = Cols(b);
        let (e, ch, cat, rep) = (
            c.text("exercise"),
            c.text("characteristic"),
            c.text("category"),
            c.text("representation"),
        );
        let (n, share, pop, sup) = (
            c.num("respondents"),
            c.num("share_pct"),
            c.num("population_pct"),
            c.flag("suppressed"),
        );
        for i in 0..b.num_rows() {
            ex.entry(e[i].clone())
                .or_default()
                .entry(ch[i].clone())
                .or_default()
                .push((
                    cat[i].clone(),
                    n[i],
                    share[i],
                    pop[i],
                    rep[i].clone(),
                    sup[i],
                ));
        }
    }
    let mut s = Vec::new();
    for (exercise, chars) in &ex {
        s.push(Block::h(2, format!("Who we heard: {exercise}")));
        let under: Vec<String> = chars
            .iter()
            .flat_map(|(ch, rows)| {
                rows.iter()
                    .filter(|r| r.4 == "under_represented")
                    .map(move |r| {
                        format!(
                            "{} ({})",
                            label(&r.0),
                            characteristic_name(ch).to_lowercase()
                        )
                    })
            })
            .collect();
        if under.is_empty() {
            s.push(Block::p(
                "No group was clearly under-represented among the respondents.",
            ));
        } else {
            s.push(Block::rich(vec![
                Inline::strong("Harder to reach in this exercise"),
                format!(
                    " (their share of respondents is clearly below their share of the area's residents): {}.",
                    under.join("; ")
                )
                .into(),
            ]));
        }
        for (ch, rows) in chars {
            let mut t = Table::new(
                format!(
                    "{}: respondents against the area's residents, {exercise}",
                    characteristic_name(ch)
                ),
                &[
                    "Group",
                    "Respondents",
                    "Share of respondents",
                    "Share of residents (Census 2021)",
                    "Reach",
                ],
            );
            for (cat, n, share, pop, rep, sup) in rows {
                let reach = match rep.as_str() {
                    "under_represented" => "under-represented",
                    "over_represented" => "over-represented",
                    "in_line" => "in line",
                    "not_disclosed" => "did not say",
                    _ => "–",
                };
                t.row(
                    label(cat),
                    vec![
                        Cell::n(num(*n, *sup)),
                        Cell::n(pct(*share, *sup)),
                        Cell::n(pct(*pop, false)),
                        Cell::t(reach),
                    ],
                );
            }
            s.push(t.into());
        }
    }
    if !s.is_empty() {
        s.push(Block::note("A group is under-represented when the upper end of the 95% interval of its share of respondents is below its share of the area's residents. Shares are of respondents who answered the question."));
    }
    s
}

/// Each question's agreement, as answered and weighted to the Census.
pub(super) fn answers_section(batches: &[RecordBatch]) -> Vec<Block> {
    let mut t = Table::new(
        "Agreement with each question, as answered and weighted to the area's residents",
        &[
            "Question",
            "Respondents",
            "Agree (as answered)",
            "Agree (weighted)",
            "95% interval",
            "Effective sample size",
            "Weighted by",
        ],
    );
    for b in batches {
        let c = Cols(b);
        let (e, q, by) = (
            c.text("exercise"),
            c.text("question"),
            c.text("weighted_by"),
        );
        let (n, raw, w, lo, hi, ess) = (
            c.num("respondents"),
            c.num("agree_pct"),
            c.num("weighted_agree_pct"),
            c.num("weighted_lower_pct"),
            c.num("weighted_upper_pct"),
            c.num("effective_n"),
        );
        let sup = c.flag("suppressed");
        for i in 0..b.num_rows() {
            let interval = match (lo[i], hi[i], sup[i]) {
                (_, _, true) => "[c]".to_string(),
                (Some(l), Some(h), _) => {
                    format!("{} to {}", pct(Some(l), false), pct(Some(h), false))
                }
                _ => "–".into(),
            };
            t.row(
                q[i].clone(),
                vec![
                    Cell::n(num(n[i], sup[i])),
                    Cell::n(pct(raw[i], sup[i])),
                    Cell::n(pct(w[i], sup[i])),
                    Cell::n(interval),
                    Cell::n(num(ess[i].map(|x| x.round()), sup[i])),
                    Cell::t(by[i].replace('_', " ")),
                ],
            )
            .note = Some(e[i].clone());
        }
    }
    if t.rows.is_empty() {
        return Vec::new();
    }
    vec![
        Block::h(2, "What we heard, weighted to the Census"),
        t.into(),
        Block::note(
            "Agreement is of those who agreed, disagreed or neither (not \"don't know\"). Weights make the respondents' age, sex and ethnic group match the area's residents at the 2021 Census (raking, weights trimmed to 0.2-5 times the average); the interval allows for the weighting through the effective sample size.",
        ),
    ]
}

/// Police recorded hate crime: offences by strand per year, with the rate
/// per 1,000 residents where known.
pub(super) fn hate_crime_section(batches: &[RecordBatch]) -> Vec<Block> {
    // (area, year) -> strand -> (offences, rate)
    type Years = BTreeMap<(String, String), BTreeMap<String, (Option<f64>, Option<f64>)>>;
    let mut t: Years = BTreeMap::new();
    for b in batches {
        let c = Cols(b);
        let (y, a, st) = (
            c.text("financial_year"),
            c.text("area_name"),
            c.text("strand"),
        );
        let (n, r) = (c.num("offences"), c.num("rate_per_1000"));
        for i in 0..b.num_rows() {
            t.entry((a[i].clone(), y[i].clone()))
                .or_default()
                .insert(st[i].clone(), (n[i], r[i]));
        }
    }
    if t.is_empty() {
        return Vec::new();
    }
    let strands = [
        ("all", "All hate crime"),
        ("race", "Race or ethnicity"),
        ("religion", "Religion or belief"),
        ("sexual_orientation", "Sexual orientation"),
        ("disability", "Disability"),
        ("transgender", "Transgender identity"),
    ];
    let mut s = vec![Block::h(2, "Police recorded hate crime")];
    let areas: BTreeSet<&String> = t.keys().map(|(a, _)| a).collect();
    for area in areas {
        let mut head = vec!["Year"];
        head.extend(strands.iter().map(|(_, name)| *name));
        head.push("All, per 1,000 residents");
        let mut table = Table::new(format!("Hate crime recorded by the police, {area}"), &head);
        for ((_, year), row) in t.iter().filter(|((a, _), _)| a == area) {
            let mut cells: Vec<Cell> = strands
                .iter()
                .map(|(k, _)| Cell::n(num(row.get(*k).and_then(|x| x.0), false)))
                .collect();
            cells.push(Cell::n(
                row.get("all")
                    .and_then(|x| x.1)
                    .map(|r| format!("{r:.2}"))
                    .unwrap_or_else(|| "–".into()),
            ));
            table.row(year.clone(), cells);
        }
        s.push(table.into());
    }
    s.push(Block::note("An offence can be motivated by more than one strand, so the strands add up to more than all hate crime. Rises in recorded hate crime have mostly reflected better recording by the police and more victims reporting, so a rise is not on its own a sign of more hate crime."));
    s
}
