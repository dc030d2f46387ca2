//! Mapping free-text answers onto the Census 2021 classifications.
//!
//! Answers are compared after normalising case, spacing and punctuation.
//! "Prefer not to say" and blanks or unknowns stay distinct
//! (`prefer_not_to_say`, `not_stated`); anything else that matches nothing is
//! `unmapped` and counted, so the run can report or fail on it.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

/// The classification files shipped with eqpipe (`config/classifications/`).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "ethnic_group",
        include_str!("../../../../config/classifications/ethnic_group.toml"),
    ),
    (
        "sex",
        include_str!("../../../../config/classifications/sex.toml"),
    ),
    (
        "disability",
        include_str!("../../../../config/classifications/disability.toml"),
    ),
    (
        "religion",
        include_str!("../../../../config/classifications/religion.toml"),
    ),
    (
        "sexual_orientation",
        include_str!("../../../../config/classifications/sexual_orientation.toml"),
    ),
    (
        "gender_identity",
        include_str!("../../../../config/classifications/gender_identity.toml"),
    ),
    (
        "special_values",
        include_str!("../../../../config/classifications/special_values.toml"),
    ),
];

/// Wordings of the broad ethnic groups in the 2021, 2011 and 2001 Censuses.
const BROAD_VARIANTS: &[(&str, &[&str])] = &[
    (
        "Asian, Asian British or Asian Welsh",
        &[
            "Asian, Asian British or Asian Welsh",
            "Asian/Asian British",
            "Asian or Asian British",
            "Asian",
        ],
    ),
    (
        "Black, Black British, Black Welsh, Caribbean or African",
        &[
            "Black, Black British, Black Welsh, Caribbean or African",
            "Black/African/Caribbean/Black British",
            "Black or Black British",
            "Black",
        ],
    ),
    (
        "Mixed or Multiple ethnic groups",
        &[
            "Mixed or Multiple ethnic groups",
            "Mixed/multiple ethnic groups",
            "Mixed/multiple ethnic group",
            "Mixed",
        ],
    ),
    ("White", &["White"]),
    (
        "Other ethnic group",
        &[
            "Other ethnic group",
            "Other ethnic groups",
            "Chinese or other ethnic group",
        ],
    ),
];

/// One classification file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Which classification.
    pub name: String,
    /// Its categories.
    #[serde(default)]
    pub categories: Vec<CategoryEntry>,
}

/// One category and the answers that mean it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryEntry {
    /// The harmonised value stored.
    pub label: String,
    /// Its broad group, where the classification has one.
    #[serde(default)]
    pub broad: Option<String>,
    /// Other wordings of the same answer.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// Lower case, punctuation as spaces, single spaces.
pub fn normalise(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A harmonised answer: the value and, for ethnic group, its broad group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Harmonised {
    /// Stored value.
    pub value: String,
    /// Broad group (ethnic group only).
    pub broad: Option<String>,
}

impl Harmonised {
    /// What an answer no category knows is stored as.
    fn unmapped() -> Self {
        Harmonised {
            value: "unmapped".into(),
            broad: Some("unmapped".into()),
        }
    }
}

/// Answers as written -> (harmonised value, whether it was unmapped).
type Memo = foldhash::HashMap<String, (std::sync::Arc<Harmonised>, bool)>;

/// All classifications, ready to match.
#[derive(Debug, Default, Clone)]
pub struct Classifier {
    maps: HashMap<String, HashMap<String, Harmonised>>,
    specials: HashMap<String, String>,
    /// Answers as written -> their harmonised value (and whether it was
    /// unmapped), per classification: most columns hold a handful of
    /// distinct answers, so each is normalised and looked up once.
    memo: Vec<(String, Memo)>,
    /// Unmapped answers per classification, with counts.
    pub unmapped: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Classifier {
    /// The built-in classifications, plus the files in `extra` (which add
    /// aliases and categories).
    pub fn load(extra: &[(String, String)]) -> Result<Self, String> {
        let mut c = Classifier::default();
        let files = BUILTIN
            .iter()
            .map(|(n, t)| (format!("built-in {n}.toml"), t.to_string()))
            .chain(extra.iter().cloned());
        for (origin, text) in files {
            let f: File =
                toml::from_str(&text).map_err(|e| format!("classification {origin}: {e}"))?;
            if f.name == "special_values" {
                for cat in &f.categories {
                    for a in std::iter::once(&cat.label).chain(&cat.aliases) {
                        c.specials.insert(normalise(a), cat.label.clone());
                    }
                }
                continue;
            }
            let map = c.maps.entry(f.name.clone()).or_default();
            for cat in &f.categories {
                let h = Harmonised {
                    value: cat.label.clone(),
                    broad: cat.broad.clone(),
                };
                let mut names: Vec<String> = std::iter::once(cat.label.clone())
                    .chain(cat.aliases.iter().cloned())
                    .collect();
                if f.name == "ethnic_group"
                    && let (Some(broad), Some((_, detail))) =
                        (&cat.broad, cat.label.split_once(": "))
                {
                    names.push(detail.to_string());
                    if let Some((_, variants)) = BROAD_VARIANTS.iter().find(|(b, _)| b == broad) {
                        for v in *variants {
                            names.push(format!("{v}: {detail}"));
                        }
                    }
                }
                for n in names {
                    map.insert(normalise(&n), h.clone());
                }
            }
        }
        Ok(c)
    }

    /// [`Classifier::map`] through a memo of answers as written (up to
    /// 10,000 distinct answers per classification; beyond that each is
    /// looked up afresh). Unmapped answers are still counted every time.
    pub fn map_shared(&mut self, classification: &str, answer: &str) -> std::sync::Arc<Harmonised> {
        let slot = match self.memo.iter().position(|(c, _)| c == classification) {
            Some(k) => k,
            None => {
                self.memo
                    .push((classification.to_string(), Default::default()));
                self.memo.len() - 1
            }
        };
        let hit = self.memo[slot]
            .1
            .get(answer)
            .map(|(h, unmapped)| (h.clone(), *unmapped));
        if let Some((h, unmapped)) = hit {
            if unmapped {
                self.count_unmapped(classification, answer);
            }
            return h;
        }
        let found = self.lookup(classification, answer);
        let unmapped = found.is_none();
        let h = std::sync::Arc::new(
            found.unwrap_or_else(|| self.unmapped_answer(classification, answer)),
        );
        let memo = &mut self.memo[slot].1;
        if memo.len() < 10_000 {
            memo.insert(answer.to_string(), (h.clone(), unmapped));
        }
        h
    }

    /// The harmonised value of one answer, and whether no category knew it
    /// (uncounted: see [`Classifier::count_unmapped_rows`]).
    pub fn classify(&self, classification: &str, answer: &str) -> (Harmonised, bool) {
        match self.lookup(classification, answer) {
            Some(h) => (h, false),
            None => (Harmonised::unmapped(), true),
        }
    }

    /// Counts `rows` rows holding an answer no category knows.
    pub fn count_unmapped_rows(&mut self, classification: &str, answer: &str, rows: u64) {
        let shown: String = answer.trim().chars().take(40).collect();
        *self
            .unmapped
            .entry(classification.to_string())
            .or_default()
            .entry(shown)
            .or_default() += rows;
    }

    /// The harmonised value of one answer (unmapped answers are counted).
    pub fn map(&mut self, classification: &str, answer: &str) -> Harmonised {
        match self.lookup(classification, answer) {
            Some(h) => h,
            None => self.unmapped_answer(classification, answer),
        }
    }

    /// The answer's category or special value, if it has one.
    fn lookup(&self, classification: &str, answer: &str) -> Option<Harmonised> {
        let key = normalise(answer);
        if let Some(h) = self.maps.get(classification).and_then(|m| m.get(&key)) {
            return Some(h.clone());
        }
        self.specials.get(&key).map(|s| Harmonised {
            value: s.clone(),
            broad: Some(s.clone()),
        })
    }

    /// Counts an answer with no category and returns `unmapped`.
    fn unmapped_answer(&mut self, classification: &str, answer: &str) -> Harmonised {
        self.count_unmapped(classification, answer);
        Harmonised::unmapped()
    }

    /// Adds another classifier's unmapped counts to this one's (a worker's,
    /// when a file is converted on several threads).
    pub fn merge_unmapped(&mut self, other: Classifier) {
        for (classification, answers) in other.unmapped {
            let mine = self.unmapped.entry(classification).or_default();
            for (answer, n) in answers {
                *mine.entry(answer).or_default() += n;
            }
        }
    }

    fn count_unmapped(&mut self, classification: &str, answer: &str) {
        // Counted by a shortened answer, so a stray long entry stays short.
        self.count_unmapped_rows(classification, answer, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messy_and_old_answers_map_onto_census_2021() {
        let mut c = Classifier::load(&[]).unwrap();
        let eth = |c: &mut Classifier, a: &str| c.map("ethnic_group", a).value;
        assert_eq!(
            eth(&mut c, "Black or Black British: Caribbean"),
            "Black, Black British, Black Welsh, Caribbean or African: Caribbean"
        );
        assert_eq!(
            eth(&mut c, "  asian/asian british - INDIAN "),
            "Asian, Asian British or Asian Welsh: Indian"
        );
        assert_eq!(
            eth(
                &mut c,
                "White: English/Welsh/Scottish/Northern Irish/British"
            ),
            "White: English, Welsh, Scottish, Northern Irish or British"
        );
        assert_eq!(
            eth(
                &mut c,
                "Mixed/multiple ethnic groups: White and Black Caribbean"
            ),
            "Mixed or Multiple ethnic groups: White and Black Caribbean"
        );
        assert_eq!(
            eth(&mut c, "Pakistani"),
            "Asian, Asian British or Asian Welsh: Pakistani"
        );
        assert_eq!(
            c.map("ethnic_group", "Bangladeshi").broad.as_deref(),
            Some("Asian, Asian British or Asian Welsh")
        );
        assert_eq!(eth(&mut c, "Prefer not to say"), "prefer_not_to_say");
        assert_eq!(eth(&mut c, ""), "not_stated");
        assert_eq!(eth(&mut c, "Unknown"), "not_stated");
        assert_eq!(eth(&mut c, "Martian"), "unmapped");
        assert_eq!(c.unmapped["ethnic_group"]["Martian"], 1);
        assert_eq!(c.map("sex", "female").value, "F");
        assert_eq!(c.map("disability", "Yes").value, "disabled");
        assert_eq!(c.map("religion", "Islam").value, "Muslim");
    }

    #[test]
    fn councils_extend_the_tables() {
        let extra = vec![(
            "mine.toml".to_string(),
            "name = \"ethnic_group\"\n[[categories]]\nlabel = \"White: Other White\"\nbroad = \"White\"\naliases = [\"Eastern European\"]\n".to_string(),
        )];
        let mut c = Classifier::load(&extra).unwrap();
        assert_eq!(
            c.map("ethnic_group", "eastern european").value,
            "White: Other White"
        );
        assert_eq!(
            c.map("ethnic_group", "Irish").value,
            "White: Irish",
            "built-ins kept"
        );
    }
}
