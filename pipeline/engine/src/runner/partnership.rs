//! A partnership inside a run: partners' sources kept apart, levels of
//! each indicator, and their publication together.

use super::*;

/// The partnership of a run: who owns which source, each partner's folders,
/// and the levels indicators run at.
pub(super) struct Partnering<'c> {
    pub(super) config: &'c Config,
    pub(super) root: PathBuf,
}

impl<'c> Partnering<'c> {
    /// Creates every partner's inbox (owner-only when it is under the
    /// restricted root).
    pub(super) fn new(config: &'c Config, root: &Path) -> Result<Self, String> {
        let p = Partnering {
            config,
            root: root.to_path_buf(),
        };
        for partner in &config.partners {
            let inbox = p.inbox(partner);
            store::create_dir(&inbox)
                .map_err(|e| format!("cannot create partner `{}`'s inbox: {e}", partner.id))?;
        }
        Ok(p)
    }

    pub(super) fn inbox(&self, p: &crate::partners::Partner) -> PathBuf {
        eqpipe_core::layout::Layout::new(&self.root).inbox(p, |x| self.config.resolve(x))
    }

    pub(super) fn owner(&self, source: &str) -> Option<&'c crate::partners::Partner> {
        self.config.partner_of(source)
    }

    /// `{partner}`, `{partner_name}`, `{inbox}` and `{partner.<key>}` for
    /// a partner's source.
    pub(super) fn source_vars(&self, p: &crate::partners::Partner) -> Vec<(String, String)> {
        crate::partners::vars(&p.id, &p.name, &p.vars, Some(&self.inbox(p)))
    }

    /// What a partner's step may reach.
    pub(super) fn scope(&self, p: &crate::partners::Partner) -> eqpipe_plugin_host::host::Scope {
        let mut denied = Vec::new();
        for q in self.config.partners.iter().filter(|q| q.id != p.id) {
            denied.push(eqpipe_core::layout::Layout::new(&self.root).partner_root(&q.id));
            denied.push(self.inbox(q));
        }
        eqpipe_plugin_host::host::Scope {
            partner: p.id.clone(),
            cache_dir: Some(Layout::new(&self.root).http_cache(Privacy::Partner(&p.id))),
            denied,
        }
    }

    /// A source's scope: a partner's own ([`Partnering::scope`]); in a
    /// partnership, a shared source may read no partner's folders at all
    /// (it could otherwise carry a partner's personal files into shared
    /// data).
    pub(super) fn source_scope(
        &self,
        partner: Option<&crate::partners::Partner>,
    ) -> Option<eqpipe_plugin_host::host::Scope> {
        match partner {
            Some(p) => Some(self.scope(p)),
            None if self.config.partners.is_empty() => None,
            None => Some(eqpipe_plugin_host::host::Scope {
                partner: String::new(),
                cache_dir: None,
                denied: self
                    .config
                    .partners
                    .iter()
                    .flat_map(|q| {
                        [
                            eqpipe_core::layout::Layout::new(&self.root).partner_root(&q.id),
                            self.inbox(q),
                        ]
                    })
                    .collect(),
            }),
        }
    }

    /// The levels an indicator runs at: every partner and the partnership
    /// when it reads a partner's data; none (one ordinary run) otherwise.
    pub(super) fn levels_for(
        &self,
        plugin: &Plugin,
        producers: &HashMap<String, Vec<String>>,
    ) -> Vec<crate::partners::Level> {
        let reads_partner_data = plugin
            .manifest
            .consumes
            .iter()
            .chain(&plugin.manifest.consumes_optional)
            .filter_map(|d| producers.get(d))
            .flatten()
            .any(|n| self.owner(n).is_some());
        if !reads_partner_data {
            return Vec::new();
        }
        let mut levels: Vec<crate::partners::Level> = self
            .config
            .partners
            .iter()
            .enumerate()
            .map(|(i, p)| crate::partners::Level {
                id: p.id.clone(),
                partner: Some(i),
            })
            .collect();
        levels.push(crate::partners::Level {
            id: self.config.partnership.id.clone(),
            partner: None,
        });
        levels
    }

    pub(super) fn level_vars(&self, level: &crate::partners::Level) -> Vec<(String, String)> {
        match level.partner {
            Some(i) => {
                let p = &self.config.partners[i];
                crate::partners::vars(&p.id, &p.name, &p.vars, None)
            }
            None => {
                let ps = &self.config.partnership;
                crate::partners::vars(&ps.id, ps.name.as_deref().unwrap_or(&ps.id), &ps.vars, None)
            }
        }
    }

    /// A level's unsuppressed rows: under the partner's own restricted
    /// root, or the restricted root's `indicators/<name>/partner=<id>/`.
    pub(super) fn unsuppressed_path(&self, level: &crate::partners::Level, name: &str) -> PathBuf {
        let layout = Layout::new(&self.root);
        match level.partner {
            Some(_) => layout.indicator_file(Privacy::Partner(&level.id), name),
            None => layout.level_file(Privacy::Restricted, name, &level.id),
        }
    }

    /// A level's published file.
    pub(super) fn published_path(&self, level: &crate::partners::Level, name: &str) -> PathBuf {
        Layout::new(&self.root).level_file(Privacy::Public, name, &level.id)
    }
}

/// Publishes a partnership's levels of one indicator together: reads every
/// level's unsuppressed rows, applies disclosure control across the levels
/// ([`eqpipe_store::protect::protect_levels`]) and commits each level's file
/// only when all were written.
#[allow(clippy::too_many_arguments)]
pub(super) fn publish_levels(
    shared: &Shared<'_>,
    name: &str,
    dataset: &str,
    contract: &eqpipe_plugin_sdk::Contract,
    policy: eqpipe_store::protect::Policy,
    levels: &[crate::partners::Level],
    level_reports: &[StepReport],
    partnering: &Partnering<'_>,
    report: &mut StepReport,
) -> Result<(), StepFailure> {
    let failed = |e: &dyn std::fmt::Display| StepFailure::failed(e.to_string());
    let partnership_file = levels
        .iter()
        .find(|l| l.partner.is_none())
        .map(|l| partnering.published_path(l, name));
    if level_reports
        .iter()
        .all(|r| r.status == StepStatus::Unchanged)
        && levels
            .iter()
            .all(|l| partnering.published_path(l, name).exists())
    {
        report.datasets.entry(dataset.to_string()).or_default().file =
            partnership_file.map(|f| rel(&shared.root, &f));
        return Err(StepFailure {
            status: StepStatus::Unchanged,
            message: "no level changed: the published files stand".into(),
        });
    }
    let mut present = Vec::new();
    let mut batches = Vec::new();
    for level in levels {
        if let Some((b, kv)) = eqpipe_store::files::read(&partnering.unsuppressed_path(level, name))
        {
            batches.extend(b);
            present.push((level, kv));
        }
    }
    if batches.is_empty() {
        return Err(StepFailure {
            status: StepStatus::Skipped,
            message: "no level has data to publish".into(),
        });
    }
    let schema = batches[0].schema();
    let all = arrow_select::concat::concat_batches(&schema, &batches).map_err(|e| failed(&e))?;
    let protected =
        eqpipe_store::protect::protect_levels(&all, contract, &policy).map_err(|e| failed(&e))?;
    let published = protected.batch.expect("a protected batch");
    let ids = arrow_cast::cast(
        published
            .column_by_name(crate::partners::PARTNER_COLUMN)
            .ok_or_else(|| failed(&"the levels' rows have no partner_id"))?,
        &arrow_schema::DataType::Utf8,
    )
    .map_err(|e| failed(&e))?;
    let ids = arrow_array::cast::AsArray::as_string::<i32>(&ids);
    use arrow_array::Array;
    let mut pending = Vec::new();
    for (level, kv) in present {
        let mask: arrow_array::BooleanArray = (0..ids.len())
            .map(|i| Some(ids.is_valid(i) && ids.value(i) == level.id))
            .collect();
        let rows =
            arrow_select::filter::filter_record_batch(&published, &mask).map_err(|e| failed(&e))?;
        let mut md: Vec<(String, String)> = kv
            .into_iter()
            .filter(|(k, _)| {
                k.starts_with(eqpipe_core::provenance::keys::PREFIX)
                    && k != eqpipe_core::provenance::keys::DISCLOSURE
            })
            .collect();
        md.push((
            crate::partners::LEVEL_KEY.into(),
            if level.partner.is_some() {
                "partner"
            } else {
                "partnership"
            }
            .into(),
        ));
        md.push((
            eqpipe_core::provenance::keys::DISCLOSURE.into(),
            serde_json::json!({
                "threshold": policy.threshold,
                "suppress_zero": policy.suppress_zero,
                "across_partners": true,
                "suppressed_rows": protected.primary,
                "secondary_suppressed_rows": protected.secondary,
            })
            .to_string(),
        ));
        let mut w = store::PendingFile::create(
            partnering.published_path(level, name),
            &shared.run_id,
            schema.clone(),
        )
        .map_err(|e| failed(&e))?;
        w.write(&rows).map_err(|e| failed(&e))?;
        pending.push(w.finish(&md).map_err(|e| failed(&e))?);
    }
    for f in pending {
        let path = f.commit().map_err(|e| failed(&e))?;
        shared.keep_version(&path);
    }
    let entry = report.datasets.entry(dataset.to_string()).or_default();
    entry.file = partnership_file.map(|f| rel(&shared.root, &f));
    entry.stats.rows_in = all.num_rows() as u64;
    entry.stats.rows = published.num_rows() as u64;
    entry.stats.suppressed = protected.primary;
    entry.stats.secondary_suppressed = protected.secondary;
    tracing::info!(
        rows = published.num_rows(),
        suppressed = protected.primary,
        secondary = protected.secondary,
        "partnership levels published"
    );
    Ok(())
}
