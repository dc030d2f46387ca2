//! The config `eqpipe init` writes: TOML with a comment on every block
//! saying what it is and where its data comes from.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Authority, ENGLAND_AND_WALES};

/// The ward boundaries, as init read them.
pub(super) struct Boundaries {
    pub path: String,
    /// Tied to the authority through the lookups, not a parent property.
    pub by_lookup: bool,
    pub vintage: String,
}

/// What the config is written from.
pub(super) struct Plan<'a> {
    pub authority: &'a Authority,
    pub region: Option<&'a str>,
    pub nomis: String,
    pub tables: &'a [String],
    pub lookups: &'a [String],
    /// Codes under the authority, by lookup column (`WD22CD`).
    pub areas: &'a BTreeMap<String, usize>,
    /// One lookup relates the authority's 2021 LSOAs to its wards.
    pub wards_from_lsoas: bool,
    pub iod: Vec<String>,
    pub boundaries: Option<Boundaries>,
}

/// A TOML string.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A TOML array of strings.
fn list<S: AsRef<str>>(items: &[S]) -> String {
    let items: Vec<String> = items.iter().map(|s| q(s.as_ref())).collect();
    format!("[{}]", items.join(", "))
}

impl Plan<'_> {
    /// Whether a lookup holds codes of a column whose name starts so.
    fn has(&self, prefix: &str) -> bool {
        self.areas.keys().any(|c| c.starts_with(prefix))
    }

    /// The Census geography levels: the comparators', the MSOAs when a
    /// lookup reaches them, and the LSOAs when a lookup places them in
    /// wards. Nomis's bulk files hold country, region, upper and lower tier
    /// authority, MSOA, LSOA and output area, but no wards: the wards are
    /// added up from the LSOAs (`wards_from_lsoas`).
    fn levels(&self) -> Vec<&'static str> {
        let mut l = vec!["ctry"];
        if self.region.is_some() {
            l.push("rgn");
        }
        l.push("ltla");
        if self.has("MSOA21") {
            l.push("msoa");
        }
        if self.wards_from_lsoas {
            l.push("lsoa");
        }
        l
    }

    fn country(&self) -> &'static str {
        if self.authority.code.starts_with('W') {
            "W92000004"
        } else {
            "E92000001"
        }
    }

    /// The comparators: the authority, its region, England and Wales.
    fn comparators(&self) -> Vec<String> {
        let mut c = vec![self.authority.code.clone()];
        c.extend(self.region.map(str::to_string));
        c.push(ENGLAND_AND_WALES.to_string());
        c
    }
}

/// The config's text, and what it leaves out.
// Long: the config's blocks in the order a reader meets them.
pub(super) fn config(p: &Plan) -> (String, Vec<String>) {
    let a = p.authority;
    let mut missing = Vec::new();
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# eqpipe for {} ({}), written by `eqpipe init`.\n#\n#   eqpipe validate --config <this file>\n#   eqpipe run --config <this file>\n#\n# Public sources first: Census 2021, the ONS lookups, deprivation and\n# boundaries. The workforce and service extracts are commented out at the\n# end: fill in their paths and column names, then uncomment them.\noutput_dir = \"eqpipe-out\"\n",
        a.name, a.code
    );
    let levels = p.levels();
    let _ = writeln!(
        t,
        "# Census 2021 topic summary tables from Nomis's bulk files: only {name}'s\n# areas are kept, with {comparators} to compare against.\n[[sources]]\nname = \"census\"\nplugin = \"ons-census\"\nmax_rejected_pct = 0.0\n\n[sources.options]\nbase_url = {base}\ntables = {tables}\ngeography = {levels}\nareas = {areas}\non_inconsistent_sums = \"warn\"",
        name = a.name,
        comparators = if p.region.is_some() {
            "its region, England, and England and Wales"
        } else {
            "England (or Wales) and England and Wales"
        },
        base = q(&p.nomis),
        tables = list(p.tables),
        levels = list(&levels),
        areas = list(&{
            let mut v = p.comparators();
            v.insert(v.len() - 1, p.country().to_string());
            v
        }),
    );
    if !p.has("MSOA21") {
        let _ = writeln!(
            t,
            "# No lookup relating MSOAs to {} was given, so only the authority\n# itself is profiled. For its MSOAs, download ONS's \"MSOA (2021) to LAD\"\n# lookup from https://geoportal.statistics.gov.uk, add it to `lookup` with\n# `parent_areas = [{}]`, and add \"msoa\" to `geography`.",
            a.name,
            q(&a.code)
        );
        missing.push("MSOAs: only the authority is profiled from the Census (give --lookup with ONS's MSOA-to-LAD lookup)".into());
    }
    if !p.has("WD") {
        missing.push("wards: no ward deprivation profile or ward map (give --lookup with ONS's LSOA-to-ward-to-LAD lookup)".into());
    }
    if !p.lookups.is_empty() {
        let _ = writeln!(
            t,
            "parent_areas = {}\nlookup = {}",
            list(std::slice::from_ref(&a.code)),
            list(p.lookups)
        );
    }
    if p.wards_from_lsoas {
        let _ = writeln!(
            t,
            "# Nomis's bulk files have no wards: each ward is the sum of the LSOAs the\n# best-fit lookup places in it (ONS's own ward figures, built from output\n# areas, can differ slightly).\nwards_from_lsoas = true"
        );
    }
    if p.region.is_none() {
        missing.push(
            "region: no regional comparator (give --region, e.g. E12000002 for the North West)"
                .into(),
        );
    }
    let _ = writeln!(t);
    if !p.lookups.is_empty() {
        let _ = writeln!(
            t,
            "# The ONS lookups, stored as the geography lookup the indicators read\n# (ward names, LSOAs in wards, LSOA 2011 to 2021).\n[[sources]]\nname = \"lookups\"\nplugin = \"geography\"\nmax_rejected_pct = 0.0\n\n[sources.options]\nlookups = {}\n",
            list(p.lookups)
        );
    }
    if p.iod.is_empty() {
        let _ = writeln!(
            t,
            "# English Indices of Deprivation: not given to init. Download File 2 (or\n# File 7) of the IoD2019 or IoD2025 from GOV.UK as CSV and add:\n# [[sources]]\n# name = \"imd\"\n# plugin = \"deprivation\"\n# [sources.options]\n# url = \"File_2_-_IoD2019_Domains_of_Deprivation.csv\"\n# local_authorities = [{}]\n",
            q(&a.code)
        );
        missing.push("deprivation: no Indices of Deprivation file (give --iod)".into());
    } else {
        let _ = writeln!(
            t,
            "# English Indices of Deprivation: {name}'s neighbourhoods (LSOAs).\n[[sources]]\nname = \"imd\"\nplugin = \"deprivation\"\nmax_rejected_pct = 0.0\n\n[sources.options]\nurls = {urls}\nlocal_authorities = {la}\n",
            name = a.name,
            urls = list(&p.iod),
            la = list(std::slice::from_ref(&a.code)),
        );
    }
    match &p.boundaries {
        None => {
            let _ = writeln!(
                t,
                "# Ward boundaries for the report's maps: not given to init. Download\n# ONS's \"Wards (May 2023) Boundaries UK BSC\" as GeoJSON and add a\n# `boundaries` source with `parent_areas = [{}]`.\n",
                q(&a.code)
            );
            missing.push("boundaries: no maps in the report (give --boundaries)".into());
        }
        Some(b) => {
            let _ = writeln!(
                t,
                "# {name}'s ward boundaries ({vintage}), stored as GeoParquet and drawn\n# as the report's maps.\n[[sources]]\nname = \"ward_boundaries\"\nplugin = \"boundaries\"\n\n[sources.options]\npath = {path}\nvintage = {vintage_q}\nparent_areas = {la}{lookup}\n",
                name = a.name,
                vintage = b.vintage,
                path = q(&b.path),
                vintage_q = q(&b.vintage),
                la = list(std::slice::from_ref(&a.code)),
                lookup = if b.by_lookup {
                    format!("\nlookup = {}", list(p.lookups))
                } else {
                    String::new()
                }
            );
        }
    }
    // Wards and MSOAs get a page each; LSOAs are profiled in the Parquet
    // output only.
    let mut profile_levels: Vec<&str> = Vec::new();
    if p.wards_from_lsoas {
        profile_levels.extend(["wd", "lsoa"]);
    }
    profile_levels.extend(levels.iter().copied().filter(|l| *l == "msoa"));
    profile_levels.push("ltla");
    let _ = writeln!(
        t,
        "[[indicators]]\nname = \"community_profile\"\nplugin = \"community-profile\"\n\n[indicators.options]\ncomparators = {}\nlevels = {}\n",
        list(&p.comparators()),
        list(&profile_levels)
    );
    if !p.iod.is_empty() {
        // IoD2019 ranks 2011 LSOAs; the 2022 wards are made of 2021 ones.
        let best_fit = p.has("LSOA11") && p.has("LSOA21");
        let _ = writeln!(
            t,
            "[[indicators]]\nname = \"deprivation_profile\"\nplugin = \"deprivation-profile\"{}\n",
            if best_fit {
                "\n\n# IoD2019 ranks 2011 LSOAs and the wards are made of 2021 ones: each\n# 2011 LSOA counts in the ward of its best-fit 2021 successor.\n[indicators.options]\nbest_fit = true"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(
        t,
        "# The evidence behind a decision's equality impact assessment, for the\n# whole authority: copy the block for each decision, naming its areas,\n# service and whether the workforce is in scope.\n[[evidence_packs]]\nname = \"{slug}-profile\"\ntitle = {title}\nareas = {areas}\n",
        slug = a
            .name
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .split('-')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-"),
        title = q(&format!("{}: equality evidence", a.name)),
        areas = list(std::slice::from_ref(&a.code)),
    );
    t.push_str(&EXTRACTS.replace("@CODE@", &a.code));
    (t, missing)
}

/// The personal extracts' slots: a council fills these in.
const EXTRACTS: &str = r#"# --- Your own extracts (personal data: uncomment and fill in) ---
#
# The HR extract, one row per employee and snapshot. Identifiers are
# pseudonymised with a key from the environment variable named here
# (make one with `openssl rand -hex 32` and keep it secret).
# [[sources]]
# name = "workforce"
# plugin = "workforce"
# max_rejected_pct = 1.0
# [sources.options]
# path = "extracts/workforce-*.csv"
# pseudonymisation_key_env = "EQPIPE_PSEUDONYMISATION_KEY"
# senior = ["SM1", "SM2"]
#
# [[indicators]]
# name = "workforce_representation"
# plugin = "workforce-representation"
# [[indicators.options.comparators]]
# area = "@CODE@"
#
# [[indicators]]
# name = "pay_gap"
# plugin = "pay-gap"
#
# A service's contacts, placed by postcode.
# [[sources]]
# name = "services"
# plugin = "service-usage"
# max_rejected_pct = 1.0
# [sources.options]
# path = "extracts/contacts-*.csv"
# pseudonymisation_key_env = "EQPIPE_PSEUDONYMISATION_KEY"
# [sources.options.postcode_lookup]
# path = "(the ONS Postcode Directory or NSPL CSV)"
# [sources.options.columns]
# person_id = "Client ID"
# contact_date = "Contact Date"
# date_of_birth = "Date of Birth"
# sex = "Gender"
# ethnic_group = "Ethnicity"
#
# [[indicators]]
# name = "service_equity"
# plugin = "service-equity"
"#;
