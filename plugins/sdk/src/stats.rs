//! Small statistical helpers indicator plugins (and the host's progress
//! tracking) share, so every part of the pipeline states uncertainty the
//! same way.

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The 95% Wilson score interval of a proportion: `x` successes in `n`
/// trials, as fractions (0 to 1). `None` when `n` is not positive.
///
/// Unlike the simple `p ± z·√(p(1−p)/n)` interval it stays inside 0..1
/// and behaves for small counts and proportions near 0 or 1 (Newcombe,
/// *Statistics in Medicine* 1998;17:857-872, method 3; the method the
/// Office for Health Improvement and Disparities uses for proportions).
pub fn wilson(x: f64, n: f64) -> Option<(f64, f64)> {
    if n <= 0.0 || x < 0.0 || x > n {
        return None;
    }
    let p = x / n;
    let z2 = Z95 * Z95;
    let centre = p + z2 / (2.0 * n);
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let d = 1.0 + z2 / n;
    Some(((centre - half) / d, (centre + half) / d))
}

/// The 95% interval of the difference between two independent proportions,
/// `x1/n1 − x2/n2`, by Newcombe's hybrid score method (*Statistics in
/// Medicine* 1998;17:873-890, method 10), built from the two Wilson
/// intervals. Returns `(difference, lower, upper)` as fractions; `None`
/// when either `n` is not positive.
///
/// A change between two periods is only *clear* when this interval
/// excludes zero.
pub fn difference_interval(x1: f64, n1: f64, x2: f64, n2: f64) -> Option<(f64, f64, f64)> {
    let (l1, u1) = wilson(x1, n1)?;
    let (l2, u2) = wilson(x2, n2)?;
    let (p1, p2) = (x1 / n1, x2 / n2);
    let d = p1 - p2;
    let lower = d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt();
    let upper = d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt();
    Some((d, lower, upper))
}

/// The slope and relative index of inequality over ordered groups (for
/// example the ten deciles of the Index of Multiple Deprivation), as
/// [`slope_index`] returns them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Inequality {
    /// The slope index of inequality: the fitted value at the least
    /// deprived end (x = 1) minus the fitted value at the most deprived end
    /// (x = 0). Negative when the value is higher in more deprived groups.
    pub sii: f64,
    /// The relative index of inequality: the fitted value at the least
    /// deprived end over the fitted value at the most deprived end,
    /// `(y0 + sii) / y0`. `None` when `y0` is zero.
    pub rii: Option<f64>,
    /// The fitted value at the most deprived end (x = 0), the regression's
    /// intercept.
    pub most_deprived_fitted: f64,
    /// The fitted value at the least deprived end (x = 1).
    pub least_deprived_fitted: f64,
}

/// The slope index of inequality (SII) and relative index (RII) by the
/// method of the Office for Health Improvement and Disparities, as used in
/// Fingertips and the `PHEindicatormethods` R package (`phe_sii`, without
/// the optional transformation): `groups` holds `(value, population)` for
/// each group, ordered from most deprived first. Each group is placed at
/// the midpoint of its range in the cumulative population share (0 to 1),
/// and the value is fitted on that by least squares weighted by population.
/// Groups with no population are skipped.
///
/// `None` with fewer than two populated groups. No interval is given (the
/// package's is simulated from each group's standard error).
pub fn slope_index(groups: &[(f64, f64)]) -> Option<Inequality> {
    let total: f64 = groups.iter().map(|g| g.1).filter(|p| *p > 0.0).sum();
    if total <= 0.0 || groups.iter().filter(|g| g.1 > 0.0).count() < 2 {
        return None;
    }
    let (mut cum, mut sw, mut sx, mut sy) = (0.0, 0.0, 0.0, 0.0);
    let mut points = Vec::with_capacity(groups.len());
    for &(value, pop) in groups.iter().filter(|g| g.1 > 0.0) {
        let x = (cum + pop / 2.0) / total;
        cum += pop;
        sw += pop;
        sx += pop * x;
        sy += pop * value;
        points.push((x, value, pop));
    }
    let (mx, my) = (sx / sw, sy / sw);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, y, w) in points {
        sxy += w * (x - mx) * (y - my);
        sxx += w * (x - mx) * (x - mx);
    }
    if sxx <= 0.0 {
        return None;
    }
    let sii = sxy / sxx;
    let y0 = my - sii * mx;
    Some(Inequality {
        sii,
        rii: (y0 != 0.0)
            .then(|| (y0 + sii) / y0)
            .filter(|r| r.is_finite()),
        most_deprived_fitted: y0,
        least_deprived_fitted: y0 + sii,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    #[test]
    fn wilson_interval_matches_published_values() {
        // Newcombe (1998a), table I: 81/263 gives 0.2553 to 0.3662; 15/148
        // gives 0.0624 to 0.1605; 0/20 gives 0 to 0.1611.
        let (l, u) = wilson(81.0, 263.0).unwrap();
        assert!(close(l, 0.2553) && close(u, 0.3662), "{l} {u}");
        let (l, u) = wilson(15.0, 148.0).unwrap();
        assert!(close(l, 0.0624) && close(u, 0.1605), "{l} {u}");
        let (l, u) = wilson(0.0, 20.0).unwrap();
        assert!(l.abs() < 1e-12 && close(u, 0.1611), "{l} {u}");
        assert_eq!(wilson(1.0, 0.0), None);
        assert_eq!(wilson(5.0, 4.0), None);
    }

    #[test]
    fn difference_interval_matches_published_values() {
        // Newcombe (1998b), table II, method 10: (a) 56/70 − 48/80 gives
        // +0.0524 to +0.3339; (b) 9/10 − 3/10 gives +0.1705 to +0.8090;
        // (e) 10/10 − 0/20 gives +0.6791 to +1.0000.
        let (d, l, u) = difference_interval(56.0, 70.0, 48.0, 80.0).unwrap();
        assert!(
            close(d, 0.2) && close(l, 0.0524) && close(u, 0.3339),
            "{l} {u}"
        );
        let (_, l, u) = difference_interval(9.0, 10.0, 3.0, 10.0).unwrap();
        assert!(close(l, 0.1705) && close(u, 0.8090), "{l} {u}");
        let (_, l, u) = difference_interval(10.0, 10.0, 0.0, 20.0).unwrap();
        assert!(close(l, 0.6791) && close(u, 1.0), "{l} {u}");
        assert_eq!(difference_interval(1.0, 0.0, 1.0, 2.0), None);
    }

    #[test]
    // The values as the test file prints them.
    #[allow(clippy::excessive_precision)]
    fn slope_index_matches_the_published_test_values() {
        // PHEindicatormethods' own test data for `phe_sii`
        // (tests/testthat/testdata_SII.xlsx, records 1-20, value type 0):
        // area1 SII 6.9346164736688189, RII 1.0888180804446217; area2 SII
        // 12.547846636351798, RII 1.180885620848795.
        let area1 = [
            (75.933459010308098, 7291.0),
            (78.344238272784295, 7997.0),
            (83.836063104165405, 6105.0),
            (83.637539966493094, 7666.0),
            (80.465503152955904, 5790.0),
            (81.115675985702197, 6934.0),
            (81.693083571856207, 5918.0),
            (84.190006206098701, 5974.0),
            (80.595564108147201, 7147.0),
            (86.289434957862397, 7534.0),
        ];
        let s = slope_index(&area1).unwrap();
        assert!((s.sii - 6.9346164736688189).abs() < 1e-9, "{s:?}");
        assert!((s.rii.unwrap() - 1.0888180804446217).abs() < 1e-12, "{s:?}");
        let area2 = [
            (70.54853186, 21675.0),
            (71.57155734, 20065.0),
            (72.48698671, 19750.0),
            (73.51985519, 24713.0),
            (73.14605425, 20112.0),
            (76.15898712, 19618.0),
            (78.65444871, 22408.0),
            (80.56476961, 19752.0),
            (80.85486627, 18939.0),
            (79.9711253, 19312.0),
        ];
        let s = slope_index(&area2).unwrap();
        assert!((s.sii - 12.547846636351798).abs() < 1e-9, "{s:?}");
        assert!((s.rii.unwrap() - 1.180885620848795).abs() < 1e-12, "{s:?}");
        assert!((s.least_deprived_fitted - s.most_deprived_fitted - s.sii).abs() < 1e-12);
    }

    #[test]
    fn slope_index_of_a_line_and_of_too_few_groups() {
        // Equal populations, value falling by 2 a decile from 30: x runs
        // 0.05 … 0.95, so the line is 31 − 20x: SII −20, RII 11/31.
        let d: Vec<(f64, f64)> = (0..10).map(|i| (30.0 - 2.0 * i as f64, 1000.0)).collect();
        let s = slope_index(&d).unwrap();
        assert!((s.sii + 20.0).abs() < 1e-9, "{s:?}");
        assert!((s.rii.unwrap() - 11.0 / 31.0).abs() < 1e-12, "{s:?}");
        // Two groups, 25% at 10 and 75% at 2: midpoints 0.125 and 0.625,
        // slope −16, intercept 12.
        let s = slope_index(&[(10.0, 250.0), (2.0, 750.0)]).unwrap();
        assert!((s.sii + 16.0).abs() < 1e-9 && (s.most_deprived_fitted - 12.0).abs() < 1e-9);
        assert_eq!(slope_index(&[(5.0, 10.0), (7.0, 0.0)]), None);
        assert_eq!(slope_index(&[]), None);
    }
}
