//! `grants`: grants data in the 360Giving Data Standard, as funders publish
//! it: the spreadsheet layout (CSV, "flattened" column titles such as
//! `Recipient Org:Company Number`) or the JSON layout (`{"grants": [...]}`),
//! one file or a glob of them, into the `grants` dataset.
//!
//! Built against the standard's grant fields: `Identifier`/`id`, `Title`,
//! `Currency`, `Amount Awarded`, `Award Date`, the recipient organisation
//! (`Identifier`, `Name`, `Charity Number`, `Company Number`, `Postal
//! Code`), the recipient individual (`Recipient Ind:Identifier`), the
//! beneficiary location (`Name`, `Geographic Code`, `Geographic Code
//! Type`), the funding organisation, the grant programme, `Classifications`
//! and `From an open call?`. Columns are matched with case, spaces and
//! punctuation ignored; a file may hold any subset of the standard's
//! columns (most published files leave half of them empty).
//!
//! Company numbers are text (`07597525` keeps its leading zero); the
//! recipient's org-id prefix (`GB-CHC`, `GB-COH`, `360G`, …) is kept as
//! `recipient_id_scheme`, so registered charities, companies and
//! unregistered groups can be told apart. With `postcode_lookup`, a
//! recipient's postcode is placed in its LSOA and ward. A grant to an individual is never
//! published with a name, an identifier or a title (titles often name the
//! person): `recipient_type = "individual"`. Where a grant lists several
//! recipients, locations or programmes (arrays in JSON), the first is kept
//! and the grant is counted in a coverage warning.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use eqpipe_plugin_sdk::prelude::*;
use eqpipe_service_usage::{PostcodeLookup, load_postcode_lookup, postcode_key};
use serde::Deserialize;

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The 360Giving file: a path or URL (`.csv` or `.json`), or a glob on
    /// the file name in a folder for many.
    pub path: String,
    /// An ONS postcode lookup to place recipient organisations in an LSOA
    /// and ward by their postcode (as for `service-usage`).
    #[serde(default)]
    pub postcode_lookup: Option<PostcodeLookup>,
}

/// The dataset's columns, in order.
pub const COLUMNS: &[&str] = &[
    "grant_id",
    "title",
    "currency",
    "amount_awarded",
    "award_date",
    "funder_id",
    "funder_name",
    "funder_department",
    "programme_code",
    "programme_title",
    "recipient_type",
    "recipient_id",
    "recipient_id_scheme",
    "recipient_name",
    "charity_number",
    "company_number",
    "recipient_postcode",
    "recipient_lsoa",
    "recipient_ward",
    "beneficiary_location",
    "beneficiary_geo_code",
    "beneficiary_geo_code_type",
    "classifications",
    "from_open_call",
];

/// Each column's 360Giving spreadsheet title and JSON path.
const SOURCES: &[(&str, &str, &[&str])] = &[
    ("grant_id", "Identifier", &["id"]),
    ("title", "Title", &["title"]),
    ("currency", "Currency", &["currency"]),
    ("amount_awarded", "Amount Awarded", &["amountAwarded"]),
    ("award_date", "Award Date", &["awardDate"]),
    (
        "funder_id",
        "Funding Org:Identifier",
        &["fundingOrganization", "id"],
    ),
    (
        "funder_name",
        "Funding Org:Name",
        &["fundingOrganization", "name"],
    ),
    (
        "funder_department",
        "Funding Org:Department",
        &["fundingOrganization", "department"],
    ),
    (
        "programme_code",
        "Grant Programme:Code",
        &["grantProgramme", "code"],
    ),
    (
        "programme_title",
        "Grant Programme:Title",
        &["grantProgramme", "title"],
    ),
    (
        "recipient_id",
        "Recipient Org:Identifier",
        &["recipientOrganization", "id"],
    ),
    (
        "recipient_name",
        "Recipient Org:Name",
        &["recipientOrganization", "name"],
    ),
    (
        "charity_number",
        "Recipient Org:Charity Number",
        &["recipientOrganization", "charityNumber"],
    ),
    (
        "company_number",
        "Recipient Org:Company Number",
        &["recipientOrganization", "companyNumber"],
    ),
    (
        "recipient_postcode",
        "Recipient Org:Postal Code",
        &["recipientOrganization", "postalCode"],
    ),
    (
        "beneficiary_location",
        "Beneficiary Location:Name",
        &["beneficiaryLocation", "name"],
    ),
    (
        "beneficiary_geo_code",
        "Beneficiary Location:Geographic Code",
        &["beneficiaryLocation", "geoCode"],
    ),
    (
        "beneficiary_geo_code_type",
        "Beneficiary Location:Geographic Code Type",
        &["beneficiaryLocation", "geoCodeType"],
    ),
    ("from_open_call", "From an open call?", &["fromOpenCall"]),
    // JSON: every classification's title (read below).
    ("classifications", "Classifications:Title", &[]),
    // Read to tell a grant to an individual; never stored.
    (
        "recipient_individual",
        "Recipient Ind:Identifier",
        &["recipientIndividual", "id"],
    ),
];

use eqpipe_spend::normalise;

use eqpipe_spend::decode_field as text;

/// The org-id scheme of a 360Giving organisation identifier: its first two
/// dash-separated parts (`GB-CHC`, `GB-COH`, `GB-SC`), or `360G` for a
/// publisher-made identifier.
pub fn id_scheme(id: &str) -> Option<String> {
    let id = id.trim();
    if id.is_empty() {
        return None;
    }
    if id.starts_with("360G-") {
        return Some("360G".into());
    }
    let mut parts = id.splitn(3, '-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), Some(_)) => Some(format!("{a}-{b}")),
        _ => Some("other".into()),
    }
}

/// One grant's fields by the dataset's names, before the privacy rules.
type Fields = BTreeMap<&'static str, String>;

/// Postcode key -> (LSOA, ward).
type Postcodes = HashMap<String, (String, String)>;

/// The row of a grant: a grant to an individual keeps no name, id or title;
/// a recipient's postcode is placed in its LSOA and ward where `postcodes`
/// knows it.
fn row(mut g: Fields, postcodes: &Postcodes) -> Vec<String> {
    let individual = g
        .get("recipient_individual")
        .is_some_and(|v| !v.trim().is_empty())
        || g.get("recipient_id").is_none_or(|v| v.trim().is_empty())
            && g.get("recipient_name").is_none_or(|v| v.trim().is_empty());
    if individual {
        for k in [
            "recipient_id",
            "recipient_name",
            "title",
            "recipient_postcode",
        ] {
            g.remove(k);
        }
    }
    if let Some((lsoa, ward)) = g
        .get("recipient_postcode")
        .and_then(|p| postcodes.get(&postcode_key(p)))
        .cloned()
    {
        g.insert("recipient_lsoa", lsoa);
        g.insert("recipient_ward", ward);
    }
    let scheme = g.get("recipient_id").and_then(|i| id_scheme(i));
    if let Some(s) = scheme {
        g.insert("recipient_id_scheme", s);
    }
    g.insert(
        "recipient_type",
        if individual {
            "individual"
        } else {
            "organisation"
        }
        .into(),
    );
    if let Some(v) = g.get_mut("from_open_call") {
        *v = match v.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "y" => "true".into(),
            "no" | "false" | "n" => "false".into(),
            _ => String::new(),
        };
    }
    COLUMNS
        .iter()
        .map(|c| g.get(c).cloned().unwrap_or_default())
        .collect()
}

/// A JSON value as the text a CSV cell would hold.
fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(if *b { "true" } else { "false" }.into()),
        _ => None,
    }
}

/// The plugin.
pub struct Grants {
    options: Options,
    postcodes: Postcodes,
}

impl Grants {
    /// A 360Giving spreadsheet (CSV).
    fn read_csv(&self, ctx: &Context, path: &Path, name: &str) -> Result<u64, PluginError> {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .map_err(|e| PluginError::io(format!("{name}: {e}")))?;
        let header: Vec<String> = rdr
            .byte_headers()
            .map_err(|e| PluginError::data(format!("{name}: cannot read the header: {e}")))?
            .iter()
            .map(|h| normalise(&text(h)))
            .collect();
        let at: Vec<(&'static str, usize)> = SOURCES
            .iter()
            .filter_map(|(col, title, _)| {
                let t = normalise(title);
                header.iter().position(|h| *h == t).map(|i| (*col, i))
            })
            .collect();
        for want in ["grant_id", "amount_awarded", "award_date"] {
            if !at.iter().any(|(c, _)| *c == want) {
                let title = SOURCES.iter().find(|s| s.0 == want).map_or("", |s| s.1);
                return Err(PluginError::data(format!(
                    "{name}: no `{title}` column: not a 360Giving spreadsheet (its columns are titled as the standard's, e.g. `Identifier`, `Amount Awarded`, `Award Date`)"
                )));
            }
        }
        let mut rows = TextRows::new(COLUMNS);
        let mut n = 0;
        for (r, rec) in rdr.byte_records().enumerate() {
            let line = r as u64 + 2;
            let rec = rec.map_err(|e| PluginError::data(format!("{name}, row {line}: {e}")))?;
            if rec.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                continue;
            }
            let g: Fields = at
                .iter()
                .filter_map(|(c, i)| rec.get(*i).map(|b| (*c, text(b).trim().to_string())))
                .filter(|(_, v)| !v.is_empty())
                .collect();
            rows.push(row(g, &self.postcodes), name, line);
            n += 1;
        }
        ctx.emit_rows("grants", &mut rows)?;
        Ok(n)
    }

    /// A 360Giving JSON package (`{"grants": [...]}`).
    fn read_json(&self, ctx: &Context, path: &Path, name: &str) -> Result<u64, PluginError> {
        let file =
            std::fs::File::open(path).map_err(|e| PluginError::io(format!("{name}: {e}")))?;
        let doc: serde_json::Value = serde_json::from_reader(std::io::BufReader::new(file))
            .map_err(|e| PluginError::data(format!("{name}: not JSON: {e}")))?;
        let Some(grants) = doc.get("grants").and_then(|g| g.as_array()) else {
            return Err(PluginError::data(format!(
                "{name}: no `grants` array: not a 360Giving JSON package"
            )));
        };
        let mut rows = TextRows::new(COLUMNS);
        let mut several = 0u64;
        for (i, grant) in grants.iter().enumerate() {
            let mut g = Fields::new();
            let mut many = false;
            for (col, _, path) in SOURCES {
                let v = match path {
                    [key] => grant.get(*key),
                    [section, key] => {
                        let items = grant.get(*section);
                        let first = match items {
                            Some(serde_json::Value::Array(a)) => {
                                many |= a.len() > 1;
                                a.first()
                            }
                            other => other,
                        };
                        first.and_then(|f| f.get(*key))
                    }
                    _ => None,
                };
                if let Some(t) = v.and_then(json_text).filter(|t| !t.trim().is_empty()) {
                    g.insert(*col, t.trim().to_string());
                }
            }
            if let Some(cls) = grant.get("classifications").and_then(|c| c.as_array()) {
                let titles: Vec<String> = cls
                    .iter()
                    .filter_map(|c| c.get("title").and_then(json_text))
                    .collect();
                if !titles.is_empty() {
                    g.insert("classifications", titles.join("; "));
                }
            }
            several += many as u64;
            // The grant's position in the array stands for its row.
            rows.push(row(g, &self.postcodes), name, i as u64 + 1);
        }
        if several > 0 {
            ctx.coverage_warning(
                Some("grants"),
                &format!(
                    "{name}: grants with several recipients, locations or programmes: the first of each kept"
                ),
                several,
                Some(grants.len() as u64),
            );
        }
        let n = rows.len() as u64;
        ctx.emit_rows("grants", &mut rows)?;
        Ok(n)
    }
}

impl SourcePlugin for Grants {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("grants", env!("CARGO_PKG_VERSION"))
            .description("Grants in the 360Giving Data Standard (spreadsheet CSV or JSON)")
            .licence("As published by each funder (360Giving publishers use open licences)")
            .produces("grants")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        if options.path.trim().is_empty() {
            return Err(PluginError::config("`path` is empty"));
        }
        Ok(Grants {
            options,
            postcodes: HashMap::new(),
        })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        if let Some(l) = &self.options.postcode_lookup {
            self.postcodes = load_postcode_lookup(ctx, l)?;
        }
        let files = eqpipe_workforce::resolve_some_inputs(ctx, &self.options.path)?;
        for (path, name) in &files {
            ctx.check_cancelled()?;
            let json = name.to_ascii_lowercase().ends_with(".json");
            let n = if json {
                self.read_json(ctx, path, name)?
            } else {
                self.read_csv(ctx, path, name)?
            };
            ctx.info(&format!("{name}: {n} grants"));
        }
        Ok(())
    }
}

eqpipe_plugin_sdk::export_plugin!(source: Grants);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_id_schemes() {
        assert_eq!(id_scheme("GB-CHC-1130343").as_deref(), Some("GB-CHC"));
        assert_eq!(id_scheme("GB-COH-07597525").as_deref(), Some("GB-COH"));
        assert_eq!(
            id_scheme("360G-trafford-altrincham_childrens_choir").as_deref(),
            Some("360G")
        );
        assert_eq!(id_scheme(" ").as_deref(), None);
    }

    #[test]
    fn a_grant_to_an_individual_keeps_no_name_id_or_title() {
        let mut g = Fields::new();
        g.insert("grant_id", "360G-x-1".into());
        g.insert("title", "Hardship grant to Jane Doe".into());
        g.insert("recipient_individual", "360G-x-IND-7".into());
        g.insert("amount_awarded", "250".into());
        let r = row(g, &Postcodes::new());
        let at = |c: &str| r[COLUMNS.iter().position(|x| *x == c).unwrap()].clone();
        assert_eq!(at("recipient_type"), "individual");
        assert_eq!(at("title"), "");
        assert_eq!(at("recipient_id"), "");
        assert!(!r.iter().any(|v| v.contains("Jane")));
    }
}
