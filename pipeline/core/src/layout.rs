//! Where everything lives under the output root. [`Layout`] is the one
//! place that joins path segments under it; the rest of the host asks it
//! (a tidy test holds that for the folder names). The on-disk layout is
//! what notebooks, DuckDB queries and `versions/` depend on: it never
//! changes without a migration.
//!
//! ```text
//! <root>/
//!   datasets/<dataset>/[partner=<id>/]source=<source>/part-0.parquet   public datasets
//!   indicators/<name>/[partner=<id>/]part-0.parquet                     published indicators
//!   quarantine/<run>/<step>.csv        .cache/http/   .state/<kind>/<step>.json
//!   runs/<run>.json   report/   exports/   catalog.json   metrics.prom   versions/<run>/…
//!   restricted/                         personal data, 0700 folders and 0600 files:
//!     datasets/ indicators/ quarantine/ .cache/ .state/ versions/   (the same names)
//!     partner=<id>/                     a partner's own restricted root
//!       datasets/ indicators/ quarantine/ .cache/ versions/ inbox/
//! ```

use std::path::{Path, PathBuf};

use crate::config::Partner;

/// The file name of a dataset partition or indicator output.
pub const PART_FILE: &str = "part-0.parquet";

/// The folder, under the output root, for personal (special-category) data:
/// folders 0700, files 0600. Nothing under it is published.
pub const RESTRICTED_DIR: &str = "restricted";

/// Folder of kept versions, under the output root (published files) and
/// under the restricted root (personal files, which never leave it).
pub const VERSIONS_DIR: &str = "versions";

/// The HTML report's folder.
pub const REPORT_DIR: &str = "report";

/// Folders of datasets and of indicator outputs, under each base.
pub const DATASETS_DIR: &str = "datasets";
/// See [`DATASETS_DIR`].
pub const INDICATORS_DIR: &str = "indicators";

/// The prefix of a partner's partition or restricted root: `partner=<id>`.
pub const PARTITION_PREFIX: &str = "partner=";

/// The fetch cache, under each base's `.cache`.
const HTTP_CACHE: [&str; 2] = [CACHE_DIR, "http"];

/// The fetch caches' folder, under each base.
pub const CACHE_DIR: &str = ".cache";

/// The upload staging folder, under a partner's restricted root.
pub const UPLOAD_STAGING: &str = ".uploads";

/// Step fingerprints (incremental runs), under the root or restricted root.
pub const STATE_DIR: &str = ".state";

/// True for paths under the restricted root.
pub fn is_restricted(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == RESTRICTED_DIR)
}

/// `partner=<id>`: a partner's partition folder name.
pub fn partition(id: &str) -> String {
    format!("{PARTITION_PREFIX}{id}")
}

/// The partner id of a `partner=<id>` folder name.
pub fn partition_id(folder: &str) -> Option<&str> {
    folder.strip_prefix(PARTITION_PREFIX)
}

/// Whose data a folder holds, and so which base it lives under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privacy<'a> {
    /// Published: the output root.
    Public,
    /// Personal: the restricted root.
    Restricted,
    /// A partner's personal data: its own restricted root.
    Partner(&'a str),
}

impl<'a> Privacy<'a> {
    /// Personal data (restricted, or a partner's) or not, for a partner.
    pub fn of(personal: bool, partner: Option<&'a str>) -> Privacy<'a> {
        match (personal, partner) {
            (false, _) => Privacy::Public,
            (true, None) => Privacy::Restricted,
            (true, Some(p)) => Privacy::Partner(p),
        }
    }
}

/// Every path under one output root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout of the output folder `root`.
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    /// The output folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `restricted/`.
    pub fn restricted(&self) -> PathBuf {
        self.root.join(RESTRICTED_DIR)
    }

    /// A partner's restricted root: `restricted/partner=<id>/`.
    pub fn partner_root(&self, id: &str) -> PathBuf {
        self.restricted().join(partition(id))
    }

    /// The base a privacy's folders hang from.
    pub fn base(&self, privacy: Privacy<'_>) -> PathBuf {
        match privacy {
            Privacy::Public => self.root.clone(),
            Privacy::Restricted => self.restricted(),
            Privacy::Partner(id) => self.partner_root(id),
        }
    }

    /// `<base>/datasets/`.
    pub fn datasets(&self, privacy: Privacy<'_>) -> PathBuf {
        self.base(privacy).join(DATASETS_DIR)
    }

    /// Where a source's partition of a dataset lives: personal datasets
    /// under the restricted root (a partner's under its own); a partner's
    /// public datasets in a `partner=<id>` partition.
    pub fn source_file(
        &self,
        dataset: &str,
        personal: bool,
        source: &str,
        partner: Option<&str>,
    ) -> PathBuf {
        let mut dir = self.datasets(Privacy::of(personal, partner)).join(dataset);
        if let (false, Some(p)) = (personal, partner) {
            dir = dir.join(partition(p));
        }
        dir.join(format!("source={source}")).join(PART_FILE)
    }

    /// `<base>/indicators/`.
    pub fn indicators(&self, privacy: Privacy<'_>) -> PathBuf {
        self.base(privacy).join(INDICATORS_DIR)
    }

    /// `<base>/indicators/<name>/part-0.parquet`.
    pub fn indicator_file(&self, privacy: Privacy<'_>, name: &str) -> PathBuf {
        self.indicators(privacy).join(name).join(PART_FILE)
    }

    /// A partnership level of an indicator:
    /// `<base>/indicators/<name>/partner=<id>/part-0.parquet`.
    pub fn level_file(&self, privacy: Privacy<'_>, name: &str, id: &str) -> PathBuf {
        self.indicators(privacy)
            .join(name)
            .join(partition(id))
            .join(PART_FILE)
    }

    /// `<base>/quarantine/<run>/`.
    pub fn quarantine(&self, privacy: Privacy<'_>, run_id: &str) -> PathBuf {
        self.base(privacy).join("quarantine").join(run_id)
    }

    /// `<base>/.cache/http/`.
    pub fn http_cache(&self, privacy: Privacy<'_>) -> PathBuf {
        let [a, b] = HTTP_CACHE;
        self.base(privacy).join(a).join(b)
    }

    /// A step's fingerprint (under the restricted root for steps that write
    /// personal data): `.state/<kind>/<step>.json`.
    pub fn fingerprint(&self, kind: &str, step: &str, personal: bool) -> PathBuf {
        let base = if personal {
            self.restricted()
        } else {
            self.root.clone()
        };
        base.join(STATE_DIR).join(kind).join(format!("{step}.json"))
    }

    /// Both folders of step fingerprints (cleared by `runs restore`).
    pub fn fingerprint_dirs(&self) -> [PathBuf; 2] {
        [self.root.join(STATE_DIR), self.restricted().join(STATE_DIR)]
    }

    /// `runs/`.
    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// `runs/<run>.json`.
    pub fn run_manifest(&self, run_id: &str) -> PathBuf {
        self.runs().join(format!("{run_id}.json"))
    }

    /// `exports/<name>.<extension>`.
    pub fn export_file(&self, name: &str, extension: &str) -> PathBuf {
        self.root
            .join("exports")
            .join(format!("{name}.{extension}"))
    }

    /// `report/`.
    pub fn report(&self) -> PathBuf {
        self.root.join(REPORT_DIR)
    }

    /// `catalog.json` and `catalog.md`.
    pub fn catalog(&self) -> (PathBuf, PathBuf) {
        (self.root.join("catalog.json"), self.root.join("catalog.md"))
    }

    /// The readers' files beside the catalogue: `eqpipe.sql` (DuckDB
    /// views) and `datapackage.json` (a Frictionless Data Package).
    pub fn readers(&self) -> (PathBuf, PathBuf) {
        (
            self.root.join("eqpipe.sql"),
            self.root.join("datapackage.json"),
        )
    }

    /// `metrics.prom`.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.prom")
    }

    /// The daemon's last firing of each schedule: `schedules.json`.
    pub fn schedules_state(&self) -> PathBuf {
        self.root.join("schedules.json")
    }

    /// The contracts the runs knew: `.eqpipe-contracts.json`.
    pub fn recorded_contracts(&self) -> PathBuf {
        self.root.join(".eqpipe-contracts.json")
    }

    /// What the last report was written with (its templates folder and
    /// evidence packs), so a restore rewrites the same report:
    /// `.eqpipe-report.json`.
    pub fn report_settings(&self) -> PathBuf {
        self.root.join(".eqpipe-report.json")
    }

    /// The upload audit log: `audit/uploads.jsonl`.
    pub fn upload_audit(&self) -> PathBuf {
        self.root.join("audit").join("uploads.jsonl")
    }

    /// Where a partner's uploads are staged while they are checked:
    /// `restricted/partner=<id>/.uploads/`.
    pub fn upload_staging(&self, id: &str) -> PathBuf {
        self.partner_root(id).join(UPLOAD_STAGING)
    }

    /// A partner's inbox: its `inbox` setting (resolved by the caller), or
    /// `restricted/partner=<id>/inbox/`.
    pub fn inbox(&self, p: &Partner, resolve: impl Fn(&Path) -> PathBuf) -> PathBuf {
        match &p.inbox {
            Some(dir) => resolve(dir),
            None => self.partner_root(&p.id).join("inbox"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_path_is_where_the_layout_says() {
        let l = Layout::new("/o");
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            l.source_file("census_counts", false, "census", None),
            p("/o/datasets/census_counts/source=census/part-0.parquet")
        );
        assert_eq!(
            l.source_file("workforce", true, "hr", None),
            p("/o/restricted/datasets/workforce/source=hr/part-0.parquet")
        );
        assert_eq!(
            l.source_file("workforce", true, "m_hr", Some("m")),
            p("/o/restricted/partner=m/datasets/workforce/source=m_hr/part-0.parquet")
        );
        assert_eq!(
            l.source_file("workforce_counts", false, "m_c", Some("m")),
            p("/o/datasets/workforce_counts/partner=m/source=m_c/part-0.parquet")
        );
        assert_eq!(
            l.level_file(Privacy::Restricted, "pay_gap", "gm"),
            p("/o/restricted/indicators/pay_gap/partner=gm/part-0.parquet")
        );
        assert_eq!(
            l.quarantine(Privacy::Partner("s"), "r1"),
            p("/o/restricted/partner=s/quarantine/r1")
        );
        assert_eq!(l.http_cache(Privacy::Public), p("/o/.cache/http"));
        assert_eq!(
            l.fingerprint("sources", "hr", true),
            p("/o/restricted/.state/sources/hr.json")
        );
        assert_eq!(l.run_manifest("r1"), p("/o/runs/r1.json"));
        assert_eq!(l.export_file("pay_gap", "csv"), p("/o/exports/pay_gap.csv"));
        assert_eq!(partition_id("partner=gm"), Some("gm"));
        assert_eq!(partition_id("source=gm"), None);
    }
}
