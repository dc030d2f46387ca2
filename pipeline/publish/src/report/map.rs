//! Maps drawn from the `boundaries` dataset (GeoParquet): a choropleth of
//! an area's wards on its page, a locator map on each ward's page. Inline
//! SVG, no script and no tiles.
//!
//! The choropleth's classes are **fixed breaks** the legend states (the
//! deprivation map's 0%, up to 10%, 10-25%, 25-50%, over 50%: quantiles
//! would put most classes at 0%, since most wards have no neighbourhood in
//! England's most deprived 20%), shown
//! with a sequential blue scale *and* a pattern per class and each area's
//! value written on it, so colour is never the only cue. Label text is
//! black or white, whichever has the higher contrast against its class's
//! colour (at least 4.5:1, WCAG AA, checked in the tests). Withheld values
//! are grey with `[c]`, missing ones white with `–`. The SVG has a title
//! and a description stating every area's figure, and the table beside it
//! gives the same figures.

use super::*;

/// An area's shape, as read from `boundaries`.
pub(super) struct Shape {
    pub(super) code: String,
    pub(super) name: String,
    pub(super) parent: String,
    parts: Vec<Vec<(f64, f64)>>,
    label: Option<(f64, f64)>,
}

/// The published `boundaries` files' areas, the newest vintage of each code.
pub(super) fn read_boundaries(root: &Path) -> BTreeMap<String, Shape> {
    let mut out: BTreeMap<String, (String, Shape)> = BTreeMap::new();
    let dir = root
        .join(eqpipe_core::layout::DATASETS_DIR)
        .join("boundaries");
    let Ok(sources) = std::fs::read_dir(&dir) else {
        return BTreeMap::new();
    };
    let mut sources: Vec<PathBuf> = sources.flatten().map(|e| e.path()).collect();
    sources.sort();
    for s in sources {
        let Some((batches, _)) = read(&s.join(PART_FILE)) else {
            continue;
        };
        for b in &batches {
            let c = Cols(b);
            let (code, name, parent, vintage) = (
                c.text("area_code"),
                c.text("area_name"),
                c.text("parent_code"),
                c.text("vintage"),
            );
            let (lon, lat) = (c.num("label_lon"), c.num("label_lat"));
            let Some(geometry) = b
                .column_by_name("geometry")
                .and_then(|g| g.as_any().downcast_ref::<arrow_array::BinaryArray>())
            else {
                continue;
            };
            for i in 0..b.num_rows() {
                let Some(parts) = geometry
                    .is_valid(i)
                    .then(|| eqpipe_store::files::geo::parts(geometry.value(i)))
                    .flatten()
                else {
                    continue;
                };
                let newer = out.get(&code[i]).is_none_or(|(v, _)| *v < vintage[i]);
                if newer {
                    out.insert(
                        code[i].clone(),
                        (
                            vintage[i].clone(),
                            Shape {
                                code: code[i].clone(),
                                name: name[i].clone(),
                                parent: parent[i].clone(),
                                parts,
                                label: lon[i].zip(lat[i]),
                            },
                        ),
                    );
                }
            }
        }
    }
    out.into_iter().map(|(k, (_, s))| (k, s)).collect()
}

/// Each area's figure by code: (value, withheld).
pub(super) type Values = BTreeMap<String, (Option<f64>, bool)>;

/// The sequential scale (ColorBrewer Blues, five classes).
pub(super) const COLOURS: [&str; 5] = ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"];
const WITHHELD: &str = "#d9d9d9";

/// Black or white text, whichever reads better on `fill`.
pub(super) fn ink(fill: &str) -> &'static str {
    if contrast(fill, "#000000") >= contrast(fill, "#ffffff") {
        "#000000"
    } else {
        "#ffffff"
    }
}

/// A value's class: how many breaks it is above.
fn class_of(v: f64, breaks: &[f64]) -> usize {
    breaks.iter().filter(|b| v > **b).count()
}

/// The SVG patterns, one per class (the first plain), and the withheld one.
fn patterns(id: &str) -> String {
    let shapes = [
        "",
        "<circle cx=\"3\" cy=\"3\" r=\"1\"/>",
        "<path d=\"M0,8 L8,0\" stroke-width=\"1\"/>",
        "<path d=\"M0,8 L8,0 M0,0 L8,8\" stroke-width=\"1\"/>",
        "<path d=\"M0,4 L4,0 M4,8 L8,4 M0,8 L8,0\" stroke-width=\"1.2\"/>",
    ];
    let mut s = String::from("<defs>");
    for (k, body) in shapes.iter().enumerate().skip(1) {
        let colour = ink(COLOURS[k]);
        let _ = write!(
            s,
            "<pattern id=\"{id}-p{k}\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\"><g fill=\"{colour}\" stroke=\"{colour}\" opacity=\"0.35\">{body}</g></pattern>"
        );
    }
    let _ = write!(
        s,
        "<pattern id=\"{id}-pc\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\"><path d=\"M0,6 L6,0\" stroke=\"#1b1b1b\" stroke-width=\"0.8\" opacity=\"0.5\"/></pattern></defs>"
    );
    s
}

/// A projection of the shapes' extent onto a `width`-wide box: an
/// equirectangular projection with longitude scaled by the cosine of the
/// middle latitude (true shapes at a city's scale).
struct Frame {
    lon0: f64,
    lat1: f64,
    k: f64,
    scale: f64,
    height: f64,
}

impl Frame {
    fn new(shapes: &[&Shape], width: f64) -> Option<Frame> {
        let pts = shapes.iter().flat_map(|s| s.parts.iter().flatten());
        let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
        for (x, y) in pts {
            b = [b[0].min(*x), b[1].min(*y), b[2].max(*x), b[3].max(*y)];
        }
        if b[0] >= b[2] || b[1] >= b[3] {
            return None;
        }
        let k = ((b[1] + b[3]) / 2.0).to_radians().cos();
        let scale = (width - 20.0) / ((b[2] - b[0]) * k);
        Some(Frame {
            lon0: b[0],
            lat1: b[3],
            k,
            scale,
            height: (b[3] - b[1]) * scale + 20.0,
        })
    }

    fn at(&self, (lon, lat): (f64, f64)) -> (f64, f64) {
        (
            10.0 + (lon - self.lon0) * self.k * self.scale,
            10.0 + (self.lat1 - lat) * self.scale,
        )
    }

    fn path(&self, s: &Shape) -> String {
        let mut d = String::new();
        for part in &s.parts {
            for (i, p) in part.iter().enumerate() {
                let (x, y) = self.at(*p);
                let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
            }
            d.push('Z');
        }
        d
    }

    /// Where the area's label goes: its label point, else its box's middle.
    fn label(&self, s: &Shape) -> (f64, f64) {
        let p = s.label.unwrap_or_else(|| {
            let pts = s.parts.iter().flatten();
            let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
            for (x, y) in pts {
                (x0, y0, x1, y1) = (x0.min(*x), y0.min(*y), x1.max(*x), y1.max(*y));
            }
            ((x0 + x1) / 2.0, (y0 + y1) / 2.0)
        });
        self.at(p)
    }
}

/// A choropleth of `shapes` by `values` (code → (value, withheld)), as a
/// figure with its legend, then the table of the same figures. `classified`
/// says how the `breaks` were chosen ("fixed breaks", "quintiles").
// Long: the SVG, its description, legend and table share the classes.
pub(super) fn choropleth(
    id: &str,
    title: &str,
    shapes: &[&Shape],
    values: &Values,
    (breaks, classified): (&[f64], &str),
    show: &dyn Fn(Option<f64>) -> String,
) -> Vec<Block> {
    let Some(frame) = Frame::new(shapes, 640.0) else {
        return Vec::new();
    };
    let known: Vec<f64> = shapes
        .iter()
        .filter_map(|s| values.get(&s.code))
        .filter(|v| !v.1)
        .filter_map(|v| v.0)
        .collect();
    let classes = breaks.len() + 1;
    let (lo, hi) = known
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    let range = |k: usize| {
        let from = if k == 0 {
            lo.min(breaks.first().copied().unwrap_or(lo))
        } else {
            breaks[k - 1]
        };
        let to = if k + 1 == classes {
            hi.max(from)
        } else {
            breaks[k]
        };
        if (to - from).abs() < 1e-12 {
            show(Some(from))
        } else if k == 0 {
            format!("{} to {}", show(Some(from)), show(Some(to)))
        } else {
            format!("over {} to {}", show(Some(from)), show(Some(to)))
        }
    };
    // Each class's colour: spread over the scale when there are fewer.
    let colour_of = |k: usize| {
        let at = if classes == 1 {
            2
        } else {
            k * 4 / (classes - 1)
        };
        (at, COLOURS[at])
    };
    let mut body = String::new();
    let mut described = Vec::new();
    for s in shapes {
        let (value, withheld) = values.get(&s.code).copied().unwrap_or((None, false));
        let (fill, pattern, text) = match (value, withheld) {
            (_, true) => (WITHHELD, Some(format!("{id}-pc")), "[c]".to_string()),
            (Some(v), _) => {
                let (at, c) = colour_of(class_of(v, breaks));
                (c, (at > 0).then(|| format!("{id}-p{at}")), show(Some(v)))
            }
            (None, _) => ("#ffffff", None, "–".to_string()),
        };
        let d = frame.path(s);
        let _ = write!(
            body,
            "<g><title>{}: {}</title><path d=\"{d}\" fill=\"{fill}\" stroke=\"#505a5f\" stroke-width=\"0.8\" fill-rule=\"evenodd\"/>",
            esc(&s.name),
            esc(&text)
        );
        if let Some(p) = pattern {
            let _ = write!(
                body,
                "<path d=\"{d}\" fill=\"url(#{p})\" stroke=\"none\" fill-rule=\"evenodd\"/>"
            );
        }
        let (x, y) = frame.label(s);
        let colour = ink(fill);
        let _ = write!(
            body,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" dominant-baseline=\"middle\" font-size=\"11\" fill=\"{colour}\" stroke=\"{fill}\" stroke-width=\"3\" paint-order=\"stroke\">{}</text></g>",
            esc(&text)
        );
        described.push(format!("{} {}", s.name, text));
    }
    let classes_text: Vec<String> = (0..classes)
        .map(|k| format!("class {} of {classes}, {}", k + 1, range(k)))
        .collect();
    let desc = format!(
        "Map of {} areas shaded by class ({classified}: {}), darker for higher values; each area is labelled with its figure. {}.",
        shapes.len(),
        classes_text.join("; "),
        described.join(", ")
    );
    // The legend, inside the picture: each class's swatch (colour and
    // pattern) and range, then the withheld swatch.
    let mut legend = String::new();
    let top = frame.height + 6.0;
    let entries: Vec<(String, Option<String>, String)> = (0..classes)
        .map(|k| {
            let (at, c) = colour_of(k);
            (
                c.to_string(),
                (at > 0).then(|| format!("{id}-p{at}")),
                range(k),
            )
        })
        // The withheld swatch where an area on the map is withheld.
        .chain(
            shapes
                .iter()
                .any(|s| values.get(&s.code).is_some_and(|v| v.1))
                .then(|| {
                    (
                        WITHHELD.to_string(),
                        Some(format!("{id}-pc")),
                        "[c] withheld".to_string(),
                    )
                }),
        )
        .collect();
    for (row, (fill, pattern, label)) in entries.iter().enumerate() {
        let y = top + row as f64 * 18.0;
        let _ = write!(
            legend,
            "<rect x=\"10\" y=\"{y:.0}\" width=\"18\" height=\"12\" fill=\"{fill}\" stroke=\"#505a5f\"/>"
        );
        if let Some(p) = pattern {
            let _ = write!(
                legend,
                "<rect x=\"10\" y=\"{y:.0}\" width=\"18\" height=\"12\" fill=\"url(#{p})\"/>"
            );
        }
        let _ = write!(
            legend,
            "<text x=\"34\" y=\"{:.0}\" font-size=\"12\" fill=\"#000000\">{}</text>",
            y + 10.0,
            esc(label)
        );
    }
    let height = top + entries.len() as f64 * 18.0 + 4.0;
    let figure = format!(
        "<figure>\n<svg role=\"img\" aria-labelledby=\"{id}-t {id}-d\" viewBox=\"0 0 640 {height:.0}\" width=\"640\" height=\"{height:.0}\" xmlns=\"http://www.w3.org/2000/svg\"><title id=\"{id}-t\">{t}</title><desc id=\"{id}-d\">{d}</desc>{defs}{body}{legend}</svg>\n<figcaption>{t}. Classes are {c}; the legend is below the map, and the table after it gives every area's figure.</figcaption>\n</figure>\n",
        t = esc(title),
        d = esc(&desc),
        c = esc(classified),
        defs = patterns(id),
    );
    let mut t = Table::new(
        format!("{title}: the figures on the map"),
        &["Area", "Value", "Class"],
    );
    for sh in shapes {
        let (value, withheld) = values.get(&sh.code).copied().unwrap_or((None, false));
        let (text, class) = match (value, withheld) {
            (_, true) => ("[c]".to_string(), "withheld".to_string()),
            (Some(v), _) => (
                show(Some(v)),
                format!("{} of {classes}", class_of(v, breaks) + 1),
            ),
            (None, _) => ("–".to_string(), "no figure".to_string()),
        };
        t.row(sh.name.clone(), vec![Cell::n(text), Cell::t(class)]);
    }
    vec![Block::figure(figure), t.into()]
}

/// Quintile breaks of `values` (R's type 7 quantiles at 20, 40, 60 and
/// 80%), each kept once: five classes with about equal numbers of areas,
/// fewer where values tie (many wards at £0).
pub(super) fn quintile_breaks(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let mut out: Vec<f64> = Vec::new();
    if v.is_empty() {
        return out;
    }
    for p in [0.2, 0.4, 0.6, 0.8] {
        let h = (v.len() - 1) as f64 * p;
        let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
        let q = v[lo] + (h - lo as f64) * (v[hi] - v[lo]);
        if out.last().is_none_or(|l| (q - l).abs() > 1e-9) {
            out.push(q);
        }
    }
    out
}

/// A locator map: `shapes` outlined, the one with `code` filled and
/// hatched, its name written on it.
pub(super) fn locator(id: &str, title: &str, shapes: &[&Shape], code: &str) -> String {
    let Some(frame) = Frame::new(shapes, 420.0) else {
        return String::new();
    };
    let mut body = String::new();
    let mut name = String::new();
    for s in shapes {
        let here = s.code == code;
        let fill = if here { COLOURS[4] } else { "#f3f2f1" };
        let d = frame.path(s);
        let _ = write!(
            body,
            "<path d=\"{d}\" fill=\"{fill}\" stroke=\"#505a5f\" stroke-width=\"0.8\" fill-rule=\"evenodd\"><title>{}</title></path>",
            esc(&s.name)
        );
        if here {
            name.clone_from(&s.name);
            let _ = write!(
                body,
                "<path d=\"{d}\" fill=\"url(#{id}-p4)\" stroke=\"#1b1b1b\" stroke-width=\"2\" fill-rule=\"evenodd\"/>"
            );
        }
    }
    if let Some(s) = shapes.iter().find(|s| s.code == code) {
        let (x, y) = frame.label(s);
        let _ = write!(
            body,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" dominant-baseline=\"middle\" font-size=\"12\" fill=\"#ffffff\" stroke=\"{}\" stroke-width=\"3\" paint-order=\"stroke\">{}</text>",
            COLOURS[4],
            esc(&s.name)
        );
    }
    format!(
        "<figure>\n<svg role=\"img\" aria-labelledby=\"{id}-t {id}-d\" viewBox=\"0 0 420 {h:.0}\" width=\"420\" height=\"{h:.0}\" xmlns=\"http://www.w3.org/2000/svg\"><title id=\"{id}-t\">{t}</title><desc id=\"{id}-d\">{d}</desc>{defs}{body}</svg>\n<figcaption>{t}: the area filled dark and hatched among its neighbours.</figcaption>\n</figure>\n",
        h = frame.height,
        t = esc(title),
        d = esc(&format!(
            "Map of {} areas with {name} shown filled and hatched, the others outlined.",
            shapes.len()
        )),
        defs = patterns(id),
    )
}

/// The share of each area's residents in England's most deprived 20% of
/// neighbourhoods (the overall IMD, the latest edition), from
/// `deprivation_profile`: what the area pages' choropleth shows, and its
/// title. Where no file of the edition gave population denominators (File 2
/// alone has none), the share of the area's neighbourhoods (LSOAs) among
/// the most deprived 20% instead, titled so: a map of dashes would say
/// every ward has no figure when each has one.
pub(super) fn deprivation_values(batches: &[RecordBatch]) -> Option<(String, Values)> {
    // (edition, code, residents' share, neighbourhoods' share)
    let mut rows: Vec<(f64, String, Option<f64>, Option<f64>)> = Vec::new();
    for b in batches {
        let c = Cols(b);
        let (code, domain, edition, p20, lsoas, deprived) = (
            c.text("area_code"),
            c.text("domain"),
            c.num("edition"),
            c.num("pct_population_most_deprived_20pct"),
            c.num("lsoas"),
            c.num("lsoas_most_deprived_20pct"),
        );
        for i in 0..b.num_rows() {
            if domain[i].starts_with("Index of Multiple Deprivation") {
                let share = match (deprived[i], lsoas[i]) {
                    (Some(d), Some(n)) if n > 0.0 => Some(d / n * 100.0),
                    _ => None,
                };
                rows.push((edition[i].unwrap_or(0.0), code[i].clone(), p20[i], share));
            }
        }
    }
    let latest = rows.iter().map(|r| r.0).fold(f64::MIN, f64::max);
    rows.retain(|r| r.0 == latest);
    let residents = rows.iter().any(|r| r.2.is_some());
    let values: Values = rows
        .into_iter()
        .map(|r| (r.1, (if residents { r.2 } else { r.3 }, false)))
        .collect();
    let what = if residents {
        "Residents in England's most deprived 20% of neighbourhoods"
    } else {
        "Neighbourhoods (LSOAs) among England's most deprived 20%"
    };
    (!values.is_empty()).then(|| {
        (
            format!("{what} (IoD{}), by ward", year(Some(latest))),
            values,
        )
    })
}

/// The map at the top of an area's page: a choropleth of its wards when
/// it has some in `boundaries`, else a locator among its neighbours.
pub(super) fn area_map(
    code: &str,
    name: &str,
    shapes: &BTreeMap<String, Shape>,
    values: Option<&(String, Values)>,
) -> Vec<Block> {
    let children: Vec<&Shape> = shapes.values().filter(|s| s.parent == code).collect();
    if !children.is_empty() {
        let Some((title, values)) = values else {
            return Vec::new();
        };
        let mut out = vec![Block::h(2, "Map")];
        out.extend(choropleth(
            "map",
            &format!("{title}: {name}"),
            &children,
            values,
            (&[0.0, 10.0, 25.0, 50.0], "fixed breaks"),
            &|v| pct(v, false),
        ));
        return out;
    }
    let Some(me) = shapes.get(code) else {
        return Vec::new();
    };
    let siblings: Vec<&Shape> = shapes
        .values()
        .filter(|s| !me.parent.is_empty() && s.parent == me.parent)
        .collect();
    if siblings.len() < 2 {
        return Vec::new();
    }
    vec![
        Block::h(2, "Where it is"),
        Block::figure(locator(
            "loc",
            &format!("{name} among its neighbouring areas"),
            &siblings,
            code,
        )),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_label_reads_at_aa_contrast() {
        for c in COLOURS.iter().chain([&WITHHELD, &"#ffffff"]) {
            let r = contrast(c, ink(c));
            assert!(r >= 4.5, "{c}: {r:.2}");
        }
        // White on #08519c (ColorBrewer's darkest blue) is above AAA's 7:1.
        assert!(contrast("#08519c", "#ffffff") > 7.0);
    }

    #[test]
    fn quintile_breaks_are_r_type_7_and_ties_collapse() {
        // 1..=11: the 20% quantile is at h = 2 (value 3), 40% at 4 (5), ...
        let v: Vec<f64> = (1..=11).map(f64::from).collect();
        assert_eq!(quintile_breaks(&v), [3.0, 5.0, 7.0, 9.0]);
        // Interpolated: 1..=4 at 20% is h = 0.6, 1.6.
        let q = quintile_breaks(&[4.0, 1.0, 3.0, 2.0]);
        assert!(
            (q[0] - 1.6).abs() < 1e-12 && (q[3] - 3.4).abs() < 1e-12,
            "{q:?}"
        );
        // Twenty wards at 0 and four with money: one break, at 0.
        let mut v = vec![0.0; 20];
        v.extend([10.0, 20.0, 30.0, 40.0]);
        assert_eq!(quintile_breaks(&v), [0.0]);
        // Ten at 0, ten at 10 to 100: 20% and 40% tie at 0; 60% is at
        // h = 11.4 (20 + 0.4 x 10), 80% at h = 15.2 (60 + 0.2 x 10).
        let mut v = vec![0.0; 10];
        v.extend((1..=10).map(|k| f64::from(k) * 10.0));
        let q = quintile_breaks(&v);
        assert_eq!(q.len(), 3, "{q:?}");
        assert!(
            q[0] == 0.0 && (q[1] - 24.0).abs() < 1e-9 && (q[2] - 62.0).abs() < 1e-9,
            "{q:?}"
        );
        assert!(quintile_breaks(&[]).is_empty());
    }

    #[test]
    fn a_choropleth_states_its_figures_and_marks_withheld_areas() {
        let sq = |x: f64| Shape {
            code: format!("E05{x}"),
            name: format!("Ward {x}"),
            parent: "E08".into(),
            parts: vec![vec![
                (x, 53.0),
                (x + 1.0, 53.0),
                (x + 1.0, 54.0),
                (x, 54.0),
                (x, 53.0),
            ]],
            label: None,
        };
        let shapes = [sq(0.0), sq(1.0), sq(2.0)];
        let refs: Vec<&Shape> = shapes.iter().collect();
        let mut values = BTreeMap::new();
        values.insert("E050".to_string(), (Some(10.0), false));
        values.insert("E051".to_string(), (Some(30.0), false));
        values.insert("E052".to_string(), (None, true));
        let html = tpl::blocks_html(&choropleth(
            "m",
            "Share <test>",
            &refs,
            &values,
            (&[10.0, 20.0], "fixed breaks"),
            &|v| pct(v, false),
        ));
        assert!(
            html.contains("role=\"img\"")
                && html.contains("<title id=\"m-t\">Share &lt;test&gt;</title>")
        );
        assert!(
            html.contains("Ward 0 10.0%, Ward 1 30.0%, Ward 2 [c]"),
            "{html}"
        );
        assert!(html.contains(">[c]</text>") && html.contains("fill=\"url(#m-pc)\""));
        assert!(html.contains("<caption>Share &lt;test&gt;: the figures on the map</caption>"));
        assert!(html.contains("Classes are fixed breaks"));
        // 10 is in the first class (up to 10), 30 in the third (over 20).
        assert!(html.contains("<td>1 of 3</td>") && html.contains("<td>3 of 3</td>"));
        assert!(html.contains("shaded by class (fixed breaks: class 1 of 3, "));
        assert!(html.contains(">[c] withheld</text>"));
        // Nothing withheld: no withheld swatch in the legend.
        values.insert("E052".to_string(), (Some(15.0), false));
        let html = tpl::blocks_html(&choropleth(
            "m",
            "Share",
            &refs,
            &values,
            (&[10.0, 20.0], "fixed breaks"),
            &|v| pct(v, false),
        ));
        assert!(!html.contains("[c] withheld"), "{html}");
    }
}
