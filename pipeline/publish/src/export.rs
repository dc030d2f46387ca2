//! CSV and XLSX copies of the published indicators, for spreadsheet users,
//! when the config asks (`[exports] formats = ["csv", "xlsx"]`). They are
//! written from the published Parquet files only (after disclosure control),
//! into `exports/<indicator>.csv` and `.xlsx`. The workbook has the data on
//! its first sheet (bold header, frozen top row, filters) and a `notes`
//! sheet with the dataset's description, every column's meaning and unit,
//! the provenance and the suppression rule. With `pay_gap`, its statutory
//! figures also go out in the GOV.UK service's fields ([`crate::submission`]).

use std::path::Path;

use arrow_array::{Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, SchemaRef};
use eqpipe_plugin_sdk::Contract;
use rust_xlsxwriter::{Format, Workbook};

pub use eqpipe_core::config::{ExportFormat, ExportsConfig};
use eqpipe_store::contracts::Contracts;
use eqpipe_store::files as store;

/// Excel's limit.
const MAX_ROWS: usize = 1_048_575;

fn xlsx_err(e: rust_xlsxwriter::XlsxError) -> String {
    e.to_string()
}

/// Writes the configured exports; returns the files written.
pub fn write(
    root: &Path,
    cfg: &ExportsConfig,
    contracts: &Contracts,
) -> Result<Vec<String>, String> {
    let mut written = Vec::new();
    let Ok(dirs) = std::fs::read_dir(root.join(eqpipe_core::layout::INDICATORS_DIR)) else {
        return Ok(written);
    };
    let mut dirs: Vec<_> = dirs.flatten().map(|e| e.path()).collect();
    dirs.sort();
    let layout = eqpipe_core::layout::Layout::new(root);
    for dir in dirs {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if !cfg.indicators.is_empty() && !cfg.indicators.contains(&name) {
            continue;
        }
        let (batches, kv) = read_indicator(&dir)?;
        let dataset = kv.get(eqpipe_core::provenance::keys::DATASET).cloned();
        let contract = dataset.as_deref().and_then(|d| contracts.get(d));
        let Some(schema) = batches.first().map(|b| b.schema()) else {
            continue;
        };
        for format in &cfg.formats {
            let bytes = match format {
                ExportFormat::Csv => csv_bytes(&schema, &batches)?,
                ExportFormat::Xlsx => {
                    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                    if rows > MAX_ROWS {
                        tracing::warn!(indicator = %name, rows, "too many rows for a worksheet; no XLSX export (use the CSV or Parquet)");
                        continue;
                    }
                    xlsx_bytes(&name, &schema, &batches, &kv, contract.as_deref())?
                }
            };
            let ext = match format {
                ExportFormat::Csv => "csv",
                ExportFormat::Xlsx => "xlsx",
            };
            store::write_atomic(&layout.export_file(&name, ext), &bytes)
                .map_err(|e| e.to_string())?;
            written.push(format!("exports/{name}.{ext}"));
        }
        if dataset.as_deref() == Some("pay_gap")
            && let Some((bytes, blanks)) = crate::submission::csv_bytes(&batches)?
        {
            if blanks > 0 {
                tracing::warn!(
                    blanks,
                    "gender pay gap service export: figures withheld by disclosure control left blank; fill them in from the restricted output before submitting"
                );
            }
            store::write_atomic(&layout.export_file(crate::submission::NAME, "csv"), &bytes)
                .map_err(|e| e.to_string())?;
            written.push(format!("exports/{}.csv", crate::submission::NAME));
        }
    }
    Ok(written)
}

/// An indicator's rows and provenance. A partnership's indicator: every
/// level's file, one after another (each row carries its partner_id).
fn read_indicator(
    dir: &Path,
) -> Result<(Vec<RecordBatch>, std::collections::BTreeMap<String, String>), String> {
    let mut parts = vec![dir.join(store::PART_FILE)];
    if !parts[0].exists() {
        parts = eqpipe_store::files::level_files(dir);
    }
    let mut batches = Vec::new();
    let mut kv = Default::default();
    for part in &parts {
        let (b, k) = eqpipe_store::files::read(part)
            .ok_or_else(|| format!("{}: not a readable Parquet file", part.display()))?;
        batches.extend(b);
        kv = k;
    }
    Ok((batches, kv))
}

/// The CSV export: UTF-8 with a byte-order mark (Excel needs it), nulls
/// as empty cells.
fn csv_bytes(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, String> {
    let options = FormatOptions::default().with_null("");
    let mut w = csv::WriterBuilder::new().from_writer(vec![0xEF, 0xBB, 0xBF]);
    w.write_record(schema.fields().iter().map(|f| f.name().as_str()))
        .map_err(|e| e.to_string())?;
    for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        for i in 0..b.num_rows() {
            w.write_record(fmts.iter().map(|f| f.value(i).to_string()))
                .map_err(|e| e.to_string())?;
        }
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// The XLSX export: the data sheet (numbers as numbers, the header frozen
/// and filtered) and a notes sheet of provenance and column meanings.
fn xlsx_bytes(
    name: &str,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    kv: &std::collections::BTreeMap<String, String>,
    contract: Option<&Contract>,
) -> Result<Vec<u8>, String> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    data_sheet(&mut wb, &bold, name, schema, batches)?;
    notes_sheet(&mut wb, &bold, name, kv, contract)?;
    wb.save_to_buffer().map_err(xlsx_err)
}

fn data_sheet(
    wb: &mut Workbook,
    bold: &Format,
    name: &str,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(), String> {
    let options = FormatOptions::default().with_null("");
    let ws = wb.add_worksheet();
    ws.set_name(shorten_sheet(name)).map_err(xlsx_err)?;
    for (c, f) in schema.fields().iter().enumerate() {
        ws.write_string_with_format(0, c as u16, f.name(), bold)
            .map_err(xlsx_err)?;
        ws.set_column_width(c as u16, (f.name().len() as f64 + 4.0).max(12.0))
            .map_err(xlsx_err)?;
    }
    let mut r = 1u32;
    for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let numbers: Vec<Option<Vec<Option<f64>>>> = b
            .columns()
            .iter()
            .map(|c| match c.data_type() {
                DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::UInt8
                | DataType::Float64 => eqpipe_plugin_sdk::f64_values(c.as_ref()).ok(),
                _ => None,
            })
            .collect();
        for i in 0..b.num_rows() {
            for (c, col) in b.columns().iter().enumerate() {
                if col.is_null(i) {
                    continue;
                }
                match numbers[c].as_ref().and_then(|v| v[i]) {
                    Some(x) => {
                        ws.write_number(r, c as u16, x).map_err(xlsx_err)?;
                    }
                    None => {
                        ws.write_string(r, c as u16, fmts[c].value(i).to_string())
                            .map_err(xlsx_err)?;
                    }
                }
            }
            r += 1;
        }
    }
    ws.set_freeze_panes(1, 0).map_err(xlsx_err)?;
    ws.autofilter(
        0,
        0,
        r.saturating_sub(1).max(1),
        schema.fields().len().saturating_sub(1) as u16,
    )
    .map_err(xlsx_err)?;
    Ok(())
}

fn notes_sheet(
    wb: &mut Workbook,
    bold: &Format,
    name: &str,
    kv: &std::collections::BTreeMap<String, String>,
    contract: Option<&Contract>,
) -> Result<(), String> {
    let notes = wb.add_worksheet();
    notes.set_name("notes").map_err(xlsx_err)?;
    notes.set_column_width(0, 28).map_err(xlsx_err)?;
    notes.set_column_width(1, 100).map_err(xlsx_err)?;
    let mut n = 0u32;
    let mut line = |k: &str, v: &str, bold_key: bool| -> Result<(), String> {
        if bold_key {
            notes
                .write_string_with_format(n, 0, k, bold)
                .map_err(xlsx_err)?;
        } else {
            notes.write_string(n, 0, k).map_err(xlsx_err)?;
        }
        notes.write_string(n, 1, v).map_err(xlsx_err)?;
        n += 1;
        Ok(())
    };
    line("Indicator", name, true)?;
    if let Some(c) = contract {
        line("What a row is", &c.description, true)?;
    }
    for (k, v) in kv {
        if [
            eqpipe_core::provenance::keys::RUN_ID,
            eqpipe_core::provenance::keys::PLUGIN,
            eqpipe_core::provenance::keys::PLUGIN_VERSION,
            eqpipe_core::provenance::keys::LICENCE,
            eqpipe_core::provenance::keys::CREATED_AT,
            eqpipe_core::provenance::keys::DISCLOSURE,
        ]
        .contains(&k.as_str())
        {
            line(
                k.trim_start_matches(eqpipe_core::provenance::keys::PREFIX),
                v,
                true,
            )?;
        }
    }
    line(
        "Blank cells",
        "Not computable, or withheld to protect confidentiality where `suppressed` is TRUE (counts under the threshold and figures that would let them be worked out).",
        true,
    )?;
    line("", "", false)?;
    line("Column", "Meaning", true)?;
    if let Some(c) = contract {
        for col in &c.columns {
            let unit = col
                .unit
                .as_deref()
                .map(|u| format!(" ({u})"))
                .unwrap_or_default();
            line(&col.name, &format!("{}{unit}", col.description), false)?;
        }
    }
    Ok(())
}

/// Sheet names: at most 31 characters.
fn shorten_sheet(s: &str) -> String {
    s.chars().take(31).collect()
}
