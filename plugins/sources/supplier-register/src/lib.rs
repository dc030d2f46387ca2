//! `supplier-register`: the council's own list of its suppliers (from the
//! finance system or procurement team): supplier number, name, postcode,
//! Companies House and charity numbers, and whether the supplier is a
//! voluntary, community or social enterprise (VCSE) organisation or a small
//! or medium enterprise (SME), into the `suppliers` dataset that
//! `social-value` joins to `spend`.
//!
//! Columns are found by header aliases as in `spend` (case, spaces and
//! punctuation ignored), a council's own names first under `columns`.
//! Postcodes are placed in an LSOA and ward through an ONS postcode lookup
//! (`postcode_lookup`, as for `service-usage`); postcodes it does not know
//! are a coverage warning. Company numbers that lost their leading zeros in
//! a spreadsheet (`7597525`) are padded back to eight digits. Flags read
//! `Y`/`N`, `Yes`/`No`, `TRUE`/`FALSE`, `1`/`0` or `x`; anything else is
//! left for the host to reject with its row and column.

use std::collections::{BTreeMap, HashMap};

use eqpipe_plugin_sdk::prelude::*;
use eqpipe_service_usage::{PostcodeLookup, load_postcode_lookup, postcode_key};
use serde::Deserialize;

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The register: a path or URL, or a glob on the file name.
    pub path: String,
    /// A council's own header names for a column, tried first:
    /// `{ vcse = ["Third Sector?"] }`.
    #[serde(default)]
    pub columns: BTreeMap<String, Vec<String>>,
    /// An ONS postcode lookup to place suppliers in LSOAs and wards.
    #[serde(default)]
    pub postcode_lookup: Option<PostcodeLookup>,
}

/// The register's fields: name, required, built-in aliases (normalised).
const FIELDS: &eqpipe_spend::FieldTable = &[
    (
        "supplier_id",
        false,
        &[
            "supplierid",
            "suppliernumber",
            "supplierno",
            "vendorno",
            "creditorno",
            "suppliercode",
            "supplierref",
            "vendorid",
            "vendornumber",
            "creditorid",
            "creditornumber",
            "beneficiaryotherid",
        ],
    ),
    (
        "supplier_name",
        true,
        &[
            "suppliername",
            "supplier",
            "name",
            "vendorname",
            "creditorname",
            "beneficiaryname",
            "organisationname",
        ],
    ),
    (
        "postcode",
        false,
        &["postcode", "postalcode", "supplierpostcode", "pcode", "zip"],
    ),
    (
        "company_number",
        false,
        &[
            "companynumber",
            "companieshousenumber",
            "companyregistrationnumber",
            "companyregno",
            "companyno",
            "crn",
        ],
    ),
    (
        "charity_number",
        false,
        &[
            "charitynumber",
            "registeredcharitynumber",
            "charityregistrationnumber",
            "charityno",
        ],
    ),
    (
        "vcse",
        false,
        &[
            "vcse",
            "isvcse",
            "vcseflag",
            "vcseorganisation",
            "thirdsector",
            "voluntarysector",
        ],
    ),
    (
        "sme",
        false,
        &[
            "sme",
            "issme",
            "smeflag",
            "smallormediumenterprise",
            "smallmediumenterprise",
        ],
    ),
];

/// The dataset's columns, in order.
const COLUMNS: &[&str] = &[
    "supplier_id",
    "supplier_name",
    "name_key",
    "postcode",
    "lsoa_code",
    "ward_code",
    "company_number",
    "charity_number",
    "vcse",
    "sme",
];

use eqpipe_spend::decode_field as text;

/// A yes/no flag as `true`/`false`; empty for no value; anything else as
/// given (the host rejects it, naming the row).
pub fn flag(v: &str) -> String {
    match v.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" | "true" | "1" | "x" => "true".into(),
        "n" | "no" | "false" | "0" => "false".into(),
        "" | "na" | "n/a" | "-" | "unknown" => String::new(),
        _ => v.trim().to_string(),
    }
}

/// A Companies House number with the leading zeros a spreadsheet dropped
/// put back (`7597525` -> `07597525`); other forms (`SC123456`) as given.
pub fn company_number(v: &str) -> (String, bool) {
    let v = v.trim();
    if !v.is_empty() && v.len() < 8 && v.chars().all(|c| c.is_ascii_digit()) {
        (format!("{v:0>8}"), true)
    } else {
        (v.to_string(), false)
    }
}

/// The plugin.
pub struct SupplierRegister {
    options: Options,
    postcodes: HashMap<String, (String, String)>,
}

impl SupplierRegister {
    fn read_file(
        &self,
        ctx: &Context,
        path: &std::path::Path,
        name: &str,
    ) -> Result<(), PluginError> {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .map_err(|e| PluginError::io(format!("{name}: {e}")))?;
        let header: Vec<String> = rdr
            .byte_headers()
            .map_err(|e| PluginError::data(format!("{name}: cannot read the header: {e}")))?
            .iter()
            .map(|h| text(h).trim().to_string())
            .collect();
        let at = eqpipe_spend::match_fields(&header, FIELDS, &self.options.columns);
        for (field, required, aliases) in FIELDS {
            if *required && !at.contains_key(field) {
                return Err(PluginError::data(format!(
                    "{name}: no column for `{field}` (tried {}; the header has: {}); name it under `columns`",
                    eqpipe_spend::aliases_of(field, aliases, &self.options.columns).join(", "),
                    header.join(", ")
                )));
            }
        }
        ctx.info(&format!(
            "{name}: columns matched: {}",
            at.iter()
                .map(|(f, i)| format!("{f} <- `{}`", header[*i]))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let mut rows = TextRows::new(COLUMNS);
        let (mut n, mut padded, mut with_postcode, mut unknown) = (0u64, 0u64, 0u64, 0u64);
        for (r, rec) in rdr.byte_records().enumerate() {
            let line = r as u64 + 2;
            let rec = rec.map_err(|e| PluginError::data(format!("{name}, row {line}: {e}")))?;
            if rec.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                continue;
            }
            let get = |f: &str| {
                at.get(f)
                    .and_then(|&i| rec.get(i))
                    .map(|b| text(b).trim().to_string())
                    .unwrap_or_default()
            };
            let supplier = get("supplier_name");
            let postcode = get("postcode");
            let (lsoa, ward) = if postcode.is_empty() || self.options.postcode_lookup.is_none() {
                (String::new(), String::new())
            } else {
                with_postcode += 1;
                match self.postcodes.get(&postcode_key(&postcode)) {
                    Some(p) => p.clone(),
                    None => {
                        unknown += 1;
                        (String::new(), String::new())
                    }
                }
            };
            let (company, was_padded) = company_number(&get("company_number"));
            padded += was_padded as u64;
            rows.push(
                [
                    get("supplier_id"),
                    supplier.clone(),
                    eqpipe_spend::name_key(&supplier),
                    postcode,
                    lsoa,
                    ward,
                    company,
                    get("charity_number"),
                    flag(&get("vcse")),
                    flag(&get("sme")),
                ],
                name,
                line,
            );
            n += 1;
        }
        ctx.emit_rows("suppliers", &mut rows)?;
        if unknown > 0 {
            ctx.coverage_warning(
                Some("suppliers"),
                &format!("{name}: supplier postcodes the lookup does not know: no LSOA or ward"),
                unknown,
                Some(with_postcode),
            );
        }
        if padded > 0 {
            ctx.info(&format!(
                "{name}: {padded} company numbers had lost their leading zeros and were padded to eight digits"
            ));
        }
        ctx.info(&format!("{name}: {n} suppliers"));
        Ok(())
    }
}

impl SourcePlugin for SupplierRegister {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("supplier-register", env!("CARGO_PKG_VERSION"))
            .description("A council's register of suppliers: postcode, company and charity numbers, VCSE and SME flags")
            .licence("The council's own data")
            .produces("suppliers")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        for k in options.columns.keys() {
            if !FIELDS.iter().any(|f| f.0 == k) {
                return Err(PluginError::config(format!(
                    "columns: `{k}` is not a column of the register (one of: {})",
                    FIELDS.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
                )));
            }
        }
        Ok(SupplierRegister {
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
            self.read_file(ctx, path, name)?;
        }
        Ok(())
    }
}

eqpipe_plugin_sdk::export_plugin!(source: SupplierRegister);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_company_numbers_as_spreadsheets_leave_them() {
        assert_eq!(flag("Y"), "true");
        assert_eq!(flag(" no "), "false");
        assert_eq!(flag("NA"), "");
        assert_eq!(flag("Maybe"), "Maybe");
        assert_eq!(company_number("7597525"), ("07597525".into(), true));
        assert_eq!(company_number("07597525"), ("07597525".into(), false));
        assert_eq!(company_number("SC123456"), ("SC123456".into(), false));
    }
}
