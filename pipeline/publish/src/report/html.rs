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

pub(super) fn num(v: Option<f64>, suppressed: bool) -> String {
    match (v, suppressed) {
        (None, true) => "[c]".into(),
        (Some(v), _) if v.fract() == 0.0 => format!("{v:.0}"),
        (Some(v), _) => format!("{v:.1}"),
        (None, _) => "–".into(),
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
