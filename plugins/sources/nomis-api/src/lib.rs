//! `nomis-api`: any Nomis dataset through the Nomis RESTful API (CSV), into
//! the long `nomis_observations` dataset.
//!
//! The query is the dataset id plus the API's own parameters
//! (`geography`, `date`, `variable`, `measures`, …), sent as
//! `<base_url>/dataset/<id>.data.csv?<params>&recordoffset=N`. Nomis caps the
//! rows of one answer (25,000 without an API key), so the plugin pages with
//! `recordoffset` until it has the `RECORD_COUNT` the answers report (or an
//! answer comes back short when the column was not selected). The API key
//! (`uid`) comes from the environment variable named in `api_key_env` and is
//! added by the host, which redacts it everywhere.
//!
//! Columns follow the API's CSV layout: `DATE_NAME`, `DATE_CODE`,
//! `GEOGRAPHY_CODE`, `GEOGRAPHY_NAME`, then for each other dimension `X` the
//! pair `X` / `X_NAME` (and `X_CODE`, `X_TYPE`, `X_SORTORDER` …),
//! `MEASURES_NAME`, `OBS_VALUE`, `OBS_STATUS`, `OBS_STATUS_NAME`,
//! `RECORD_OFFSET`, `RECORD_COUNT`.
//!
//! Source: Nomis (Office for National Statistics), Open Government Licence.

use std::collections::BTreeMap;

use eqpipe_plugin_sdk::prelude::*;
use serde::Deserialize;

/// The Nomis API root.
pub const DEFAULT_BASE_URL: &str = "https://www.nomisweb.co.uk/api/v01";

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}

fn default_page_size() -> u64 {
    25_000
}

fn default_max_pages() -> u64 {
    400
}

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// API root (default Nomis's).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Dataset id, e.g. `NM_17_5` (Annual Population Survey).
    pub dataset: String,
    /// Query parameters, e.g. `{ geography = "1946157081", date = "latest",
    /// variable = "...", measures = "20599,21001,21002,21003" }`.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Rows per request (Nomis allows 25,000 without a key).
    #[serde(default = "default_page_size")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub page_size: u64,
    /// Stop after this many requests.
    #[serde(default = "default_max_pages")]
    pub max_pages: u64,
    /// Environment variable holding the Nomis API key (`uid`).
    #[serde(default)]
    pub api_key_env: Option<String>,
}

/// The plugin.
pub struct NomisApi {
    options: Options,
}

/// The columns one answer has: fixed ones and the other dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    fixed: BTreeMap<&'static str, usize>,
    /// Other dimensions: (name, column of its `_NAME`).
    pub dimensions: Vec<(String, usize)>,
    record_count: Option<usize>,
}

const FIXED: &[&str] = &[
    "DATE_NAME",
    "DATE_CODE",
    "GEOGRAPHY_CODE",
    "GEOGRAPHY_NAME",
    "MEASURES_NAME",
    "OBS_VALUE",
    "OBS_STATUS",
    "OBS_STATUS_NAME",
];

/// Reads a Nomis CSV header.
pub fn parse_header(header: &[String]) -> Result<Layout, String> {
    let upper: Vec<String> = header
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_uppercase())
        .collect();
    let mut fixed = BTreeMap::new();
    for f in FIXED {
        if let Some(i) = upper.iter().position(|h| h == f) {
            fixed.insert(*f, i);
        }
    }
    for required in ["GEOGRAPHY_CODE", "OBS_VALUE"] {
        if !fixed.contains_key(required) {
            return Err(format!(
                "no `{required}` column (found: {}); include it in `select` if you set one",
                header.join(", ")
            ));
        }
    }
    let known_stems = ["DATE", "GEOGRAPHY", "MEASURES", "OBS", "RECORD", "URN"];
    let mut dimensions = Vec::new();
    for (i, h) in upper.iter().enumerate() {
        if let Some(stem) = h.strip_suffix("_NAME")
            && !known_stems
                .iter()
                .any(|k| stem == *k || stem.starts_with(&format!("{k}_")))
        {
            dimensions.push((stem.to_string(), i));
        }
    }
    Ok(Layout {
        fixed,
        dimensions,
        record_count: upper.iter().position(|h| h == "RECORD_COUNT"),
    })
}

impl SourcePlugin for NomisApi {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("nomis-api", env!("CARGO_PKG_VERSION"))
            .description(
                "Any Nomis dataset through the Nomis API (CSV), paged, as long-form observations",
            )
            .licence("Open Government Licence v3.0; Source: Nomis, Office for National Statistics")
            .produces("nomis_observations")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        let id = options.dataset.trim();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(PluginError::config(format!(
                "`{id}` is not a Nomis dataset id (like NM_17_5)"
            )));
        }
        for k in options.params.keys() {
            let k = k.to_ascii_lowercase();
            if k == "uid" || k == "recordoffset" || k == "recordlimit" {
                return Err(PluginError::config(format!(
                    "do not set `{k}` in params: the plugin pages itself, and the key comes from api_key_env"
                )));
            }
        }
        Ok(NomisApi { options })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let o = &self.options;
        let mut query: Vec<(String, String)> = o
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        query.push(("recordlimit".into(), o.page_size.to_string()));
        let base = format!(
            "{}/dataset/{}.data.csv",
            o.base_url.trim_end_matches('/'),
            o.dataset.trim()
        );
        let mut offset: u64 = 0;
        let mut total: Option<u64> = None;
        for page in 0..o.max_pages {
            ctx.check_cancelled()?;
            let mut q = query.clone();
            q.push(("recordoffset".into(), offset.to_string()));
            let url = format!("{base}?{}", encode(&q));
            let mut req = FetchRequest::get(&url);
            if let Some(var) = &o.api_key_env {
                req = req.secret_query("uid", var);
            }
            let got = ctx.fetch(&req)?;
            let (rows, count) = read_page(ctx, &got.path, &got.url, &o.dataset)?;
            if total.is_none() {
                total = count;
            }
            offset += rows;
            ctx.progress(offset, total.unwrap_or(0), &format!("{} rows", offset));
            let done = match total {
                Some(t) => offset >= t,
                None => rows < o.page_size,
            };
            if rows == 0 || done {
                ctx.info(&format!(
                    "{}: {offset} observations in {} request(s)",
                    o.dataset,
                    page + 1
                ));
                return Ok(());
            }
        }
        Err(PluginError::data(format!(
            "{}: still more rows after max_pages = {} requests; raise max_pages or narrow the query",
            o.dataset, o.max_pages
        )))
    }
}

/// Percent-encodes query pairs.
fn encode(pairs: &[(String, String)]) -> String {
    fn enc(s: &str) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' => {
                    out.push(b as char)
                }
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Reads one CSV answer and emits it; returns (rows, RECORD_COUNT).
fn read_page(
    ctx: &Context,
    path: &str,
    url: &str,
    dataset: &str,
) -> Result<(u64, Option<u64>), PluginError> {
    let mut rdr = csv::ReaderBuilder::new()
        .from_path(path)
        .map_err(|e| PluginError::io(format!("{url}: {e}")))?;
    let header: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(str::to_string).collect(),
        Err(e) => {
            return Err(PluginError::data(format!(
                "{url}: cannot read the header: {e}"
            )));
        }
    };
    if header.len() <= 1 && header.first().is_none_or(|h| h.trim().is_empty()) {
        return Ok((0, None));
    }
    let layout = parse_header(&header).map_err(|e| PluginError::data(format!("{url}: {e}")))?;
    let mut rows = TextRows::new(&[
        "dataset_id",
        "date_name",
        "date_code",
        "geography_code",
        "geography_name",
        "dimensions",
        "measure",
        "obs_value",
        "obs_status",
        "obs_status_name",
    ]);
    let mut record_count = None;
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| PluginError::data(format!("{url}, row {line}: {e}")))?;
        let get = |name: &str| {
            layout
                .fixed
                .get(name)
                .and_then(|&c| rec.get(c))
                .unwrap_or("")
                .trim()
        };
        if record_count.is_none() {
            record_count = layout
                .record_count
                .and_then(|c| rec.get(c))
                .and_then(|v| v.trim().parse::<u64>().ok());
        }
        let dims: Vec<String> = layout
            .dimensions
            .iter()
            .map(|(name, c)| format!("{name}={}", rec.get(*c).unwrap_or("").trim()))
            .collect();
        let date_name = if get("DATE_NAME").is_empty() {
            get("DATE_CODE")
        } else {
            get("DATE_NAME")
        };
        rows.push(
            [
                dataset,
                date_name,
                get("DATE_CODE"),
                get("GEOGRAPHY_CODE"),
                get("GEOGRAPHY_NAME"),
                &dims.join("; "),
                get("MEASURES_NAME"),
                get("OBS_VALUE"),
                get("OBS_STATUS"),
                get("OBS_STATUS_NAME"),
            ],
            url,
            line,
        );
    }
    let n = rows.len() as u64;
    ctx.emit_rows("nomis_observations", &mut rows)?;
    Ok((n, record_count))
}

eqpipe_plugin_sdk::export_plugin!(source: NomisApi);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_are_found_between_the_fixed_columns() {
        let h: Vec<String> = [
            "DATE",
            "DATE_NAME",
            "DATE_CODE",
            "DATE_TYPE",
            "DATE_TYPECODE",
            "DATE_SORTORDER",
            "GEOGRAPHY",
            "GEOGRAPHY_NAME",
            "GEOGRAPHY_CODE",
            "GEOGRAPHY_TYPE",
            "GEOGRAPHY_TYPECODE",
            "GEOGRAPHY_SORTORDER",
            "VARIABLE",
            "VARIABLE_NAME",
            "VARIABLE_CODE",
            "VARIABLE_TYPE",
            "VARIABLE_TYPECODE",
            "VARIABLE_SORTORDER",
            "MEASURES",
            "MEASURES_NAME",
            "OBS_VALUE",
            "OBS_STATUS",
            "OBS_STATUS_NAME",
            "OBS_CONF",
            "OBS_CONF_NAME",
            "URN",
            "RECORD_OFFSET",
            "RECORD_COUNT",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let l = parse_header(&h).unwrap();
        assert_eq!(l.dimensions, vec![("VARIABLE".to_string(), 13)]);
        assert_eq!(l.record_count, Some(27));
        let e = parse_header(&["DATE_NAME".to_string()]).unwrap_err();
        assert!(e.contains("GEOGRAPHY_CODE"), "{e}");
    }

    #[test]
    fn query_values_are_encoded() {
        let q = encode(&[
            ("geography".into(), "1946157081".into()),
            ("date".into(), "latest MINUS1".into()),
        ]);
        assert_eq!(q, "geography=1946157081&date=latest%20MINUS1");
    }
}
