//! The pay gap measures, as pure functions over one snapshot's employees.
//!
//! Method (statutory gender pay gap): The Equality Act 2010 (Specific Duties
//! and Public Authorities) Regulations 2017 (SI 2017/353), Schedule 2, and
//! the GOV.UK guidance "Gender pay gap reporting: guidance for employers"
//! (making your calculations). Ethnicity: "Ethnicity pay reporting:
//! guidance for employers" (Department for Business and Trade, April 2023).
//! Disability: the same measures, disabled against non-disabled employees.
//!
//! - Relevant employees: employed on the snapshot date. Full-pay relevant
//!   employees: not on reduced or nil pay for leave in the pay period.
//! - Mean (median) hourly pay gap = (reference mean (median) − group mean
//!   (median)) / reference mean (median) × 100, over full-pay relevant
//!   employees. Positive: the group is paid less than the reference (men,
//!   White British, non-disabled).
//! - Bonus gaps: the same over relevant employees who received a bonus in
//!   the 12 months to the snapshot. Proportion receiving a bonus: receivers
//!   of the group / relevant employees of the group × 100.
//! - Quarter pay bands: full-pay relevant employees ranked by hourly pay,
//!   lowest first, cut into four bands as equal in size as possible (when the
//!   count is not divisible by four the extra employees go to the lower
//!   bands first: lower, then lower middle, then upper middle); where
//!   employees on one hourly rate span a cut, every band they span gets the
//!   same group mix of them (Schedule 2, para. 13(2): "the relative
//!   proportion of male and female employees receiving that rate of pay is
//!   the same in each of those pay bands"). Group counts in a band can
//!   therefore be fractional.
//! - Employees who did not state the characteristic are left out of that
//!   dimension's gaps and bands and counted in its disclosure rate.

/// One relevant employee, as the measures see them.
#[derive(Debug, Clone, PartialEq)]
pub struct Employee {
    /// Which category of the dimension, as an index into the categories
    /// passed to [`measures`] (`None`: not stated, prefer not to say, or
    /// unmapped).
    pub category: Option<u32>,
    /// Hourly pay when the employee is full-pay relevant and it is known.
    pub hourly: Option<f64>,
    /// Bonus paid in the 12 months to the snapshot (0 when none).
    pub bonus: f64,
}

/// One output value before disclosure control.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    /// Measure name (`mean_hourly_gap_pct`, `lower_quartile_pct`, ...).
    pub measure: &'static str,
    /// The group the value describes.
    pub group: String,
    /// The group it is compared with, for gaps.
    pub reference_group: Option<String>,
    /// The value (percent); `None` when it cannot be computed.
    pub value: Option<f64>,
    /// Employees behind the value in the group (fractional in pay bands).
    pub numerator_n: f64,
    /// Employees in the reference group (gaps) or the whole base (shares).
    pub denominator_n: f64,
}

/// Names of the four quarter pay band measures, lowest paid first.
pub const QUARTILES: [&str; 4] = [
    "lower_quartile_pct",
    "lower_middle_quartile_pct",
    "upper_middle_quartile_pct",
    "upper_quartile_pct",
];

/// A comparison: a group (one or more categories) against the reference.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Label of the group.
    pub label: String,
    /// Categories that belong to it.
    pub categories: Vec<String>,
}

/// How one dimension is reported.
#[derive(Debug, Clone)]
pub struct Dimension {
    /// The reference category (`M`, `White British`, `not_disabled`).
    pub reference: String,
    /// Groups compared with the reference; also the groups whose bonus
    /// proportions and pay band shares are reported (with the reference).
    pub comparisons: Vec<Comparison>,
}

/// Mean of a slice; `None` when empty.
pub fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Median of a slice (mean of the middle two for an even count).
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

/// (reference − group) / reference × 100.
pub fn gap(reference: Option<f64>, group: Option<f64>) -> Option<f64> {
    match (reference, group) {
        (Some(r), Some(g)) if r != 0.0 => Some((r - g) / r * 100.0),
        _ => None,
    }
}

/// Sizes of the four bands for `n` employees, lowest first.
pub fn band_sizes(n: usize) -> [usize; 4] {
    let (q, r) = (n / 4, n % 4);
    [
        q + usize::from(r > 0),
        q + usize::from(r > 1),
        q + usize::from(r > 2),
        q,
    ]
}

/// How many of each category fall in each band. `people` are
/// (hourly pay, category index); the result is `[band][category]`.
pub fn band_counts(people: &[(f64, usize)], categories: usize) -> [Vec<f64>; 4] {
    let mut sorted = people.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let sizes = band_sizes(sorted.len());
    let mut bounds = [0usize; 5];
    for b in 0..4 {
        bounds[b + 1] = bounds[b] + sizes[b];
    }
    let mut out: [Vec<f64>; 4] = std::array::from_fn(|_| vec![0.0; categories]);
    let mut start = 0;
    while start < sorted.len() {
        // The run of employees on the same rate: positions [start, end).
        let rate = sorted[start].0;
        let mut end = start;
        let mut mix = vec![0.0; categories];
        while end < sorted.len() && sorted[end].0 == rate {
            mix[sorted[end].1] += 1.0;
            end += 1;
        }
        let run = (end - start) as f64;
        for b in 0..4 {
            let overlap = end.min(bounds[b + 1]).saturating_sub(start.max(bounds[b]));
            if overlap > 0 {
                for (c, m) in mix.iter().enumerate() {
                    out[b][c] += overlap as f64 * m / run;
                }
            }
        }
        start = end;
    }
    out
}

/// Every measure of one dimension for one snapshot's relevant employees,
/// whose categories index `categories`.
pub fn measures(dim: &Dimension, categories: &[String], employees: &[Employee]) -> Vec<Measure> {
    let mut out = Vec::new();
    let stated: Vec<&Employee> = employees.iter().filter(|e| e.category.is_some()).collect();
    // Groups as masks over the category indexes: no text compared per
    // employee.
    let mask =
        |cats: &[String]| -> Vec<bool> { categories.iter().map(|c| cats.contains(c)).collect() };
    let in_group = |e: &Employee, m: &[bool]| e.category.is_some_and(|c| m[c as usize]);
    let reference = mask(std::slice::from_ref(&dim.reference));
    let hourly = |m: &[bool]| -> Vec<f64> {
        stated
            .iter()
            .filter(|e| in_group(e, m))
            .filter_map(|e| e.hourly)
            .collect()
    };
    let bonuses = |m: &[bool]| -> Vec<f64> {
        stated
            .iter()
            .filter(|e| in_group(e, m) && e.bonus > 0.0)
            .map(|e| e.bonus)
            .collect()
    };
    let ref_hourly = hourly(&reference);
    let ref_bonus = bonuses(&reference);
    for c in &dim.comparisons {
        let g = mask(&c.categories);
        let g_hourly = hourly(&g);
        let g_bonus = bonuses(&g);
        let row = |measure, value, num: usize, den: usize| Measure {
            measure,
            group: c.label.clone(),
            reference_group: Some(dim.reference.clone()),
            value,
            numerator_n: num as f64,
            denominator_n: den as f64,
        };
        out.push(row(
            "mean_hourly_gap_pct",
            gap(mean(&ref_hourly), mean(&g_hourly)),
            g_hourly.len(),
            ref_hourly.len(),
        ));
        out.push(row(
            "median_hourly_gap_pct",
            gap(median(&ref_hourly), median(&g_hourly)),
            g_hourly.len(),
            ref_hourly.len(),
        ));
        out.push(row(
            "mean_bonus_gap_pct",
            gap(mean(&ref_bonus), mean(&g_bonus)),
            g_bonus.len(),
            ref_bonus.len(),
        ));
        out.push(row(
            "median_bonus_gap_pct",
            gap(median(&ref_bonus), median(&g_bonus)),
            g_bonus.len(),
            ref_bonus.len(),
        ));
    }

    // Shares: the reference and every comparison group.
    let mut shares: Vec<(String, Vec<bool>)> = vec![(dim.reference.clone(), reference.clone())];
    shares.extend(
        dim.comparisons
            .iter()
            .map(|c| (c.label.clone(), mask(&c.categories))),
    );
    let share = |measure, group: &str, num: f64, den: f64| Measure {
        measure,
        group: group.to_string(),
        reference_group: None,
        value: (den > 0.0).then(|| num / den * 100.0),
        numerator_n: num,
        denominator_n: den,
    };
    for (label, m) in &shares {
        let relevant = stated.iter().filter(|e| in_group(e, m)).count();
        let receivers = bonuses(m).len();
        out.push(share(
            "pct_receiving_bonus",
            label,
            receivers as f64,
            relevant as f64,
        ));
    }
    // Pay bands over stated, full-pay relevant employees.
    let people: Vec<(f64, usize)> = stated
        .iter()
        .filter_map(|e| Some((e.hourly?, e.category? as usize)))
        .collect();
    let bands = band_counts(&people, categories.len());
    let sizes = band_sizes(people.len());
    for (b, name) in QUARTILES.iter().enumerate() {
        for (label, m) in &shares {
            let n: f64 = (0..categories.len())
                .filter(|&i| m[i])
                .map(|i| bands[b][i])
                .sum();
            out.push(share(name, label, n, sizes[b] as f64));
        }
    }
    // Disclosure rate.
    let undisclosed = employees.len() - stated.len();
    out.push(share(
        "not_disclosed_pct",
        "not_disclosed",
        undisclosed as f64,
        employees.len() as f64,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sex() -> Dimension {
        Dimension {
            reference: "M".into(),
            comparisons: vec![Comparison {
                label: "F".into(),
                categories: vec!["F".into()],
            }],
        }
    }

    /// The categories the tests' employees use.
    const CATS: [&str; 5] = ["M", "F", "White British", "Asian", "Black"];

    fn cats() -> Vec<String> {
        CATS.iter().map(|c| c.to_string()).collect()
    }

    fn e(cat: &str, hourly: f64, bonus: f64) -> Employee {
        Employee {
            category: CATS.iter().position(|c| *c == cat).map(|i| i as u32),
            hourly: Some(hourly),
            bonus,
        }
    }

    fn find<'a>(m: &'a [Measure], measure: &str, group: &str) -> &'a Measure {
        m.iter()
            .find(|x| x.measure == measure && x.group == group)
            .unwrap_or_else(|| panic!("{measure} {group}"))
    }

    fn close(a: Option<f64>, b: f64) {
        let a = a.expect("a value");
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn band_sizes_put_the_remainder_in_the_lower_bands() {
        assert_eq!(band_sizes(8), [2, 2, 2, 2]);
        assert_eq!(band_sizes(9), [3, 2, 2, 2]);
        assert_eq!(band_sizes(10), [3, 3, 2, 2]);
        assert_eq!(band_sizes(11), [3, 3, 3, 2]);
        assert_eq!(band_sizes(0), [0, 0, 0, 0]);
        assert_eq!(band_sizes(3), [1, 1, 1, 0]);
    }

    #[test]
    fn hand_worked_gender_gap() {
        // Men: 10, 12, 14, 20 (mean 14, median 13).
        // Women: 9, 10, 11 (mean 10, median 10).
        // Mean gap = (14 − 10) / 14 = 28.571…%; median = (13 − 10) / 13 = 23.077…%.
        // Bonuses: two men (100, 300: mean 200, median 200), one woman (150):
        // mean and median bonus gap = (200 − 150) / 200 = 25%.
        let staff = vec![
            e("M", 10.0, 100.0),
            e("M", 12.0, 0.0),
            e("M", 14.0, 300.0),
            e("M", 20.0, 0.0),
            e("F", 9.0, 0.0),
            e("F", 10.0, 150.0),
            e("F", 11.0, 0.0),
        ];
        let m = measures(&sex(), &cats(), &staff);
        close(find(&m, "mean_hourly_gap_pct", "F").value, 400.0 / 14.0);
        close(find(&m, "median_hourly_gap_pct", "F").value, 300.0 / 13.0);
        close(find(&m, "mean_bonus_gap_pct", "F").value, 25.0);
        close(find(&m, "median_bonus_gap_pct", "F").value, 25.0);
        close(find(&m, "pct_receiving_bonus", "M").value, 50.0);
        close(find(&m, "pct_receiving_bonus", "F").value, 100.0 / 3.0);
        let g = find(&m, "mean_hourly_gap_pct", "F");
        assert_eq!((g.numerator_n, g.denominator_n), (3.0, 4.0));
        assert_eq!(g.reference_group.as_deref(), Some("M"));
        // 7 people: bands of 2, 2, 2, 1. Ranked: F9, {M10, F10}, F11, M12, M14, M20.
        // Lower: F9 and one of the two on 10.00, shared half and half:
        // F = 1.5 of 2 = 75%; lower middle: the other half of 10.00 and F11:
        // F = 1.5 of 2 = 75%; upper middle: M12, M14: 0%; upper: M20: 0%.
        close(find(&m, "lower_quartile_pct", "F").value, 75.0);
        close(find(&m, "lower_quartile_pct", "M").value, 25.0);
        close(find(&m, "lower_middle_quartile_pct", "F").value, 75.0);
        close(find(&m, "upper_middle_quartile_pct", "F").value, 0.0);
        close(find(&m, "upper_quartile_pct", "M").value, 100.0);
        assert_eq!(find(&m, "lower_quartile_pct", "F").numerator_n, 1.5);
    }

    #[test]
    fn a_tie_across_two_cuts_gives_each_band_the_same_mix() {
        // 8 people, bands of 2 (positions 0-1, 2-3, 4-5, 6-7). Six on 10.00
        // (2 men, 4 women) take positions 1-6: one place in the lower band,
        // two in each middle band and one in the upper band.
        let staff = vec![
            e("M", 5.0, 0.0),
            e("M", 10.0, 0.0),
            e("M", 10.0, 0.0),
            e("F", 10.0, 0.0),
            e("F", 10.0, 0.0),
            e("F", 10.0, 0.0),
            e("F", 10.0, 0.0),
            e("F", 30.0, 0.0),
        ];
        let m = measures(&sex(), &cats(), &staff);
        // Lower: M5 + 1 tied place (1/3 M, 2/3 F) → M 1.333 of 2.
        close(
            find(&m, "lower_quartile_pct", "M").value,
            (1.0 + 1.0 / 3.0) / 2.0 * 100.0,
        );
        // Lower middle and upper middle: 2 tied places each → F 4/3 of 2.
        close(
            find(&m, "lower_middle_quartile_pct", "F").value,
            200.0 / 3.0,
        );
        close(
            find(&m, "upper_middle_quartile_pct", "F").value,
            200.0 / 3.0,
        );
        // Upper: 1 tied place + F30 → F = 2/3 + 1 of 2.
        close(
            find(&m, "upper_quartile_pct", "F").value,
            (1.0 + 2.0 / 3.0) / 2.0 * 100.0,
        );
        // Each band's shares add to 100 and every band's men add to the men.
        let men: f64 = QUARTILES.iter().map(|q| find(&m, q, "M").numerator_n).sum();
        assert!((men - 3.0).abs() < 1e-9);
    }

    #[test]
    fn no_bonuses_and_empty_groups_give_no_value_rather_than_nonsense() {
        let staff = vec![e("M", 10.0, 0.0), e("M", 11.0, 0.0), e("", 12.0, 0.0)];
        let m = measures(&sex(), &cats(), &staff);
        assert_eq!(find(&m, "mean_bonus_gap_pct", "F").value, None);
        assert_eq!(find(&m, "median_bonus_gap_pct", "F").value, None);
        assert_eq!(find(&m, "mean_hourly_gap_pct", "F").value, None);
        close(find(&m, "pct_receiving_bonus", "M").value, 0.0);
        assert_eq!(find(&m, "pct_receiving_bonus", "F").value, None);
        let d = find(&m, "not_disclosed_pct", "not_disclosed");
        close(d.value, 100.0 / 3.0);
        // The undisclosed employee is left out of the bands: 2 people.
        assert_eq!(find(&m, "lower_quartile_pct", "M").denominator_n, 1.0);
        assert_eq!(find(&m, "upper_quartile_pct", "M").denominator_n, 0.0);
        assert_eq!(find(&m, "upper_quartile_pct", "M").value, None);
    }

    #[test]
    fn negative_gap_when_the_group_is_paid_more() {
        let staff = vec![e("M", 10.0, 0.0), e("F", 12.0, 0.0)];
        let m = measures(&sex(), &cats(), &staff);
        close(find(&m, "mean_hourly_gap_pct", "F").value, -20.0);
    }

    #[test]
    fn ethnicity_compares_each_group_and_all_minorities_with_the_reference() {
        let dim = Dimension {
            reference: "White British".into(),
            comparisons: vec![
                Comparison {
                    label: "All ethnic minorities".into(),
                    categories: vec!["Asian".into(), "Black".into()],
                },
                Comparison {
                    label: "Asian".into(),
                    categories: vec!["Asian".into()],
                },
                Comparison {
                    label: "Black".into(),
                    categories: vec!["Black".into()],
                },
            ],
        };
        let staff = vec![
            e("White British", 20.0, 0.0),
            e("White British", 10.0, 0.0),
            e("Asian", 12.0, 0.0),
            e("Black", 9.0, 0.0),
        ];
        let m = measures(&dim, &cats(), &staff);
        // Reference mean 15; minorities mean 10.5 → 30%; Asian 12 → 20%; Black 9 → 40%.
        close(
            find(&m, "mean_hourly_gap_pct", "All ethnic minorities").value,
            30.0,
        );
        close(find(&m, "mean_hourly_gap_pct", "Asian").value, 20.0);
        close(find(&m, "mean_hourly_gap_pct", "Black").value, 40.0);
        // Bands of one: Black 9, WB 10, Asian 12, WB 20.
        close(find(&m, "lower_quartile_pct", "Black").value, 100.0);
        close(
            find(&m, "lower_quartile_pct", "All ethnic minorities").value,
            100.0,
        );
        close(find(&m, "upper_quartile_pct", "White British").value, 100.0);
    }
}
