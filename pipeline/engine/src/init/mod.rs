//! `eqpipe init --area`: a ready config for one local authority, from the
//! public files a council's intelligence team would otherwise wire up by
//! hand: the Census 2021 profile tables from Nomis's bulk files (only the
//! authority's own areas kept, with its region and England and Wales as
//! comparators), the ONS lookups relating its wards, MSOAs and LSOAs to it,
//! the English Indices of Deprivation, its ward boundaries, the report and
//! an evidence pack, with commented slots for the workforce and service
//! extracts.
//!
//! Init reads what it is given before it writes anything: the authority is
//! found by code or name in the lookups (or, without them, in the first
//! table's local authority file), its small areas are counted in each
//! lookup, and the boundary file is read to see how its areas are tied to
//! the authority. Nothing is guessed: an input init was not given is left
//! out of the config with a comment saying where it comes from, and the
//! summary says what is missing.

mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use eqpipe_core::config::FetchConfig;
use eqpipe_plugin_host::fetch::Fetcher;
use eqpipe_plugin_sdk::FetchRequest;

/// The Census 2021 tables of the community profile, as `config/examples`
/// uses them.
pub const PROFILE_TABLES: &[&str] = &[
    "TS007A", "TS008", "TS021", "TS029", "TS030", "TS038", "TS077", "TS078",
];

/// Nomis's Census 2021 bulk download folder.
pub const NOMIS: &str = "https://www.nomisweb.co.uk/output/census/2021/";

/// England and Wales, the national comparator.
pub const ENGLAND_AND_WALES: &str = "K04000001";

/// What `eqpipe init` was asked for.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The local authority: a code (`E08000003`) or a name (`Manchester`).
    pub area: String,
    /// Where the config is written.
    pub config: PathBuf,
    /// Overwrite an existing config.
    pub force: bool,
    /// The Nomis bulk folder (URL or path).
    pub nomis: String,
    /// The Census tables (default [`PROFILE_TABLES`]).
    pub tables: Vec<String>,
    /// ONS lookup CSVs (URLs or paths) relating small areas to the
    /// authority, and LSOA 2011 to 2021 for the indices of deprivation.
    pub lookups: Vec<String>,
    /// English Indices of Deprivation files (URLs or paths).
    pub iod: Vec<String>,
    /// Ward boundaries (GeoJSON, URL or path).
    pub boundaries: Option<String>,
    /// The boundaries' year, where their properties do not say it.
    pub boundaries_vintage: Option<String>,
    /// The authority's region (`E12000002`), a comparator.
    pub region: Option<String>,
}

/// What init found and wrote.
#[derive(Debug, Clone)]
pub struct Initialised {
    /// The config written.
    pub config: PathBuf,
    /// The authority's code.
    pub code: String,
    /// The authority's name.
    pub name: String,
    /// Areas under the authority in the lookups, by code column
    /// (`WD22CD` → 32).
    pub areas: BTreeMap<String, usize>,
    /// Boundary features of the authority.
    pub boundaries: Option<usize>,
    /// What the config leaves out, each with what to do about it.
    pub missing: Vec<String>,
}

/// Why init could not write a config.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The area is in none of the files.
    #[error("{0}")]
    UnknownArea(String),
    /// An input could not be fetched or read.
    #[error("{0}")]
    Input(String),
    /// The config is there and `--force` was not given.
    #[error("{0} exists: pass --force to overwrite it")]
    Exists(PathBuf),
    /// Writing failed.
    #[error("{path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A local authority.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Authority {
    code: String,
    name: String,
}

/// Fetches inputs the way a run would (retries, size limits), into a
/// throwaway cache.
struct Inputs {
    fetcher: Fetcher,
    runtime: tokio::runtime::Runtime,
    _cache: tempfile::TempDir,
}

impl Inputs {
    fn new(base_dir: &Path) -> Result<Inputs, InitError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| InitError::Input(format!("cannot start the fetch runtime: {e}")))?;
        let cache = tempfile::tempdir()
            .map_err(|e| InitError::Input(format!("cannot make a download folder: {e}")))?;
        let fetcher = Fetcher::new(
            FetchConfig::default(),
            cache.path().to_path_buf(),
            base_dir.to_path_buf(),
            runtime.handle().clone(),
        )
        .map_err(|e| InitError::Input(e.to_string()))?;
        Ok(Inputs {
            fetcher,
            runtime,
            _cache: cache,
        })
    }

    /// The local file holding `url`'s body.
    fn get(&self, url: &str) -> Result<PathBuf, InitError> {
        let cancel = AtomicBool::new(false);
        let got = self
            .runtime
            .block_on(self.fetcher.fetch(&FetchRequest::get(url), &cancel))
            .map_err(|e| InitError::Input(format!("{url}: {e}")))?;
        Ok(PathBuf::from(got.path))
    }
}

/// The header's index of each column whose name, upper-cased, passes `f`.
fn columns(header: &csv::StringRecord, f: impl Fn(&str) -> bool) -> Vec<(usize, String)> {
    header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            (
                i,
                h.trim().trim_start_matches('\u{feff}').to_ascii_uppercase(),
            )
        })
        .filter(|(_, h)| f(h))
        .collect()
}

fn is_lad(h: &str, suffix: &str) -> bool {
    h.starts_with("LAD")
        && h.ends_with(suffix)
        && h[3..h.len() - 2].chars().all(|c| c.is_ascii_digit())
}

/// One lookup's authorities and, for each code column, the distinct codes
/// under each authority.
struct Lookup {
    authorities: BTreeSet<(String, String)>,
    /// (authority code, code column) → codes.
    codes: BTreeMap<(String, String), BTreeSet<String>>,
}

fn read_lookup(path: &Path, url: &str) -> Result<Lookup, InitError> {
    let bad = |e: &dyn std::fmt::Display| InitError::Input(format!("{url}: {e}"));
    let mut rdr = csv::Reader::from_path(path).map_err(|e| bad(&e))?;
    let header = rdr.headers().map_err(|e| bad(&e))?.clone();
    let lad = columns(&header, |h| is_lad(h, "CD"));
    let lad_name = columns(&header, |h| is_lad(h, "NM"));
    let Some((lad, lad_col)) = lad.first().cloned() else {
        return Err(InitError::Input(format!(
            "{url}: not an ONS lookup to local authorities (no LADnnCD column among {})",
            header.iter().collect::<Vec<_>>().join(", ")
        )));
    };
    let lad_name = lad_name
        .iter()
        .find(|(_, h)| h[..h.len() - 2] == lad_col[..lad_col.len() - 2])
        .map(|(i, _)| *i);
    let others = columns(&header, |h| h.ends_with("CD") && !is_lad(h, "CD"));
    let mut out = Lookup {
        authorities: BTreeSet::new(),
        codes: BTreeMap::new(),
    };
    for (row, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| bad(&format!("row {}: {e}", row + 2)))?;
        let code = rec.get(lad).unwrap_or("").trim().to_string();
        if code.is_empty() {
            continue;
        }
        let name = lad_name
            .and_then(|i| rec.get(i))
            .unwrap_or("")
            .trim()
            .to_string();
        for (i, col) in &others {
            if let Some(v) = rec.get(*i).map(str::trim).filter(|v| !v.is_empty()) {
                out.codes
                    .entry((code.clone(), col.clone()))
                    .or_default()
                    .insert(v.to_string());
            }
        }
        out.authorities.insert((code, name));
    }
    Ok(out)
}

/// The authorities in a Nomis bulk zip's local authority member.
fn nomis_authorities(path: &Path, url: &str, table: &str) -> Result<Vec<Authority>, InitError> {
    let bad = |e: &dyn std::fmt::Display| InitError::Input(format!("{url}: {e}"));
    let file = std::fs::File::open(path).map_err(|e| bad(&e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| bad(&e))?;
    let member = format!("census2021-{}-ltla.csv", table.to_ascii_lowercase());
    let reader = zip
        .by_name(&member)
        .map_err(|e| bad(&format!("no member {member}: {e}")))?;
    let mut rdr = csv::Reader::from_reader(reader);
    let header = rdr.headers().map_err(|e| bad(&e))?.clone();
    let find = |name: &str| header.iter().position(|h| h.trim() == name);
    let (Some(code), Some(name)) = (find("geography code"), find("geography")) else {
        return Err(bad(&format!(
            "{member} has no `geography` and `geography code` columns"
        )));
    };
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| bad(&format!("{member}: {e}")))?;
        out.push(Authority {
            code: rec.get(code).unwrap_or("").trim().to_string(),
            name: rec.get(name).unwrap_or("").trim().to_string(),
        });
    }
    Ok(out)
}

/// The authority `area` names, by code or by name (case and spacing aside),
/// with near names suggested when there is none.
fn find(area: &str, known: &[Authority], from: &str) -> Result<Authority, InitError> {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let want = norm(area);
    if let Some(a) = known
        .iter()
        .find(|a| a.code.eq_ignore_ascii_case(area.trim()) || norm(&a.name) == want)
    {
        return Ok(a.clone());
    }
    let near: Vec<String> = known
        .iter()
        .filter(|a| !want.is_empty() && norm(&a.name).contains(&want))
        .take(5)
        .map(|a| format!("{} ({})", a.name, a.code))
        .collect();
    Err(InitError::UnknownArea(if near.is_empty() {
        format!("`{area}` is not a local authority code or name in {from}")
    } else {
        format!(
            "`{area}` is not a local authority code or name in {from}; did you mean {}?",
            near.join(", ")
        )
    }))
}

/// How the boundary file ties its areas to the authority.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BoundaryLink {
    /// A parent property names the authority.
    Property,
    /// The lookups put the areas inside it.
    Lookup,
}

/// Reads the boundary file: how its features name their authority, its
/// vintage when an ONS property says it, and how many features are the
/// authority's.
fn read_boundaries(
    path: &Path,
    url: &str,
    authority: &str,
    inside: &BTreeSet<String>,
) -> Result<(BoundaryLink, Option<String>, usize), InitError> {
    let bad = |e: &dyn std::fmt::Display| InitError::Input(format!("{url}: {e}"));
    let body = std::fs::read(path).map_err(|e| bad(&e))?;
    let doc: serde_json::Value = serde_json::from_slice(&body).map_err(|e| bad(&e))?;
    let features = doc
        .get("features")
        .and_then(|f| f.as_array())
        .ok_or_else(|| bad(&"not a GeoJSON FeatureCollection"))?;
    let props = |f: &serde_json::Value| f.get("properties").and_then(|p| p.as_object()).cloned();
    let first = features.first().and_then(props).unwrap_or_default();
    let parent = first
        .keys()
        .find(|k| {
            let u = k.to_ascii_uppercase();
            *k == "local_authority_area_code" || is_lad(&u, "CD")
        })
        .cloned();
    let code = first
        .keys()
        .find(|k| {
            *k == "area_code"
                || (k.to_ascii_uppercase().ends_with("CD") && Some(*k) != parent.as_ref())
        })
        .cloned();
    let vintage = code.as_deref().and_then(|c| {
        let u = c.to_ascii_uppercase();
        let digits: String = u[..u.len().saturating_sub(2)]
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect();
        (digits.len() == 2).then(|| format!("20{}", digits.chars().rev().collect::<String>()))
    });
    let text = |f: &serde_json::Value, k: &Option<String>| {
        k.as_ref()
            .and_then(|k| props(f)?.get(k)?.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    Ok(match parent {
        Some(_) => (
            BoundaryLink::Property,
            vintage,
            features
                .iter()
                .filter(|f| text(f, &parent) == authority)
                .count(),
        ),
        None => (
            BoundaryLink::Lookup,
            vintage,
            features
                .iter()
                .filter(|f| inside.contains(&text(f, &code)))
                .count(),
        ),
    })
}

/// A local input as an absolute path (the config may be written
/// elsewhere); a URL as it is.
fn located(input: &str) -> String {
    if input.contains("://") {
        return input.to_string();
    }
    std::path::absolute(input)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| input.to_string())
}

/// The authority `o.area` names: in the lookups when there are some (and
/// then in every one of them), else in the first table's local authority
/// file on Nomis.
fn authority(
    o: &InitOptions,
    inputs: &Inputs,
    tables: &[String],
    read: &[Lookup],
    lookups: &[String],
) -> Result<Authority, InitError> {
    if read.is_empty() {
        let nomis = located(&o.nomis);
        let url = format!(
            "{}/census2021-{}.zip",
            nomis.trim_end_matches('/'),
            tables[0].to_ascii_lowercase()
        );
        find(
            &o.area,
            &nomis_authorities(&inputs.get(&url)?, &url, &tables[0])?,
            &url,
        )
    } else {
        let known: BTreeSet<(String, String)> = read
            .iter()
            .flat_map(|l| l.authorities.iter().cloned())
            .collect();
        let known: Vec<Authority> = known
            .into_iter()
            .map(|(code, name)| Authority { code, name })
            .collect();
        let a = find(&o.area, &known, &lookups.join(", "))?;
        if let Some((i, _)) = read
            .iter()
            .enumerate()
            .find(|(_, l)| !l.authorities.iter().any(|(c, _)| *c == a.code))
        {
            return Err(InitError::UnknownArea(format!(
                "{} ({}) is not in the lookup {}: is it for another year's authorities?",
                a.name, a.code, lookups[i]
            )));
        }
        Ok(a)
    }
}

/// Reads the inputs, then writes the config for the authority.
pub fn init(o: &InitOptions) -> Result<Initialised, InitError> {
    if o.config.exists() && !o.force {
        return Err(InitError::Exists(o.config.clone()));
    }
    let tables: Vec<String> = if o.tables.is_empty() {
        PROFILE_TABLES.iter().map(|t| t.to_string()).collect()
    } else {
        o.tables
            .iter()
            .map(|t| t.trim().to_ascii_uppercase())
            .collect()
    };
    if let Some(r) = &o.region
        && !(r.len() == 9 && r.starts_with("E12") && r[3..].bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(InitError::Input(format!(
            "--region `{r}` is not an English region code (E12000001 to E12000009)"
        )));
    }
    let inputs = Inputs::new(&std::env::current_dir().unwrap_or_default())?;
    let lookups: Vec<String> = o.lookups.iter().map(|l| located(l)).collect();
    let mut read = Vec::new();
    for l in &lookups {
        read.push(read_lookup(&inputs.get(l)?, l)?);
    }
    let authority = authority(o, &inputs, &tables, &read, &lookups)?;
    // A column two lookups share (LSOA21CD) counts its codes once.
    let mut by_column: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in &read {
        for ((lad, col), codes) in &l.codes {
            if *lad == authority.code {
                by_column
                    .entry(col.clone())
                    .or_default()
                    .extend(codes.iter().cloned());
            }
        }
    }
    // Wards are added up from LSOAs when one lookup relates the authority's
    // 2021 LSOAs to its wards (Nomis's bulk files have no wards).
    let wards_from_lsoas = read.iter().any(|l| {
        let cols: Vec<&String> = l
            .codes
            .keys()
            .filter(|(lad, _)| *lad == authority.code)
            .map(|(_, c)| c)
            .collect();
        cols.iter().any(|c| c.starts_with("LSOA21")) && cols.iter().any(|c| c.starts_with("WD"))
    });
    let inside: BTreeSet<String> = by_column.values().flatten().cloned().collect();
    let areas: BTreeMap<String, usize> = by_column
        .iter()
        .map(|(c, v)| (c.clone(), v.len()))
        .collect();
    let boundaries = match &o.boundaries {
        None => None,
        Some(b) => {
            let b = located(b);
            let (link, vintage, n) =
                read_boundaries(&inputs.get(&b)?, &b, &authority.code, &inside)?;
            if n == 0 {
                return Err(InitError::Input(format!(
                    "{b}: no boundary is {}'s ({}){}",
                    authority.name,
                    authority.code,
                    if link == BoundaryLink::Lookup && read.is_empty() {
                        ": its features name no local authority, so give --lookup relating them to it"
                    } else {
                        ""
                    }
                )));
            }
            let vintage = o.boundaries_vintage.clone().or(vintage).ok_or_else(|| {
                InitError::Input(format!(
                    "{b}: its properties do not say the boundaries' year: give --boundaries-vintage (2023 for Wards May 2023)"
                ))
            })?;
            Some((b, link, vintage, n))
        }
    };
    let plan = write::Plan {
        authority: &authority,
        region: o.region.as_deref(),
        nomis: located(&o.nomis),
        tables: &tables,
        lookups: &lookups,
        areas: &areas,
        wards_from_lsoas,
        iod: o.iod.iter().map(|i| located(i)).collect(),
        boundaries: boundaries
            .as_ref()
            .map(|(b, link, vintage, _)| write::Boundaries {
                path: b.clone(),
                by_lookup: *link == BoundaryLink::Lookup,
                vintage: vintage.clone(),
            }),
    };
    let (text, missing) = write::config(&plan);
    if let Some(dir) = o.config.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| InitError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(&o.config, text).map_err(|source| InitError::Write {
        path: o.config.clone(),
        source,
    })?;
    Ok(Initialised {
        config: o.config.clone(),
        code: authority.code,
        name: authority.name,
        areas,
        boundaries: boundaries.map(|b| b.3),
        missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<Authority> {
        [
            ("E08000003", "Manchester"),
            ("E08000009", "Trafford"),
            ("E06000062", "West Northamptonshire"),
            ("E06000061", "North Northamptonshire"),
        ]
        .iter()
        .map(|(c, n)| Authority {
            code: c.to_string(),
            name: n.to_string(),
        })
        .collect()
    }

    #[test]
    fn an_authority_is_found_by_code_or_name_and_a_near_miss_is_helped() {
        let k = known();
        assert_eq!(find("e08000003", &k, "x").unwrap().name, "Manchester");
        assert_eq!(find("  trafford ", &k, "x").unwrap().code, "E08000009");
        let e = find("Northamptonshire", &k, "the lookup")
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean"), "{e}");
        assert!(e.contains("West Northamptonshire (E06000062)"), "{e}");
        let e = find("Atlantis", &k, "the lookup").unwrap_err().to_string();
        assert!(
            e.contains("`Atlantis` is not a local authority") && !e.contains("mean"),
            "{e}"
        );
    }
}
