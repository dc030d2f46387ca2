//! The HTML kit: the page frame and its style sheet, escaping, and how
//! numbers, shares and suppressed cells are shown.

pub(super) const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:72rem;margin:0 auto;padding:1rem;line-height:1.45;color:#1b1b1b}\
table{border-collapse:collapse;margin:0.5rem 0 1.5rem}caption{text-align:left;font-weight:600;padding:0.25rem 0}\
th,td{border:1px solid #888;padding:0.2rem 0.5rem;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}\
th[scope=row].sub{padding-left:1.5rem;font-weight:normal}nav a{margin-right:1rem}.note{font-size:0.9rem}\
figure{margin:0.5rem 0 1rem}figcaption{font-size:0.9rem}a{color:#0b4f9c}";

pub(super) const SUPPRESSED_NOTE: &str = "[c] = withheld to protect confidentiality (a count under the disclosure threshold, or a cell that would let one be worked out).";

/// Escapes text for HTML.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

pub(super) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{t}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<nav aria-label=\"Report\"><a href=\"index.html\">Report home</a></nav>\n<main>\n<h1>{t}</h1>\n{body}\n</main>\n</body>\n</html>\n",
        t = esc(title)
    )
}

pub(super) fn pct(v: Option<f64>, suppressed: bool) -> String {
    match (v, suppressed) {
        (_, true) => "[c]".into(),
        // Half away from zero, as the published files round.
        (Some(v), _) => format!("{:.1}%", (v * 10.0).round() / 10.0),
        (None, _) => "–".into(),
    }
}

/// A count or measure as people write it: thousands grouped with commas,
/// one decimal where it has a fraction, a minus sign (U+2212) before a
/// negative; `[c]` where withheld, `–` where there is none.
pub(super) fn num(v: Option<f64>, suppressed: bool) -> String {
    match (v, suppressed) {
        (None, true) => "[c]".into(),
        (Some(v), _) if !v.is_finite() => "–".into(),
        (Some(v), _) => {
            let tenths = (v.abs() * 10.0).round() as u64;
            let sign = if v < 0.0 && tenths > 0 { "−" } else { "" };
            if v.fract() == 0.0 {
                format!("{sign}{}", grouped(v.abs() as u64))
            } else {
                format!("{sign}{}.{}", grouped(tenths / 10), tenths % 10)
            }
        }
        (None, _) => "–".into(),
    }
}

/// A year or an edition: a label, never grouped (`2019`, not `2,019`).
pub(super) fn year(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "–".into())
}

/// Digits grouped in threes with commas: `1234567` as `1,234,567`.
pub(super) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A run's RFC 3339 timestamp as people write it, in a `<time>` element
/// whose `datetime` keeps the exact instant: `1 December 2026, 20:29 UTC`.
/// Text that is not a timestamp is shown as it is, escaped.
pub(super) fn when(ts: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(ts) {
        Ok(t) => {
            let t = t.with_timezone(&chrono::Utc);
            format!(
                "<time datetime=\"{}\">{} UTC</time>",
                esc(ts),
                t.format("%-d %B %Y, %H:%M")
            )
        }
        Err(_) => esc(ts),
    }
}

pub(super) fn shorten(s: &str, n: usize) -> String {
    // "Broad group: Detail" labels keep their detail.
    let s = match s.rsplit_once(": ") {
        Some((_, detail)) if s.chars().count() > n => detail,
        _ => s,
    };
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n - 1).collect();
        format!("{t}…")
    }
}

pub(super) fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

pub(super) fn label(category: &str) -> String {
    match category {
        "F" => "Female".into(),
        "M" => "Male".into(),
        "not_disclosed" => "Not disclosed".into(),
        "disabled" => "Disabled".into(),
        "not_disabled" => "Not disabled".into(),
        c => c.to_string(),
    }
}

pub(super) fn day(d: i32) -> String {
    chrono::DateTime::from_timestamp(i64::from(d) * 86_400, 0)
        .map(|t| t.format("%-d %B %Y").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_people_write_them() {
        assert_eq!(num(Some(0.0), false), "0");
        assert_eq!(num(Some(999.0), false), "999");
        assert_eq!(num(Some(1000.0), false), "1,000");
        assert_eq!(num(Some(1_234_567.0), false), "1,234,567");
        assert_eq!(num(Some(12_345.67), false), "12,345.7");
        assert_eq!(num(Some(999.96), false), "1,000.0");
        assert_eq!(num(Some(-4321.0), false), "−4,321");
        assert_eq!(num(Some(-0.04), false), "0.0");
        assert_eq!(num(Some(f64::NAN), false), "–");
        assert_eq!(num(None, true), "[c]");
        assert_eq!(num(None, false), "–");
        assert_eq!(year(Some(2019.0)), "2019");
        assert_eq!(grouped(100_000), "100,000");
        assert_eq!(grouped(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn a_run_time_reads_as_a_date_and_keeps_its_instant() {
        let ts = "2026-12-01T20:29:37.645663072+00:00";
        assert_eq!(
            when(ts),
            format!("<time datetime=\"{ts}\">1 December 2026, 20:29 UTC</time>")
        );
        // An offset is shown in UTC, the instant unchanged.
        assert_eq!(
            when("2026-06-01T09:05:00+01:00"),
            "<time datetime=\"2026-06-01T09:05:00+01:00\">1 June 2026, 08:05 UTC</time>"
        );
        assert_eq!(when("<not a time>"), "&lt;not a time&gt;");
    }
}
