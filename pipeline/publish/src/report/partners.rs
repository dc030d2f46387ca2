//! The partners page: each partner against the others and the partnership.

use super::*;

/// One figure of the partners' comparison: a row key and each level's value.
pub(super) type Comparison = BTreeMap<Vec<String>, BTreeMap<usize, (Option<f64>, bool)>>;

/// The partners' comparison page: for each indicator run per partner, the
/// headline figures of every partner and of the partnership side by side.
/// Only published (disclosure-controlled) values appear; a withheld one
/// stays withheld ([c]).
pub(crate) fn partners_page(root: &Path, partners: &[String]) -> Vec<Block> {
    let mut body = vec![Block::note(format!(
        "Each partner's figures and the partnership's, from the published files. {SUPPRESSED_NOTE} Cells are also withheld where a partner's figure could be worked out from the partnership's and the other partners'."
    ))];
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join(eqpipe_core::layout::INDICATORS_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    let mut heads: Vec<String> = partners.to_vec();
    heads.push("Partnership".into());
    for d in dirs {
        let name = d
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let mut files: Vec<PathBuf> = partners
            .iter()
            .map(|id| d.join(eqpipe_core::layout::partition(id)).join(PART_FILE))
            .collect();
        files.push(eqpipe_store::files::published_file(root, &name));
        if !files[0].exists() {
            continue;
        }
        let Some(dataset) = eqpipe_store::files::file_metadata(&files[0])
            .and_then(|kv| kv.get(eqpipe_core::provenance::keys::DATASET).cloned())
        else {
            continue;
        };
        let mut table: Comparison = BTreeMap::new();
        let (title, unit) = match dataset.as_str() {
            "workforce_representation" => {
                ("Workforce share of each group (whole organisation)", "%")
            }
            "pay_gap" => ("Pay gaps", ""),
            _ => continue,
        };
        for (level, f) in files.iter().enumerate() {
            for b in read(f).map(|(b, _)| b).unwrap_or_default() {
                let c = Cols(&b);
                let sup = c.flag("suppressed");
                if dataset == "workforce_representation" {
                    let (scope, ch, cat, v) = (
                        c.text("scope"),
                        c.text("characteristic"),
                        c.text("category"),
                        c.num("share_pct"),
                    );
                    for i in 0..b.num_rows() {
                        if scope[i] == "organisation" {
                            table
                                .entry(vec![
                                    characteristic_title(&ch[i]).to_string(),
                                    label(&cat[i]),
                                ])
                                .or_default()
                                .entry(level)
                                .or_insert((v[i], sup[i]));
                        }
                    }
                } else {
                    let (dim, measure, group, v) = (
                        c.text("dimension"),
                        c.text("measure"),
                        c.text("group"),
                        c.num("value"),
                    );
                    for i in 0..b.num_rows() {
                        table
                            .entry(vec![dim[i].clone(), measure[i].clone(), group[i].clone()])
                            .or_default()
                            .entry(level)
                            .or_insert((v[i], sup[i]));
                    }
                }
            }
        }
        if table.is_empty() {
            continue;
        }
        let mut head = vec!["Figure"];
        head.extend(heads.iter().map(String::as_str));
        let mut t = Table::new(
            format!("{title} ({name}), each partner and the partnership"),
            &head,
        );
        for (key, cells) in &table {
            let row = (0..heads.len())
                .map(|level| {
                    Cell::n(match cells.get(&level) {
                        Some((v, s)) if unit == "%" => pct(*v, *s),
                        Some((v, s)) => match (v, s) {
                            (_, true) => "[c]".into(),
                            (Some(v), _) => format!("{v:.1}"),
                            (None, _) => "–".into(),
                        },
                        None => "–".into(),
                    })
                })
                .collect();
            t.row(key.join(" · "), row);
        }
        body.push(Block::h(2, title));
        body.push(t.into());
    }
    body
}
