//! Inline SVG bar charts (no script), with a title and a description.

use super::*;

/// One series of a bar chart: its name and one value per category.
pub(super) struct Series {
    pub(super) name: String,
    pub(super) values: Vec<Option<f64>>,
}

/// A horizontal grouped bar chart (percentages), drawn in SVG. Each bar is
/// labelled with its series and value; series are told apart by pattern.
pub(super) fn bar_chart(id: &str, title: &str, categories: &[String], series: &[Series]) -> String {
    chart(id, title, categories, series, true)
}

/// Values shown as given (not percentages).
pub(super) fn value(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into())
}

pub(super) fn chart(
    id: &str,
    title: &str,
    categories: &[String],
    series: &[Series],
    percent: bool,
) -> String {
    let show = |v: Option<f64>| if percent { pct(v, false) } else { value(v) };
    let bar_h = 14.0;
    let gap = 6.0;
    let group_h = bar_h * series.len() as f64 + gap * 2.0;
    let label_w = 260.0;
    let plot_w = 360.0;
    let width = label_w + plot_w + 190.0;
    let height = group_h * categories.len() as f64 + 30.0;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(1.0f64, |m, v| m.max(*v));
    let mut desc = String::new();
    for (i, c) in categories.iter().enumerate() {
        let parts: Vec<String> = series
            .iter()
            .map(|s| format!("{} {}", s.name, show(s.values[i])))
            .collect();
        let _ = write!(desc, "{}: {}. ", c, parts.join(", "));
    }
    let mut svg = format!(
        "<figure>\n<svg role=\"img\" aria-labelledby=\"{id}-t {id}-d\" viewBox=\"0 0 {width} {height}\" width=\"100%\" style=\"max-width:{width}px\" xmlns=\"http://www.w3.org/2000/svg\">\n<title id=\"{id}-t\">{}</title>\n<desc id=\"{id}-d\">{}</desc>\n<defs><pattern id=\"{id}-hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fff\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#1d4f91\" stroke-width=\"3\"/></pattern><pattern id=\"{id}-dots\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\"><rect width=\"5\" height=\"5\" fill=\"#fff\"/><circle cx=\"2.5\" cy=\"2.5\" r=\"1.4\" fill=\"#333\"/></pattern></defs>\n",
        esc(title),
        esc(desc.trim())
    );
    let fills = [
        "#1d4f91".to_string(),
        format!("url(#{id}-hatch)"),
        format!("url(#{id}-dots)"),
    ];
    for (i, c) in categories.iter().enumerate() {
        let y0 = 10.0 + group_h * i as f64;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"12\">{}</text>",
            label_w - 8.0,
            y0 + group_h / 2.0,
            esc(&shorten(c, 40))
        );
        for (k, s) in series.iter().enumerate() {
            let y = y0 + gap + bar_h * k as f64;
            let v = s.values[i];
            let w = v.map(|v| (v / max * plot_w).max(0.0)).unwrap_or(0.0);
            let _ = writeln!(
                svg,
                "<rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\" stroke=\"#1b1b1b\" stroke-width=\"0.5\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{} {}</text>",
                bar_h - 2.0,
                fills[k % fills.len()],
                label_w + w + 4.0,
                y + bar_h - 4.0,
                esc(&s.name),
                show(v)
            );
        }
    }
    svg.push_str("</svg>\n");
    let legend: Vec<String> = series
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let look = ["solid bars", "hatched bars", "dotted bars"][k % 3];
            format!("{} ({look})", esc(&s.name))
        })
        .collect();
    let _ = write!(
        svg,
        "<figcaption>{}. Key: {}. The same figures are in the table below.</figcaption>\n</figure>\n",
        esc(title),
        legend.join("; ")
    );
    svg
}
