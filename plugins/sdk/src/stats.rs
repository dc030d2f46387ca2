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
}
