//! The workforce source end to end: non-canonical CSV and XLSX layouts, messy
//! answers onto Census 2021 classifications, bad rows to the restricted
//! quarantine, a rejection threshold, and no raw identifier anywhere under
//! the output folder or in the logs.

mod common;

use std::io::Write;
use std::path::Path;

use arrow_array::cast::AsArray;
use common::*;

/// The workforce dataset's file under a run's output folder.
const WORKFORCE_PART: &str = "restricted/datasets/workforce/source=hr/part-0.parquet";

/// The text of the quarantine file the run's first source wrote.
fn quarantine_text(out: &Path, m: &serde_json::Value) -> String {
    let q = m["sources"][0]["quarantine_file"].as_str().unwrap();
    std::fs::read_to_string(out.join(q)).unwrap()
}

const KEY_ENV: &str = "EQPIPE_TEST_WORKFORCE_KEY";
const KEY: &str = "a-test-key-of-enough-length";

/// An iTrent-style export: other column names, UK dates, 2011 labels.
const ITRENT: &str = "Person Number,Census Date,Directorate,Pay Grade,Gender,Ethnic Origin,Disabled,Age at Census,Hours,Hourly Rate,Bonus,Start Date,End Date,Home Address\n\
EMP-000101,31/03/2025,Housing,G4,Female,Black or Black British: Caribbean,No,41,37,18.20,0,01/05/2015,,1 High St\n\
EMP-000102,31/03/2025,Housing,G9,male,  asian/asian british - INDIAN ,Yes,52,37,31.75,500,12/09/2001,,2 High St\n\
EMP-000103,31/03/2025,Finance,G2,F,Prefer not to say,,29,18.5,12.10,0,03/02/2022,,3 High St\n\
EMP-000104,31/03/2025,Finance,G6,M,White: English/Welsh/Scottish/Northern Irish/British,N,61,37,22.00,0,15/06/1999,,4 High St\n";

fn config(dir: &Path, body: &str) -> std::path::PathBuf {
    let p = dir.join("pipeline.toml");
    std::fs::write(&p, body).unwrap();
    p
}

fn mapping() -> &'static str {
    "[sources.options.columns]\nemployee_id = \"Person Number\"\nsnapshot_date = \"Census Date\"\norg_unit = \"Directorate\"\ngrade = \"Pay Grade\"\nsex = \"Gender\"\nethnic_group = \"Ethnic Origin\"\ndisability = \"Disabled\"\nage = \"Age at Census\"\ncontract_hours = \"Hours\"\nhourly_pay = \"Hourly Rate\"\nbonus_pay = \"Bonus\"\nstart_date = \"Start Date\"\nleaver_date = \"End Date\"\n"
}

fn run_with_key(cfg: &Path) -> std::process::Output {
    eqpipe()
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env(KEY_ENV, KEY)
        .output()
        .unwrap()
}

/// A config reading one canonical CSV extract with the test key.
fn canonical_config(dir: &Path, csv: &Path) -> std::path::PathBuf {
    config(
        dir,
        &format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"hr\"\nplugin = \"workforce\"\n[sources.options]\npath = \"{}\"\npseudonymisation_key_env = \"{KEY_ENV}\"\n",
            csv.display()
        ),
    )
}

/// The workforce dataset's (rows_in, rows, quarantined) in a run manifest.
fn workforce_counts(m: &serde_json::Value) -> (Option<u64>, Option<u64>, Option<u64>) {
    let d = &m["sources"][0]["datasets"]["workforce"];
    (
        d["rows_in"].as_u64(),
        d["rows"].as_u64(),
        d["quarantined"].as_u64(),
    )
}

/// HMAC-SHA256 as RFC 2104 defines it (a key of at most one block).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    assert!(key.len() <= 64);
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = sha2::Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    sha2::Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn text_col(b: &arrow_array::RecordBatch, name: &str) -> Vec<String> {
    let c = b.column_by_name(name).unwrap();
    let d = c.as_any_dictionary();
    let keys = d.normalized_keys();
    (0..b.num_rows())
        .map(|i| d.values().as_string::<i32>().value(keys[i]).to_string())
        .collect()
}

/// Everything under `dir`, and the process output, free of raw identifiers.
fn assert_no_raw_ids(dir: &Path, o: &std::process::Output) {
    let logs = text(o);
    for id in [
        "EMP-000101",
        "EMP-000102",
        "EMP-000103",
        "EMP-000104",
        "EMP-000105",
        "High St",
    ] {
        assert!(!logs.contains(id), "`{id}` in the logs");
        for f in files_under(dir) {
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(id),
                "`{id}` in {}",
                f.display()
            );
        }
    }
}

#[test]
fn a_non_canonical_csv_is_mapped_harmonised_and_pseudonymised() {
    let dir = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    std::fs::write(input.path().join("itrent.csv"), ITRENT).unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"hr\"\nplugin = \"workforce\"\n[sources.options]\npath = \"{}\"\npseudonymisation_key_env = \"{KEY_ENV}\"\nsenior = [\"G9\"]\n{}",
            input.path().join("itrent.csv").display(),
            mapping()
        ),
    );
    let o = run_with_key(&cfg);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("out");
    let file = out.join(WORKFORCE_PART);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(out.join("restricted"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
    }
    assert!(
        !out.join("datasets/workforce").exists(),
        "personal data only under restricted/"
    );
    let (schema, rows, _, batches) = read_parquet(&file);
    assert_eq!(rows, 4);
    assert!(
        schema.field_with_name("home_address").is_err()
            && schema.field_with_name("employee_id").is_err()
    );
    let b = &batches[0];
    assert_eq!(
        text_col(b, "ethnic_group"),
        vec![
            "Black, Black British, Black Welsh, Caribbean or African: Caribbean",
            "Asian, Asian British or Asian Welsh: Indian",
            "prefer_not_to_say",
            "White: English, Welsh, Scottish, Northern Irish or British",
        ]
    );
    assert_eq!(text_col(b, "sex"), vec!["F", "M", "F", "M"]);
    assert_eq!(
        text_col(b, "disability"),
        vec!["not_disabled", "disabled", "not_stated", "not_disabled"]
    );
    let senior = b.column_by_name("senior").unwrap().as_boolean().clone();
    assert_eq!(
        (0..4).map(|i| senior.value(i)).collect::<Vec<_>>(),
        vec![false, true, false, false]
    );
    let dates = b
        .column_by_name("snapshot_date")
        .unwrap()
        .as_primitive::<arrow_array::types::Date32Type>()
        .clone();
    assert_eq!(dates.value(0), 20178, "2025-03-31 as days since 1970");
    // The key is HMAC-SHA256(key, id), its 32 bytes (contract version 2),
    // stable across runs with the same key: computed here from RFC 2104.
    let keys = b
        .column_by_name("employee_key")
        .unwrap()
        .as_fixed_size_binary();
    assert_eq!(keys.value_length(), 32);
    for (i, id) in ["EMP-000101", "EMP-000102", "EMP-000103", "EMP-000104"]
        .iter()
        .enumerate()
    {
        assert_eq!(keys.value(i), hmac_sha256(KEY.as_bytes(), id.as_bytes()));
    }
    assert_no_raw_ids(&out, &o);
}

/// A minimal XLSX (inline strings), as HR systems export.
fn write_xlsx(path: &Path, rows: &[Vec<&str>]) {
    let f = std::fs::File::create(path).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let o = zip::write::SimpleFileOptions::default();
    let mut put = |name: &str, body: &str| {
        z.start_file(name, o).unwrap();
        z.write_all(body.as_bytes()).unwrap();
    };
    put(
        "[Content_Types].xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
    );
    put(
        "_rels/.rels",
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
    );
    put(
        "xl/workbook.xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Staff" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
    );
    put(
        "xl/_rels/workbook.xml.rels",
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
    );
    let mut sheet = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (r, row) in rows.iter().enumerate() {
        sheet.push_str(&format!("<row r=\"{}\">", r + 1));
        for (c, v) in row.iter().enumerate() {
            let cell = format!("{}{}", (b'A' + c as u8) as char, r + 1);
            if !v.is_empty() && v.parse::<f64>().is_ok() {
                sheet.push_str(&format!("<c r=\"{cell}\"><v>{v}</v></c>"));
            } else {
                sheet.push_str(&format!(
                    "<c r=\"{cell}\" t=\"inlineStr\"><is><t>{v}</t></is></c>"
                ));
            }
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData></worksheet>");
    put("xl/worksheets/sheet1.xml", &sheet);
    z.finish().unwrap();
}

#[test]
fn an_xlsx_extract_with_bad_rows_quarantines_them_and_a_threshold_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    let header = vec![
        "Person Number",
        "Census Date",
        "Directorate",
        "Pay Grade",
        "Gender",
        "Ethnic Origin",
        "Disabled",
        "Age at Census",
        "Hours",
        "Hourly Rate",
        "Bonus",
        "Start Date",
        "End Date",
    ];
    let good = |id: &'static str| {
        vec![
            id,
            "2025-03-31",
            "Housing",
            "G4",
            "Female",
            "Irish",
            "No",
            "40",
            "37",
            "18.2",
            "0",
            "2015-05-01",
            "",
        ]
    };
    let mut rows = vec![header.clone(), good("EMP-000101"), good("EMP-000102")];
    rows.push(vec![
        "EMP-000103",
        "2025-02-30",
        "Housing",
        "G4",
        "F",
        "Indian",
        "No",
        "30",
        "37",
        "18.2",
        "0",
        "2015-05-01",
        "",
    ]); // bad date
    rows.push(vec![
        "EMP-000104",
        "2025-03-31",
        "Housing",
        "G4",
        "F",
        "Indian",
        "No",
        "30",
        "37",
        "-3",
        "0",
        "2015-05-01",
        "",
    ]); // negative pay
    rows.push(vec![
        "EMP-000105",
        "2025-03-31",
        "Housing",
        "X99",
        "F",
        "Indian",
        "No",
        "30",
        "37",
        "18",
        "0",
        "2015-05-01",
        "",
    ]); // grade outside the map
    rows.push(good("EMP-000101")); // duplicate employee in the snapshot
    let xlsx = input.path().join("staff.xlsx");
    write_xlsx(&xlsx, &rows);
    let body = |pct: &str| {
        format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"hr\"\nplugin = \"workforce\"\nmax_rejected_pct = {pct}\n[sources.options]\npath = \"{}\"\nsheet = \"Staff\"\npseudonymisation_key_env = \"{KEY_ENV}\"\n[sources.options.grade_bands]\nG4 = \"Grades 4-6\"\n{}",
            xlsx.display(),
            mapping()
        )
    };
    // Generous threshold: the good rows are stored, the bad ones
    // quarantined, and the run says so (exit 4, succeeded with warnings).
    let cfg = config(dir.path(), &body("90"));
    let o = run_with_key(&cfg);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let out = dir.path().join("out");
    let m = last_manifest(&out);
    assert_eq!(workforce_counts(&m), (Some(6), Some(2), Some(4)), "{m:#}");
    let q = m["sources"][0]["quarantine_file"].as_str().unwrap();
    assert!(q.starts_with("restricted/quarantine/"), "{q}");
    let qtext = std::fs::read_to_string(out.join(q)).unwrap();
    assert!(
        qtext.contains("staff.xlsx,4,snapshot_date,snapshot_date: not a date,"),
        "{qtext}"
    );
    assert!(
        qtext.contains("staff.xlsx,5,hourly_pay,hourly_pay: below the minimum 0"),
        "{qtext}"
    );
    assert!(
        qtext.contains("staff.xlsx,6,row,row: grade `X99` is not in grade_bands"),
        "{qtext}"
    );
    assert!(qtext.contains("staff.xlsx,7,employee_key,\"employee_key: duplicate of an earlier row with the same employee_key, snapshot_date\""), "{qtext}");
    let file = out.join(WORKFORCE_PART);
    let before = std::fs::read(&file).unwrap();
    assert_no_raw_ids(&out, &o);

    // Strict threshold: the run fails and the last good output stays.
    let cfg = config(dir.path(), &body("1"));
    let o = run_with_key(&cfg);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("rejected 4 of 6 rows"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn the_run_fails_without_the_pseudonymisation_key() {
    let dir = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    std::fs::write(input.path().join("itrent.csv"), ITRENT).unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"hr\"\nplugin = \"workforce\"\n[sources.options]\npath = \"{}\"\npseudonymisation_key_env = \"EQPIPE_TEST_KEY_NOT_SET\"\n{}",
            input.path().join("itrent.csv").display(),
            mapping()
        ),
    );
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("EQPIPE_TEST_KEY_NOT_SET"),
        "{}",
        text(&o)
    );
    assert!(!dir.path().join("out/restricted/datasets").exists());
}

/// Published counts in the open diversity-data format (a real header and
/// figures as Kelda Group published them in 2020): each non-blank cell
/// becomes a row, categories land on Census 2021 labels, a blank division is
/// the whole organisation and a blank cell is left out, not zero.
#[test]
fn published_diversity_counts_become_workforce_counts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kelda-group.csv");
    std::fs::write(
        &file,
        "published,organisation,organisation_division,employees,age_15-24,age_25-34,age_35-44,age_45-54,age_55-64,age_65-69,age_70+,gender_female,gender_male,gender_total,ethnicity_asian,ethnicity_white,ethnicity_prefernottosay,disability_yes,disability_undisclosed\n\
         2020-03-31,Kelda Group plc,Loop,651,65,198,169,134,81,4,0,450,201,651,164,402,85,19,632\n\
         2020-03-31,Kelda Group plc,,4386,342,1246,1070,1030,658,40,,1386,3000,4386,364,3070,952,39,4347\n",
    )
    .unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"anchors\"\nplugin = \"workforce-aggregate\"\nmax_rejected_pct = 0\n[sources.options]\nfiles = [\"{}\"]\n",
            file.display()
        ),
    );
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let (_, rows, _, batches) = read_parquet(
        &dir.path()
            .join("out/datasets/workforce_counts/source=anchors/part-0.parquet"),
    );
    assert_eq!(
        rows,
        15 + 14,
        "every cell but the blank age_70+ of the whole organisation"
    );
    let b = &batches[0];
    let labels = text_col(b, "category_label");
    let cats = text_col(b, "category");
    let counts = b
        .column_by_name("count")
        .unwrap()
        .as_primitive::<arrow_array::types::Int64Type>()
        .clone();
    let find = |cat: &str, nth: usize| {
        cats.iter()
            .enumerate()
            .filter(|(_, c)| *c == cat)
            .nth(nth)
            .map(|(i, _)| i)
            .unwrap()
    };
    assert_eq!(
        labels[find("asian", 0)],
        "Asian, Asian British or Asian Welsh"
    );
    assert_eq!(counts.value(find("asian", 0)), 164);
    assert_eq!(labels[find("prefernottosay", 0)], "prefer_not_to_say");
    assert_eq!(labels[find("undisclosed", 0)], "not_stated");
    assert_eq!(labels[find("female", 1)], "F");
    assert_eq!(counts.value(find("female", 1)), 1386);
    let division = b.column_by_name("division").unwrap();
    assert!(
        !division.is_null(0) && division.is_null(rows - 1),
        "blank division = whole organisation"
    );
}

/// An applicant-tracking export: stages in the system's own words, messy
/// answers, an unknown stage rejected, identifiers pseudonymised.
#[test]
fn recruitment_exports_become_pseudonymised_applications() {
    let dir = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    let csv = "Candidate Ref,Job Ref,Grade,Applied On,Outcome,Sex,Ethnicity,Disabled,Age\n\
               EMP-000101,V-17,G5,03/02/2025,Interviewed,F,Pakistani,No,27\n\
               EMP-000102,V-17,G5,04/02/2025,Offer accepted,M,White British,No,45\n\
               EMP-000103,V-17,G5,05/02/2025,Rejected at sift,F,Prefer not to say,Yes,33\n\
               EMP-000104,V-17,G5,05/02/2025,Lost in the post,M,Irish,No,51\n";
    std::fs::write(input.path().join("ats.csv"), csv).unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "output_dir = \"out\"\n[[sources]]\nname = \"ats\"\nplugin = \"recruitment\"\nmax_rejected_pct = 50\n[sources.options]\npath = \"{}\"\npseudonymisation_key_env = \"{KEY_ENV}\"\n[sources.options.columns]\napplicant_id = \"Candidate Ref\"\nvacancy = \"Job Ref\"\ngrade = \"Grade\"\napplication_date = \"Applied On\"\nstage = \"Outcome\"\nsex = \"Sex\"\nethnic_group = \"Ethnicity\"\ndisability = \"Disabled\"\nage = \"Age\"\n",
            input.path().join("ats.csv").display()
        ),
    );
    let o = run_with_key(&cfg);
    // One application in an unknown stage, below the step's limit of 50%.
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let out = dir.path().join("out");
    let m = last_manifest(&out);
    let d = &m["sources"][0]["datasets"]["recruitment"];
    assert_eq!(
        (d["rows"].as_u64(), d["quarantined"].as_u64()),
        (Some(3), Some(1)),
        "{m:#}"
    );
    let (_, _, _, batches) =
        read_parquet(&out.join("restricted/datasets/recruitment/source=ats/part-0.parquet"));
    let b = &batches[0];
    assert_eq!(
        text_col(b, "stage"),
        vec!["shortlisted", "appointed", "applied"]
    );
    // The plugin emits the key as hex text (the text path of the ABI); the
    // host stores it as the HMAC's 32 bytes (contract v2), computed here
    // from RFC 2104.
    let keys = b
        .column_by_name("applicant_key")
        .unwrap()
        .as_fixed_size_binary();
    for (i, id) in ["EMP-000101", "EMP-000102", "EMP-000103"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            keys.value(i),
            hmac_sha256(KEY.as_bytes(), id.as_bytes()),
            "{id}"
        );
    }
    assert_eq!(
        text_col(b, "ethnic_group"),
        vec![
            "Asian, Asian British or Asian Welsh: Pakistani",
            "White: English, Welsh, Scottish, Northern Irish or British",
            "prefer_not_to_say"
        ]
    );
    let q = quarantine_text(&out, &m);
    assert!(
        q.contains("ats.csv,5,row,row: stage is not a known stage"),
        "{q}"
    );
    assert_no_raw_ids(&out, &o);
}

/// Past its memory budget the duplicate check spills keys to disk and finds
/// the repeats at the end: the stored rows, the counts and the quarantine
/// are those of a run that held every key in memory.
#[test]
fn duplicates_past_the_memory_budget_are_found_and_removed_before_commit() {
    let input = tempfile::tempdir().unwrap();
    let mut csv = String::from(
        "employee_id,snapshot_date,org_unit,grade,sex,ethnic_group,disability,age,contract_hours,hourly_pay,bonus_pay,start_date,leaver_date,full_pay_relevant\n",
    );
    let row = |i: usize| {
        format!(
            "E{i:06},2025-03-31,Unit {},G{},{},Indian,No,{},37,{}.50,0,2015-04-01,,Y\n",
            i % 7,
            1 + i % 9,
            if i.is_multiple_of(3) { "M" } else { "F" },
            20 + i % 40,
            11 + i % 20
        )
    };
    for i in 0..3000 {
        csv.push_str(&row(i));
    }
    // Repeats: of a key inside the 500-key budget (caught at once), of a
    // spilled key twice, and of another spilled key once.
    for i in [10, 2000, 2000, 2999] {
        csv.push_str(&row(i));
    }
    let path = input.path().join("staff.csv");
    std::fs::write(&path, csv).unwrap();
    let run = |budget: Option<&str>| {
        let dir = tempfile::tempdir().unwrap();
        let cfg = canonical_config(dir.path(), &path);
        let mut cmd = eqpipe();
        cmd.args(["run", "--config", cfg.to_str().unwrap()])
            .env(KEY_ENV, KEY);
        match budget {
            Some(b) => cmd.env("EQPIPE_UNIQUE_KEYS_IN_MEMORY", b),
            None => cmd.env_remove("EQPIPE_UNIQUE_KEYS_IN_MEMORY"),
        };
        let o = cmd.output().unwrap();
        // Four duplicates quarantined: succeeded with warnings.
        assert_eq!(o.status.code(), Some(4), "{}", text(&o));
        let out = dir.path().join("out");
        let m = last_manifest(&out);
        let d = m["sources"][0]["datasets"]["workforce"].clone();
        let file = out.join(WORKFORCE_PART);
        let (_, rows, _, batches) = read_parquet(&file);
        let keys: Vec<Vec<u8>> = batches
            .iter()
            .flat_map(|b| {
                let k = b
                    .column_by_name("employee_key")
                    .unwrap()
                    .as_fixed_size_binary();
                (0..b.num_rows())
                    .map(|i| k.value(i).to_vec())
                    .collect::<Vec<_>>()
            })
            .collect();
        let q = m["sources"][0]["quarantine_file"]
            .as_str()
            .unwrap()
            .to_string();
        let quarantine = std::fs::read_to_string(out.join(&q)).unwrap();
        let leftovers: Vec<_> = files_under(&out)
            .into_iter()
            .chain(
                std::fs::read_dir(out.join("restricted/datasets/workforce/source=hr"))
                    .unwrap()
                    .map(|e| e.unwrap().path()),
            )
            .filter(|p| {
                let s = p.to_string_lossy();
                s.contains("eqpipe-keys") || s.ends_with(".tmp")
            })
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        (d, rows, keys, quarantine, dir)
    };
    let (all_in_memory, rows, keys, quarantine, _a) = run(None);
    let (spilled, spilled_rows, spilled_keys, spilled_quarantine, _b) = run(Some("500"));
    assert_eq!(rows, 3000);
    assert_eq!(
        (
            all_in_memory["rows"].as_u64(),
            all_in_memory["quarantined"].as_u64()
        ),
        (Some(3000), Some(4))
    );
    assert_eq!(all_in_memory, spilled);
    assert_eq!(spilled_rows, rows);
    assert_eq!(spilled_keys, keys, "same rows in the same order");
    // The same four rows quarantined, each with its file, row and reason
    // (in memory as found; spilled: the early one first, the rest at the
    // end in file order).
    let lines = |q: &str| {
        let mut l: Vec<String> = q
            .lines()
            .skip(1)
            .map(|l| l.split(',').take(3).collect::<Vec<_>>().join(","))
            .collect();
        l.sort();
        l
    };
    assert_eq!(lines(&quarantine), lines(&spilled_quarantine));
    let data_rows: Vec<String> = lines(&spilled_quarantine);
    assert_eq!(data_rows.len(), 4, "{spilled_quarantine}");
    for r in [3002, 3003, 3004, 3005] {
        assert!(
            data_rows
                .iter()
                .any(|l| l.ends_with(&format!("staff.csv,{r},employee_key"))),
            "row {r}: {spilled_quarantine}"
        );
    }
    assert!(
        spilled_quarantine
            .contains("duplicate of an earlier row with the same employee_key, snapshot_date"),
        "{spilled_quarantine}"
    );
    assert!(
        !spilled_quarantine.contains("E002000"),
        "no raw id in the quarantine"
    );
}

/// A CSV larger than one conversion block (1 MiB) is split into blocks of
/// whole records and converted on several threads: rows keep the file's
/// order, a bad row's line number is right in a later block, quoted fields
/// (line breaks and commas inside them, in a column not read) never split
/// a record, and unmapped answers are counted across blocks.
#[test]
fn a_large_csv_converted_in_parallel_keeps_order_lines_and_counts() {
    let input = tempfile::tempdir().unwrap();
    let mut csv = String::from(
        "employee_id,snapshot_date,grade,sex,ethnic_group,disability,age,contract_hours,hourly_pay,bonus_pay,notes\n",
    );
    let n = 40_000;
    for i in 0..n {
        let eth = match i {
            _ if i % 10_000 == 5 => "Martian",
            _ if i % 3 == 0 => "\"Indian\"",
            _ => "Indian",
        };
        let date = if i == 35_000 {
            "31/31/2025"
        } else {
            "2025-03-31"
        };
        // Most line feeds are inside quotes: a block cut at the last one
        // would split a record.
        let notes = "\"moved team,\nthen back\r\n\"\"twice\"\"\na\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nn\no\"";
        csv.push_str(&format!(
            "E{i:06},{date},G{},F,{eth},No,40,37,{:.3},0,{notes}\n",
            1 + i % 9,
            10.0 + i as f64 / 1000.0
        ));
    }
    let path = input.path().join("big.csv");
    std::fs::write(&path, csv).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = canonical_config(dir.path(), &path);
    let o = run_with_key(&cfg);
    // One bad date and four unmapped answers: succeeded with warnings.
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let logs = text(&o);
    // Answers are people's free text: counted, never logged.
    assert!(
        !logs.contains("Martian"),
        "an answer reached the log: {logs}"
    );
    let m = last_manifest(&dir.path().join("out"));
    let unmapped: Vec<&serde_json::Value> = m["sources"][0]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["kind"] == "coverage")
        .collect();
    assert_eq!(unmapped.len(), 1, "{m:#}");
    assert!(
        unmapped[0]["what"]
            .as_str()
            .unwrap()
            .starts_with("ethnic_group:")
            && unmapped[0]["count"] == 4,
        "unmapped counted over every chunk: {m:#}"
    );
    let out = dir.path().join("out");
    let m = last_manifest(&out);
    assert_eq!(workforce_counts(&m), (Some(n), Some(n - 1), Some(1)));
    let quarantine = quarantine_text(&out, &m);
    assert!(
        quarantine.contains("big.csv,35002,snapshot_date"),
        "the bad row's own line: {quarantine}"
    );
    let (_, rows, _, batches) = read_parquet(&out.join(WORKFORCE_PART));
    assert_eq!(rows as u64, n - 1);
    let pay: Vec<f64> = batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("hourly_pay")
                .unwrap()
                .as_primitive::<arrow_array::types::Float64Type>()
                .values()
                .to_vec()
        })
        .collect();
    assert!(
        pay.windows(2).all(|w| w[0] < w[1]),
        "rows in the file's order"
    );
    assert_eq!(pay.first().copied(), Some(10.0));
    assert_eq!(pay.last().copied(), Some(10.0 + (n - 1) as f64 / 1000.0));
}

/// An extract saved by Excel on Windows (CRLF line ends, blank lines
/// between blocks of staff) takes the split without a CSV parse: no
/// carriage return reaches a value, blank lines take no row number, and a
/// bad row is named by its own row.
#[test]
fn a_crlf_extract_with_blank_lines_is_split_as_the_csv_reader_reads_it() {
    let input = tempfile::tempdir().unwrap();
    let mut csv = String::from(
        "employee_id,snapshot_date,grade,sex,ethnic_group,disability,age,contract_hours,hourly_pay,bonus_pay,full_pay_relevant\r\n",
    );
    let n = 30_000;
    for i in 0..n {
        if i % 1000 == 0 {
            csv.push_str("\r\n");
        }
        let date = if i == 25_000 {
            "2025-13-01"
        } else {
            "2025-03-31"
        };
        let full = if i % 2 == 0 { "Y" } else { "N" };
        csv.push_str(&format!(
            "E{i:06},{date},G{},F,Indian,No,40,37,{:.3},0,{full}\r\n",
            1 + i % 9,
            10.0 + i as f64 / 1000.0
        ));
    }
    let path = input.path().join("excel.csv");
    std::fs::write(&path, csv).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let o = run_with_key(&canonical_config(dir.path(), &path));
    // One bad date: succeeded with warnings, never a plain success.
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let out = dir.path().join("out");
    let m = last_manifest(&out);
    assert_eq!(
        workforce_counts(&m),
        (Some(n), Some(n - 1), Some(1)),
        "{m:#}"
    );
    let quarantine = quarantine_text(&out, &m);
    // Records, not physical lines, are numbered (the header is row 1), as
    // the CSV reader numbers them.
    assert!(
        quarantine.contains("excel.csv,25002,snapshot_date"),
        "{quarantine}"
    );
    let (_, rows, _, batches) = read_parquet(&out.join(WORKFORCE_PART));
    assert_eq!(rows as u64, n - 1);
    // The last field of every line: a carriage return left on it would
    // not read as yes/no.
    let full: Vec<bool> = batches
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name("full_pay_relevant").unwrap().as_boolean();
            assert_eq!(arrow_array::Array::null_count(c), 0);
            c.values().iter().collect::<Vec<_>>()
        })
        .collect();
    let expected: Vec<bool> = (0..n)
        .filter(|i| *i != 25_000)
        .map(|i| i % 2 == 0)
        .collect();
    assert_eq!(full, expected);
}
