//! A consultation's responses with equality monitoring questions, as a
//! survey tool exports them: older residents and women over-represented,
//! some monitoring questions skipped.

use super::*;

/// The "Neighbourhood plan 2025" consultation: 420 responses with age,
/// gender, ethnicity and disability monitoring, a postcode, and two
/// agreement questions (one the Community Life Survey's cohesion question).
pub(super) fn write_consultation(dir: &Path, lsoas: &[Lsoa], rng: &mut Rng) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut w = csv::Writer::from_path(dir.join("neighbourhood-plan-2025-responses.csv"))?;
    w.write_record([
        "Response ID",
        "Submitted",
        "Postcode",
        "What is your age?",
        "What is your sex?",
        "What is your ethnic group?",
        "Do you consider yourself to be disabled?",
        "To what extent do you agree or disagree that this local area is a place where people from different backgrounds get on well together?",
        "Do you agree with the proposals for the town centre?",
    ])?;
    let ethnic = [
        ("White British", 76.0),
        ("Pakistani", 6.0),
        ("Indian", 3.0),
        ("African", 3.0),
        ("Caribbean", 2.0),
        ("Other White", 5.0),
        ("Prefer not to say", 5.0),
    ];
    let scale = [
        "Definitely agree",
        "Tend to agree",
        "Tend to disagree",
        "Definitely disagree",
        "Don't know",
    ];
    for n in 0..420 {
        // Older residents answer consultations more often.
        let age = 18 + (rng.f64().powf(0.6) * 70.0) as u32;
        let sex = if rng.f64() < 0.6 { "Female" } else { "Male" };
        let mut x = rng.range(0.0, 100.0);
        let mut eth = "Prefer not to say";
        for (e, p) in ethnic {
            if x < p {
                eth = e;
                break;
            }
            x -= p;
        }
        let disabled = if rng.f64() < 0.2 { "Yes" } else { "No" };
        let i = (rng.f64() * lsoas.len() as f64) as usize % lsoas.len();
        let agree_p = 0.45 + (age as f64 - 18.0) / 70.0 * 0.35;
        let cohesion = if rng.f64() < 0.06 {
            scale[4]
        } else if rng.f64() < agree_p {
            scale[(rng.f64() * 2.0) as usize % 2]
        } else {
            scale[2 + (rng.f64() * 2.0) as usize % 2]
        };
        let proposals = scale[(rng.f64() * 5.0) as usize % 5];
        w.write_record([
            format!("NP-{:05}", 10_000 + n * 7),
            format!("{:02}/{:02}/2025", 1 + n % 28, 3 + n % 2),
            nb_postcode(i, n % 3),
            // Some skip the monitoring questions.
            if n % 25 == 0 {
                String::new()
            } else {
                age.to_string()
            },
            if n % 30 == 0 {
                "Prefer not to say".into()
            } else {
                sex.into()
            },
            eth.into(),
            disabled.into(),
            cohesion.into(),
            proposals.into(),
        ])?;
    }
    w.flush()
}
