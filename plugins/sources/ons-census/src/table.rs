//! Reading a Nomis Census 2021 bulk CSV (wide) into long rows.
//!
//! The header is `date,geography,geography code,<Topic>: <label>…`, where
//! the labels may end in `; measures: Value`. The first value column is the
//! table's total. The category hierarchy is found generically:
//!
//! 1. by label path: `White: Irish` is a child of `White` when a column
//!    `White` exists;
//! 2. by sums, for tables that do not spell the hierarchy in their labels
//!    (TS007 lists `Aged 4 years and under` then `Aged under 1 year` …
//!    `Aged 4 years`): a run of two or more consecutive siblings that sums
//!    exactly to the sibling just before it, in every sampled row, becomes
//!    that sibling's children.

/// Household tables (their unit is households, not persons).
const HOUSEHOLD_TABLES: &[&str] = &[
    "TS003", "TS011", "TS017", "TS023", "TS025", "TS026", "TS040", "TS041", "TS044", "TS045",
    "TS046", "TS050", "TS051", "TS052", "TS053", "TS054", "TS072", "TS074", "TS075",
];

/// The unit counted by a table.
pub fn unit_of(table_code: &str) -> &'static str {
    if HOUSEHOLD_TABLES.contains(&table_code) {
        "households"
    } else {
        "persons"
    }
}

/// One value column of the wide file.
#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    /// Label without the topic prefix and measure suffix.
    pub label: String,
    /// 0 for the total, 1 broad, 2 detailed, …
    pub level: u8,
    /// Index (among value columns) of the parent; None for the total.
    pub parent: Option<usize>,
}

/// The parsed header of a table file.
#[derive(Debug, Clone)]
pub struct Header {
    /// Topic (`Ethnic group`).
    pub topic: String,
    /// Value columns in file order; index 0 is the total.
    pub categories: Vec<Category>,
}

/// Strips `; measures: …` from a column label.
fn strip_measure(s: &str) -> &str {
    match s.find("; measures:") {
        Some(i) => &s[..i],
        None => s,
    }
}

/// Parses the header row. Errors say what is wrong; the caller adds the file.
/// Checks the three leading columns and splits every value column into
/// (topic, label without topic and measure suffix).
pub fn split_columns(cols: &[String]) -> Result<(String, Vec<String>), String> {
    let expected = ["date", "geography", "geography code"];
    if cols.len() < 4 {
        return Err(format!(
            "expected columns `date, geography, geography code` and at least one count column, found {} column(s)",
            cols.len()
        ));
    }
    for (i, e) in expected.iter().enumerate() {
        if !cols[i]
            .trim()
            .trim_start_matches('\u{feff}')
            .eq_ignore_ascii_case(e)
        {
            return Err(format!("column {} is `{}`, expected `{e}`", i + 1, cols[i]));
        }
    }
    let mut topic: Option<String> = None;
    let mut labels = Vec::new();
    for c in &cols[3..] {
        let c = strip_measure(c.trim());
        let (t, label) = match c.split_once(": ") {
            Some((t, l)) => (t.to_string(), l.to_string()),
            None => {
                return Err(format!(
                    "column `{c}` is not of the form `<Topic>: <category>`"
                ));
            }
        };
        match &topic {
            None => topic = Some(t),
            Some(existing) if *existing != t => {
                return Err(format!(
                    "column `{c}` has topic `{t}`, but earlier columns have `{existing}`"
                ));
            }
            _ => {}
        }
        labels.push(label);
    }
    Ok((topic.unwrap_or_default(), labels))
}

/// True when the value columns cross two variables
/// (`Sex: Female; Age: Aged 4 years and under`).
pub fn is_crosstab(cols: &[String]) -> bool {
    cols.iter().skip(3).any(|c| {
        strip_measure(c.trim())
            .split_once(": ")
            .and_then(|(_, l)| l.split_once("; "))
            .is_some_and(|(_, rest)| rest.contains(": "))
    })
}

/// Parses the header row. Errors say what is wrong; the caller adds the file.
pub fn parse_header(cols: &[String]) -> Result<Header, String> {
    let (topic, labels) = split_columns(cols)?;
    if let Some(l) = labels.iter().find(|l| {
        l.split_once("; ")
            .is_some_and(|(_, rest)| rest.contains(": "))
    }) {
        return Err(format!(
            "`{l}` crosses two variables: read the header with `build_crosstab`"
        ));
    }
    let total = &labels[0];
    if labels.len() > 1 && !(total.starts_with("Total") || total.starts_with("All ")) {
        return Err(format!(
            "the first count column `{total}` is not a total (expected `Total…` or `All …`): the total column is missing"
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for l in &labels {
        if !seen.insert(l) {
            return Err(format!("category `{l}` appears twice in the header"));
        }
    }
    let mut categories: Vec<Category> = Vec::with_capacity(labels.len());
    categories.push(Category {
        label: total.clone(),
        level: 0,
        parent: None,
    });
    // Paths: `White: Irish` and `Resident:Male` both nest under their
    // first part when a column of that name exists.
    let path = |l: &str| -> Vec<String> { l.split(':').map(|p| p.trim().to_string()).collect() };
    let paths: Vec<Vec<String>> = labels.iter().map(|l| path(l)).collect();
    for (i, l) in labels.iter().enumerate().skip(1) {
        let segs = &paths[i];
        let mut parent = 0usize;
        for k in (1..segs.len()).rev() {
            if let Some(pi) = (1..i).find(|&j| paths[j] == segs[..k]) {
                parent = pi;
                break;
            }
        }
        let level = categories[parent].level + 1;
        categories.push(Category {
            label: l.clone(),
            level,
            parent: Some(parent),
        });
    }
    Ok(Header { topic, categories })
}

/// Refines the hierarchy by sums over sampled rows (each row: one count per
/// value column): first runs of consecutive siblings that add up to the
/// sibling before them (applied repeatedly, so nested runs are found too),
/// then, when the broad categories still add up to more than the total,
/// sets of siblings anywhere in the table that add up to another sibling
/// (TS027 lists `Irish only identity` before its parent `Non-UK identity
/// only`).
pub fn detect_by_sums(header: &mut Header, sample: &[Vec<i64>]) {
    if sample.is_empty() {
        return;
    }
    detect_runs(header, sample);
    repair_by_subsets(header, sample);
}

/// Recomputes every level from the parents (parents may follow children).
fn relevel(header: &mut Header) {
    fn level(cats: &[Category], i: usize, depth: usize) -> u8 {
        match cats[i].parent {
            None => 0,
            Some(_) if depth > cats.len() => 0,
            Some(p) => level(cats, p, depth + 1) + 1,
        }
    }
    let levels: Vec<u8> = (0..header.categories.len())
        .map(|i| level(&header.categories, i, 0))
        .collect();
    for (c, l) in header.categories.iter_mut().zip(levels) {
        c.level = l;
    }
}

/// Largest table the subset search is tried on (2^n subsets at worst).
const SUBSET_LIMIT: usize = 28;

fn repair_by_subsets(header: &mut Header, sample: &[Vec<i64>]) {
    for _ in 0..16 {
        let top: Vec<usize> = (1..header.categories.len())
            .filter(|&i| header.categories[i].parent == Some(0))
            .collect();
        let excess: Vec<i64> = sample
            .iter()
            .map(|r| top.iter().map(|&i| r[i]).sum::<i64>() - r[0])
            .collect();
        if excess.iter().all(|&e| e == 0)
            || excess.iter().any(|&e| e < 0)
            || top.len() > SUBSET_LIMIT
        {
            return;
        }
        let mut by_value = top.clone();
        by_value.sort_by_key(|&i| std::cmp::Reverse(sample[0][i]));
        let mut changed = false;
        for &p in &by_value {
            let others: Vec<usize> = top
                .iter()
                .copied()
                .filter(|&j| j != p && sample.iter().all(|r| r[j] <= r[p]))
                .collect();
            if let Some(set) = find_subset(&others, p, sample) {
                for j in set {
                    header.categories[j].parent = Some(p);
                }
                relevel(header);
                changed = true;
                break;
            }
        }
        if !changed {
            return;
        }
    }
}

/// A subset of `pool` whose values add up to `target`'s in every row.
fn find_subset(pool: &[usize], target: usize, sample: &[Vec<i64>]) -> Option<Vec<usize>> {
    let goal = sample[0][target];
    if goal <= 0 {
        return None;
    }
    let mut items: Vec<usize> = pool.iter().copied().filter(|&j| sample[0][j] > 0).collect();
    items.sort_by_key(|&j| std::cmp::Reverse(sample[0][j]));
    let mut suffix = vec![0i64; items.len() + 1];
    for k in (0..items.len()).rev() {
        suffix[k] = suffix[k + 1] + sample[0][items[k]];
    }
    let mut chosen = Vec::new();
    let mut budget = 1_000_000u32;
    #[allow(clippy::too_many_arguments)]
    fn dfs(
        items: &[usize],
        suffix: &[i64],
        k: usize,
        left: i64,
        chosen: &mut Vec<usize>,
        sample: &[Vec<i64>],
        target: usize,
        budget: &mut u32,
    ) -> bool {
        if left == 0 {
            return !chosen.is_empty()
                && sample
                    .iter()
                    .all(|r| chosen.iter().map(|&j| r[j]).sum::<i64>() == r[target]);
        }
        if k == items.len() || suffix[k] < left || *budget == 0 {
            return false;
        }
        *budget -= 1;
        let v = sample[0][items[k]];
        if v <= left {
            chosen.push(items[k]);
            if dfs(
                items,
                suffix,
                k + 1,
                left - v,
                chosen,
                sample,
                target,
                budget,
            ) {
                return true;
            }
            chosen.pop();
        }
        dfs(items, suffix, k + 1, left, chosen, sample, target, budget)
    }
    if dfs(
        &items,
        &suffix,
        0,
        goal,
        &mut chosen,
        sample,
        target,
        &mut budget,
    ) {
        Some(chosen)
    } else {
        None
    }
}

fn detect_runs(header: &mut Header, sample: &[Vec<i64>]) {
    let n = header.categories.len();
    let mut changed = true;
    while changed {
        changed = false;
        let mut p = 1;
        while p < n {
            let parent_of_p = header.categories[p].parent;
            // Following siblings of p (same parent), consecutive in the file.
            let mut end = p + 1;
            let mut found = None;
            while end < n && header.categories[end].parent == parent_of_p {
                let k = end;
                let ok = sample.iter().all(|row| {
                    let s: i64 = row[p + 1..=k].iter().sum();
                    s == row[p]
                });
                let nonzero = sample.iter().any(|row| row[p] > 0);
                if ok && nonzero && k > p {
                    found = Some(k);
                    break;
                }
                // Stop early once every row has overshot.
                if sample
                    .iter()
                    .all(|row| row[p + 1..=k].iter().sum::<i64>() > row[p])
                {
                    break;
                }
                end += 1;
            }
            if let Some(k) = found {
                let lvl = header.categories[p].level + 1;
                for c in &mut header.categories[p + 1..=k] {
                    c.parent = Some(p);
                    c.level = lvl;
                }
                changed = true;
                p = k + 1;
            } else {
                p += 1;
            }
        }
    }
}

/// Checks additivity in one row: children sum to their parent. Returns the
/// first broken (parent label, expected, actual).
pub fn check_row(header: &Header, row: &[i64]) -> Option<(String, i64, i64)> {
    let n = header.categories.len();
    let mut sums = vec![0i64; n];
    let mut has_children = vec![false; n];
    for (i, c) in header.categories.iter().enumerate() {
        if let Some(p) = c.parent {
            sums[p] += row[i];
            has_children[p] = true;
        }
    }
    (0..n)
        .find(|&i| has_children[i] && sums[i] != row[i])
        .map(|i| (header.categories[i].label.clone(), row[i], sums[i]))
}

/// A two-variable table (TS009 sex by age) as one tree: the grand total,
/// then each group of the first variable (Female, Male) with the second
/// variable's hierarchy inside it. The first group (All persons) is the sum
/// of the others; that is checked on the sample and its cells, which add
/// nothing, are left out. Returns the header of the kept columns and their
/// indexes among the value columns.
pub fn build_crosstab(
    cols: &[String],
    sample: &[Vec<i64>],
) -> Result<(Header, Vec<usize>), String> {
    let (topic1, labels) = split_columns(cols)?;
    let mut groups: Vec<(String, Vec<(usize, String)>)> = Vec::new();
    let mut topic2 = String::new();
    for (i, l) in labels.iter().enumerate() {
        let (g, rest) = l.split_once("; ").ok_or_else(|| {
            format!("column `{l}` does not cross the two variables like the others")
        })?;
        let (t2, c2) = rest
            .split_once(": ")
            .ok_or_else(|| format!("column `{l}` does not name its second variable"))?;
        if topic2.is_empty() {
            topic2 = t2.to_string();
        } else if topic2 != t2 {
            return Err(format!(
                "column `{l}` crosses `{t2}`, earlier columns `{topic2}`"
            ));
        }
        match groups.iter_mut().find(|(name, _)| name == g) {
            Some((_, v)) => v.push((i, c2.to_string())),
            None => groups.push((g.to_string(), vec![(i, c2.to_string())])),
        }
    }
    if groups.len() < 2 {
        return Err("a cross-tabulation needs at least two groups".into());
    }
    let inner_labels: Vec<&String> = groups[0].1.iter().map(|(_, c)| c).collect();
    for (g, v) in &groups[1..] {
        if v.iter().map(|(_, c)| c).collect::<Vec<_>>() != inner_labels {
            return Err(format!(
                "group `{g}` does not have the same `{topic2}` categories as `{}`",
                groups[0].0
            ));
        }
    }
    let mut syn = vec![
        "date".to_string(),
        "geography".into(),
        "geography code".into(),
    ];
    syn.extend(inner_labels.iter().map(|c| format!("{topic2}: {c}")));
    let mut inner = parse_header(&syn)?;
    let group_rows: Vec<Vec<i64>> = sample
        .iter()
        .flat_map(|row| {
            groups[1..]
                .iter()
                .map(move |(_, v)| v.iter().map(|(i, _)| row[*i]).collect::<Vec<i64>>())
        })
        .collect();
    detect_by_sums(&mut inner, &group_rows);
    for row in sample {
        for (j, (i0, c)) in groups[0].1.iter().enumerate() {
            let sum: i64 = groups[1..].iter().map(|(_, v)| row[v[j].0]).sum();
            if row[*i0] != sum {
                return Err(format!(
                    "`{}; {topic2}: {c}` is {}, but its groups add up to {sum}: not a cross-tabulation this reader understands",
                    groups[0].0, row[*i0]
                ));
            }
        }
    }
    let mut categories = vec![Category {
        label: labels[groups[0].1[0].0].clone(),
        level: 0,
        parent: None,
    }];
    let mut keep = vec![groups[0].1[0].0];
    for (_, v) in &groups[1..] {
        let base = categories.len();
        for (j, (i, _)) in v.iter().enumerate() {
            let (parent, level) = match inner.categories[j].parent {
                None => (0, 1),
                Some(p) => (base + p, inner.categories[j].level + 1),
            };
            categories.push(Category {
                label: labels[*i].clone(),
                level,
                parent: Some(parent),
            });
            keep.push(*i);
        }
    }
    Ok((
        Header {
            topic: format!("{topic1} by {topic2}"),
            categories,
        },
        keep,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn label_paths_give_broad_and_detailed_levels() {
        let h = parse_header(&cols(&[
            "date",
            "geography",
            "geography code",
            "Ethnic group: Total: All usual residents",
            "Ethnic group: White",
            "Ethnic group: White: Irish",
            "Ethnic group: White: Other White",
            "Ethnic group: Other ethnic group",
            "Ethnic group: Other ethnic group: Arab",
        ]))
        .unwrap();
        assert_eq!(h.topic, "Ethnic group");
        let lv: Vec<(u8, Option<usize>)> =
            h.categories.iter().map(|c| (c.level, c.parent)).collect();
        assert_eq!(
            lv,
            vec![
                (0, None),
                (1, Some(0)),
                (2, Some(1)),
                (2, Some(1)),
                (1, Some(0)),
                (2, Some(4))
            ]
        );
        assert_eq!(h.categories[2].label, "White: Irish");
    }

    #[test]
    fn sums_reveal_a_hierarchy_the_labels_do_not_spell() {
        let mut h = parse_header(&cols(&[
            "date",
            "geography",
            "geography code",
            "Age: Total; measures: Value",
            "Age: Aged 1 year and under; measures: Value",
            "Age: Aged under 1 year; measures: Value",
            "Age: Aged 1 year; measures: Value",
            "Age: Aged 2 years and over; measures: Value",
            "Age: Aged 2 years; measures: Value",
            "Age: Aged 3 years and over; measures: Value",
        ]))
        .unwrap();
        assert!(h.categories.iter().skip(1).all(|c| c.level == 1));
        let sample = vec![
            vec![100, 30, 10, 20, 70, 40, 30],
            vec![50, 5, 2, 3, 45, 44, 1],
        ];
        detect_by_sums(&mut h, &sample);
        let lv: Vec<u8> = h.categories.iter().map(|c| c.level).collect();
        assert_eq!(lv, vec![0, 1, 2, 2, 1, 2, 2]);
        assert_eq!(h.categories[5].parent, Some(4));
        for row in &sample {
            assert_eq!(check_row(&h, row), None);
        }
        assert_eq!(
            check_row(&h, &[100, 30, 10, 21, 70, 40, 30]),
            Some(("Aged 1 year and under".into(), 30, 31))
        );
    }

    #[test]
    fn broken_headers_are_explained() {
        let e = parse_header(&cols(&["date", "geography", "code", "X: Total"])).unwrap_err();
        assert!(e.contains("geography code"), "{e}");
        let e = parse_header(&cols(&[
            "date",
            "geography",
            "geography code",
            "Sex: Female",
            "Sex: Male",
        ]))
        .unwrap_err();
        assert!(e.contains("total column is missing"), "{e}");
        let e = parse_header(&cols(&["date", "geography", "geography code"])).unwrap_err();
        assert!(e.contains("at least one count column"), "{e}");
    }
}
