//! The progress rule: from one measure's series of figures, its change since
//! the baseline and since the previous period (with their uncertainty), the
//! linear projection to the target date, and a status. Pure functions, so
//! every status can be worked out by hand (see the tests).
//!
//! The rule, in order (the first that applies decides):
//!
//! 1. **No data**: nothing recorded, the latest period has no figure, or
//!    the baseline period (when one is named) has no usable figure.
//! 2. **Not enough data**: the latest figure was withheld by disclosure
//!    control, or rests on fewer people than the measure's `min_count`
//!    (default 30); or there is only one usable period (a trend needs two).
//! 3. **On track**: the latest figure already meets the target.
//! 4. **Off track**: the target date has passed without the target met.
//! 5. From the change since the baseline (its 95% interval) and the
//!    projection (the fitted trend's value at the target date):
//!
//!    | change since the baseline | projection meets the target | falls short |
//!    |---------------------------|-----------------------------|-------------|
//!    | clear improvement         | **on track**                | **at risk** |
//!    | no clear change           | **at risk**                 | **off track** |
//!    | clear worsening           | **off track**               | **off track** |
//!
//!    A clear improvement (worsening) is one whose interval lies wholly on
//!    the better (worse) side of zero.
//!
//! A change is only called an improvement (or a worsening) when it exceeds
//! its uncertainty: for proportions, the 95% interval of the difference of
//! two proportions (Newcombe's hybrid score method, from the counts behind
//! the two figures); for other values (a pay gap), a tolerance the
//! objective sets (`tolerance`, in the measure's units).
//!
//! The trend is an ordinary least-squares line through the usable figures
//! from the baseline to the latest period, time in years; the projection is
//! that line's value at the target date.

use chrono::NaiveDate;
pub use eqpipe_core::config::objectives::{Direction, Uncertainty};
use eqpipe_plugin_sdk::stats::{difference_interval, wilson};
use serde::{Deserialize, Serialize};

/// What one measure is held to.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Which way is better.
    pub direction: Direction,
    /// The target value.
    pub target: f64,
    /// When the target should be met.
    pub target_date: NaiveDate,
    /// The baseline period; the first usable period when `None`.
    pub baseline: Option<NaiveDate>,
    /// How uncertainty is judged.
    pub uncertainty: Uncertainty,
    /// Figures resting on fewer people than this are not judged.
    pub min_count: f64,
    /// The value's unit, for the plain-English reason (`percent`, …).
    pub unit: String,
}

/// One period's figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The end of the period the figure covers.
    pub period: NaiveDate,
    /// The published figure; `None` when withheld or not computable.
    pub value: Option<f64>,
    /// For proportions: the count in the group.
    pub numerator: Option<f64>,
    /// For proportions: the base (the group's total).
    pub denominator: Option<f64>,
    /// The smallest number of people the figure rests on, when known.
    pub base: Option<f64>,
    /// Withheld by disclosure control.
    pub suppressed: bool,
}

/// The outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// On course to meet the target (or already met).
    OnTrack,
    /// Heading the right way, but not clearly enough or not fast enough.
    AtRisk,
    /// Not improving, getting worse, or past the target date.
    OffTrack,
    /// No figure to judge.
    NoData,
    /// Figures too small (or too few) to judge honestly.
    NotEnoughData,
}

impl Status {
    /// As published.
    pub fn label(self) -> &'static str {
        match self {
            Status::OnTrack => "on track",
            Status::AtRisk => "at risk",
            Status::OffTrack => "off track",
            Status::NoData => "no data",
            Status::NotEnoughData => "not enough data",
        }
    }
}

/// Whether a change is beyond its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assessment {
    /// Better, beyond the margin of uncertainty.
    Improved,
    /// Worse, beyond the margin of uncertainty.
    Worsened,
    /// Within the margin of uncertainty.
    NoClearChange,
}

impl Assessment {
    /// As published.
    pub fn label(self) -> &'static str {
        match self {
            Assessment::Improved => "improved",
            Assessment::Worsened => "worsened",
            Assessment::NoClearChange => "no clear change",
        }
    }
}

/// A change between two periods.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// Later − earlier, in the value's units.
    pub change: f64,
    /// 95% interval (or ± tolerance), lower end.
    pub lower: f64,
    /// Upper end.
    pub upper: f64,
    /// Beyond the uncertainty, and which way.
    pub assessment: Assessment,
}

/// The progress of one measure.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The status.
    pub status: Status,
    /// Why, in one plain-English sentence.
    pub reason: String,
    /// The baseline figure used.
    pub baseline: Option<Point>,
    /// The latest period recorded (usable or not).
    pub latest: Option<Point>,
    /// The latest figure's 95% interval (proportions).
    pub latest_interval: Option<(f64, f64)>,
    /// The usable figure before the latest.
    pub previous: Option<Point>,
    /// Latest against the baseline.
    pub since_baseline: Option<Change>,
    /// Latest against the previous figure.
    pub since_previous: Option<Change>,
    /// The fitted trend, in units per year.
    pub slope_per_year: Option<f64>,
    /// The trend's value at the target date.
    pub projected: Option<f64>,
    /// Usable periods from the baseline on.
    pub periods: usize,
}

/// A figure with its unit, for reasons.
pub fn show(v: f64, unit: &str) -> String {
    match unit {
        "percent" => format!("{v:.1}%"),
        "percentage points" => format!("{v:.1} percentage points"),
        "ratio" => format!("{v:.2}"),
        "" => format!("{v:.1}"),
        u => format!("{v:.1} {u}"),
    }
}

/// A date as written in reports: 31 March 2025.
pub fn long_date(d: NaiveDate) -> String {
    d.format("%-d %B %Y").to_string()
}

/// The 95% Wilson interval of `numerator / denominator`, in percent.
pub fn percent_interval(numerator: Option<f64>, denominator: Option<f64>) -> Option<(f64, f64)> {
    let (l, u) = wilson(numerator?, denominator?)?;
    Some((l * 100.0, u * 100.0))
}

fn years(from: NaiveDate, to: NaiveDate) -> f64 {
    (to - from).num_days() as f64 / 365.25
}

impl Rule {
    fn usable(&self, p: &Point) -> bool {
        p.value.is_some()
            && !p.suppressed
            && !self.small(p)
            && (self.uncertainty != Uncertainty::Proportion
                || (p.numerator.is_some() && p.denominator.is_some_and(|d| d > 0.0)))
    }

    fn small(&self, p: &Point) -> bool {
        p.base.is_some_and(|b| b < self.min_count)
    }

    /// The 95% interval of one figure, in the value's units.
    pub fn interval(&self, p: &Point) -> Option<(f64, f64)> {
        match self.uncertainty {
            Uncertainty::Proportion => percent_interval(p.numerator, p.denominator),
            Uncertainty::Tolerance(_) => None,
        }
    }

    /// `later − earlier`, with its uncertainty and assessment.
    pub fn change(&self, later: &Point, earlier: &Point) -> Option<Change> {
        let change = later.value? - earlier.value?;
        let (lower, upper) = match self.uncertainty {
            Uncertainty::Proportion => {
                let (_, l, u) = difference_interval(
                    later.numerator?,
                    later.denominator?,
                    earlier.numerator?,
                    earlier.denominator?,
                )?;
                (l * 100.0, u * 100.0)
            }
            Uncertainty::Tolerance(t) => (change - t, change + t),
        };
        // Orient so that "good" is positive.
        let s = self.direction.sign();
        let (good_lo, good_hi) = if s > 0.0 {
            (lower, upper)
        } else {
            (-upper, -lower)
        };
        let assessment = if good_lo > 0.0 {
            Assessment::Improved
        } else if good_hi < 0.0 {
            Assessment::Worsened
        } else {
            Assessment::NoClearChange
        };
        Some(Change {
            change,
            lower,
            upper,
            assessment,
        })
    }

    /// Applies the rule to a series (any order; one point per period).
    // Long: the progress rule as the methodology states it, one early
    // return per case in the order the reasons are written; split, the order
    // of the checks would be spread over several functions.
    pub fn assess(&self, series: &[Point]) -> Progress {
        let mut points: Vec<&Point> = series.iter().collect();
        points.sort_by_key(|p| p.period);
        let latest = points.last().copied();
        let mut out = Progress {
            status: Status::NoData,
            reason: String::new(),
            baseline: None,
            latest: latest.cloned(),
            latest_interval: latest.and_then(|p| self.interval(p)),
            previous: None,
            since_baseline: None,
            since_previous: None,
            slope_per_year: None,
            projected: None,
            periods: 0,
        };
        let unit = self.unit.as_str();
        let Some(latest) = latest else {
            out.reason = "No figure has been recorded for this measure yet.".into();
            return out;
        };
        let when = long_date(latest.period);
        if latest.suppressed {
            out.status = Status::NotEnoughData;
            out.reason = format!(
                "The latest figure ({when}) was withheld because it rests on a small number of people."
            );
            return out;
        }
        let Some(value) = latest.value else {
            out.reason = format!("There is no figure for the latest period ({when}).");
            return out;
        };
        if let Some(b) = latest.base.filter(|_| self.small(latest)) {
            out.status = Status::NotEnoughData;
            out.reason = format!(
                "The latest figure ({when}) rests on {b:.0} people, fewer than the {:.0} needed to judge a change.",
                self.min_count
            );
            return out;
        }
        if !self.usable(latest) {
            out.reason = format!(
                "The latest figure ({when}) has no counts behind it to judge its uncertainty."
            );
            return out;
        }
        let baseline = match self.baseline {
            Some(d) => match points.iter().find(|p| p.period == d) {
                Some(p) if self.usable(p) => *p,
                _ => {
                    out.reason = format!(
                        "There is no usable figure for the baseline period ({}).",
                        long_date(d)
                    );
                    return out;
                }
            },
            None => points
                .iter()
                .find(|p| self.usable(p))
                .copied()
                .expect("the latest is usable"),
        };
        out.baseline = Some(baseline.clone());
        let trend: Vec<&Point> = points
            .iter()
            .filter(|p| p.period >= baseline.period && self.usable(p))
            .copied()
            .collect();
        out.periods = trend.len();
        out.previous = trend.iter().rev().nth(1).map(|p| (*p).clone());
        out.since_previous = out.previous.as_ref().and_then(|p| self.change(latest, p));
        let target = show(self.target, unit);
        let by = long_date(self.target_date);
        if self.direction.meets(value, self.target) {
            out.status = Status::OnTrack;
            out.reason = format!(
                "Target met: {} at {when}, against a target of {target} by {by}.",
                show(value, unit)
            );
            if trend.len() >= 2 {
                out.since_baseline = self.change(latest, baseline);
                self.fit(&trend, &mut out);
            }
            return out;
        }
        if trend.len() < 2 {
            out.status = Status::NotEnoughData;
            out.reason = format!(
                "Only one period ({when}) so far; a trend needs at least two. The latest figure is {}, against a target of {target} by {by}.",
                show(value, unit)
            );
            return out;
        }
        out.since_baseline = self.change(latest, baseline);
        self.fit(&trend, &mut out);
        let since = long_date(baseline.period);
        if latest.period >= self.target_date {
            out.status = Status::OffTrack;
            out.reason = format!(
                "The target date ({by}) has passed and the target of {target} was not met: {} in {when}.",
                show(value, unit)
            );
            return out;
        }
        let change = out.since_baseline.expect("both usable");
        let projected = out.projected.unwrap_or(value);
        let reaches = self.direction.meets(projected, self.target);
        let band = match self.uncertainty {
            Uncertainty::Proportion => format!(
                "{} (95% interval {} to {})",
                signed(change.change, unit),
                signed_bare(change.lower),
                signed_bare(change.upper)
            ),
            Uncertainty::Tolerance(t) => {
                format!("{} (tolerance ±{t:.1})", signed(change.change, unit))
            }
        };
        let trend = format!(
            "the trend reaches {} by {by} (target {target})",
            show(projected, unit)
        );
        (out.status, out.reason) = match (change.assessment, reaches) {
            (Assessment::Improved, true) => (
                Status::OnTrack,
                format!(
                    "Improved since {since}, beyond the margin of uncertainty: {band}; {trend}."
                ),
            ),
            (Assessment::Improved, false) => (
                Status::AtRisk,
                format!("Improved since {since}: {band}; but at this rate {trend}, short of it."),
            ),
            (Assessment::NoClearChange, true) => (
                Status::AtRisk,
                format!(
                    "{} but the change since {since} is within the margin of uncertainty: {band}.",
                    capitalise(&format!("{trend},"))
                ),
            ),
            (Assessment::NoClearChange, false) => (
                Status::OffTrack,
                format!("No clear change since {since}: {band}; {trend}, short of it."),
            ),
            (Assessment::Worsened, _) => (
                Status::OffTrack,
                format!("Worse than at {since}, beyond the margin of uncertainty: {band}."),
            ),
        };
        out
    }

    fn fit(&self, trend: &[&Point], out: &mut Progress) {
        let t0 = trend[0].period;
        let xs: Vec<f64> = trend.iter().map(|p| years(t0, p.period)).collect();
        let ys: Vec<f64> = trend.iter().map(|p| p.value.unwrap_or(0.0)).collect();
        let n = xs.len() as f64;
        let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
        let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
        if sxx <= 0.0 {
            return;
        }
        let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let slope = sxy / sxx;
        out.slope_per_year = Some(slope);
        out.projected = Some(my + slope * (years(t0, self.target_date) - mx));
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn signed_bare(v: f64) -> String {
    format!("{v:+.1}").replace('-', "−")
}

fn signed(v: f64, unit: &str) -> String {
    let s = match unit {
        "percent" | "percentage points" => format!("{v:+.1} percentage points"),
        "ratio" => format!("{v:+.2}"),
        "" => format!("{v:+.1}"),
        u => format!("{v:+.1} {u}"),
    };
    s.replace('-', "−")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// A proportion point: `x` of `n`, value x/n × 100 as published (one
    /// decimal place).
    fn p(period: &str, x: f64, n: f64) -> Point {
        Point {
            period: d(period),
            value: Some((x / n * 1000.0).round() / 10.0),
            numerator: Some(x),
            denominator: Some(n),
            base: Some(n),
            suppressed: false,
        }
    }

    fn rule(direction: Direction, target: f64, by: &str) -> Rule {
        Rule {
            direction,
            target,
            target_date: d(by),
            baseline: None,
            uncertainty: Uncertainty::Proportion,
            min_count: 30.0,
            unit: "percent".into(),
        }
    }

    #[test]
    fn on_track_when_clearly_improving_and_the_trend_reaches_the_target() {
        // 15% → 20% → 25% of 200 a year apart: the trend gains 5 points a
        // year and reaches about 35% two years after the latest figure.
        // The change since the baseline, +10 points, has a 95% interval of
        // about +2.3 to +17.6 (Newcombe): a clear improvement.
        let series = [
            p("2023-03-31", 30.0, 200.0),
            p("2024-03-31", 40.0, 200.0),
            p("2025-03-31", 50.0, 200.0),
        ];
        let r = rule(Direction::Increase, 34.0, "2027-03-31").assess(&series);
        assert_eq!(r.status, Status::OnTrack, "{}", r.reason);
        let c = r.since_baseline.unwrap();
        assert!((c.change - 10.0).abs() < 1e-9);
        assert!(
            c.lower > 2.0 && c.lower < 2.6 && c.upper > 17.3 && c.upper < 17.9,
            "{c:?}"
        );
        assert_eq!(c.assessment, Assessment::Improved);
        let projected = r.projected.unwrap();
        assert!((projected - 35.0).abs() < 0.05, "{projected}");
        assert!((r.slope_per_year.unwrap() - 5.0).abs() < 0.02);
        assert_eq!(r.periods, 3);
        assert_eq!(r.previous.unwrap().period, d("2024-03-31"));
        assert_eq!(
            r.since_previous.unwrap().assessment,
            Assessment::NoClearChange,
            "+5 points on 200 is within the margin"
        );
        assert!(r.reason.contains("35.0%"), "{}", r.reason);
    }

    #[test]
    fn at_risk_when_improving_too_slowly_or_not_clearly() {
        // 15% → 16% → 20% of 1,000: +5 points is a clear improvement (its
        // interval is about +1.5 to +8.5), but the line gains about 2.5
        // points a year and reaches only about 24.5% by 2027, short of 30%.
        let slow = [
            p("2023-03-31", 150.0, 1000.0),
            p("2024-03-31", 160.0, 1000.0),
            p("2025-03-31", 200.0, 1000.0),
        ];
        let r = rule(Direction::Increase, 30.0, "2027-03-31").assess(&slow);
        assert_eq!(r.since_baseline.unwrap().assessment, Assessment::Improved);
        assert_eq!(r.status, Status::AtRisk, "{}", r.reason);
        assert!(r.reason.contains("short of it"), "{}", r.reason);

        // 20% → 23% of 100: heading up, and the line would pass 25% before
        // 2028, but +3 points on 100 people is well within the uncertainty.
        let unclear = [p("2024-03-31", 20.0, 100.0), p("2025-03-31", 23.0, 100.0)];
        let r = rule(Direction::Increase, 25.0, "2028-03-31").assess(&unclear);
        assert_eq!(
            r.since_baseline.unwrap().assessment,
            Assessment::NoClearChange
        );
        assert_eq!(r.status, Status::AtRisk, "{}", r.reason);
        assert!(r.reason.contains("margin of uncertainty"), "{}", r.reason);
        assert!(r.reason.contains("95% interval"), "{}", r.reason);
    }

    #[test]
    fn off_track_when_flat_worse_or_past_the_date() {
        // Falling 20% → 19% → 18% of 200 against a target of 30%: the
        // change (−2 points) is not clear, but the trend heads away.
        let falling = [
            p("2023-03-31", 40.0, 200.0),
            p("2024-03-31", 38.0, 200.0),
            p("2025-03-31", 36.0, 200.0),
        ];
        let r = rule(Direction::Increase, 30.0, "2027-03-31").assess(&falling);
        assert_eq!(
            r.since_baseline.unwrap().assessment,
            Assessment::NoClearChange
        );
        assert_eq!(r.status, Status::OffTrack, "{}", r.reason);

        // Clearly worse: 30% → 20% of 500.
        let worse = [p("2023-03-31", 150.0, 500.0), p("2025-03-31", 100.0, 500.0)];
        let r = rule(Direction::Increase, 35.0, "2027-03-31").assess(&worse);
        assert_eq!(r.since_baseline.unwrap().assessment, Assessment::Worsened);
        assert_eq!(r.status, Status::OffTrack);
        assert!(r.reason.contains("beyond the margin"), "{}", r.reason);

        // The date has passed: 10% → 20% by 2025, target 25% by 2024.
        let late = [p("2023-03-31", 50.0, 500.0), p("2025-03-31", 100.0, 500.0)];
        let r = rule(Direction::Increase, 25.0, "2024-03-31").assess(&late);
        assert_eq!(r.status, Status::OffTrack);
        assert!(r.reason.contains("has passed"), "{}", r.reason);
    }

    #[test]
    fn lower_is_better_for_a_pay_gap_with_a_tolerance() {
        let gap = |period: &str, v: f64, n: f64| Point {
            period: d(period),
            value: Some(v),
            numerator: None,
            denominator: None,
            base: Some(n),
            suppressed: false,
        };
        let mut r = rule(Direction::Decrease, 5.0, "2028-03-31");
        r.uncertainty = Uncertainty::Tolerance(1.0);
        // 12.0 → 10.0 → 8.0: −4 points is beyond ±1, and the line reaches
        // 2.0 by 2028: on track.
        let series = [
            gap("2023-03-31", 12.0, 400.0),
            gap("2024-03-31", 10.0, 400.0),
            gap("2025-03-31", 8.0, 400.0),
        ];
        let out = r.assess(&series);
        assert_eq!(out.status, Status::OnTrack, "{}", out.reason);
        let c = out.since_baseline.unwrap();
        assert_eq!((c.change, c.lower, c.upper), (-4.0, -5.0, -3.0));
        // 8.0 → 7.5 is within the tolerance: no clear change. The line
        // (−0.5 a year) reaches 6.0 by 2028: at risk against a target of
        // 6.5, off track against 5.0.
        let series = [gap("2024-03-31", 8.0, 400.0), gap("2025-03-31", 7.5, 400.0)];
        let out = r.assess(&series);
        assert_eq!(out.status, Status::OffTrack, "{}", out.reason);
        assert!(out.reason.contains("tolerance ±1.0"), "{}", out.reason);
        let mut nearer = r.clone();
        nearer.target = 6.5;
        let out = nearer.assess(&series);
        assert_eq!(out.status, Status::AtRisk, "{}", out.reason);
        assert!((out.projected.unwrap() - 6.0).abs() < 0.01);
        // Already at 4.5: met.
        let series = [gap("2025-03-31", 4.5, 400.0)];
        assert_eq!(r.assess(&series).status, Status::OnTrack);
    }

    #[test]
    fn small_numbers_give_not_enough_data_rather_than_a_status() {
        let r = rule(Direction::Increase, 30.0, "2027-03-31");
        // 3 of 12 → 6 of 14: the share doubles, but on 14 people.
        let series = [p("2024-03-31", 3.0, 12.0), p("2025-03-31", 6.0, 14.0)];
        let out = r.assess(&series);
        assert_eq!(out.status, Status::NotEnoughData);
        assert!(out.reason.contains("14 people"), "{}", out.reason);
        // Withheld by disclosure control.
        let mut hidden = p("2025-03-31", 0.0, 100.0);
        hidden.value = None;
        hidden.suppressed = true;
        let series = [p("2024-03-31", 30.0, 200.0), hidden];
        let out = r.assess(&series);
        assert_eq!(out.status, Status::NotEnoughData);
        assert!(out.reason.contains("withheld"), "{}", out.reason);
        // One period only, not yet at the target.
        let out = r.assess(&[p("2025-03-31", 40.0, 200.0)]);
        assert_eq!(out.status, Status::NotEnoughData);
        assert!(out.reason.contains("at least two"), "{}", out.reason);
        // A small earlier figure is left out of the trend, not fatal.
        let series = [
            p("2023-03-31", 1.0, 10.0),
            p("2024-03-31", 30.0, 200.0),
            p("2025-03-31", 50.0, 200.0),
        ];
        let out = r.assess(&series);
        assert_eq!(out.baseline.unwrap().period, d("2024-03-31"));
        assert_eq!(out.periods, 2);
    }

    #[test]
    fn missing_data_gives_no_data() {
        let r = rule(Direction::Increase, 30.0, "2027-03-31");
        let out = r.assess(&[]);
        assert_eq!(out.status, Status::NoData);
        let mut blank = p("2025-03-31", 0.0, 100.0);
        blank.value = None;
        let out = r.assess(&[p("2024-03-31", 30.0, 200.0), blank]);
        assert_eq!(out.status, Status::NoData);
        assert!(out.reason.contains("no figure"), "{}", out.reason);
        // A named baseline period with nothing recorded.
        let mut with_baseline = r.clone();
        with_baseline.baseline = Some(d("2022-03-31"));
        let out =
            with_baseline.assess(&[p("2024-03-31", 30.0, 200.0), p("2025-03-31", 40.0, 200.0)]);
        assert_eq!(out.status, Status::NoData);
        assert!(
            out.reason.contains("baseline period (31 March 2022)"),
            "{}",
            out.reason
        );
    }
}
