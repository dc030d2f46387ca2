//! The HTML kit: escaping for the sections still written in Rust, and how
//! numbers, shares and suppressed cells are shown (the page frame and its
//! style sheet are templates: `tpl.rs`).

/// The style sheet (`templates/report.css`, which says what it follows),
/// for the contrast test.
#[cfg(test)]
const CSS: &str = include_str!("../../templates/report.css");

/// The page colours, for the contrast test: (text, background).
#[cfg(test)]
const PAIRS: [(&str, &str); 7] = [
    ("#0b0c0c", "#ffffff"),
    ("#1d70b8", "#ffffff"),
    ("#4c2c92", "#ffffff"),
    ("#003078", "#ffffff"),
    ("#505a5f", "#ffffff"),
    ("#0b0c0c", "#f3f2f1"),
    ("#0b0c0c", "#ffdd00"),
];

/// WCAG relative luminance of `#rrggbb`.
pub(super) fn luminance(hex: &str) -> f64 {
    let c = |k: usize| {
        let v = u8::from_str_radix(&hex[1 + 2 * k..3 + 2 * k], 16).unwrap_or(0) as f64 / 255.0;
        if v <= 0.039_28 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * c(0) + 0.7152 * c(1) + 0.0722 * c(2)
}

/// The contrast ratio of two colours (1 to 21).
pub(super) fn contrast(a: &str, b: &str) -> f64 {
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

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
    fn every_text_colour_reads_at_aa_contrast_on_its_background() {
        for (text, background) in PAIRS {
            let r = contrast(text, background);
            assert!(r >= 4.5, "{text} on {background}: {r:.2}");
            // Each pair is one the style sheet sets.
            assert!(CSS.contains(text) && (background == "#ffffff" || CSS.contains(background)));
        }
        // The formula's ends: black on white is 21:1, a colour on itself 1:1.
        assert!((contrast("#000000", "#ffffff") - 21.0).abs() < 1e-9);
        assert!((contrast("#1d70b8", "#1d70b8") - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_print_style_sheet_hides_navigation_and_keeps_rows_whole() {
        let print = &CSS[CSS.find("@media print").unwrap()..];
        assert!(print.contains("nav{display:none}"));
        assert!(print.contains("tr,figure,svg{break-inside:avoid}"));
        assert!(print.contains("attr(href)"));
    }

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
}
