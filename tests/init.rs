//! `eqpipe init --area`: from nothing to a council's own report, against
//! real public files served on 127.0.0.1: Census 2021 TS007 as Nomis
//! publishes it (country, region and local authority members whole; the
//! MSOA and LSOA members, which `../shared/data` does not hold, made here
//! from Manchester's real row and the real lookups), the ONS lookups, the
//! IoD2019 File 2 and Greater Manchester's ward boundaries. The config
//! init writes validates and runs, and its figures are the raw files'.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::Path;

use common::*;

const LOOKUPS: [&str; 3] = [
    "real/boundaries/gm-lsoa21-to-ward22-best-fit.csv",
    "lookups/msoa11-to-msoa21-to-lad22.csv",
    "lookups/lsoa11-to-lsoa21-to-lad22-best-fit.csv",
];
const WARDS: &str = "real/boundaries/gm-wards-may2023-bsc.geojson";
const IOD: &str = "iod2019/File_2_-_IoD2019_Domains_of_Deprivation.csv.gz";
const MANCHESTER: &str = "E08000003";

fn records(rel: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut body = Vec::new();
    std::fs::File::open(shared(rel))
        .unwrap()
        .read_to_end(&mut body)
        .unwrap();
    if rel.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .unwrap();
        body = out;
    }
    let text = String::from_utf8(body).unwrap();
    let mut rdr = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header = rdr.headers().unwrap().iter().map(String::from).collect();
    let rows = rdr
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// TS007's member for Manchester's MSOAs or LSOAs (the areas of lookup
/// `rel`, by its code, name and authority columns): each single year of
/// the city's real row shared among them (largest remainder, uneven
/// weights), the five-year bands and the total summed from them, every
/// field quoted as Nomis writes them. Returns the member and each area's
/// total.
fn member(rel: &str, [code, name, lad]: [&str; 3]) -> (String, BTreeMap<String, i64>) {
    let (header, rows) = records("census2021/census2021-ts007-ltla.csv");
    let city = rows.iter().find(|r| r[2] == MANCHESTER).unwrap();
    let (mh, mrows) = records(rel);
    let col = |n: &str| mh.iter().position(|h| h == n).unwrap();
    let msoas: BTreeMap<String, String> = mrows
        .iter()
        .filter(|r| r[col(lad)] == MANCHESTER)
        .map(|r| (r[col(code)].clone(), r[col(name)].clone()))
        .collect();
    let band =
        |l: &str| l.contains(" to ") || l.contains("and under") || l.contains("85 years and over");
    let n = msoas.len();
    let mut counts = vec![vec![0i64; header.len()]; n];
    for j in 4..header.len() {
        if band(&header[j]) {
            continue;
        }
        let c: i64 = city[j].parse().unwrap();
        let w: Vec<i64> = (0..n)
            .map(|i| 1 + ((i * 37 + j * 11) % 17) as i64)
            .collect();
        let s: i64 = w.iter().sum();
        let mut parts: Vec<i64> = w.iter().map(|x| c * x / s).collect();
        let rest = c - parts.iter().sum::<i64>();
        for p in parts.iter_mut().take(rest as usize) {
            *p += 1;
        }
        for i in 0..n {
            counts[i][j] = parts[i];
        }
    }
    let quote = |s: &str| format!("\"{s}\"");
    let mut out = header
        .iter()
        .map(|h| quote(h))
        .collect::<Vec<_>>()
        .join(",")
        + "\r\n";
    let mut totals = BTreeMap::new();
    for (i, (code, name)) in msoas.iter().enumerate() {
        let r = &mut counts[i];
        let mut current = 0;
        for j in 4..header.len() {
            if band(&header[j]) {
                current = j;
                r[j] = 0;
            } else {
                r[current] += r[j];
            }
        }
        r[3] = (4..header.len())
            .filter(|&j| band(&header[j]))
            .map(|j| r[j])
            .sum();
        totals.insert(code.clone(), r[3]);
        let fields: Vec<String> = r[3..].iter().map(i64::to_string).collect();
        out.push_str(&format!(
            "\"2021\",{},{},{}\r\n",
            quote(name),
            quote(code),
            fields.join(",")
        ));
    }
    (out, totals)
}

/// Each area's total in the generated members: MSOAs, then LSOAs.
type Totals = (BTreeMap<String, i64>, BTreeMap<String, i64>);

/// The local server: Nomis's folder and the ONS and MHCLG files.
fn serve() -> (TestServer, Totals) {
    let (msoa, totals) = member(
        "lookups/msoa11-to-msoa21-to-lad22.csv",
        ["MSOA21CD", "MSOA21NM", "LAD22CD"],
    );
    let (lsoa, lsoa_totals) = member(LOOKUPS[0], ["lsoa21cd", "lsoa21nm", "lad22cd"]);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for level in ["ctry", "rgn", "ltla"] {
        let name = format!("census2021-ts007-{level}.csv");
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&std::fs::read(shared(&format!("census2021/{name}"))).unwrap())
            .unwrap();
    }
    for (level, body) in [("msoa", &msoa), ("lsoa", &lsoa)] {
        zip.start_file(
            format!("census2021-ts007-{level}.csv"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    let zip = zip.finish().unwrap().into_inner();
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    files.insert("/nomis/census2021-ts007.zip".into(), zip);
    for rel in LOOKUPS.iter().chain([&WARDS]) {
        let name = rel.rsplit('/').next().unwrap();
        files.insert(format!("/geo/{name}"), std::fs::read(shared(rel)).unwrap());
    }
    let mut iod = Vec::new();
    flate2::read::GzDecoder::new(&std::fs::read(shared(IOD)).unwrap()[..])
        .read_to_end(&mut iod)
        .unwrap();
    files.insert(
        "/iod/File_2_-_IoD2019_Domains_of_Deprivation.csv".into(),
        iod,
    );
    let server = TestServer::start(Box::new(move |url, _| match files.get(url) {
        Some(b) => (200, vec![], b.clone()),
        None => (404, vec![], b"not found".to_vec()),
    }));
    (server, (totals, lsoa_totals))
}

fn init(args: &[&str]) -> std::process::Output {
    eqpipe().arg("init").args(args).output().unwrap()
}

fn full_args(base: &str, cfg: &Path) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "--area".into(),
        "manchester".into(),
        "--config".into(),
        cfg.display().to_string(),
        "--nomis".into(),
        format!("{base}nomis/"),
        "--tables".into(),
        "TS007".into(),
    ];
    for rel in LOOKUPS {
        a.push("--lookup".into());
        a.push(format!("{base}geo/{}", rel.rsplit('/').next().unwrap()));
    }
    a.extend([
        "--iod".into(),
        format!("{base}iod/File_2_-_IoD2019_Domains_of_Deprivation.csv"),
        "--boundaries".into(),
        format!("{base}geo/gm-wards-may2023-bsc.geojson"),
        "--region".into(),
        "E12000002".into(),
    ]);
    a
}

/// Each area's total row and one band's count in `census_counts`.
fn census(out: &Path) -> BTreeMap<String, (String, i64)> {
    let (_, _, _, batches) =
        read_parquet(&out.join("datasets/census_counts/source=census/part-0.parquet"));
    let mut totals = BTreeMap::new();
    for b in &batches {
        let count = i64s(b, "count");
        for i in 0..b.num_rows() {
            if text_at(b, "parent_label", i).is_none() {
                totals.insert(
                    text_at(b, "area_code", i).unwrap(),
                    (text_at(b, "geography_level", i).unwrap(), count.value(i)),
                );
            }
        }
    }
    totals
}

#[test]
fn init_for_manchester_writes_a_config_that_validates_and_runs_on_the_real_files() {
    let (server, (msoa_totals, lsoa_totals)) = serve();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("manchester/eqpipe.toml");
    let mut args = full_args(&server.base, &cfg);

    // The renamed properties do not say the boundaries' year: init asks
    // for it and writes nothing.
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = init(&strs);
    assert!(!o.status.success());
    assert!(text(&o).contains("--boundaries-vintage"), "{}", text(&o));
    assert!(!cfg.exists());

    args.extend(["--boundaries-vintage".into(), "2023".into()]);
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = init(&strs);
    assert!(o.status.success(), "{}", text(&o));
    let said = String::from_utf8_lossy(&o.stdout).to_string();
    // The counts init prints are the lookups' own.
    let (lh, lrows) = records(LOOKUPS[0]);
    let at = |n: &str| lh.iter().position(|h| h == n).unwrap();
    let of = |col: &str| -> usize {
        lrows
            .iter()
            .filter(|r| r[at("lad22cd")] == MANCHESTER)
            .map(|r| r[at(col)].clone())
            .collect::<BTreeSet<_>>()
            .len()
    };
    assert_eq!(of("wd22cd"), 32);
    assert!(
        said.contains(&format!("{:>5} WD22CD", of("wd22cd"))),
        "{said}"
    );
    assert!(
        said.contains(&format!("{:>5} LSOA21CD", of("lsoa21cd"))),
        "{said}"
    );
    assert!(
        said.contains(&format!("{:>5} MSOA21CD", msoa_totals.len())),
        "{said}"
    );
    assert!(said.contains("   32 boundaries"), "{said}");
    assert!(!said.contains("not configured"), "{said}");
    assert!(said.contains("Manchester (E08000003)"), "{said}");

    // A second init does not overwrite the config without --force.
    let o = init(&strs);
    assert!(
        !o.status.success() && text(&o).contains("--force"),
        "{}",
        text(&o)
    );

    let c = cfg.to_str().unwrap();
    let o = eqpipe().args(["validate", "--config", c]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = eqpipe().args(["run", "--config", c]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = cfg.parent().unwrap().join("eqpipe-out");
    assert_eq!(last_manifest(&out)["outcome"], "success");

    // Census: the comparators' and the city's totals as Nomis publishes
    // them, Manchester's MSOAs and LSOAs and no other authority's areas,
    // and its 32 wards, each the sum of the LSOAs the real best-fit lookup
    // places in it.
    let got = census(&out);
    for (level, code) in [
        ("ltla", MANCHESTER),
        ("rgn", "E12000002"),
        ("ctry", "K04000001"),
        ("ctry", "E92000001"),
    ] {
        let (_, rows) = records(&format!("census2021/census2021-ts007-{level}.csv"));
        let raw: i64 = rows.iter().find(|r| r[2] == code).unwrap()[3]
            .parse()
            .unwrap();
        assert_eq!(got[code], (level.to_string(), raw), "{code}");
    }
    assert_eq!(got[MANCHESTER].1, 551_943);
    let msoas: BTreeMap<String, i64> = got
        .iter()
        .filter(|(_, (l, _))| l == "msoa")
        .map(|(c, (_, n))| (c.clone(), *n))
        .collect();
    assert_eq!(msoas, msoa_totals);
    let level = |want: &str| -> BTreeMap<String, i64> {
        got.iter()
            .filter(|(_, (l, _))| l == want)
            .map(|(c, (_, n))| (c.clone(), *n))
            .collect()
    };
    assert_eq!(level("lsoa"), lsoa_totals);
    assert_eq!(lsoa_totals.len(), of("lsoa21cd"));
    let mut ward_totals: BTreeMap<String, i64> = BTreeMap::new();
    for r in lrows.iter().filter(|r| r[at("lad22cd")] == MANCHESTER) {
        *ward_totals.entry(r[at("wd22cd")].clone()).or_default() += lsoa_totals[&r[at("lsoa21cd")]];
    }
    assert_eq!(ward_totals.len(), 32);
    assert_eq!(level("wd"), ward_totals);
    assert_eq!(ward_totals.values().sum::<i64>(), 551_943);
    assert_eq!(
        got.len(),
        4 + msoa_totals.len() + lsoa_totals.len() + 32,
        "{:?}",
        got.keys()
    );

    // The profile: Manchester's under-fives against the North West, from
    // the raw rows.
    let (header, rows) = records("census2021/census2021-ts007-ltla.csv");
    let (_, regions) = records("census2021/census2021-ts007-rgn.csv");
    let band = header
        .iter()
        .position(|h| h == "Age: Aged 4 years and under; measures: Value")
        .unwrap();
    let share =
        |r: &Vec<String>| r[band].parse::<f64>().unwrap() / r[3].parse::<f64>().unwrap() * 100.0;
    let city = share(rows.iter().find(|r| r[2] == MANCHESTER).unwrap());
    let nw = share(regions.iter().find(|r| r[2] == "E12000002").unwrap());
    let (_, _, _, batches) = read_parquet(&out.join("indicators/community_profile/part-0.parquet"));
    let mut seen = 0;
    for b in &batches {
        for i in 0..b.num_rows() {
            if text_at(b, "area_code", i).as_deref() == Some(MANCHESTER)
                && text_at(b, "category_label", i).as_deref() == Some("Aged 4 years and under")
                && text_at(b, "comparator_code", i).as_deref() == Some("E12000002")
            {
                assert!((f64s(b, "percent").value(i) - city).abs() < 1e-9);
                assert!((f64s(b, "comparator_percent").value(i) - nw).abs() < 1e-9);
                seen += 1;
            }
        }
    }
    assert_eq!(seen, 1);

    // Deprivation: the city's LSOAs in England's most deprived 20%, from
    // the raw File 2; its 32 wards profiled through the best-fit lookup.
    let (ih, irows) = records(IOD);
    let lad = ih
        .iter()
        .position(|h| h == "Local Authority District code (2019)")
        .unwrap();
    let decile = ih
        .iter()
        .position(|h| h.starts_with("Index of Multiple Deprivation (IMD) Decile"))
        .unwrap();
    let city_lsoas: Vec<&Vec<String>> = irows.iter().filter(|r| r[lad] == MANCHESTER).collect();
    let deprived = city_lsoas
        .iter()
        .filter(|r| r[decile].parse::<u8>().unwrap() <= 2)
        .count();
    assert_eq!((city_lsoas.len(), deprived), (282, 167));
    let (_, rows, _, batches) =
        read_parquet(&out.join("indicators/deprivation_profile/part-0.parquet"));
    assert_eq!(rows, 33);
    let mut wards = 0;
    for b in &batches {
        for i in 0..b.num_rows() {
            match text_at(b, "geography_level", i).as_deref() {
                Some("ltla") => {
                    assert_eq!(text_at(b, "area_code", i).as_deref(), Some(MANCHESTER));
                    assert_eq!(i64s(b, "lsoas").value(i), 282);
                    assert_eq!(
                        i64s(b, "lsoas_most_deprived_20pct").value(i),
                        deprived as i64
                    );
                }
                _ => wards += 1,
            }
        }
    }
    assert_eq!(wards, 32);

    // Boundaries: Manchester's 32 wards of the 215.
    let (_, rows, _, batches) =
        read_parquet(&out.join("datasets/boundaries/source=ward_boundaries/part-0.parquet"));
    assert_eq!(rows, 32);
    for b in &batches {
        for i in 0..b.num_rows() {
            assert_eq!(text_at(b, "parent_code", i).as_deref(), Some(MANCHESTER));
        }
    }

    // The report: the city's ward map with a figure for every ward (File 2
    // has no populations, so the neighbourhoods' share), the headline, and
    // the evidence pack.
    let report = out.join("report");
    let city_page = std::fs::read_to_string(report.join("area-E08000003.html")).unwrap();
    assert!(city_page.contains(
        "Neighbourhoods (LSOAs) among England&#39;s most deprived 20% (IoD2019), by ward"
    ));
    let titles = city_page.matches("<title>").count();
    let dashes = city_page.matches(": –</title>").count();
    assert!(
        titles > 32 && dashes == 0,
        "{titles} titles, {dashes} without a figure"
    );
    // A page per ward, its Census profile from the LSOAs added up, and on
    // the city's page the age table mapped across its wards.
    for ward in ward_totals.keys() {
        let page = std::fs::read_to_string(report.join(format!("area-{ward}.html"))).unwrap();
        assert!(page.contains("<h2 id=\"h-TS007\">"), "{ward}");
    }
    assert!(city_page.contains("<h3>Where it varies most: "));
    assert!(
        !report
            .join(format!("area-{}.html", lsoa_totals.keys().next().unwrap()))
            .exists()
    );
    let index = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(
        index.contains(&format!("{deprived} of 282</span>")),
        "{index}"
    );
    let pack = std::fs::read_to_string(report.join("evidence-manchester-profile.html")).unwrap();
    assert!(pack.contains("Neighbourhoods (LSOAs) among England&#39;s most deprived 20%"));
    assert!(pack.contains(&format!("{:.1}%", deprived as f64 / 282.0 * 100.0)));
}

#[test]
fn without_lookups_init_finds_the_authority_in_nomis_and_says_what_is_left_out() {
    let (server, _) = serve();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("eqpipe.toml");
    let c = cfg.to_str().unwrap();
    let nomis = format!("{}nomis", server.base);
    let base = ["--config", c, "--nomis", &nomis, "--tables", "ts007"];

    // A name that is not an authority's gets the near ones, by code.
    let o = init(&[&["--area", "Northamptonshire"][..], &base].concat());
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("North Northamptonshire (E06000061)")
            && t.contains("West Northamptonshire (E06000062)"),
        "{t}"
    );
    assert!(!cfg.exists());

    let o = init(&[&["--area", "e08000003"][..], &base].concat());
    assert!(o.status.success(), "{}", text(&o));
    let said = String::from_utf8_lossy(&o.stdout).to_string();
    for missing in ["MSOAs", "wards", "deprivation", "boundaries", "region"] {
        assert!(
            said.contains(&format!("not configured: {missing}")),
            "{missing}: {said}"
        );
    }
    let o = eqpipe().args(["validate", "--config", c]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = eqpipe().args(["run", "--config", c]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let got = census(&dir.path().join("eqpipe-out"));
    assert_eq!(
        got.keys().cloned().collect::<Vec<_>>(),
        ["E08000003", "E92000001", "K04000001"]
    );
    assert_eq!(got[MANCHESTER].1, 551_943);
}
