//! Numbers and dates as official spreadsheets write them.
//!
//! Sources hand the host text; the host reads it into the contract's types
//! with these rules (and plugins may use them for the dates they compute
//! with, such as a date of birth). What is accepted is what councils' and ONS's files saved as CSV
//! really contain, and nothing is guessed:
//!
//! - numbers: surrounding spaces, thousands separators in well-formed groups
//!   of three (`29,199`, `1,234.56`), a leading `£`, a trailing `%` where the
//!   column is a percentage, the Unicode minus. A comma that is not a
//!   thousands separator (`12,50`) is an error that says so, unless the
//!   source declares `decimal = ","`; then `.` and spaces group thousands.
//! - statistical markers for missing or withheld values (`..`, `:`, `[c]`,
//!   `[x]`, `[z]`, `*`, `-`, `c`, …) become null and are counted, never a
//!   rejection of a nullable column.
//! - dates: ISO (`2020-03-31`, with or without a time), `2020/03/31`, UK
//!   `31/03/2020` and `31-03-2020` (with or without a time), `31 Mar 2020`,
//!   `31 March 2020`, `31-Mar-2020`, Excel serial numbers (`43921`), and,
//!   where the contract keeps a precision column, `2021-03` and `2021` as
//!   periods. Day and month are never swapped: a value that can only be
//!   month/day (`03/31/2020`) is an error naming the column and the example.
//!   A source may name its own `date_format` (chrono's `%d/%m/%Y` syntax);
//!   ISO dates, which cannot be misread, are still taken beside it.

use chrono::{Datelike, NaiveDate};

/// Markers ONS, DfE, NHS and councils use for a missing, suppressed or
/// not-applicable value. Compared after trimming, case-insensitively.
pub const MARKERS: &[&str] = &[
    "..",
    ":",
    "*",
    "-",
    "–",
    "—",
    "[c]",
    "[x]",
    "[z]",
    "[u]",
    "[w]",
    "[low]",
    "[k]",
    "c",
    "x",
    "z",
    "u",
    "low",
    "n/a",
    "na",
    "#n/a",
    "null",
    "none",
    "not available",
    "suppressed",
];

/// How the source writes numbers and dates (`[sources.parse]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Formats {
    /// `"."` (the default) or `","` for files that write decimal commas
    /// (`12,50`); with `","`, `.` and spaces group thousands (`1.234,56`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimal: Option<String>,
    /// A chrono format for every date column (`%d/%m/%Y`, `%m/%d/%Y`,
    /// `%Y%m%d`, `%Y` …); without it the published forms above are read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_format: Option<String>,
}

impl Formats {
    /// Checks the settings, naming what is wrong.
    pub fn check(&self) -> Result<(), String> {
        if let Some(d) = &self.decimal
            && d != "."
            && d != ","
        {
            return Err(format!(
                "decimal must be \".\" or \",\" (got a {}-character value)",
                d.chars().count()
            ));
        }
        if let Some(f) = &self.date_format {
            let sample = NaiveDate::from_ymd_opt(2020, 3, 31).expect("a date");
            use std::fmt::Write as _;
            let mut out = String::new();
            if write!(out, "{}", sample.format(f)).is_err() || parse_with_format(&out, f).is_none()
            {
                return Err(format!(
                    "date_format `{f}` is not a date format chrono can read back (for example \"%d/%m/%Y\")"
                ));
            }
        }
        Ok(())
    }

    fn decimal_comma(&self) -> bool {
        self.decimal.as_deref() == Some(",")
    }
}

/// What one text cell holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<T> {
    /// A value.
    Value(T),
    /// Empty.
    Empty,
    /// A statistical marker (the marker as written, trimmed).
    Marker(String),
    /// Unreadable: the reason (never containing the value unless `example`
    /// allows: reasons go to logs).
    Bad(String),
}

/// How precise a date is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Precision {
    /// A year alone (`2021`).
    Year,
    /// A year and month (`2021-03`).
    Month,
    /// A full date.
    Day,
}

impl Precision {
    /// The word stored in a precision column.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Year => "year",
            Precision::Month => "month",
            Precision::Day => "day",
        }
    }
}

fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
}

/// `123`, `-123` (the common case, read without any rewriting).
fn plain_integer(t: &str) -> bool {
    let b = t.strip_prefix('-').unwrap_or(t).as_bytes();
    !b.is_empty() && b.len() < 19 && b.iter().all(u8::is_ascii_digit)
}

/// `12.5`, `-0.25`, `42`: digits with at most one point inside.
fn plain_decimal(t: &str) -> bool {
    let b = t.strip_prefix('-').unwrap_or(t).as_bytes();
    let mut points = 0;
    !b.is_empty()
        && b[0].is_ascii_digit()
        && b[b.len() - 1].is_ascii_digit()
        && b.iter().all(|c| {
            points += usize::from(*c == b'.');
            c.is_ascii_digit() || *c == b'.'
        })
        && points <= 1
}

fn marker(t: &str) -> bool {
    MARKERS.iter().any(|m| m.eq_ignore_ascii_case(t))
}

/// Reads a number as published. `percent`: the column is a percentage, so
/// a trailing `%` is allowed (and dropped: `12.5%` is 12.5).
pub fn number(s: &str, formats: &Formats, percent: bool) -> Cell<f64> {
    let t = trim(s);
    if t.is_empty() {
        return Cell::Empty;
    }
    if !formats.decimal_comma()
        && plain_decimal(t)
        && let Ok(v) = t.parse::<f64>()
    {
        return Cell::Value(v);
    }
    if marker(t) {
        return Cell::Marker(t.to_string());
    }
    let mut body: String = t.replace(['\u{2212}', '\u{2012}'], "-");
    let mut negative = false;
    if let Some(r) = body.strip_prefix('-') {
        negative = true;
        body = r.trim_start().to_string();
    } else if let Some(r) = body.strip_prefix('+') {
        body = r.trim_start().to_string();
    }
    if let Some(r) = body.strip_prefix('£') {
        body = r.trim_start().to_string();
        if !negative && let Some(r) = body.strip_prefix('-') {
            negative = true;
            body = r.to_string();
        }
    }
    if let Some(r) = body.strip_suffix('%') {
        if !percent {
            return Cell::Bad("a percentage where the column is not one".into());
        }
        body = r.trim_end().to_string();
    }
    let plain = if formats.decimal_comma() {
        match regroup(&body, '.', ',') {
            Ok(p) => p,
            Err(e) => return Cell::Bad(e),
        }
    } else {
        match regroup(&body, ',', '.') {
            Ok(p) => p,
            Err(e) => return Cell::Bad(e),
        }
    };
    if plain.is_empty()
        || !plain
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        || !plain.starts_with(|c: char| c.is_ascii_digit() || c == '.')
    {
        return Cell::Bad("not a number".into());
    }
    match plain.parse::<f64>() {
        Ok(v) if v.is_finite() => Cell::Value(if negative { -v } else { v }),
        _ => Cell::Bad("not a number".into()),
    }
}

/// Removes well-formed thousands separators (`group`) and turns the decimal
/// mark into `.`. Spaces (and non-breaking spaces) group thousands too when
/// the decimal mark is a comma.
fn regroup(body: &str, group: char, decimal: char) -> Result<String, String> {
    let body: String = if decimal == ',' {
        body.chars()
            .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}'))
            .collect()
    } else {
        body.to_string()
    };
    let (int, frac) = match body.rfind(decimal) {
        Some(at) => (&body[..at], Some(&body[at + decimal.len_utf8()..])),
        None => (&body[..], None),
    };
    if let Some(f) = frac
        && f.contains(group)
    {
        return Err(if group == ',' {
            "a comma after the decimal point".into()
        } else {
            "a point after the decimal comma".into()
        });
    }
    let int = if int.contains(group) {
        let groups: Vec<&str> = int.split(group).collect();
        let well_formed = (1..=3).contains(&groups[0].len())
            && groups[0].chars().all(|c| c.is_ascii_digit())
            && groups[1..]
                .iter()
                .all(|g| g.len() == 3 && g.chars().all(|c| c.is_ascii_digit()));
        if !well_formed {
            return Err(if group == ',' {
                "a decimal comma or misplaced thousands separator (the file may use decimal commas: set decimal = \",\" on the source)".into()
            } else {
                "a misplaced thousands separator".into()
            });
        }
        groups.concat()
    } else {
        int.to_string()
    };
    Ok(match frac {
        Some(f) => format!("{int}.{f}"),
        None => int,
    })
}

/// Reads an integer as published: a number (as [`number`]) with no
/// fractional part (`12.00` is 12).
pub fn integer(s: &str, formats: &Formats, percent: bool) -> Cell<i64> {
    let t = trim(s);
    if plain_integer(t)
        && let Ok(v) = t.parse::<i64>()
    {
        return Cell::Value(v);
    }
    match number(s, formats, percent) {
        Cell::Value(v) => {
            if v.fract() != 0.0 {
                Cell::Bad("not an integer".into())
            } else if v.abs() > 9.007_199_254_740_992e15 {
                // Beyond f64's exact integers: read the digits directly.
                let t: String = trim(s).chars().filter(|c| *c != ',').collect();
                t.parse::<i64>()
                    .map(Cell::Value)
                    .unwrap_or(Cell::Bad("not an integer".into()))
            } else {
                Cell::Value(v as i64)
            }
        }
        Cell::Bad(r) if r == "not a number" => Cell::Bad("not an integer".into()),
        other => other.map(|v| v as i64),
    }
}

impl<T> Cell<T> {
    /// The same cell with its value, if any, turned by `f`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Cell<U> {
        match self {
            Cell::Value(v) => Cell::Value(f(v)),
            Cell::Empty => Cell::Empty,
            Cell::Marker(m) => Cell::Marker(m),
            Cell::Bad(r) => Cell::Bad(r),
        }
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn month_name(s: &str) -> Option<u32> {
    let l = s.to_ascii_lowercase();
    let l = l.trim_end_matches('.');
    if l.len() < 3 {
        return None;
    }
    let full = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    MONTHS
        .iter()
        .position(|m| l == *m || (l == "sept" && *m == "sep"))
        .or_else(|| full.iter().position(|m| l == *m))
        .map(|p| p as u32 + 1)
}

/// Excel's day 0 (the 1900 date system, with its leap-year bug folded in
/// for serials after February 1900).
fn excel_epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1899, 12, 30).expect("a date")
}

/// A time part after a date: `00:00`, `00:00:00`, `T00:00:00Z`, `00:00:00.000`.
fn is_time(t: &str) -> bool {
    let t = t.trim();
    let t = t.trim_end_matches('Z');
    let t = t.split(['+']).next().unwrap_or("");
    let mut parts = t.split(':');
    let ok = |p: Option<&str>, need: bool| match p {
        None => !need,
        Some(p) => {
            let p = p.split('.').next().unwrap_or("");
            p.len() == 2 && p.chars().all(|c| c.is_ascii_digit())
        }
    };
    ok(parts.next(), true) && ok(parts.next(), true) && ok(parts.next(), false)
}

/// Splits `2020-03-31T00:00:00` or `31/03/2020 00:00` into date and time.
fn date_part(t: &str) -> Option<&str> {
    if let Some((d, time)) = t.split_once('T')
        && d.len() == 10
    {
        return is_time(time).then_some(d);
    }
    match t.split_once(' ') {
        Some((d, time)) if time.contains(':') => is_time(time).then_some(d),
        _ => Some(t),
    }
}

fn ymd(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

fn digits(s: &str) -> Option<u32> {
    (!s.is_empty() && s.len() <= 4 && s.chars().all(|c| c.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn parse_with_format(t: &str, f: &str) -> Option<(NaiveDate, Precision)> {
    let has = |x: &str| f.contains(x);
    if has("%d") || has("%e") || has("%j") || has("%F") || has("%D") || has("%x") {
        return NaiveDate::parse_from_str(t, f)
            .ok()
            .map(|d| (d, Precision::Day));
    }
    if has("%m") || has("%b") || has("%B") {
        return NaiveDate::parse_from_str(&format!("{t}|01"), &format!("{f}|%d"))
            .ok()
            .map(|d| (d, Precision::Month));
    }
    if has("%Y") {
        return NaiveDate::parse_from_str(&format!("{t}|01|01"), &format!("{f}|%m|%d"))
            .ok()
            .map(|d| (d, Precision::Year));
    }
    None
}

/// `2020-03-31`, with or without a time.
fn iso(t: &str) -> Option<(NaiveDate, Precision)> {
    let d = date_part(t)?;
    let b = d.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    NaiveDate::parse_from_str(d, "%Y-%m-%d")
        .ok()
        .map(|d| (d, Precision::Day))
}

/// Reads a date as published (see the module docs). Returns the date (a
/// period's first day) and how precise the text was.
pub fn date(s: &str, formats: &Formats) -> Cell<(NaiveDate, Precision)> {
    let t = trim(s);
    if t.is_empty() {
        return Cell::Empty;
    }
    if marker(t) {
        return Cell::Marker(t.to_string());
    }
    if let Some(f) = &formats.date_format {
        // ISO dates cannot be misread, so they are taken beside the format.
        return match parse_with_format(t, f).or_else(|| iso(t)) {
            Some(d) => Cell::Value(d),
            None => Cell::Bad(format!("not a date in the source's date_format `{f}`")),
        };
    }
    let bad = || Cell::Bad("not a date".into());
    let Some(d) = date_part(t) else {
        return bad();
    };
    // Excel serial day numbers (five digits: 1927 to 2173), possibly with a
    // fraction of a day.
    let serial = d.split('.').next().unwrap_or("");
    if serial.len() == 5
        && serial.chars().all(|c| c.is_ascii_digit())
        && d[serial.len()..]
            .strip_prefix('.')
            .is_none_or(|f| f.chars().all(|c| c.is_ascii_digit()))
    {
        let n: i64 = serial.parse().expect("digits");
        return match excel_epoch().checked_add_days(chrono::Days::new(n as u64)) {
            Some(d) => Cell::Value((d, Precision::Day)),
            None => bad(),
        };
    }
    // A year alone.
    if d.len() == 4
        && let Some(y) = digits(d)
    {
        return match ymd(y as i32, 1, 1) {
            Some(x) if (1800..=2200).contains(&y) => Cell::Value((x, Precision::Year)),
            _ => bad(),
        };
    }
    let sep = d.chars().find(|c| matches!(c, '-' | '/' | '.' | ' '));
    let Some(sep) = sep else {
        return bad();
    };
    let parts: Vec<&str> = d.split(sep).filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        // 2020-03-31, 2020/03/31; 2021-03 (a month).
        [y, m, dd] if y.len() == 4 => match (digits(y), digits(m), digits(dd)) {
            (Some(y), Some(m), Some(dd)) => ymd(y as i32, m, dd)
                .map(|x| Cell::Value((x, Precision::Day)))
                .unwrap_or_else(bad),
            _ => bad(),
        },
        [y, m] if y.len() == 4 && sep != ' ' => match (digits(y), digits(m)) {
            (Some(y), Some(m)) if (1..=12).contains(&m) => ymd(y as i32, m, 1)
                .map(|x| Cell::Value((x, Precision::Month)))
                .unwrap_or_else(bad),
            _ => bad(),
        },
        // Mar 2020, March 2020 (a month).
        [m, y] if y.len() == 4 => match (month_name(m), digits(y)) {
            (Some(m), Some(y)) => ymd(y as i32, m, 1)
                .map(|x| Cell::Value((x, Precision::Month)))
                .unwrap_or_else(bad),
            _ => bad(),
        },
        // 31/03/2020, 31-03-2020, 31.03.2020, 31 Mar 2020, 31-Mar-2020.
        [dd, m, y] => {
            if y.len() != 4 {
                return Cell::Bad(
                    "a date without a four-digit year (set date_format on the source)".into(),
                );
            }
            let (Some(dd), Some(y)) = (digits(dd), digits(y)) else {
                return bad();
            };
            let month = match digits(m) {
                Some(m) => {
                    if m > 12 && dd <= 12 {
                        return Cell::Bad(
                            "a month/day date (the day comes second, as in 03/31/2020); UK dates are day/month: set date_format = \"%m/%d/%Y\" on the source if the file uses month/day order".into(),
                        );
                    }
                    m
                }
                None => match month_name(m) {
                    Some(m) => m,
                    None => return bad(),
                },
            };
            ymd(y as i32, month, dd)
                .map(|x| Cell::Value((x, Precision::Day)))
                .unwrap_or_else(bad)
        }
        _ => bad(),
    }
}

/// Days since the Unix epoch (Arrow's Date32).
pub fn days(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - 719_163
}

/// The date `d` days after the Unix epoch (Arrow's Date32): the inverse
/// of [`days`], for indicators that read dates with `date_values`. Dates
/// beyond chrono's range (about ±262,000 years) are clamped to it.
pub fn date_of_days(d: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(d.saturating_add(719_163)).unwrap_or(if d < 0 {
        NaiveDate::MIN
    } else {
        NaiveDate::MAX
    })
}

/// Whether a column's unit makes it a percentage (a trailing `%` allowed).
pub fn is_percent(unit: Option<&str>) -> bool {
    unit.is_some_and(|u| {
        let u = u.to_ascii_lowercase();
        u.contains("percent") || u.contains('%')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Cell<f64> {
        number(s, &Formats::default(), false)
    }

    fn i(s: &str) -> Cell<i64> {
        integer(s, &Formats::default(), false)
    }

    fn d(s: &str) -> Cell<(NaiveDate, Precision)> {
        date(s, &Formats::default())
    }

    fn day(y: i32, m: u32, dd: u32) -> Cell<(NaiveDate, Precision)> {
        Cell::Value((ymd(y, m, dd).unwrap(), Precision::Day))
    }

    #[test]
    fn published_numbers() {
        assert_eq!(i("29,199"), Cell::Value(29199));
        assert_eq!(i("\"1,234,567\"".trim_matches('"')), Cell::Value(1_234_567));
        assert_eq!(n("1,234.56"), Cell::Value(1234.56));
        assert_eq!(n("  42 "), Cell::Value(42.0));
        assert_eq!(n("£12.50"), Cell::Value(12.5));
        assert_eq!(n("-£1,200.00"), Cell::Value(-1200.0));
        assert_eq!(n("£-3"), Cell::Value(-3.0));
        assert_eq!(n("\u{2212}4.2"), Cell::Value(-4.2));
        assert_eq!(n("1.5E+03"), Cell::Value(1500.0));
        assert_eq!(i("12.00"), Cell::Value(12));
        assert_eq!(i("12.5"), Cell::Bad("not an integer".into()));
        assert_eq!(i("abc"), Cell::Bad("not an integer".into()));
        assert!(matches!(n("12,50"), Cell::Bad(r) if r.contains("decimal comma")));
        assert!(matches!(n("1234,567"), Cell::Bad(r) if r.contains("decimal comma")));
        assert!(matches!(n("1,23,456"), Cell::Bad(_)));
        assert!(matches!(n("1.5,0"), Cell::Bad(_)));
        assert!(matches!(n("inf"), Cell::Bad(_)));
        assert!(matches!(n("NaN"), Cell::Bad(_)));
        assert!(matches!(n("12%"), Cell::Bad(r) if r.contains("percentage")));
        assert_eq!(
            number("12.5%", &Formats::default(), true),
            Cell::Value(12.5)
        );
        assert_eq!(n(""), Cell::Empty);
        for m in ["..", ":", "[c]", "[x]", "[z]", "*", "-", "c", "NA", " [C] "] {
            assert_eq!(n(m), Cell::Marker(m.trim().to_string()), "{m}");
        }
    }

    #[test]
    fn decimal_commas_only_when_the_source_says_so() {
        let f = Formats {
            decimal: Some(",".into()),
            date_format: None,
        };
        assert_eq!(number("12,50", &f, false), Cell::Value(12.5));
        assert_eq!(number("1.234,56", &f, false), Cell::Value(1234.56));
        assert_eq!(number("1 234,56", &f, false), Cell::Value(1234.56));
        assert_eq!(integer("29.199", &f, false), Cell::Value(29199));
        assert!(matches!(number("12.50", &f, false), Cell::Bad(_)));
        assert!(f.check().is_ok());
        assert!(
            Formats {
                decimal: Some(";".into()),
                date_format: None
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn published_dates() {
        assert_eq!(d("2020-03-31"), day(2020, 3, 31));
        assert_eq!(d("2019-03-31T00:00:00Z"), day(2019, 3, 31));
        assert_eq!(d("2020/03/31 00:00:00"), day(2020, 3, 31));
        assert_eq!(d("31/03/2020"), day(2020, 3, 31));
        assert_eq!(d("1/4/2020"), day(2020, 4, 1));
        assert_eq!(d("31-03-2025 00:00"), day(2025, 3, 31));
        assert_eq!(d("31.03.2020"), day(2020, 3, 31));
        assert_eq!(d("31 Mar 2020"), day(2020, 3, 31));
        assert_eq!(d("31 March 2020"), day(2020, 3, 31));
        assert_eq!(d("31-Mar-2020"), day(2020, 3, 31));
        assert_eq!(d("5 Sept 2021"), day(2021, 9, 5));
        // Excel: 43921 is 31 March 2020; 44197.5 is noon on 1 January 2021.
        assert_eq!(d("43921"), day(2020, 3, 31));
        assert_eq!(d("44197.5"), day(2021, 1, 1));
        assert_eq!(
            d("2021-03"),
            Cell::Value((ymd(2021, 3, 1).unwrap(), Precision::Month))
        );
        assert_eq!(
            d("Mar 2021"),
            Cell::Value((ymd(2021, 3, 1).unwrap(), Precision::Month))
        );
        assert_eq!(
            d("2021"),
            Cell::Value((ymd(2021, 1, 1).unwrap(), Precision::Year))
        );
        assert!(matches!(d("03/31/2020"), Cell::Bad(r) if r.contains("month/day")));
        assert!(matches!(d("31/03/20"), Cell::Bad(r) if r.contains("four-digit")));
        assert!(matches!(d("30/02/2020"), Cell::Bad(_)));
        assert!(matches!(d("2020-13"), Cell::Bad(_)));
        assert!(matches!(d("tomorrow"), Cell::Bad(_)));
        assert!(matches!(d("2020-03-31 garbage"), Cell::Bad(_)));
        assert_eq!(d("[x]"), Cell::Marker("[x]".into()));
    }

    #[test]
    fn a_date_format_is_the_only_one_read() {
        let us = Formats {
            decimal: None,
            date_format: Some("%m/%d/%Y".into()),
        };
        assert!(us.check().is_ok());
        assert_eq!(date("03/31/2020", &us), day(2020, 3, 31));
        assert_eq!(date("2020-03-31", &us), day(2020, 3, 31), "ISO beside it");
        assert!(matches!(date("31/03/2020", &us), Cell::Bad(r) if r.contains("%m/%d/%Y")));
        let compact = Formats {
            decimal: None,
            date_format: Some("%Y%m%d".into()),
        };
        assert_eq!(date("20200331", &compact), day(2020, 3, 31));
        let year = Formats {
            decimal: None,
            date_format: Some("%Y".into()),
        };
        assert_eq!(
            date("2021", &year),
            Cell::Value((ymd(2021, 1, 1).unwrap(), Precision::Year))
        );
        let broken = Formats {
            decimal: None,
            date_format: Some("no format".into()),
        };
        assert!(broken.check().is_err());
    }

    #[test]
    fn epoch_days() {
        assert_eq!(days(ymd(1970, 1, 1).unwrap()), 0);
        assert_eq!(date_of_days(0).to_string(), "1970-01-01");
        assert_eq!(date_of_days(19_723).to_string(), "2024-01-01");
        assert_eq!(date_of_days(19_782).to_string(), "2024-02-29");
        assert_eq!(days(date_of_days(-12_345)), -12_345);
        assert_eq!(days(ymd(2020, 3, 31).unwrap()), 18352);
    }
}
