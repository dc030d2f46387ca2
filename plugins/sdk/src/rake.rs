//! Survey weighting by raking (iterative proportional fitting): weights
//! that make a sample's margins (age by sex, ethnic group, area, …) match
//! the population's, for consultation and survey responses whose
//! respondents are not a random sample.
//!
//! Method: Deming and Stephan (1940), *Annals of Mathematical Statistics*
//! 11:427-444: starting from the base weights, each margin in turn scales
//! every respondent's weight by its category's target share over the
//! category's weighted share, until every weighted margin is within
//! `tolerance` of its target. Weights are kept at a mean of 1 (they sum to
//! the number of respondents). Trimming (optional) caps weights to
//! `[lower, upper]` times the mean after each cycle and rakes again, the
//! usual guard against a few respondents standing for many (Kolenikov,
//! *Stata Journal* 2014;14(1):22-59, "trimming"); the margins may then no
//! longer be met exactly, and the result says how far off they are.
//!
//! The cost of weighting is stated with Kish's effective sample size,
//! `(Σw)² / Σw²`, and design effect `n / n_eff = 1 + CV²(w)` (Kish, *Survey
//! Sampling*, 1965); a weighted proportion's 95% interval is the Wilson
//! interval on the effective sample size.

/// Raking's settings.
#[derive(Debug, Clone, Copy)]
pub struct RakeOptions {
    /// Cycles over all margins at most.
    pub max_iterations: usize,
    /// Largest allowed difference between a weighted margin share and its
    /// target share (as fractions: 0.0001 is a hundredth of a point).
    pub tolerance: f64,
    /// Bounds on a weight relative to the mean weight, e.g. `(0.2, 5.0)`.
    pub trim: Option<(f64, f64)>,
}

impl Default for RakeOptions {
    fn default() -> Self {
        RakeOptions {
            max_iterations: 100,
            tolerance: 1e-6,
            trim: None,
        }
    }
}

/// What raking gave.
#[derive(Debug, Clone)]
pub struct Raked {
    /// One weight per respondent, mean 1.
    pub weights: Vec<f64>,
    /// Cycles run.
    pub iterations: usize,
    /// Whether every margin is within the tolerance of its target.
    pub converged: bool,
    /// The largest difference left between a weighted margin share and its
    /// target share.
    pub max_difference: f64,
    /// Weights held at a trimming bound in the last cycle.
    pub trimmed: usize,
}

/// Why a sample cannot be raked to its margins.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RakeError {
    /// A category the population has holds no respondent, so no weight
    /// can make up its share.
    #[error(
        "margin {margin}, category {category}: the population has {target} but no respondent is in it"
    )]
    EmptyCategory {
        /// The margin's position.
        margin: usize,
        /// The category's position within the margin.
        category: usize,
        /// Its target.
        target: f64,
    },
    /// A respondent's category is outside its margin's list of targets.
    #[error("respondent {respondent}, margin {margin}: category {category} has no target")]
    UnknownCategory {
        /// The respondent's position.
        respondent: usize,
        /// The margin's position.
        margin: usize,
        /// The category given.
        category: usize,
    },
    /// No respondents, or a margin whose targets sum to nothing.
    #[error("nothing to rake: {0}")]
    Empty(&'static str),
}

/// Rakes `n` respondents to `margins`. `categories[m][i]` is respondent
/// `i`'s category on margin `m`; `margins[m]` the population's totals (or
/// shares) per category of that margin, scaled to shares here. `base` are
/// the starting weights (design weights), 1 when `None`.
pub fn rake(
    categories: &[Vec<usize>],
    margins: &[Vec<f64>],
    base: Option<&[f64]>,
    options: RakeOptions,
) -> Result<Raked, RakeError> {
    let n = categories.first().map_or(0, Vec::len);
    if n == 0 || margins.is_empty() {
        return Err(RakeError::Empty("no respondents or no margins"));
    }
    let mut shares: Vec<Vec<f64>> = Vec::with_capacity(margins.len());
    for (m, targets) in margins.iter().enumerate() {
        let total: f64 = targets.iter().sum();
        if total <= 0.0 {
            return Err(RakeError::Empty("a margin's targets sum to zero"));
        }
        let cats = &categories[m];
        let mut present = vec![false; targets.len()];
        for (i, &c) in cats.iter().enumerate() {
            if c >= targets.len() {
                return Err(RakeError::UnknownCategory {
                    respondent: i,
                    margin: m,
                    category: c,
                });
            }
            present[c] = true;
        }
        if let Some(c) = (0..targets.len()).find(|&c| targets[c] > 0.0 && !present[c]) {
            return Err(RakeError::EmptyCategory {
                margin: m,
                category: c,
                target: targets[c],
            });
        }
        shares.push(targets.iter().map(|t| t / total).collect());
    }
    let mut w: Vec<f64> = match base {
        Some(b) => b.to_vec(),
        None => vec![1.0; n],
    };
    normalise(&mut w);
    let mut out = Raked {
        weights: Vec::new(),
        iterations: 0,
        converged: false,
        max_difference: f64::INFINITY,
        trimmed: 0,
    };
    for iteration in 1..=options.max_iterations {
        for (m, share) in shares.iter().enumerate() {
            let sums = weighted_sums(&categories[m], &w, share.len());
            for (i, &c) in categories[m].iter().enumerate() {
                // A category with no weight and no target stays at zero.
                if sums[c] > 0.0 {
                    w[i] *= share[c] * n as f64 / sums[c];
                }
            }
        }
        normalise(&mut w);
        out.trimmed = match options.trim {
            Some((lo, hi)) => trim(&mut w, lo, hi),
            None => 0,
        };
        out.iterations = iteration;
        out.max_difference = shares
            .iter()
            .enumerate()
            .flat_map(|(m, share)| {
                let sums = weighted_sums(&categories[m], &w, share.len());
                share
                    .iter()
                    .zip(sums)
                    .map(|(s, x)| (x / n as f64 - s).abs())
                    .collect::<Vec<_>>()
            })
            .fold(0.0, f64::max);
        if out.max_difference <= options.tolerance {
            out.converged = true;
            break;
        }
    }
    out.weights = w;
    Ok(out)
}

/// Caps weights to `[lo, hi]` times the mean, keeping the mean at 1:
/// clamping and rescaling alternate until no weight is outside (the
/// rescaling moves the others, so one pass is not enough). The weights
/// held at a bound.
fn trim(w: &mut [f64], lo: f64, hi: f64) -> usize {
    for _ in 0..200 {
        let mut outside = false;
        for x in w.iter_mut() {
            if *x > hi * (1.0 + 1e-12) || *x < lo * (1.0 - 1e-12) {
                *x = x.clamp(lo, hi);
                outside = true;
            }
        }
        normalise(w);
        if !outside {
            break;
        }
    }
    w.iter()
        .filter(|x| (**x - hi).abs() < 1e-9 || (**x - lo).abs() < 1e-9)
        .count()
}

/// Scales weights to a mean of 1.
fn normalise(w: &mut [f64]) {
    let total: f64 = w.iter().sum();
    if total > 0.0 {
        let k = w.len() as f64 / total;
        w.iter_mut().for_each(|x| *x *= k);
    }
}

fn weighted_sums(cats: &[usize], w: &[f64], k: usize) -> Vec<f64> {
    let mut sums = vec![0.0; k];
    for (&c, &x) in cats.iter().zip(w) {
        sums[c] += x;
    }
    sums
}

/// Kish's effective sample size of a set of weights, `(Σw)² / Σw²`.
pub fn effective_sample_size(weights: &[f64]) -> f64 {
    let s: f64 = weights.iter().sum();
    let s2: f64 = weights.iter().map(|w| w * w).sum();
    if s2 > 0.0 { s * s / s2 } else { 0.0 }
}

/// Kish's design effect of weighting, `n / n_eff` (1 for equal weights).
pub fn design_effect(weights: &[f64]) -> f64 {
    let ess = effective_sample_size(weights);
    if ess > 0.0 {
        weights.len() as f64 / ess
    } else {
        f64::NAN
    }
}

/// A weighted proportion with its 95% interval: the share of the weight
/// on respondents with `yes`, and the Wilson interval on the effective
/// sample size of those weights. `(p, n_eff, lower, upper)`; `None`
/// without weight.
pub fn weighted_proportion(weights: &[f64], yes: &[bool]) -> Option<(f64, f64, f64, f64)> {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let p = weights
        .iter()
        .zip(yes)
        .filter(|(_, y)| **y)
        .map(|(w, _)| w)
        .sum::<f64>()
        / total;
    let ess = effective_sample_size(weights);
    let (lo, hi) = crate::stats::wilson(p * ess, ess)?;
    Some((p, ess, lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-worked two-margin example. Sample: men 20 young, 30 old;
    /// women 40 young, 10 old. Population: half men, 40% young. Raking
    /// keeps the sample's odds ratio, (20·10)/(30·40) = 1/6, so the fitted
    /// table (a, 50−a; 40−a, 10+a) has a(10+a) / ((50−a)(40−a)) = 1/6,
    /// a² + 30a − 400 = 0, a = 10: men 10 young, 40 old, women 30 young, 20
    /// old; weights 10/20, 40/30, 30/40, 20/10.
    #[test]
    fn a_two_by_two_sample_rakes_to_the_hand_worked_table() {
        let mut sex = Vec::new();
        let mut age = Vec::new();
        for (s, a, k) in [(0, 0, 20), (0, 1, 30), (1, 0, 40), (1, 1, 10)] {
            for _ in 0..k {
                sex.push(s);
                age.push(a);
            }
        }
        let r = rake(
            &[sex.clone(), age.clone()],
            &[vec![50.0, 50.0], vec![40.0, 60.0]],
            None,
            RakeOptions::default(),
        )
        .unwrap();
        assert!(r.converged && r.max_difference < 1e-6, "{r:?}");
        let want = [[0.5, 4.0 / 3.0], [0.75, 2.0]];
        for i in 0..sex.len() {
            assert!(
                (r.weights[i] - want[sex[i]][age[i]]).abs() < 1e-5,
                "{i}: {}",
                r.weights[i]
            );
        }
        // Kish: Σw = 100, Σw² = 20·0.25 + 30·16/9 + 40·0.5625 + 10·4.
        let s2 = 20.0 * 0.25 + 30.0 * 16.0 / 9.0 + 40.0 * 0.5625 + 10.0 * 4.0;
        assert!((effective_sample_size(&r.weights) - 100.0 * 100.0 / s2).abs() < 1e-3);
        assert!((design_effect(&r.weights) - s2 / 100.0).abs() < 1e-5);
    }

    /// Convergence on a known table: a population with an interaction
    /// between its two variables, sampled with a bias on each variable.
    /// The sample keeps the population's cross-product ratios, so raking to
    /// the population's margins must give back the population table.
    #[test]
    fn a_biased_sample_rakes_back_to_the_population_table() {
        let population = [
            [120.0, 340.0, 90.0, 50.0],
            [200.0, 150.0, 60.0, 140.0],
            [80.0, 70.0, 210.0, 90.0],
        ];
        let (row_bias, col_bias) = ([0.5, 1.3, 0.8], [1.6, 0.7, 1.0, 0.4]);
        let (mut rows, mut cols, mut base) = (Vec::new(), Vec::new(), Vec::new());
        for (i, r) in population.iter().enumerate() {
            for (j, p) in r.iter().enumerate() {
                // One respondent per cell, carrying the biased cell count
                // as its base weight.
                rows.push(i);
                cols.push(j);
                base.push(p * row_bias[i] * col_bias[j]);
            }
        }
        let row_totals: Vec<f64> = population.iter().map(|r| r.iter().sum()).collect();
        let col_totals: Vec<f64> = (0..4)
            .map(|j| population.iter().map(|r| r[j]).sum())
            .collect();
        let r = rake(
            &[rows.clone(), cols.clone()],
            &[row_totals, col_totals],
            Some(&base),
            RakeOptions::default(),
        )
        .unwrap();
        assert!(r.converged, "{r:?}");
        assert!(r.iterations > 1 && r.iterations < 100);
        let total: f64 = population.iter().flatten().sum();
        let wsum: f64 = r.weights.iter().sum();
        for k in 0..rows.len() {
            let fitted = r.weights[k] / wsum;
            let want = population[rows[k]][cols[k]] / total;
            assert!((fitted - want).abs() < 1e-6, "cell {k}: {fitted} vs {want}");
        }
    }

    #[test]
    fn an_empty_category_is_refused_by_name() {
        let e = rake(
            &[vec![0, 0, 0]],
            &[vec![10.0, 5.0]],
            None,
            RakeOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            e,
            RakeError::EmptyCategory {
                margin: 0,
                category: 1,
                target: 5.0
            }
        );
        let e = rake(
            &[vec![0, 2]],
            &[vec![1.0, 1.0]],
            None,
            RakeOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(
            e,
            RakeError::UnknownCategory { respondent: 1, .. }
        ));
    }

    #[test]
    fn trimmed_weights_stay_in_bounds_and_say_how_far_off_the_margins_are() {
        // One respondent in a category that is half the population.
        let cats = vec![vec![0, 1, 1, 1, 1, 1, 1, 1, 1, 1]];
        let opts = RakeOptions {
            trim: Some((0.3, 3.0)),
            ..RakeOptions::default()
        };
        let r = rake(&cats, &[vec![50.0, 50.0]], None, opts).unwrap();
        assert!(
            r.weights
                .iter()
                .all(|w| *w <= 3.0 + 1e-9 && *w >= 0.3 - 1e-9),
            "{:?}",
            r.weights
        );
        assert!(!r.converged && r.trimmed >= 1);
        // Untrimmed, that respondent would weigh 5; trimmed to 3 (then the
        // mean kept at 1), the margin is off by about 0.2.
        assert!(r.max_difference > 0.1, "{r:?}");
        let untrimmed = rake(&cats, &[vec![50.0, 50.0]], None, RakeOptions::default()).unwrap();
        assert!((untrimmed.weights[0] - 5.0).abs() < 1e-9 && untrimmed.converged);
    }

    #[test]
    fn a_weighted_proportion_has_a_wider_interval_than_its_raw_count() {
        let w = [0.5, 0.5, 2.0, 2.0, 0.5, 0.5, 2.0, 2.0];
        let yes = [true, false, true, true, false, false, true, false];
        let (p, ess, lo, hi) = weighted_proportion(&w, &yes).unwrap();
        assert!((p - 6.5 / 10.0).abs() < 1e-12, "{p}");
        assert!((ess - 100.0 / 17.0).abs() < 1e-9, "{ess}");
        let (rlo, rhi) = crate::stats::wilson(4.0, 8.0).unwrap();
        assert!(hi - lo > rhi - rlo);
    }
}
