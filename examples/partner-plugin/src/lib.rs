//! An example partner source plugin: a voluntary-sector referral system
//! that exports monthly referral counts as CSV, page by page, over HTTP.
//!
//! It shows what a partner writes: options with a JSON Schema (derived),
//! fetching through the host (so caching, retries, rate limits and the API
//! key are the host's business), parsing, and emitting a dataset with its own
//! contract. Values are emitted as text and the host parses them against the
//! contract; rows it cannot read go to quarantine with the page and line.
//!
//! Build it as a loadable library with `cargo build -p eqpipe-example-partner`
//! and name it in a config:
//!
//! ```toml
//! [[sources]]
//! name = "referrals"
//! library = "target/debug/libeqpipe_example_partner.so"
//! [sources.options]
//! base_url = "https://referrals.example.org/export"
//! api_key_env = "REFERRALS_API_KEY"
//! ```

use eqpipe_plugin_sdk::prelude::*;
use serde::Deserialize;

fn default_page_size() -> u32 {
    500
}

fn default_max_pages() -> u32 {
    1000
}

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The export endpoint; pages are `<base_url>?page=N&per_page=M`.
    pub base_url: String,
    /// Rows per page.
    #[serde(default = "default_page_size")]
    #[schemars(range(min = 1, max = 10000))]
    pub page_size: u32,
    /// Stop after this many pages (a guard against a server that never ends).
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// Name of the environment variable holding the API key (sent as the
    /// `X-Api-Key` header by the host; never logged).
    #[serde(default)]
    pub api_key_env: Option<String>,
}

/// The plugin.
pub struct Referrals {
    options: Options,
}

const COLUMNS: [&str; 6] = [
    "month",
    "service",
    "ward_code",
    "age_band",
    "ethnic_group",
    "referrals",
];

/// The dataset this plugin brings, declared with its contract.
pub fn contract() -> Contract {
    eqpipe_plugin_sdk::serde_json::from_str(
        r#"{
        "name": "service_referrals",
        "version": 1,
        "description": "Referrals to voluntary-sector services per month, ward, age band and ethnic group",
        "columns": [
            {"name": "month", "type": "date", "description": "First day of the month"},
            {"name": "service", "type": "utf8", "categorical": true, "description": "Service name"},
            {"name": "ward_code", "type": "utf8", "categorical": true, "description": "Ward (GSS code) of the person referred"},
            {"name": "age_band", "type": "utf8", "categorical": true,
             "allowed": ["0-15", "16-24", "25-49", "50-64", "65+", "unknown"]},
            {"name": "ethnic_group", "type": "utf8", "categorical": true, "description": "Census 2021 broad ethnic group, or not_stated"},
            {"name": "referrals", "type": "int64", "min": 0, "description": "Number of referrals"}
        ]}"#,
    )
    .expect("the contract is valid JSON")
}

impl SourcePlugin for Referrals {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("example-referrals", env!("CARGO_PKG_VERSION"))
            .description("Example partner plugin: referral counts from a paged CSV export")
            .licence("Partner data, not for publication below the disclosure threshold")
            .produces_with_contract(contract())
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        if !options.base_url.starts_with("http://") && !options.base_url.starts_with("https://") {
            return Err(PluginError::config(
                "base_url must be an http:// or https:// URL",
            ));
        }
        Ok(Referrals { options })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let mut total = 0u64;
        for page in 1..=self.options.max_pages {
            ctx.check_cancelled()?;
            let sep = if self.options.base_url.contains('?') {
                '&'
            } else {
                '?'
            };
            let url = format!(
                "{}{sep}page={page}&per_page={}",
                self.options.base_url, self.options.page_size
            );
            let mut req = FetchRequest::get(&url);
            if let Some(var) = &self.options.api_key_env {
                req = req.secret_header("X-Api-Key", var);
            }
            let got = ctx.fetch(&req)?;
            let batch = parse_page(&got.path, &url)?;
            let rows = batch.num_rows() as u64;
            if rows == 0 {
                ctx.info(&format!("{total} referral rows in {} page(s)", page - 1));
                return Ok(());
            }
            total += rows;
            ctx.progress(total, 0, &format!("page {page}"));
            ctx.emit_batches("service_referrals", batch.schema(), vec![batch])?;
        }
        Err(PluginError::data(format!(
            "the export did not end within max_pages = {}; raise it if that many pages are expected",
            self.options.max_pages
        )))
    }
}

/// Reads one CSV page into a batch of text columns plus line numbers.
fn parse_page(path: &str, url: &str) -> Result<RecordBatch, PluginError> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| PluginError::io(format!("{url}: {e}")))?;
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| PluginError::data(format!("{url}: {e}")))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let idx: Vec<usize> = COLUMNS
        .iter()
        .map(|c| {
            header.iter().position(|h| h == c).ok_or_else(|| {
                PluginError::data(format!(
                    "{url}: column `{c}` is missing (found: {})",
                    header.join(", ")
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let mut rows = TextRows::new(&COLUMNS);
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| PluginError::data(format!("{url}, row {}: {e}", i + 2)))?;
        rows.push(
            idx.iter().map(|&j| rec.get(j).unwrap_or("")),
            url,
            i as u64 + 2,
        );
    }
    Ok(rows.take_batch()?)
}

eqpipe_plugin_sdk::export_plugin!(source: Referrals);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_is_well_formed() {
        let m = Referrals::manifest();
        m.check().unwrap();
        assert_eq!(m.produces[0].name, "service_referrals");
    }

    #[test]
    fn a_page_becomes_text_columns_with_line_numbers() {
        let dir = std::env::temp_dir().join(format!("eqpipe-partner-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("p1.csv");
        std::fs::write(&f, "Month,Service,Ward_Code,Age_Band,Ethnic_Group,Referrals\n2025-04-01,Food bank,E05999001,16-24,White,12\n").unwrap();
        let b = parse_page(f.to_str().unwrap(), "http://x/p1").unwrap();
        assert_eq!(b.num_rows(), 1);
        assert_eq!(b.num_columns(), 8);
        let e = {
            std::fs::write(&f, "month,service\n").unwrap();
            parse_page(f.to_str().unwrap(), "http://x/p1")
                .unwrap_err()
                .to_string()
        };
        assert!(e.contains("column `ward_code` is missing"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
