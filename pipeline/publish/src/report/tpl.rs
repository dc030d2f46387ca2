//! The report's templates: one per page kind (`index.html`, `area.html`,
//! `topic.html`, `objectives.html`, `pack.html`) on a shared frame
//! (`base.html`), with shared pieces (`macros.html`) and the style sheet
//! (`report.css`), all in `pipeline/publish/templates/` and built into the
//! binary. A council's designer changes a page without reading Rust:
//! `[report] templates` names a folder whose files replace the built-in
//! ones of the same name (`eqpipe report-templates DIR` writes the built-in
//! set out to start from). Every value in an `.html` template is escaped;
//! only the drawings eqpipe makes itself (SVG charts and maps) are passed
//! as trusted. Undefined names are errors, so a misspelt field fails the
//! report by template, line and name instead of printing nothing.

use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::Serialize;

/// The built-in templates, by name.
pub const BUILT_IN: [(&str, &str); 8] = [
    ("base.html", include_str!("../../templates/base.html")),
    ("macros.html", include_str!("../../templates/macros.html")),
    ("index.html", include_str!("../../templates/index.html")),
    ("area.html", include_str!("../../templates/area.html")),
    ("topic.html", include_str!("../../templates/topic.html")),
    ("pack.html", include_str!("../../templates/pack.html")),
    (
        "objectives.html",
        include_str!("../../templates/objectives.html"),
    ),
    ("report.css", include_str!("../../templates/report.css")),
];

/// A template that cannot be read, compiled or rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A file of the templates folder cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file in the templates folder that replaces no built-in template: a
    /// misspelt name would otherwise be ignored without a word.
    #[error(
        "{path}: not one of the report's templates ({}); a file here replaces the built-in template of the same name",
        names()
    )]
    Unknown {
        /// The file.
        path: PathBuf,
    },
    /// A template that does not compile, or fails while rendering a page.
    #[error("report template {name}: {message}")]
    Template {
        /// The template's name, and the folder it came from when not built
        /// in.
        name: String,
        /// MiniJinja's account, with the line.
        message: String,
    },
}

fn names() -> String {
    BUILT_IN.map(|(n, _)| n).join(", ")
}

/// The templates a report is written with.
pub struct Templates {
    env: Environment<'static>,
    origin: Option<PathBuf>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("origin", &self.origin)
            .finish()
    }
}

impl Templates {
    /// The built-in templates, with those in `folder` (when given) in place
    /// of the built-in ones of the same name. Every template is compiled
    /// here, so a broken one is refused before any page is written.
    pub fn load(folder: Option<&Path>) -> Result<Self, TemplateError> {
        let mut sources: Vec<(String, String)> = BUILT_IN
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        if let Some(dir) = folder {
            let read = |path: &Path| {
                std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            };
            let entries = std::fs::read_dir(dir).map_err(|source| TemplateError::Read {
                path: dir.to_path_buf(),
                source,
            })?;
            let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            files.sort();
            for path in files.into_iter().filter(|p| p.is_file()) {
                let name = path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                let Some(slot) = sources.iter_mut().find(|(n, _)| *n == name) else {
                    return Err(TemplateError::Unknown { path });
                };
                slot.1 = read(&path)?;
            }
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        // Escaped as the rest of the report escapes (`'` as `&#39;`, `/`
        // left alone), so text reads the same in the page's source.
        env.set_formatter(|out, state, value| match value.as_str() {
            Some(s) if state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
                out.write_str(&super::html::esc(s))?;
                Ok(())
            }
            _ => minijinja::escape_formatter(out, state, value),
        });
        env.add_global("suppressed", super::html::SUPPRESSED_NOTE);
        for (name, source) in sources {
            env.add_template_owned(name.clone(), source)
                .map_err(|e| template_error(&name, folder, &e))?;
        }
        Ok(Templates {
            env,
            origin: folder.map(Path::to_path_buf),
        })
    }

    /// Renders the template `name` with `context`.
    pub(crate) fn render(
        &self,
        name: &str,
        context: impl Serialize,
    ) -> Result<String, TemplateError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(context))
            .map_err(|e| template_error(name, self.origin.as_deref(), &e))
    }
}

fn template_error(name: &str, folder: Option<&Path>, e: &minijinja::Error) -> TemplateError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    let from = folder
        .filter(|d| d.join(name).exists())
        .map(|d| format!(" (from {})", d.display()))
        .unwrap_or_default();
    TemplateError::Template {
        name: format!("{name}{from}"),
        message,
    }
}

/// Markup eqpipe made itself (a chart, a map), passed through unescaped.
pub(crate) fn trusted(html: String) -> Value {
    Value::from_safe_string(html)
}

/// A table for the `table` macro: a caption, the column headers, rows.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Table {
    pub caption: String,
    pub head: Vec<String>,
    pub rows: Vec<Row>,
}

/// A row: its header cell (when it has one), indented when it is a
/// subcategory, linked when `href` is set, with a note in smaller type
/// after it where `note` is set; then its cells.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Row {
    pub head: Option<String>,
    pub sub: bool,
    pub href: Option<String>,
    pub note: Option<String>,
    pub cells: Vec<Cell>,
}

/// A cell's text; figures are right-aligned in tabular digits, names of
/// files and codes set as code.
#[derive(Debug, Serialize)]
pub(crate) struct Cell {
    pub text: String,
    pub numeric: bool,
    pub code: bool,
    pub strong: bool,
}

impl Cell {
    /// A figure.
    pub(crate) fn n(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            numeric: true,
            code: false,
            strong: false,
        }
    }
    /// Words.
    pub(crate) fn t(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            numeric: false,
            code: false,
            strong: false,
        }
    }
    /// A file's name or a code (nothing shown when empty).
    pub(crate) fn code(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            numeric: false,
            code: true,
            strong: false,
        }
    }
}

impl Table {
    pub(crate) fn new(caption: impl Into<String>, head: &[&str]) -> Table {
        Table {
            caption: caption.into(),
            head: head.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }
    /// Adds a row headed by `head`.
    pub(crate) fn row(&mut self, head: impl Into<String>, cells: Vec<Cell>) -> &mut Row {
        self.rows.push(Row {
            head: Some(head.into()),
            cells,
            ..Row::default()
        });
        self.rows.last_mut().expect("just pushed")
    }
}

/// A piece of a topic page, rendered by the `blocks` macro
/// (`macros.html`): the page's content is data, its markup the template's.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Block {
    /// A heading (`level` 2 or 3), with an anchor where `id` is set.
    Heading {
        level: u8,
        text: String,
        id: Option<String>,
    },
    /// A paragraph of text runs; a note is set smaller.
    Para { parts: Vec<Inline>, note: bool },
    /// A table.
    Table { table: Table },
    /// A chart or map eqpipe drew (trusted markup).
    Figure { html: Value },
}

/// A run of text in a paragraph: plain, strong, code, or a link.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Inline {
    pub text: String,
    pub strong: bool,
    pub code: bool,
    pub href: Option<String>,
}

impl Inline {
    pub(crate) fn strong(text: impl Into<String>) -> Inline {
        Inline {
            text: text.into(),
            strong: true,
            ..Inline::default()
        }
    }
    pub(crate) fn link(text: impl Into<String>, href: impl Into<String>) -> Inline {
        Inline {
            text: text.into(),
            href: Some(href.into()),
            ..Inline::default()
        }
    }
}

impl From<&str> for Inline {
    fn from(text: &str) -> Inline {
        Inline {
            text: text.to_string(),
            ..Inline::default()
        }
    }
}

impl From<String> for Inline {
    fn from(text: String) -> Inline {
        Inline {
            text,
            ..Inline::default()
        }
    }
}

impl Block {
    /// A heading of `level` with no anchor.
    pub(crate) fn h(level: u8, text: impl Into<String>) -> Block {
        Block::Heading {
            level,
            text: text.into(),
            id: None,
        }
    }
    /// A paragraph of plain text.
    pub(crate) fn p(text: impl Into<String>) -> Block {
        Block::Para {
            parts: vec![Inline::from(text.into())],
            note: false,
        }
    }
    /// A paragraph of runs.
    pub(crate) fn rich(parts: Vec<Inline>) -> Block {
        Block::Para { parts, note: false }
    }
    /// A note (smaller text) of plain text.
    pub(crate) fn note(text: impl Into<String>) -> Block {
        Block::Para {
            parts: vec![Inline::from(text.into())],
            note: true,
        }
    }
    /// A drawing eqpipe made.
    pub(crate) fn figure(html: String) -> Block {
        Block::Figure {
            html: trusted(html),
        }
    }
}

impl From<Table> for Block {
    fn from(table: Table) -> Block {
        Block::Table { table }
    }
}

/// A run's time for the `time` macro: the exact instant and how people
/// write it (`1 December 2026, 20:29 UTC`); text that is not a timestamp as
/// it is.
#[derive(Debug, Serialize)]
pub(crate) struct Stamp {
    pub datetime: Option<String>,
    pub text: String,
}

pub(crate) fn stamp(ts: &str) -> Stamp {
    match chrono::DateTime::parse_from_rfc3339(ts) {
        Ok(t) => Stamp {
            datetime: Some(ts.to_string()),
            text: format!(
                "{} UTC",
                t.with_timezone(&chrono::Utc).format("%-d %B %Y, %H:%M")
            ),
        },
        Err(_) => Stamp {
            datetime: None,
            text: ts.to_string(),
        },
    }
}

/// Blocks as the built-in `blocks` macro writes them (for tests).
#[cfg(test)]
pub(crate) fn blocks_html(blocks: &[Block]) -> String {
    Templates::load(None)
        .expect("the built-in templates compile")
        .env
        .render_named_str(
            "t.html",
            "{% import \"macros.html\" as m %}{{ m.blocks(b) }}",
            minijinja::context! { b => blocks },
        )
        .expect("the blocks render")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table::new("Sex <of residents>", &["Category", "Count"]);
        t.row("Female & other", vec![Cell::n("1,234")]).sub = true;
        t
    }

    #[test]
    fn every_built_in_template_compiles_and_values_are_escaped_but_drawings_are_not() {
        let t = Templates::load(None).unwrap();
        let html = t
            .render(
                "topic.html",
                minijinja::context! {
                    title => "Pay & <grades>: women's/men's",
                    note => true,
                    blocks => vec![
                        Block::h(2, "Grades & bands"),
                        Block::rich(vec!["See ".into(), Inline::link("the method", "index.html#method"), Inline::strong(" <now>")]),
                        Block::figure("<svg role=\"img\"><title>x</title></svg>".into()),
                        Block::from(table()),
                        Block::note("Small print"),
                    ],
                    method => true,
                },
            )
            .unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        // Escaped as the report's Rust-written sections escape.
        assert!(html.contains("<title>Pay &amp; &lt;grades&gt;: women&#39;s/men&#39;s</title>"));
        assert!(html.contains("<h1>Pay &amp; &lt;grades&gt;: women&#39;s/men&#39;s</h1>"));
        assert!(html.contains("<svg role=\"img\"><title>x</title></svg>"));
        assert!(html.contains("<h2>Grades &amp; bands</h2>"));
        assert!(html.contains(
            "<p>See <a href=\"index.html#method\">the method</a><strong> &lt;now&gt;</strong></p>"
        ));
        assert!(html.contains("<caption>Sex &lt;of residents&gt;</caption>"));
        assert!(html.contains("<p class=\"note\">Small print</p>"));
        assert!(html.contains(super::super::html::SUPPRESSED_NOTE));
        assert!(html.contains("<a href=\"index.html#method\">Method</a>"));
        // The style sheet is included as it is, quotes and all.
        assert!(html.contains("\"Segoe UI\"") && html.contains("@media print{"));
        // A table: caption, scoped headers, a sub-row, a figure cell.
        let page = Templates::load(None)
            .unwrap()
            .env
            .render_named_str(
                "t.html",
                "{% import \"macros.html\" as m %}{{ m.table(t) }}",
                minijinja::context! { t => table() },
            )
            .unwrap();
        assert!(page.contains("<caption>Sex &lt;of residents&gt;</caption>"));
        assert!(page.contains("<th scope=\"col\">Category</th><th scope=\"col\">Count</th>"));
        assert!(page.contains(
            "<tr><th scope=\"row\" class=\"sub\">Female &amp; other</th><td class=\"n\">1,234</td></tr>"
        ));
    }

    #[test]
    fn a_folder_replaces_templates_by_name_and_refuses_what_would_be_ignored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("topic.html"),
            "{% extends \"base.html\" %}{% block content %}<p class=\"council\">Our council</p>{% endblock %}",
        )
        .unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let html = t
            .render(
                "topic.html",
                minijinja::context! { title => "T", note => false, blocks => Vec::<Block>::new(), method => false },
            )
            .unwrap();
        assert!(html.contains("<p class=\"council\">Our council</p>"));
        // The frame is still the built-in one.
        assert!(html.contains("<nav aria-label=\"Report\">"));

        // A name that replaces nothing is refused, naming the file.
        std::fs::write(dir.path().join("idnex.html"), "x").unwrap();
        let e = Templates::load(Some(dir.path())).unwrap_err().to_string();
        assert!(
            e.contains("idnex.html: not one of the report's templates"),
            "{e}"
        );
        std::fs::remove_file(dir.path().join("idnex.html")).unwrap();

        // A syntax error is refused at load, by template and line.
        std::fs::write(dir.path().join("area.html"), "<p>\n{% if %}\n").unwrap();
        let e = Templates::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.starts_with("report template area.html (from "), "{e}");
        assert!(e.contains("(in area.html:2)"), "{e}");
        std::fs::remove_file(dir.path().join("area.html")).unwrap();

        // A misspelt field fails the page instead of printing nothing.
        std::fs::write(
            dir.path().join("topic.html"),
            "{% extends \"base.html\" %}{% block content %}{{ blokcs }}{% endblock %}",
        )
        .unwrap();
        let e = Templates::load(Some(dir.path()))
            .unwrap()
            .render(
                "topic.html",
                minijinja::context! { title => "T", note => false, blocks => Vec::<Block>::new(), method => false },
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("topic.html") && e.contains("undefined"), "{e}");
    }

    #[test]
    fn a_run_time_keeps_its_instant_and_reads_as_people_write_it() {
        let s = stamp("2026-12-01T20:29:37.645663072+00:00");
        assert_eq!(s.text, "1 December 2026, 20:29 UTC");
        assert_eq!(
            s.datetime.as_deref(),
            Some("2026-12-01T20:29:37.645663072+00:00")
        );
        let s = stamp("2026-06-01T09:05:00+01:00");
        assert_eq!(s.text, "1 June 2026, 08:05 UTC");
        let s = stamp("<not a time>");
        assert_eq!((s.datetime, s.text.as_str()), (None, "<not a time>"));
    }
}
