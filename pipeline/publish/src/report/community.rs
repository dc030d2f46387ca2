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
pub(super) fn reach_section(batches: &[RecordBatch]) -> String {
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
    let mut s = String::new();
    for (exercise, chars) in &ex {
        let _ = writeln!(s, "<h2>Who we heard: {}</h2>", esc(exercise));
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
            s.push_str("<p>No group was clearly under-represented among the respondents.</p>\n");
        } else {
            let _ = writeln!(
                s,
                "<p><strong>Harder to reach in this exercise</strong> (their share of respondents is clearly below their share of the area's residents): {}.</p>",
                esc(&under.join("; "))
            );
        }
        for (ch, rows) in chars {
            let _ = write!(
                s,
                "<table>\n<caption>{}: respondents against the area's residents, {}</caption>\n<thead><tr><th scope=\"col\">Group</th><th scope=\"col\">Respondents</th><th scope=\"col\">Share of respondents</th><th scope=\"col\">Share of residents (Census 2021)</th><th scope=\"col\">Reach</th></tr></thead>\n<tbody>\n",
                esc(characteristic_name(ch)),
                esc(exercise)
            );
            for (cat, n, share, pop, rep, sup) in rows {
                let reach = match rep.as_str() {
                    "under_represented" => "under-represented",
                    "over_represented" => "over-represented",
                    "in_line" => "in line",
                    "not_disclosed" => "did not say",
                    _ => "–",
                };
                let _ = writeln!(
                    s,
                    "<tr><th scope=\"row\">{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{reach}</td></tr>",
                    esc(&label(cat)),
                    num(*n, *sup),
                    pct(*share, *sup),
                    pct(*pop, false)
                );
            }
            s.push_str("</tbody>\n</table>\n");
        }
    }
    if !s.is_empty() {
        s.push_str("<p class=\"note\">A group is under-represented when the upper end of the 95% interval of its share of respondents is below its share of the area's residents. Shares are of respondents who answered the question.</p>\n");
    }
    s
}

/// Each question's agreement, as answered and weighted to the Census.
pub(super) fn answers_section(batches: &[RecordBatch]) -> String {
    let mut s = String::new();
    for b in batches {
        let c = Cols(b);
        let (e, q, by) = (
            c.text("exercise"),
            c.text("question"),
            c.text("weighted_by"),
        );
        let (n, raw, w, lo, hi, ess, deff) = (
            c.num("respondents"),
            c.num("agree_pct"),
            c.num("weighted_agree_pct"),
            c.num("weighted_lower_pct"),
            c.num("weighted_upper_pct"),
            c.num("effective_n"),
            c.num("design_effect"),
        );
        let sup = c.flag("suppressed");
        for i in 0..b.num_rows() {
            if s.is_empty() {
                s.push_str("<h2>What we heard, weighted to the Census</h2>\n<table>\n<caption>Agreement with each question, as answered and weighted to the area's residents</caption>\n<thead><tr><th scope=\"col\">Question</th><th scope=\"col\">Respondents</th><th scope=\"col\">Agree (as answered)</th><th scope=\"col\">Agree (weighted)</th><th scope=\"col\">95% interval</th><th scope=\"col\">Effective sample size</th><th scope=\"col\">Weighted by</th></tr></thead>\n<tbody>\n");
            }
            let interval = match (lo[i], hi[i], sup[i]) {
                (_, _, true) => "[c]".to_string(),
                (Some(l), Some(h), _) => {
                    format!("{} to {}", pct(Some(l), false), pct(Some(h), false))
                }
                _ => "–".into(),
            };
            let _ = writeln!(
                s,
                "<tr><th scope=\"row\">{} <span class=\"note\">({})</span></th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{interval}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                esc(&q[i]),
                esc(&e[i]),
                num(n[i], sup[i]),
                pct(raw[i], sup[i]),
                pct(w[i], sup[i]),
                num(ess[i].map(|x| x.round()), sup[i]),
                esc(&by[i].replace('_', " "))
            );
            let _ = deff;
        }
    }
    if !s.is_empty() {
        s.push_str("</tbody>\n</table>\n<p class=\"note\">Agreement is of those who agreed, disagreed or neither (not \"don't know\"). Weights make the respondents' age, sex and ethnic group match the area's residents at the 2021 Census (raking, weights trimmed to 0.2-5 times the average); the interval allows for the weighting through the effective sample size.</p>\n");
    }
    s
}

/// Police recorded hate crime: offences by strand per year, with the rate
/// per 1,000 residents where known.
pub(super) fn hate_crime_section(batches: &[RecordBatch]) -> String {
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
        return String::new();
    }
    let strands = [
        ("all", "All hate crime"),
        ("race", "Race or ethnicity"),
        ("religion", "Religion or belief"),
        ("sexual_orientation", "Sexual orientation"),
        ("disability", "Disability"),
        ("transgender", "Transgender identity"),
    ];
    let mut s = String::from("<h2>Police recorded hate crime</h2>\n");
    let areas: BTreeSet<&String> = t.keys().map(|(a, _)| a).collect();
    for area in areas {
        let _ = write!(
            s,
            "<table>\n<caption>Hate crime recorded by the police, {}</caption>\n<thead><tr><th scope=\"col\">Year</th>",
            esc(area)
        );
        for (_, name) in strands {
            let _ = write!(s, "<th scope=\"col\">{name}</th>");
        }
        s.push_str("<th scope=\"col\">All, per 1,000 residents</th></tr></thead>\n<tbody>\n");
        for ((a, year), row) in t.iter().filter(|((a, _), _)| a == area) {
            let _ = write!(s, "<tr><th scope=\"row\">{}</th>", esc(year));
            for (k, _) in strands {
                let _ = write!(
                    s,
                    "<td class=\"n\">{}</td>",
                    num(row.get(k).and_then(|x| x.0), false)
                );
            }
            let rate = row
                .get("all")
                .and_then(|x| x.1)
                .map(|r| format!("{r:.2}"))
                .unwrap_or_else(|| "–".into());
            let _ = writeln!(s, "<td class=\"n\">{rate}</td></tr>");
            let _ = a;
        }
        s.push_str("</tbody>\n</table>\n");
    }
    s.push_str("<p class=\"note\">An offence can be motivated by more than one strand, so the strands add up to more than all hate crime. Rises in recorded hate crime have mostly reflected better recording by the police and more victims reporting, so a rise is not on its own a sign of more hate crime.</p>\n");
    s
}
