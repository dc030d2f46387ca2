//! The Census 2021 topic summary tables of the fictional city, written as
//! Nomis bulk zips (headers and drift as the real ones have).

use super::*;

/// How a category's share moves with a ward's character.
#[derive(Clone, Copy)]
pub(super) enum Drift {
    None,
    /// Grows with ethnic diversity.
    Diverse,
    /// Grows with deprivation.
    Deprived,
    /// Grows with the share of young adults.
    Young,
    /// Grows with the share of older people.
    Old,
}

/// A Census table as published: code, topic, total label, whether labels
/// carry `; measures: Value`, population base share, and categories (label,
/// England and Wales percent for leaves, drift). A label `A: B` is a child
/// of `A`; parents carry no percent of their own.
pub(super) struct TableSpec {
    pub(super) code: &'static str,
    pub(super) topic: &'static str,
    pub(super) total: &'static str,
    pub(super) measures_suffix: bool,
    pub(super) base_share: f64,
    pub(super) categories: &'static [(&'static str, f64, Drift)],
}

pub(super) const TABLES: &[TableSpec] = &[
    TableSpec {
        code: "TS008",
        topic: "Sex",
        total: "All persons",
        measures_suffix: true,
        base_share: 1.0,
        categories: &[("Female", 51.04, None), ("Male", 48.96, None)],
    },
    TableSpec {
        code: "TS007A",
        topic: "Age",
        total: "Total",
        measures_suffix: false,
        base_share: 1.0,
        categories: &[
            ("Aged 4 years and under", 5.42, Young),
            ("Aged 5 to 9 years", 5.91, Young),
            ("Aged 10 to 14 years", 6.03, Young),
            ("Aged 15 to 19 years", 5.7, Young),
            ("Aged 20 to 24 years", 6.04, Young),
            ("Aged 25 to 29 years", 6.55, Young),
            ("Aged 30 to 34 years", 6.96, Young),
            ("Aged 35 to 39 years", 6.68, None),
            ("Aged 40 to 44 years", 6.3, None),
            ("Aged 45 to 49 years", 6.36, None),
            ("Aged 50 to 54 years", 6.92, None),
            ("Aged 55 to 59 years", 6.76, Old),
            ("Aged 60 to 64 years", 5.8, Old),
            ("Aged 65 to 69 years", 4.94, Old),
            ("Aged 70 to 74 years", 5.0, Old),
            ("Aged 75 to 79 years", 3.64, Old),
            ("Aged 80 to 84 years", 2.54, Old),
            ("Aged 85 years and over", 2.44, Old),
        ],
    },
    TableSpec {
        code: "TS021",
        topic: "Ethnic group",
        total: "Total: All usual residents",
        measures_suffix: false,
        base_share: 1.0,
        categories: &[
            ("Asian, Asian British or Asian Welsh", 0.0, None),
            (
                "Asian, Asian British or Asian Welsh: Bangladeshi",
                1.08,
                Diverse,
            ),
            (
                "Asian, Asian British or Asian Welsh: Chinese",
                0.75,
                Diverse,
            ),
            ("Asian, Asian British or Asian Welsh: Indian", 3.13, Diverse),
            (
                "Asian, Asian British or Asian Welsh: Pakistani",
                2.66,
                Diverse,
            ),
            (
                "Asian, Asian British or Asian Welsh: Other Asian",
                1.63,
                Diverse,
            ),
            (
                "Black, Black British, Black Welsh, Caribbean or African",
                0.0,
                None,
            ),
            (
                "Black, Black British, Black Welsh, Caribbean or African: African",
                2.5,
                Diverse,
            ),
            (
                "Black, Black British, Black Welsh, Caribbean or African: Caribbean",
                1.05,
                Diverse,
            ),
            (
                "Black, Black British, Black Welsh, Caribbean or African: Other Black",
                0.5,
                Diverse,
            ),
            ("Mixed or Multiple ethnic groups", 0.0, None),
            (
                "Mixed or Multiple ethnic groups: White and Asian",
                0.82,
                Diverse,
            ),
            (
                "Mixed or Multiple ethnic groups: White and Black African",
                0.42,
                Diverse,
            ),
            (
                "Mixed or Multiple ethnic groups: White and Black Caribbean",
                0.86,
                Diverse,
            ),
            (
                "Mixed or Multiple ethnic groups: Other Mixed or Multiple ethnic groups",
                0.78,
                Diverse,
            ),
            ("White", 0.0, None),
            (
                "White: English, Welsh, Scottish, Northern Irish or British",
                74.42,
                None,
            ),
            ("White: Irish", 0.85, None),
            ("White: Gypsy or Irish Traveller", 0.11, Deprived),
            ("White: Roma", 0.17, Deprived),
            ("White: Other White", 6.15, Young),
            ("Other ethnic group", 0.0, None),
            ("Other ethnic group: Arab", 0.56, Diverse),
            ("Other ethnic group: Any other ethnic group", 1.55, Diverse),
        ],
    },
    TableSpec {
        code: "TS029",
        topic: "Proficiency in English language",
        total: "Total: All usual residents aged 3 years and over",
        measures_suffix: false,
        base_share: 0.965,
        categories: &[
            (
                "Main language is English (English or Welsh in Wales)",
                91.1,
                None,
            ),
            (
                "Main language is not English (English or Welsh in Wales)",
                0.0,
                None,
            ),
            (
                "Main language is not English (English or Welsh in Wales): Can speak English very well",
                3.91,
                Diverse,
            ),
            (
                "Main language is not English (English or Welsh in Wales): Can speak English well",
                3.19,
                Diverse,
            ),
            (
                "Main language is not English (English or Welsh in Wales): Cannot speak English well",
                1.52,
                Diverse,
            ),
            (
                "Main language is not English (English or Welsh in Wales): Cannot speak English",
                0.28,
                Diverse,
            ),
        ],
    },
    TableSpec {
        code: "TS030",
        topic: "Religion",
        total: "Total: All usual residents",
        measures_suffix: false,
        base_share: 1.0,
        categories: &[
            ("No religion", 37.19, Young),
            ("Christian", 46.18, Old),
            ("Buddhist", 0.46, Diverse),
            ("Hindu", 1.73, Diverse),
            ("Jewish", 0.46, None),
            ("Muslim", 6.49, Diverse),
            ("Sikh", 0.88, Diverse),
            ("Other religion", 0.58, None),
            ("Not answered", 6.03, None),
        ],
    },
    TableSpec {
        code: "TS038",
        topic: "Disability",
        total: "Total: All usual residents",
        measures_suffix: false,
        base_share: 1.0,
        categories: &[
            ("Disabled under the Equality Act", 0.0, None),
            (
                "Disabled under the Equality Act: Day-to-day activities limited a lot",
                7.48,
                Deprived,
            ),
            (
                "Disabled under the Equality Act: Day-to-day activities limited a little",
                10.04,
                Deprived,
            ),
            ("Not disabled under the Equality Act", 0.0, None),
            (
                "Not disabled under the Equality Act: Has long term physical or mental health condition but day-to-day activities are not limited",
                6.82,
                None,
            ),
            (
                "Not disabled under the Equality Act: No long term physical or mental health conditions",
                75.66,
                None,
            ),
        ],
    },
    TableSpec {
        code: "TS077",
        topic: "Sexual orientation",
        total: "Total: All usual residents aged 16 years and over",
        measures_suffix: false,
        base_share: 0.81,
        categories: &[
            ("Straight or Heterosexual", 89.37, None),
            ("Gay or Lesbian", 1.54, Young),
            ("Bisexual", 1.28, Young),
            ("All other sexual orientations", 0.34, Young),
            ("Not answered", 7.47, None),
        ],
    },
    TableSpec {
        code: "TS078",
        topic: "Gender identity",
        total: "Total: All usual residents aged 16 years and over",
        measures_suffix: false,
        base_share: 0.81,
        categories: &[
            (
                "Gender identity the same as sex registered at birth",
                93.46,
                None,
            ),
            (
                "Gender identity different from sex registered at birth but no specific identity given",
                0.24,
                Young,
            ),
            ("Trans woman", 0.1, Young),
            ("Trans man", 0.1, Young),
            ("All other gender identities", 0.1, Young),
            ("Not answered", 6.0, None),
        ],
    },
];

pub(super) fn factor(d: Drift, a: &Area) -> f64 {
    match d {
        None => 1.0,
        Diverse => a.diverse,
        Deprived => a.deprived,
        Young => a.young,
        Old => 1.0 / a.young,
    }
}

/// Splits `total` over weights with largest-remainder rounding.
pub(super) fn apportion(total: i64, weights: &[f64]) -> Vec<i64> {
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut out: Vec<i64> = exact.iter().map(|x| x.floor() as i64).collect();
    let mut left = total - out.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    for &i in order.iter().cycle() {
        if left <= 0 {
            break;
        }
        out[i] += 1;
        left -= 1;
    }
    out
}

/// One area's counts for a table: total first, then every category in
/// header order (parents are the sums of their children).
pub(super) fn table_counts(t: &TableSpec, a: &Area, rng: &mut Rng) -> Vec<i64> {
    let base = (a.population * t.base_share).round() as i64;
    let is_parent = |label: &str| {
        t.categories.iter().any(|(l, _, _)| {
            l.len() > label.len() && l.starts_with(label) && l[label.len()..].starts_with(": ")
        })
    };
    let leaves: Vec<usize> = (0..t.categories.len())
        .filter(|&i| !is_parent(t.categories[i].0))
        .collect();
    let weights: Vec<f64> = leaves
        .iter()
        .map(|&i| {
            let (_, pct, drift) = t.categories[i];
            pct * factor(drift, a) * rng.range(0.85, 1.15)
        })
        .collect();
    let leaf_counts = apportion(base, &weights);
    let mut counts = vec![0i64; t.categories.len()];
    for (k, &i) in leaves.iter().enumerate() {
        counts[i] = leaf_counts[k];
    }
    let leaf_only = counts.clone();
    for (i, (label, _, _)) in t.categories.iter().enumerate() {
        if is_parent(label) {
            counts[i] = t
                .categories
                .iter()
                .zip(&leaf_only)
                .filter(|((l, _, _), _)| l.starts_with(label) && l[label.len()..].starts_with(": "))
                .map(|(_, c)| *c)
                .sum();
        }
    }
    let mut out = vec![base];
    out.extend(counts);
    out
}

pub(super) fn header_line(t: &TableSpec) -> String {
    let suffix = if t.measures_suffix {
        "; measures: Value"
    } else {
        ""
    };
    let mut cols = vec![
        "\"date\"".to_string(),
        "\"geography\"".into(),
        "\"geography code\"".into(),
    ];
    cols.push(format!("\"{}: {}{suffix}\"", t.topic, t.total));
    for (label, _, _) in t.categories {
        cols.push(format!("\"{}: {label}{suffix}\"", t.topic));
    }
    cols.join(",")
}

pub(super) fn data_line(code: &str, name: &str, counts: &[i64]) -> String {
    let mut s = format!("\"2021\",\"{name}\",\"{code}\"");
    for c in counts {
        s.push(',');
        s.push_str(&c.to_string());
    }
    s
}

pub(super) fn sum_rows(rows: &[Vec<i64>]) -> Vec<i64> {
    let mut out = vec![0i64; rows[0].len()];
    for r in rows {
        for (o, v) in out.iter_mut().zip(r) {
            *o += v;
        }
    }
    out
}

/// Writes `census2021-<code>.zip` with its ctry, ltla (the city: the sum
/// of its wards) and wd members.
pub(super) fn write_table_zip(
    public: &Path,
    code: &str,
    header: &str,
    wards: &[Area],
    ward_rows: &[Vec<i64>],
    national: &[Area],
    national_rows: &[Vec<i64>],
) -> std::io::Result<()> {
    let lower = code.to_ascii_lowercase();
    let city = sum_rows(ward_rows);
    let mut wd = vec![header.to_string()];
    for (w, r) in wards.iter().zip(ward_rows) {
        wd.push(data_line(&w.code, &w.name, r));
    }
    let ltla = [header.to_string(), data_line(CITY_CODE, CITY_NAME, &city)];
    let mut ctry = vec![header.to_string()];
    for (a, r) in national.iter().zip(national_rows) {
        ctry.push(data_line(&a.code, &a.name, r));
    }
    let zip_path = public.join(format!("census2021-{lower}.zip"));
    let file = std::fs::File::create(&zip_path)?;
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (level, lines) in [
        ("ctry", ctry.as_slice()),
        ("ltla", &ltla[..]),
        ("wd", wd.as_slice()),
    ] {
        zip.start_file(format!("census2021-{lower}-{level}.csv"), opts)
            .map_err(std::io::Error::other)?;
        zip.write_all((lines.join("\n") + "\n").as_bytes())?;
    }
    zip.finish().map_err(std::io::Error::other)?;
    Ok(())
}

/// TS007's published bands (first year, last year, England and Wales
/// percent); single years sit beneath each, and "Aged 100 years and over"
/// beneath "Aged 85 years and over" after 99.
pub(super) const TS007_BANDS: [(u32, u32, f64, Drift); 11] = [
    (0, 4, 5.4, Young),
    (5, 9, 5.9, Young),
    (10, 15, 7.2, Young),
    (16, 19, 4.6, Young),
    (20, 24, 6.0, Young),
    (25, 34, 13.5, Young),
    (35, 49, 19.3, None),
    (50, 64, 19.5, Old),
    (65, 74, 9.9, Old),
    (75, 84, 6.2, Old),
    (85, 100, 2.4, Old),
];

pub(super) fn ts007_band_label(lo: u32, hi: u32) -> String {
    match (lo, hi) {
        (0, h) => format!("Aged {h} years and under"),
        (l, 100) => format!("Aged {l} years and over"),
        (l, h) => format!("Aged {l} to {h} years"),
    }
}

pub(super) fn ts007_year_label(y: u32) -> String {
    match y {
        0 => "Aged under 1 year".into(),
        1 => "Aged 1 year".into(),
        100 => "Aged 100 years and over".into(),
        y => format!("Aged {y} years"),
    }
}

pub(super) fn ts007_header() -> String {
    let mut cols = vec![
        "\"date\"".to_string(),
        "\"geography\"".into(),
        "\"geography code\"".into(),
        "\"Age: Total; measures: Value\"".into(),
    ];
    for (lo, hi, _, _) in TS007_BANDS {
        cols.push(format!(
            "\"Age: {}; measures: Value\"",
            ts007_band_label(lo, hi)
        ));
        for y in lo..=hi {
            cols.push(format!("\"Age: {}; measures: Value\"", ts007_year_label(y)));
        }
    }
    cols.join(",")
}

/// One area's TS007 row: total, then each band followed by its years.
pub(super) fn ts007_counts(a: &Area, rng: &mut Rng) -> Vec<i64> {
    let mut weights = Vec::new();
    for (lo, hi, pct, drift) in TS007_BANDS {
        // 100+ is a sliver of 85+.
        let years = (hi - lo + 1) as f64;
        for y in lo..=hi {
            let w = if y == 100 { 0.02 } else { 1.0 };
            weights.push(pct / years * w * factor(drift, a) * rng.range(0.9, 1.1));
        }
    }
    let total = a.population.round() as i64;
    let years = apportion(total, &weights);
    let mut out = vec![total];
    let mut k = 0;
    for (lo, hi, _, _) in TS007_BANDS {
        let n = (hi - lo + 1) as usize;
        out.push(years[k..k + n].iter().sum());
        out.extend_from_slice(&years[k..k + n]);
        k += n;
    }
    out
}
