//! `service-usage`: who uses a council's (or a partner's) services. Service
//! users or contacts by service, date, area and characteristics, from:
//! - CSV or XLSX extracts, or JSON files (an array of records, or the array
//!   at `records`, a JSON pointer), one file or a glob;
//! - an HTTP JSON endpoint, paged by offset, page number or a next link,
//!   with an API token from the environment;
//! - a PostgreSQL table or query, read through a server-side cursor in
//!   batches (bounded memory), connection string from the environment.
//!
//! A column mapping makes any system's names work. Answers are harmonised
//! onto the Census 2021 classifications (shared with `workforce`); the
//! person identifier is replaced on read by HMAC-SHA256 with a key from the
//! environment; a date of birth becomes an age band at the contact date and
//! is dropped; a postcode becomes its LSOA and ward through an ONS postcode
//! lookup (NSPL/ONSPD style) and is dropped. Rows go to the personal
//! `service_usage` dataset (restricted root).

use std::collections::{BTreeMap, HashMap};

use eqpipe_plugin_sdk::prelude::*;
use eqpipe_plugin_sdk::serde_json::{self, Value};
use eqpipe_workforce::classify::Classifier;
use eqpipe_workforce::{
    Format, OnUnmapped, Table, age_band, iso_date, key_from_env, load_classifier, pseudonymise,
    read_table, report_unmapped, resolve_inputs, years_between,
};
use serde::Deserialize;

/// Canonical columns a mapping may name.
pub const CANONICAL: &[&str] = &[
    "person_id",
    "service",
    "contact_date",
    "postcode",
    "lsoa_code",
    "ward_code",
    "sex",
    "ethnic_group",
    "disability",
    "age",
    "date_of_birth",
    "religion",
    "sexual_orientation",
    "gender_identity",
    "contacts",
];

/// How an HTTP endpoint pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Paging {
    /// `?<offset_param>=0&<limit_param>=N`, then N, 2N, … until a short page.
    Offset,
    /// `?<page_param>=1&<limit_param>=N`, then 2, 3, … until a short page.
    Page,
    /// Follow the URL at the `next` JSON pointer until it is missing or null.
    Next,
}

/// An HTTP JSON endpoint.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Http {
    /// The endpoint.
    pub url: String,
    /// JSON pointer to the records array in each page (`/data`); empty for
    /// a top-level array.
    #[serde(default)]
    pub records: String,
    /// How it pages (default offset).
    #[serde(default = "default_paging")]
    pub paging: Paging,
    /// Records per page.
    #[serde(default = "default_page_size")]
    pub page_size: u64,
    /// Offset parameter name.
    #[serde(default = "default_offset_param")]
    pub offset_param: String,
    /// Page-number parameter name.
    #[serde(default = "default_page_param")]
    pub page_param: String,
    /// Page-size parameter name.
    #[serde(default = "default_limit_param")]
    pub limit_param: String,
    /// JSON pointer to the next page's URL (`paging = "next"`).
    #[serde(default = "default_next")]
    pub next: String,
    /// Header carrying the token (e.g. `Authorization`).
    #[serde(default)]
    pub token_header: Option<String>,
    /// Environment variable holding the whole header value.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Safety stop.
    #[serde(default = "default_max_pages")]
    pub max_pages: u64,
}

fn default_paging() -> Paging {
    Paging::Offset
}
fn default_page_size() -> u64 {
    500
}
fn default_offset_param() -> String {
    "offset".into()
}
fn default_page_param() -> String {
    "page".into()
}
fn default_limit_param() -> String {
    "limit".into()
}
fn default_next() -> String {
    "/next".into()
}
fn default_max_pages() -> u64 {
    100_000
}

/// A PostgreSQL source.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Postgres {
    /// Environment variable holding the connection string
    /// (`host=… port=… user=… password=… dbname=…` or `postgresql://…`).
    pub url_env: String,
    /// The query (or `SELECT * FROM <table>`).
    pub query: String,
    /// Rows fetched per round trip.
    #[serde(default = "default_fetch_size")]
    pub fetch_size: u32,
}

fn default_fetch_size() -> u32 {
    5000
}

/// An ONS postcode lookup (NSPL, ONSPD or any CSV with a postcode column).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostcodeLookup {
    /// The file (path or URL).
    pub path: String,
    /// Postcode column (default: the first of pcds, pcd, pcd2, postcode).
    #[serde(default)]
    pub postcode_column: Option<String>,
    /// LSOA column (default: lsoa21cd, lsoa21, lsoa11cd or lsoa11).
    #[serde(default)]
    pub lsoa_column: Option<String>,
    /// Ward column (default: the first wdNNcd, then ward or osward).
    #[serde(default)]
    pub ward_column: Option<String>,
}

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Files: a path, a glob on the file name, or a URL (CSV, XLSX, JSON).
    #[serde(default)]
    pub path: Option<String>,
    /// `csv` or `xlsx` (JSON is recognised by the `.json` extension).
    #[serde(default)]
    pub format: Option<Format>,
    /// Worksheet (XLSX).
    #[serde(default)]
    pub sheet: Option<String>,
    /// JSON pointer to the records in JSON files.
    #[serde(default)]
    pub records: String,
    /// An HTTP JSON endpoint instead of files.
    #[serde(default)]
    pub http: Option<Http>,
    /// A PostgreSQL query instead of files.
    #[serde(default)]
    pub postgres: Option<Postgres>,
    /// Canonical column -> the source's column name.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Every row's service, when the source has no service column.
    #[serde(default)]
    pub service: Option<String>,
    /// Environment variable holding the pseudonymisation key.
    pub pseudonymisation_key_env: String,
    /// Postcodes to LSOA and ward.
    #[serde(default)]
    pub postcode_lookup: Option<PostcodeLookup>,
    /// Answers no classification knows: `warn` or `fail`.
    #[serde(default)]
    pub on_unmapped: OnUnmapped,
    /// Folder of extra classification files.
    #[serde(default)]
    pub classifications_dir: Option<String>,
}

/// The plugin.
pub struct ServiceUsage {
    options: Options,
    key: Vec<u8>,
    classifier: Classifier,
    postcodes: HashMap<String, (String, String)>,
    unmatched_postcodes: u64,
}

const OUT: &[&str] = &[
    "person_key",
    "service",
    "contact_date",
    "lsoa_code",
    "ward_code",
    "sex",
    "ethnic_group",
    "ethnic_group_broad",
    "disability",
    "religion",
    "sexual_orientation",
    "gender_identity",
    "age_band",
    "contacts",
    REJECT_COLUMN,
];

/// A postcode as a lookup key: upper case, no spaces.
pub fn postcode_key(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Text of a JSON value for a table cell.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Records (JSON objects) into a table; `first_row` numbers them.
pub fn json_table(records: &[Value], first_row: u64) -> Table {
    let mut header: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for r in records {
        if let Some(o) = r.as_object() {
            for k in o.keys() {
                if !index.contains_key(k) {
                    index.insert(k.clone(), header.len());
                    header.push(k.clone());
                }
            }
        }
    }
    let rows = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut v = vec![String::new(); header.len()];
            if let Some(o) = r.as_object() {
                for (k, x) in o {
                    v[index[k]] = cell(x);
                }
            }
            (first_row + i as u64, v)
        })
        .collect();
    Table { header, rows }
}

fn records_at<'a>(
    doc: &'a Value,
    pointer: &str,
    name: &str,
) -> Result<&'a Vec<Value>, PluginError> {
    let at = if pointer.is_empty() {
        Some(doc)
    } else {
        doc.pointer(pointer)
    };
    at.and_then(Value::as_array).ok_or_else(|| {
        PluginError::data(format!(
            "{name}: no array of records at `{}`",
            if pointer.is_empty() { "/" } else { pointer }
        ))
    })
}

fn with_params(url: &str, params: &[(&str, String)]) -> String {
    let mut u = url.to_string();
    for (k, v) in params {
        u.push(if u.contains('?') { '&' } else { '?' });
        u.push_str(k);
        u.push('=');
        u.push_str(v);
    }
    u
}

/// An ONS postcode lookup read into postcode key -> (LSOA, ward), its
/// columns found by their usual names or the ones `l` gives. Shared by
/// the sources that place organisations or people by postcode.
pub fn load_postcode_lookup(
    ctx: &Context,
    l: &PostcodeLookup,
) -> Result<HashMap<String, (String, String)>, PluginError> {
    let got = ctx.fetch_url(&l.path)?;
    let mut out = HashMap::new();
    let name = l.path.rsplit('/').next().unwrap_or(&l.path).to_string();
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&got.path)
        .map_err(|e| PluginError::io(format!("{name}: {e}")))?;
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| PluginError::data(format!("{name}: {e}")))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    let find =
        |given: &Option<String>, candidates: &[&str], what: &str| -> Result<usize, PluginError> {
            if let Some(g) = given {
                return header
                    .iter()
                    .position(|h| *h == g.to_ascii_lowercase())
                    .ok_or_else(|| {
                        PluginError::config(format!("{name}: no column `{g}` for the {what}"))
                    });
            }
            for c in candidates {
                if let Some(i) = header.iter().position(|h| h == c) {
                    return Ok(i);
                }
            }
            // Ward columns carry their year: wd22cd, wd24cd, …
            if what == "ward"
                && let Some(i) = header.iter().position(|h| {
                    h.len() == 6
                        && h.starts_with("wd")
                        && h.ends_with("cd")
                        && h[2..4].chars().all(|c| c.is_ascii_digit())
                })
            {
                return Ok(i);
            }
            Err(PluginError::data(format!(
                "{name}: cannot find the {what} column (looked for {}); name it in postcode_lookup",
                candidates.join(", ")
            )))
        };
    let pc = find(
        &l.postcode_column,
        &["pcds", "pcd", "pcd2", "postcode"],
        "postcode",
    )?;
    let lsoa = find(
        &l.lsoa_column,
        &["lsoa21cd", "lsoa21", "lsoa11cd", "lsoa11"],
        "LSOA",
    )?;
    let ward = find(&l.ward_column, &["ward", "osward"], "ward")?;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| PluginError::data(format!("{name}: {e}")))?;
        let get = |i: usize| rec.get(i).unwrap_or("").trim().to_string();
        out.insert(postcode_key(&get(pc)), (get(lsoa), get(ward)));
    }
    ctx.info(&format!("{name}: {} postcodes", out.len()));
    Ok(out)
}

impl ServiceUsage {
    fn load_postcodes(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let Some(l) = self.options.postcode_lookup.clone() else {
            return Ok(());
        };
        self.postcodes = load_postcode_lookup(ctx, &l)?;
        Ok(())
    }

    /// Harmonises one table's rows and emits them.
    fn emit(&mut self, ctx: &Context, table: &Table, name: &str) -> Result<usize, PluginError> {
        let lower: Vec<String> = table
            .header
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let mut idx: HashMap<&str, usize> = HashMap::new();
        for c in CANONICAL {
            let wanted = self
                .options
                .columns
                .get(*c)
                .map(|s| s.to_ascii_lowercase())
                .unwrap_or_else(|| c.to_string());
            if let Some(i) = lower.iter().position(|h| *h == wanted) {
                idx.insert(c, i);
            }
        }
        if table.rows.is_empty() {
            return Ok(0);
        }
        for required in ["contact_date"] {
            if !idx.contains_key(required) {
                return Err(PluginError::data(format!(
                    "{name}: no `{required}` column; map it with columns.{required} (found: {})",
                    table.header.join(", ")
                )));
            }
        }
        if !idx.contains_key("service") && self.options.service.is_none() {
            return Err(PluginError::data(format!(
                "{name}: no `service` column; map it with columns.service or set the `service` option (found: {})",
                table.header.join(", ")
            )));
        }
        let mut rows = TextRows::new(OUT);
        for (line, rec) in &table.rows {
            let get = |c: &str| {
                idx.get(c)
                    .and_then(|&i| rec.get(i))
                    .map(|s| s.trim())
                    .unwrap_or("")
            };
            let mut reject = Vec::new();
            let date = iso_date(get("contact_date"));
            let service = match get("service") {
                "" => self.options.service.clone().unwrap_or_default(),
                s => s.to_string(),
            };
            if service.is_empty() {
                reject.push("service is empty".to_string());
            }
            let id = get("person_id");
            let key = if id.is_empty() {
                String::new()
            } else {
                pseudonymise(&self.key, id)
            };
            // Area: a postcode through the lookup, else the codes given.
            let (mut lsoa, mut ward) = (get("lsoa_code").to_string(), get("ward_code").to_string());
            let postcode = get("postcode");
            if !postcode.is_empty() && !self.postcodes.is_empty() {
                match self.postcodes.get(&postcode_key(postcode)) {
                    Some((l, w)) => {
                        lsoa = l.clone();
                        ward = w.clone();
                    }
                    None => self.unmatched_postcodes += 1,
                }
            }
            let age = match get("age") {
                "" => {
                    let dob = iso_date(get("date_of_birth"));
                    years_between(&dob, &date)
                }
                a => a.parse::<f64>().ok().map(|a| a.floor() as i64),
            };
            let eth = self.classifier.map("ethnic_group", get("ethnic_group"));
            let sex = self.classifier.map("sex", get("sex")).value;
            let disability = self.classifier.map("disability", get("disability")).value;
            let religion = self.classifier.map("religion", get("religion")).value;
            let orientation = self
                .classifier
                .map("sexual_orientation", get("sexual_orientation"))
                .value;
            let identity = self
                .classifier
                .map("gender_identity", get("gender_identity"))
                .value;
            let contacts = match get("contacts") {
                "" => "1",
                c => c,
            };
            rows.push(
                [
                    key.as_str(),
                    &service,
                    &date,
                    &lsoa,
                    &ward,
                    &sex,
                    &eth.value,
                    eth.broad.as_deref().unwrap_or(""),
                    &disability,
                    &religion,
                    &orientation,
                    &identity,
                    age_band(age),
                    contacts,
                    &reject.join("; "),
                ],
                name,
                *line,
            );
        }
        let n = rows.len();
        ctx.emit_rows("service_usage", &mut rows)?;
        Ok(n)
    }

    fn read_files(&mut self, ctx: &Context, path: &str) -> Result<usize, PluginError> {
        let files = resolve_inputs(ctx, path)?;
        if files.is_empty() {
            return Err(PluginError::data(format!("no file matches `{path}`")));
        }
        let mut n = 0;
        for (file, name) in files {
            ctx.check_cancelled()?;
            let table = if name.to_ascii_lowercase().ends_with(".json") {
                let text = std::fs::read_to_string(&file)?;
                let doc: Value = serde_json::from_str(&text)
                    .map_err(|e| PluginError::data(format!("{name}: not JSON: {e}")))?;
                json_table(records_at(&doc, &self.options.records, &name)?, 1)
            } else {
                read_table(
                    &file,
                    &name,
                    self.options.format,
                    self.options.sheet.as_deref(),
                )?
            };
            let k = self.emit(ctx, &table, &name)?;
            ctx.info(&format!("{name}: {k} rows"));
            n += k;
        }
        Ok(n)
    }

    fn read_http(&mut self, ctx: &Context, h: &Http) -> Result<usize, PluginError> {
        let mut n = 0;
        let mut next_url = Some(h.url.clone());
        let mut page = 0u64;
        while let Some(base) = next_url.take() {
            ctx.check_cancelled()?;
            if page >= h.max_pages {
                return Err(PluginError::data(format!(
                    "{}: stopped after max_pages = {}",
                    h.url, h.max_pages
                )));
            }
            let url = match h.paging {
                Paging::Offset => with_params(
                    &h.url,
                    &[
                        (&h.offset_param, (page * h.page_size).to_string()),
                        (&h.limit_param, h.page_size.to_string()),
                    ],
                ),
                Paging::Page => with_params(
                    &h.url,
                    &[
                        (&h.page_param, (page + 1).to_string()),
                        (&h.limit_param, h.page_size.to_string()),
                    ],
                ),
                Paging::Next => base,
            };
            let mut req = FetchRequest::get(url);
            if let (Some(header), Some(env)) = (&h.token_header, &h.token_env) {
                req = req.secret_header(header, env);
            }
            let got = ctx.fetch(&req)?;
            let text = std::fs::read_to_string(&got.path)?;
            let name = format!("{} page {}", got.url, page + 1);
            let doc: Value = serde_json::from_str(&text)
                .map_err(|e| PluginError::data(format!("{name}: not JSON: {e}")))?;
            let records = records_at(&doc, &h.records, &name)?;
            let table = json_table(records, n as u64 + 1);
            n += self.emit(ctx, &table, &got.url)?;
            ctx.progress(n as u64, 0, &format!("{n} records"));
            page += 1;
            next_url = match h.paging {
                Paging::Next => doc
                    .pointer(&h.next)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                _ => (records.len() as u64 >= h.page_size && !records.is_empty())
                    .then(|| h.url.clone()),
            };
        }
        Ok(n)
    }

    fn read_postgres(&mut self, ctx: &Context, pg: &Postgres) -> Result<usize, PluginError> {
        let url = std::env::var(&pg.url_env).map_err(|_| {
            PluginError::config(format!(
                "set the environment variable `{}` to the PostgreSQL connection string",
                pg.url_env
            ))
        })?;
        // Errors name the variable, never the connection string (it holds
        // the password).
        let redact = |e: postgres::Error| {
            let msg = e.to_string().replace(&url, "<connection string>");
            PluginError::io(format!(
                "PostgreSQL (connection from `{}`): {msg}",
                pg.url_env
            ))
        };
        let mut client = postgres::Client::connect(&url, postgres::NoTls).map_err(redact)?;
        let mut tx = client.transaction().map_err(redact)?;
        tx.batch_execute(&format!(
            "DECLARE eqpipe_rows NO SCROLL CURSOR FOR {}",
            pg.query
        ))
        .map_err(redact)?;
        let name = "postgres query".to_string();
        let mut n = 0usize;
        loop {
            ctx.check_cancelled()?;
            let mut header: Vec<String> = Vec::new();
            let mut rows = Vec::new();
            for m in tx
                .simple_query(&format!("FETCH FORWARD {} FROM eqpipe_rows", pg.fetch_size))
                .map_err(redact)?
            {
                match m {
                    postgres::SimpleQueryMessage::RowDescription(cols) => {
                        header = cols.iter().map(|c| c.name().to_string()).collect();
                    }
                    postgres::SimpleQueryMessage::Row(r) => {
                        if header.is_empty() {
                            header = r.columns().iter().map(|c| c.name().to_string()).collect();
                        }
                        let v = (0..r.len())
                            .map(|i| r.get(i).unwrap_or("").to_string())
                            .collect();
                        rows.push((n as u64 + rows.len() as u64 + 1, v));
                    }
                    _ => {}
                }
            }
            if rows.is_empty() {
                break;
            }
            let table = Table { header, rows };
            n += self.emit(ctx, &table, &name)?;
            ctx.progress(n as u64, 0, &format!("{n} rows"));
        }
        tx.commit().map_err(redact)?;
        ctx.info(&format!("{name}: {n} rows"));
        Ok(n)
    }
}

impl SourcePlugin for ServiceUsage {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("service-usage", env!("CARGO_PKG_VERSION"))
            .description("Service users and contacts from files, a paged JSON API or PostgreSQL, harmonised and pseudonymised")
            .licence("Personal data of the partner; restricted, never published")
            .produces("service_usage")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        let sources = [
            options.path.is_some(),
            options.http.is_some(),
            options.postgres.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(PluginError::config(
                "set exactly one of `path`, `http` or `postgres`",
            ));
        }
        for k in options.columns.keys() {
            if !CANONICAL.contains(&k.as_str()) {
                return Err(PluginError::config(format!(
                    "columns: `{k}` is not a canonical column (known: {})",
                    CANONICAL.join(", ")
                )));
            }
        }
        Ok(ServiceUsage {
            key: key_from_env(&options.pseudonymisation_key_env)?,
            classifier: load_classifier(options.classifications_dir.as_deref())?,
            postcodes: HashMap::new(),
            unmatched_postcodes: 0,
            options,
        })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        self.load_postcodes(ctx)?;
        let n = if let Some(path) = self.options.path.clone() {
            self.read_files(ctx, &path)?
        } else if let Some(h) = self.options.http.clone() {
            self.read_http(ctx, &h)?
        } else if let Some(pg) = self.options.postgres.clone() {
            self.read_postgres(ctx, &pg)?
        } else {
            0
        };
        if self.unmatched_postcodes > 0 {
            ctx.coverage_warning(
                Some("service_usage"),
                "postcodes the lookup does not know (terminated, mistyped or outside its coverage): area left empty",
                self.unmatched_postcodes,
                Some(n as u64),
            );
        }
        report_unmapped(ctx, &self.classifier, self.options.on_unmapped)
    }
}

eqpipe_plugin_sdk::export_plugin!(source: ServiceUsage);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_records_become_a_table_with_every_key() {
        let doc: Value = serde_json::from_str(
            r#"{"data": [{"id": 1, "service": "Libraries", "ok": true}, {"id": "x2", "extra": null, "nested": {"a": 1}}]}"#,
        )
        .unwrap();
        let t = json_table(records_at(&doc, "/data", "t").unwrap(), 1);
        assert_eq!(
            t.header,
            ["id", "ok", "service", "extra", "nested"].map(String::from)
        );
        assert_eq!(
            t.rows[0].1,
            ["1", "true", "Libraries", "", ""].map(String::from)
        );
        assert_eq!(t.rows[1].1[4], "{\"a\":1}");
        assert_eq!(t.rows[1].0, 2);
        assert!(records_at(&doc, "/nope", "t").is_err());
    }

    #[test]
    fn postcodes_and_paging_urls() {
        assert_eq!(postcode_key(" m1 1ad "), "M11AD");
        assert_eq!(postcode_key("M1  1AD"), "M11AD");
        assert_eq!(
            with_params(
                "http://h/x",
                &[("offset", "0".into()), ("limit", "5".into())]
            ),
            "http://h/x?offset=0&limit=5"
        );
        assert_eq!(
            with_params("http://h/x?a=1", &[("page", "2".into())]),
            "http://h/x?a=1&page=2"
        );
        assert_eq!(years_between("2000-06-15", "2024-06-14"), Some(23));
        assert_eq!(years_between("2000-06-15", "2024-06-15"), Some(24));
    }
}
