//! `hate-crime`: police recorded hate crime, in the layout of the Home
//! Office's hate crime open data tables, into the `hate_crime` dataset.
//!
//! Built against the open data table as the Home Office's user guide for
//! its police recorded crime open data describes it: one row per financial
//! year, quarter, police force area (`Force Name`), offence group and
//! combination of the five monitored strands, with a `Yes`/`No` column per
//! strand (`Race or ethnicity`, `Religion or beliefs`, `Sexual
//! orientation`, `Disability`, `Transgender`) and the `Number of offences`
//! with that combination. An offence motivated by two strands is one row
//! with two `Yes`, so summing a strand's rows counts its offences and
//! summing all rows counts offences once. A partner (a police force, a
//! community safety partnership) may supply its own extract in the same
//! shape: columns are matched by header aliases (case, spaces and
//! punctuation ignored; `Community Safety Partnership` or `CSP` for the
//! area; `Offences` or `Count` for the number), and a file missing a
//! required column fails naming it. Financial years are written `2022/23`,
//! `2022-23` or `2022 to 2023` and stored as `2022-23`.

use eqpipe_plugin_sdk::prelude::*;
use serde::Deserialize;

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The open data table (CSV): a path or URL, or a glob on the file name.
    pub path: String,
    /// Only these areas (as the file names them); all when empty.
    #[serde(default)]
    pub areas: Vec<String>,
}

/// The strands, their dataset column and header aliases (normalised).
pub const STRANDS: [(&str, &[&str]); 5] = [
    (
        "race",
        &["raceorethnicity", "race", "racial", "raceethnicity"],
    ),
    (
        "religion",
        &[
            "religionorbeliefs",
            "religionorbelief",
            "religion",
            "religious",
        ],
    ),
    ("sexual_orientation", &["sexualorientation"]),
    ("disability", &["disability"]),
    (
        "transgender",
        &["transgender", "transgenderidentity", "genderidentity"],
    ),
];

const YEAR: &[&str] = &["financialyear", "year"];
const QUARTER: &[&str] = &["financialquarter", "quarter"];
const FORCE: &[&str] = &["forcename", "policeforcearea", "policeforce", "force"];
const CSP: &[&str] = &["communitysafetypartnership", "csp", "cspname"];
const OFFENCE_GROUP: &[&str] = &["offencegroup", "offencetype"];
const COUNT: &[&str] = &[
    "numberofoffences",
    "offences",
    "count",
    "numberofhatecrimes",
];

/// `2022/23`, `2022-23`, `2022 to 2023`, `2022/2023` as `2022-23`.
pub fn financial_year(s: &str) -> Option<String> {
    let digits: Vec<u32> = s
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.parse().ok())
        .collect();
    match digits.as_slice() {
        [y, next] if *y >= 1990 && (next % 100) == (y + 1) % 100 => {
            Some(format!("{y}-{:02}", (y + 1) % 100))
        }
        _ => None,
    }
}

/// A strand flag: `Yes`/`No` (also `Y`/`N`, `1`/`0`, `TRUE`/`FALSE`).
fn flag(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "1" | "true" => Some(true),
        "no" | "n" | "0" | "false" | "" => Some(false),
        _ => None,
    }
}

/// The plugin.
pub struct HateCrime {
    options: Options,
}

impl HateCrime {
    fn read(&self, ctx: &Context, path: &std::path::Path, name: &str) -> Result<u64, PluginError> {
        let table = eqpipe_workforce::read_csv(path, name)?;
        let norm: Vec<String> = table
            .header
            .iter()
            .map(|h| eqpipe_spend::normalise(h))
            .collect();
        let find = |aliases: &[&str]| {
            aliases
                .iter()
                .find_map(|a| norm.iter().position(|h| h == a))
        };
        let need = |aliases: &[&str], what: &str| {
            find(aliases).ok_or_else(|| {
                PluginError::data(format!(
                    "{name}: no `{what}` column (looked for {}; the header has: {})",
                    aliases.join(", "),
                    table.header.join(", ")
                ))
            })
        };
        let year = need(YEAR, "Financial Year")?;
        let count = need(COUNT, "Number of offences")?;
        let (area, area_type) = match (find(FORCE), find(CSP)) {
            (_, Some(i)) => (i, "community_safety_partnership"),
            (Some(i), None) => (i, "police_force_area"),
            (None, None) => {
                return Err(PluginError::data(format!(
                    "{name}: no area column (`Force Name`, or `Community Safety Partnership`; the header has: {})",
                    table.header.join(", ")
                )));
            }
        };
        let strands: Vec<(&str, usize)> = STRANDS
            .iter()
            .map(|(s, aliases)| {
                find(aliases).map(|i| (*s, i)).ok_or_else(|| {
                    PluginError::data(format!(
                        "{name}: no column for the `{s}` strand (looked for {})",
                        aliases.join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let (quarter, group) = (find(QUARTER), find(OFFENCE_GROUP));
        let mut cols = vec![
            "financial_year",
            "quarter",
            "area_type",
            "area_name",
            "offence_group",
        ];
        cols.extend(STRANDS.iter().map(|s| s.0));
        cols.extend(["offences", REJECT_COLUMN]);
        let mut rows = TextRows::new(&cols);
        let mut n = 0;
        for (line, rec) in &table.rows {
            let get = |i: Option<usize>| i.and_then(|i| rec.get(i)).map(|s| s.trim()).unwrap_or("");
            let a = get(Some(area));
            if !self.options.areas.is_empty()
                && !self.options.areas.iter().any(|x| x.eq_ignore_ascii_case(a))
            {
                continue;
            }
            let mut reject = Vec::new();
            let fy = financial_year(get(Some(year))).unwrap_or_else(|| {
                reject.push("financial year not read (like 2022/23)".to_string());
                String::new()
            });
            let mut values = vec![
                fy,
                get(quarter).to_string(),
                area_type.to_string(),
                a.to_string(),
                get(group).to_string(),
            ];
            for (s, i) in &strands {
                match flag(get(Some(*i))) {
                    Some(b) => values.push(b.to_string()),
                    None => {
                        reject.push(format!("{s}: not Yes or No"));
                        values.push(String::new());
                    }
                }
            }
            values.push(get(Some(count)).to_string());
            values.push(reject.join("; "));
            rows.push(&values, name, *line);
            n += 1;
        }
        ctx.emit_rows("hate_crime", &mut rows)?;
        Ok(n)
    }
}

impl SourcePlugin for HateCrime {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("hate-crime", env!("CARGO_PKG_VERSION"))
            .description("Police recorded hate crime by monitored strand (Home Office hate crime open data layout)")
            .licence("Open Government Licence v3.0 (Home Office open data); a partner's own extract as it says")
            .produces("hate_crime")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(HateCrime { options })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let files = eqpipe_workforce::resolve_some_inputs(ctx, &self.options.path)?;
        for (path, name) in &files {
            ctx.check_cancelled()?;
            let n = self.read(ctx, path, name)?;
            ctx.info(&format!("{name}: {n} rows"));
        }
        Ok(())
    }
}

eqpipe_plugin_sdk::export_plugin!(source: HateCrime);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn financial_years_as_published() {
        assert_eq!(financial_year("2022/23").as_deref(), Some("2022-23"));
        assert_eq!(financial_year("2022 to 2023").as_deref(), Some("2022-23"));
        assert_eq!(financial_year("1999/00").as_deref(), Some("1999-00"));
        assert_eq!(financial_year("2022").as_deref(), None);
    }
}
