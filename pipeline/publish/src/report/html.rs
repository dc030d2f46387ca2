//! The HTML kit: the page frame and its style sheet, escaping, and how
//! numbers, shares and suppressed cells are shown.

/// The style sheet, in the spirit of the GOV.UK Design System: its type
/// scale (19px body text, 48/36/24px headings), its spacing steps (5, 10,
/// 15, 20, 30px), its colours (text #0b0c0c, links #1d70b8, visited
/// #4c2c92, borders #b1b4b6, the yellow #ffdd00 focus state), tables with
/// bold captions and ruled rows, and a print style sheet: no navigation,
/// 12pt text, link targets written out, rows, figures and headings kept
/// with what follows them.
pub(super) const CSS: &str = "body{font-family:system-ui,-apple-system,\"Segoe UI\",Arial,sans-serif;font-size:1.1875rem;line-height:1.32;color:#0b0c0c;background:#ffffff;max-width:72rem;margin:0 auto;padding:15px 20px}\
h1{font-size:3rem;line-height:1.04;margin:30px 0 30px}h2{font-size:2.25rem;line-height:1.11;margin:40px 0 20px}h3{font-size:1.5rem;line-height:1.25;margin:30px 0 15px}\
p,ul{margin:0 0 20px;max-width:44em}li{margin-bottom:5px}\
a{color:#1d70b8;text-decoration-thickness:max(1px,.0625rem);text-underline-offset:.1578em}a:visited{color:#4c2c92}a:hover{color:#003078;text-decoration-thickness:max(3px,.1875rem)}\
a:focus{outline:3px solid transparent;color:#0b0c0c;background-color:#ffdd00;box-shadow:0 -2px #ffdd00,0 4px #0b0c0c;text-decoration:none}\
table{border-collapse:collapse;margin:0 0 30px;font-size:1rem}caption{text-align:left;font-weight:700;font-size:1.1875rem;padding:0 0 10px}\
th,td{border:0;border-bottom:1px solid #b1b4b6;padding:10px 20px 10px 0;text-align:left;vertical-align:top}thead th{font-weight:700}td.n{text-align:right;font-variant-numeric:tabular-nums}\
th[scope=row].sub{padding-left:1.5rem;font-weight:normal}nav{margin-bottom:15px}nav a{margin-right:1rem}.note{font-size:1rem;color:#505a5f}\
figure{margin:0 0 30px}figcaption{font-size:1rem;margin-top:5px}svg{max-width:100%;height:auto}\
.headlines{display:flex;flex-wrap:wrap;gap:20px;padding:0;list-style:none;max-width:none}.headlines li{border-left:5px solid #1d70b8;padding:10px 15px;min-width:14rem;flex:1 1 14rem;background:#f3f2f1}\
.headlines .figure{display:block;font-size:2.25rem;font-weight:700;line-height:1.1}\
@media (max-width:40em){body{font-size:1rem}h1{font-size:2rem}h2{font-size:1.5rem}}\
@media print{nav{display:none}body{font-size:12pt;max-width:none;padding:0;color:#000}h1{font-size:24pt}h2{font-size:18pt;break-after:avoid}h3{break-after:avoid}\
a{color:#000}a[href^=\"http\"]::after{content:\" (\" attr(href) \")\";font-size:90%}tr,figure,svg{break-inside:avoid}thead{display:table-header-group}.headlines li{background:none;border-left:3px solid #000}}";

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
