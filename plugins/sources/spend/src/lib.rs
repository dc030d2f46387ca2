//! `spend`: the "expenditure over £500" files councils publish under the
//! Local Government Transparency Code 2015, one file or many (a folder glob
//! of monthly or quarterly files), into the `spend` dataset.
//!
//! No two councils write these files alike, and one council's quarters
//! differ: Oxford's headers change spelling between quarters (`Expenditure
//! Category`, `Expenditure Catergory`), one quarter ends without a newline
//! and uses CRLF, another LF; Trafford writes `NA` for a missing value,
//! `Redacted` for a payee withheld as personal data and its own column
//! names (`BeneficiaryName`, `PaymentDate`). So each field is found by a
//! list of header aliases, compared with case, spaces and punctuation
//! removed; `columns` in the options puts a council's own names first; the
//! mapping found is logged for each file, and a file without a required
//! field fails the step naming the file, the field and the names tried.
//!
//! Payees withheld or not named are never published by name: a payee
//! marked `Redacted` (or one of `redacted_markers`) is stored with
//! `payee_status = "redacted"` and no name, supplier id or VAT number; a
//! blank payee (Oxford leaves individuals' refunds blank) is `not_named`,
//! with no supplier id either. Amounts and dates are read by the host as
//! published (`£1,234.50`, negative credits, `dd/mm/yyyy` and ISO dates).

use std::collections::BTreeMap;

use eqpipe_plugin_sdk::prelude::*;
use serde::Deserialize;

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The spend file: a path or URL, or a glob on the file name in a
    /// folder (`spend/expenditure-over-500-*.csv`) for many.
    pub path: String,
    /// A council's own header names for a field, tried before the built-in
    /// aliases: `{ amount = ["Net Value"], supplier_name = ["Creditor"] }`.
    /// Keys are the dataset's column names.
    #[serde(default)]
    pub columns: BTreeMap<String, Vec<String>>,
    /// The organisation, where the files have no column naming it.
    #[serde(default)]
    pub organisation: Option<String>,
    /// Payee names that mean "withheld" (compared without case), besides
    /// the built-in ones (`Redacted`, `Personal data`, `Withheld`, …).
    #[serde(default)]
    pub redacted_markers: Vec<String>,
}

/// The dataset's fields: name, required, built-in header aliases (already
/// normalised: lower case, letters and digits only).
const FIELDS: &[(&str, bool, &[&str])] = &[
    (
        "organisation",
        false,
        &[
            "organisationlabel",
            "organisationname",
            "organisation",
            "bodyname",
            "body",
            "client",
        ],
    ),
    (
        "payment_date",
        true,
        &[
            "paymentdate",
            "paiddate",
            "datepaid",
            "dateofpayment",
            "transactiondate",
            "date",
        ],
    ),
    ("effective_date", false, &["effectivedate", "period"]),
    (
        "transaction_id",
        false,
        &[
            "transactionnumber",
            "transno",
            "transactionno",
            "transactionid",
            "transactionreference",
            "transactionref",
            "documentnumber",
        ],
    ),
    (
        "service_area",
        false,
        &[
            "servicearea",
            "organisationalunit",
            "directorate",
            "department",
            "servicedivision",
            "service",
        ],
    ),
    (
        "expense_category",
        false,
        &[
            "expenditurecategory",
            "expenditurecatergory",
            "proclasslabel",
            "expensetype",
            "expensearea",
            "servicecategorylabel",
            "category",
        ],
    ),
    (
        "expense_code",
        false,
        &[
            "expenditurecode",
            "proclasscode",
            "expensecode",
            "accountcode",
        ],
    ),
    (
        "capital_or_revenue",
        false,
        &[
            "typeofexpenditure",
            "capitalorrevenue",
            "revenueorcapital",
            "capitalrevenue",
        ],
    ),
    (
        "supplier_id",
        false,
        &[
            "supplierid",
            "beneficiaryotherid",
            "suppliernumber",
            "supplierno",
            "supplierreference",
            "suppliercode",
            "vendorid",
        ],
    ),
    (
        "supplier_name",
        true,
        &[
            "suppliername",
            "beneficiaryname",
            "supplier",
            "payeename",
            "payee",
            "vendorname",
            "merchantname",
        ],
    ),
    (
        "vat_number",
        false,
        &[
            "vatregistrationnumber",
            "vatregnumber",
            "vatregno",
            "vatnumber",
        ],
    ),
    (
        "amount",
        true,
        &[
            "amount",
            "netamount",
            "amountexcludingvat",
            "amountexvat",
            "amountgbp",
            "netamountgbp",
            "totalamount",
            "value",
        ],
    ),
];

/// Payee names that mean the council withheld the name.
const REDACTED: &[&str] = &[
    "redacted",
    "redacted personal data",
    "personal data",
    "personal data redacted",
    "withheld",
    "name withheld",
    "private individual",
    "individual",
];

/// Values that mean "no value" in these files.
const MISSING: &[&str] = &["na", "n/a", "null", "-"];

/// A header as compared: lower case, letters and digits only.
pub fn normalise(header: &str) -> String {
    header
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Which header (by index) each field is read from: the first alias that
/// names a header not already taken by an earlier field.
pub fn match_headers(
    header: &[String],
    extra: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<&'static str, usize> {
    match_fields(header, FIELDS, extra)
}

/// A field table: each field's name, whether it is required, and its
/// built-in header aliases (normalised).
pub type FieldTable = [(&'static str, bool, &'static [&'static str])];

/// Which header (by index) each of `fields` is read from: a council's own
/// names (`extra`, by field) first, then the built-in aliases, compared as
/// [`normalise`] writes them; a header is read for one field only, the
/// first that claims it.
pub fn match_fields(
    header: &[String],
    fields: &FieldTable,
    extra: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<&'static str, usize> {
    let norm: Vec<String> = header.iter().map(|h| normalise(h)).collect();
    let mut taken = vec![false; header.len()];
    let mut out = BTreeMap::new();
    for (field, _, aliases) in fields {
        if let Some(i) = aliases_of(field, aliases, extra)
            .iter()
            .find_map(|a| (0..norm.len()).find(|&i| !taken[i] && norm[i] == *a))
        {
            taken[i] = true;
            out.insert(*field, i);
        }
    }
    out
}

/// The names tried for a field, a council's own first (normalised).
pub fn aliases_of(
    field: &str,
    aliases: &[&str],
    extra: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    extra
        .get(field)
        .into_iter()
        .flatten()
        .map(|a| normalise(a))
        .chain(aliases.iter().map(|a| a.to_string()))
        .collect()
}

/// A supplier's name as it is matched across files: upper case, `&` as
/// AND, punctuation as spaces, a leading THE and the legal form at the end
/// dropped (LTD, LIMITED, PLC, LLP, CIC, CIO, …, and the cut-off forms
/// truncated exports leave: `Treework Lt`), spaces collapsed. So
/// `LifeCentre Events Ltd ` and `LIFECENTRE EVENTS LIMITED` meet.
pub fn name_key(name: &str) -> String {
    const FORMS: &[&str] = &[
        "LTD", "LIMITED", "PLC", "LLP", "CIC", "CIO", "LLC", "INC", "CO", "COMPANY", "UK",
    ];
    let upper: String = name
        .to_uppercase()
        .replace('&', " AND ")
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let mut words: Vec<&str> = upper.split_whitespace().collect();
    if words.first() == Some(&"THE") && words.len() > 1 {
        words.remove(0);
    }
    while words.len() > 1 {
        let last = words[words.len() - 1];
        let cut_off = last.len() >= 2 && ("LIMITED".starts_with(last) || "LTD".starts_with(last));
        if FORMS.contains(&last) || cut_off {
            words.pop();
        } else {
            break;
        }
    }
    words.join(" ")
}

/// A field as text: UTF-8, or Windows-1252 where it is not (councils'
/// exports saved by Excel on Windows).
pub fn decode_field(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(b).0,
    }
}

/// How a payee is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payee {
    /// Named by the council.
    Named,
    /// Withheld by the council (`Redacted`).
    Redacted,
    /// Left blank (individuals, refunds).
    NotNamed,
}

impl Payee {
    /// The dataset's `payee_status` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Payee::Named => "named",
            Payee::Redacted => "redacted",
            Payee::NotNamed => "not_named",
        }
    }
}

/// The plugin.
pub struct Spend {
    options: Options,
    redacted: Vec<String>,
}

impl Spend {
    /// How the payee `name` is shown.
    pub fn payee(&self, name: &str) -> Payee {
        let n = name.trim();
        if n.is_empty() || MISSING.contains(&n.to_lowercase().as_str()) {
            Payee::NotNamed
        } else if self.redacted.iter().any(|r| n.eq_ignore_ascii_case(r)) {
            Payee::Redacted
        } else {
            Payee::Named
        }
    }

    /// One file's rows into `spend`; the rows read.
    fn read_file(
        &self,
        ctx: &Context,
        path: &std::path::Path,
        name: &str,
    ) -> Result<u64, PluginError> {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .map_err(|e| PluginError::io(format!("{name}: {e}")))?;
        let header: Vec<String> = rdr
            .byte_headers()
            .map_err(|e| PluginError::data(format!("{name}: cannot read the header: {e}")))?
            .iter()
            .map(|h| decode_field(h).trim().to_string())
            .collect();
        let found = match_headers(&header, &self.options.columns);
        for (field, required, aliases) in FIELDS {
            if *required && !found.contains_key(field) {
                let own = self
                    .options
                    .columns
                    .get(*field)
                    .cloned()
                    .unwrap_or_default();
                return Err(PluginError::data(format!(
                    "{name}: no column for `{field}` (tried {}{}; the header has: {}); name it under `columns`",
                    own.iter().map(|a| format!("`{a}`, ")).collect::<String>(),
                    aliases.join(", "),
                    header.join(", ")
                )));
            }
        }
        ctx.info(&format!(
            "{name}: columns matched: {}",
            found
                .iter()
                .map(|(f, i)| format!("{f} <- `{}`", header[*i]))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let unused: Vec<&str> = (0..header.len())
            .filter(|i| !found.values().any(|j| j == i))
            .map(|i| header[i].as_str())
            .collect();
        if !unused.is_empty() {
            ctx.info(&format!("{name}: columns not read: {}", unused.join(", ")));
        }
        let names: Vec<&str> = FIELDS.iter().map(|f| f.0).chain(["payee_status"]).collect();
        let mut rows = TextRows::new(&names);
        let mut read = 0u64;
        let mut withheld = 0u64;
        for (r, rec) in rdr.byte_records().enumerate() {
            let line = r as u64 + 2;
            let rec = rec.map_err(|e| PluginError::data(format!("{name}, row {line}: {e}")))?;
            if rec.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                continue;
            }
            let get = |field: &str| -> String {
                let v = found
                    .get(field)
                    .and_then(|&i| rec.get(i))
                    .map(|b| decode_field(b).trim().to_string())
                    .unwrap_or_default();
                if MISSING.contains(&v.to_lowercase().as_str()) {
                    String::new()
                } else {
                    v
                }
            };
            let payee = self.payee(&get("supplier_name"));
            let mut values: Vec<String> = FIELDS
                .iter()
                .map(|(f, _, _)| match (*f, payee) {
                    ("organisation", _) => {
                        let v = get(f);
                        if v.is_empty() {
                            self.options.organisation.clone().unwrap_or_default()
                        } else {
                            v
                        }
                    }
                    ("supplier_name" | "supplier_id" | "vat_number", Payee::Redacted) => {
                        String::new()
                    }
                    ("supplier_id" | "vat_number", Payee::NotNamed) => String::new(),
                    _ => get(f),
                })
                .collect();
            values.push(payee.as_str().to_string());
            if payee != Payee::Named {
                withheld += 1;
            }
            rows.push(&values, name, line);
            read += 1;
            if rows.len() >= 65_536 {
                ctx.emit_rows("spend", &mut rows)?;
            }
        }
        ctx.emit_rows("spend", &mut rows)?;
        ctx.info(&format!(
            "{name}: {read} payments, {withheld} with the payee withheld or not named"
        ));
        Ok(read)
    }
}

impl SourcePlugin for Spend {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("spend", env!("CARGO_PKG_VERSION"))
            .description(
                "Council spend over £500 (Local Government Transparency Code), many files, drifting headers",
            )
            .licence("As published by each council (usually the Open Government Licence v3.0)")
            .produces("spend")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        if options.path.trim().is_empty() {
            return Err(PluginError::config("`path` is empty"));
        }
        for k in options.columns.keys() {
            if !FIELDS.iter().any(|f| f.0 == k) {
                return Err(PluginError::config(format!(
                    "columns: `{k}` is not a column of `spend` (one of: {})",
                    FIELDS.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
                )));
            }
        }
        let redacted = REDACTED
            .iter()
            .map(|s| s.to_string())
            .chain(
                options
                    .redacted_markers
                    .iter()
                    .map(|s| s.trim().to_string()),
            )
            .collect();
        Ok(Spend { options, redacted })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let files = eqpipe_workforce::resolve_some_inputs(ctx, &self.options.path)?;
        let mut total = 0;
        for (path, name) in &files {
            ctx.check_cancelled()?;
            total += self.read_file(ctx, path, name)?;
        }
        ctx.info(&format!("{total} payments from {} files", files.len()));
        Ok(())
    }
}

eqpipe_plugin_sdk::export_plugin!(source: Spend);

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn supplier_names_meet_across_spellings() {
        assert_eq!(
            name_key("LifeCentre Events Ltd "),
            name_key("LIFECENTRE EVENTS LIMITED")
        );
        assert_eq!(name_key("The Growth Company"), "GROWTH");
        assert_eq!(
            name_key("Arboricultural Services Treework Lt"),
            "ARBORICULTURAL SERVICES TREEWORK"
        );
        assert_eq!(name_key("Verint Systems UK Ltd.,"), "VERINT SYSTEMS");
        assert_eq!(name_key("Marks & Spencer plc"), "MARKS AND SPENCER");
        assert_eq!(name_key("Ltd"), "LTD", "a name is never emptied");
    }

    #[test]
    fn drifting_headers_find_the_same_fields() {
        let oxford = headers(&[
            "Client",
            "Service Area",
            "Expenditure Catergory",
            "Expenditure Code",
            "Paid Date",
            "Trans No",
            "Amount",
            "Type of Expenditure",
            "Supplier ID",
            "Supplier Name",
        ]);
        let m = match_headers(&oxford, &BTreeMap::new());
        assert_eq!(m["expense_category"], 2);
        assert_eq!(m["payment_date"], 4);
        assert_eq!(m["transaction_id"], 5);
        assert_eq!(m["supplier_name"], 9);
        assert_eq!(m["organisation"], 0);
        let trafford = headers(&[
            "OrganisationLabel",
            "EffectiveDate",
            "BeneficiaryName",
            "PaymentDate",
            "Amount",
            "ProclassLabel",
        ]);
        let m = match_headers(&trafford, &BTreeMap::new());
        assert_eq!(m["supplier_name"], 2);
        assert_eq!(m["payment_date"], 3);
        assert_eq!(m["effective_date"], 1);
        assert_eq!(m["expense_category"], 5);
    }

    #[test]
    fn a_councils_own_names_come_first_and_a_header_is_read_once() {
        let h = headers(&["Date", "Creditor", "Net Value (£)", "Value"]);
        let mut own = BTreeMap::new();
        own.insert("supplier_name".to_string(), vec!["Creditor".to_string()]);
        own.insert("amount".to_string(), vec!["Net Value (£)".to_string()]);
        let m = match_headers(&h, &own);
        assert_eq!(m["supplier_name"], 1);
        assert_eq!(m["amount"], 2);
        assert_eq!(m["payment_date"], 0);
        // `Date` went to payment_date; nothing else may take it.
        assert!(!m.contains_key("effective_date"));
    }
}
