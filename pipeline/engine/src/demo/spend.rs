//! The council's spend over £500 (two quarters whose files differ as real
//! councils' do) and its supplier register.

use super::*;

/// Kinds of supplier: the name's ending, whether it is a VCSE
/// organisation, and its usual payment size (the log of pounds).
const KINDS: [(&str, bool, f64); 8] = [
    ("Community Trust", true, 7.5),
    ("Care Services Ltd", false, 9.0),
    ("Building Contractors Limited", false, 9.5),
    ("Catering CIC", true, 7.0),
    ("Youth Project", true, 7.2),
    ("IT Solutions Ltd", false, 8.5),
    ("Cleaning Services Ltd", false, 7.8),
    ("Transport CIC", true, 8.0),
];
const PLACES: [&str; 8] = [
    "Northbridge",
    "Riverside",
    "Canal Street",
    "Millgate",
    "Eastfield",
    "Harbour",
    "Westbury",
    "Oakfield",
];
/// Postcodes outside the city (the demo's lookup does not know them).
const ELSEWHERE: [&str; 4] = ["M4 5JD", "LS1 4AP", "B3 2PW", "WA14 2SZ"];

/// One supplier of the demo council.
struct Supplier {
    id: String,
    name: String,
    postcode: String,
    company: String,
    charity: String,
    vcse: bool,
    sme: bool,
    size: f64,
    registered: bool,
}

fn suppliers(lsoas: &[Lsoa], rng: &mut Rng) -> Vec<Supplier> {
    (0..54)
        .map(|s| {
            let (kind, vcse, size) = KINDS[(s % 8 + 3 * (s / 8)) % 8];
            let name = if s < 48 {
                format!("{} {kind}", PLACES[s % 8])
            } else {
                format!("Ad Hoc Supplier {}", s - 47)
            };
            let in_city = rng.f64() < 0.7;
            let postcode = if in_city {
                let i = (rng.f64() * lsoas.len() as f64) as usize % lsoas.len();
                nb_postcode(i, (rng.f64() * 3.0) as usize % 3)
            } else {
                ELSEWHERE[s % ELSEWHERE.len()].to_string()
            };
            let company_no = 100_000 + (rng.f64() * 9_000_000.0) as u32;
            let limited =
                kind.ends_with("Ltd") || kind.ends_with("Limited") || kind.ends_with("CIC");
            Supplier {
                id: format!("{}", 20_000_000 + s * 37),
                name,
                postcode,
                // A spreadsheet drops the leading zeros of some numbers.
                company: if !limited {
                    String::new()
                } else if s % 3 == 0 {
                    company_no.to_string()
                } else {
                    format!("{company_no:08}")
                },
                charity: if kind == "Community Trust" {
                    format!("{}", 1_100_000 + s)
                } else {
                    String::new()
                },
                vcse,
                sme: vcse || rng.f64() < 0.6,
                size,
                registered: s < 48,
            }
        })
        .collect()
}

/// Two quarters of spend over £500, the supplier register and the
/// council's 360Giving grants file; the quarters
/// differ as real councils' files do: the second misspells a header
/// (`Expenditure Catergory`), uses CRLF and has no final newline, writes
/// `NA` and marks payees `Redacted`; the first leaves individuals' refunds
/// blank and writes amounts with 0, 1 or 2 decimals.
pub(super) fn write_spend(
    spend_dir: &Path,
    register: &Path,
    grants: &Path,
    lsoas: &[Lsoa],
    rng: &mut Rng,
) -> std::io::Result<()> {
    std::fs::create_dir_all(spend_dir)?;
    std::fs::create_dir_all(register.parent().expect("a folder"))?;
    let suppliers = suppliers(lsoas, rng);
    write_register(register, &suppliers)?;
    write_grants(grants, &suppliers, rng)?;
    let areas = [
        "Adult Social Care",
        "Children's Services",
        "Neighbourhoods",
        "Planning, Housing & Regeneration",
    ];
    let categories = [
        "Contracted Services",
        "Grants to Voluntary Bodies",
        "Building Repairs",
        "Catering",
        "ICT Services",
        "Transport Hire",
    ];
    for (q, (months, file)) in [
        ([4u32, 5, 6], "spend-over-500-2024-q1.csv"),
        ([7, 8, 9], "spend-over-500-2024-q2.csv"),
    ]
    .iter()
    .enumerate()
    {
        let second = q == 1;
        let mut w = csv::WriterBuilder::new()
            .terminator(if second {
                csv::Terminator::CRLF
            } else {
                csv::Terminator::Any(b'\n')
            })
            .from_writer(Vec::new());
        w.write_record([
            "Client",
            "Service Area",
            if second {
                "Expenditure Catergory"
            } else {
                "Expenditure Category"
            },
            "Paid Date",
            "Trans No",
            "Amount",
            "Supplier ID",
            "Supplier Name",
        ])?;
        for n in 0..320 {
            let s = &suppliers[(rng.f64() * suppliers.len() as f64) as usize % suppliers.len()];
            let month = months[n % 3];
            let day = 1 + (rng.f64() * 28.0) as u32;
            let mut amount = (s.size + rng.range(-1.0, 1.0)).exp();
            if rng.f64() < 0.03 {
                amount = -amount.min(2_000.0);
            }
            let amount = match (second, n % 3) {
                (true, _) | (false, 0) => format!("{amount:.2}"),
                (false, 1) => format!("{amount:.1}"),
                _ => format!("{:.0}", amount),
            };
            let category =
                categories[(rng.f64() * categories.len() as f64) as usize % categories.len()];
            // Personal payees: withheld (Redacted) in one quarter, left
            // blank in the other, as the two councils' files do.
            let personal = rng.f64() < 0.05;
            let (id, name) = match (personal, second) {
                (true, true) => ("Redacted".to_string(), "Redacted".to_string()),
                (true, false) => (format!("{}", 36_000_000 + n), String::new()),
                // Some lines of the second quarter carry no supplier
                // number: the register is met by name.
                (false, true) if n % 11 == 0 => (String::new(), s.name.clone()),
                (false, _) => (s.id.clone(), s.name.clone()),
            };
            w.write_record([
                "NCC",
                areas[n % areas.len()],
                if second && n % 17 == 0 {
                    "NA"
                } else {
                    category
                },
                &format!("{day:02}/{month:02}/2024"),
                &format!("{} - {}", 46_300_000 + q * 1000 + n, 1 + n % 2),
                &amount,
                &id,
                &name,
            ])?;
        }
        let mut bytes = w.into_inner().map_err(|e| e.into_error())?;
        if second {
            // No newline after the last row.
            while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                bytes.pop();
            }
        }
        std::fs::write(spend_dir.join(file), bytes)?;
    }
    Ok(())
}

/// The supplier register: names in capitals, as finance systems hold them.
fn write_register(path: &Path, suppliers: &[Supplier]) -> std::io::Result<()> {
    let mut reg = csv::Writer::from_path(path)?;
    reg.write_record([
        "Supplier No",
        "Supplier Name",
        "Post Code",
        "Company No",
        "Charity No",
        "VCSE?",
        "SME",
    ])?;
    for s in suppliers.iter().filter(|s| s.registered) {
        reg.write_record([
            s.id.as_str(),
            &s.name.to_uppercase(),
            &s.postcode,
            &s.company,
            &s.charity,
            if s.vcse { "Y" } else { "N" },
            if s.sme { "Yes" } else { "No" },
        ])?;
    }
    reg.flush()?;
    Ok(())
}

/// The council's grants to its VCSE suppliers in 360Giving's spreadsheet
/// layout, as funders publish it: most of the standard's columns present
/// and empty, postcodes for some recipients only, company numbers as text,
/// unregistered groups under the publisher's own `360G-` identifiers, and
/// a classification of the communities served where the officer gave one.
fn write_grants(path: &Path, suppliers: &[Supplier], rng: &mut Rng) -> std::io::Result<()> {
    std::fs::create_dir_all(path.parent().expect("a folder"))?;
    let mut w = csv::Writer::from_path(path)?;
    w.write_record([
        "Identifier",
        "Title",
        "Description",
        "Currency",
        "Amount Applied For",
        "Amount Awarded",
        "Award Date",
        "Recipient Org:Identifier",
        "Recipient Org:Name",
        "Recipient Org:Charity Number",
        "Recipient Org:Company Number",
        "Recipient Org:Postal Code",
        "Beneficiary Location:Name",
        "Beneficiary Location:Geographic Code",
        "Beneficiary Location:Geographic Code Type",
        "Funding Org:Identifier",
        "Funding Org:Name",
        "Grant Programme:Code",
        "Grant Programme:Title",
        "Classifications:Title",
        "From an open call?",
        "Last modified",
    ])?;
    let programmes = [
        ("CG", "Community Grants"),
        ("IN", "Inclusive Neighbourhoods Fund"),
    ];
    let communities = [
        "",
        "Older people",
        "Young people",
        "Disabled people",
        "Black, Asian and minority ethnic communities",
        "",
    ];
    let vcse: Vec<&Supplier> = suppliers
        .iter()
        .filter(|s| s.vcse && s.registered)
        .collect();
    for n in 0..60 {
        let s = vcse[n % vcse.len()];
        let year = 2022 + (n % 3) as i32;
        let (code, title) = programmes[n % 2];
        let recipient = if !s.charity.is_empty() {
            format!("GB-CHC-{}", s.charity)
        } else if !s.company.is_empty() {
            format!("GB-COH-{:0>8}", s.company)
        } else {
            format!("360G-northbridge-{}", s.id)
        };
        let amount = (rng.range(500.0, 12_000.0) / 50.0).round() * 50.0;
        let postcode = if n % 4 == 0 { s.postcode.as_str() } else { "" };
        let record: [&str; 22] = [
            &format!("360G-northbridgecc-{code}{:04}", n + 1),
            &format!("{title} grant to {}", s.name),
            "",
            "GBP",
            "",
            &format!("{amount}"),
            &format!("{year}-{:02}-{:02}", 4 + n % 9, 1 + n % 27),
            &recipient,
            &s.name,
            &s.charity,
            &if s.company.is_empty() {
                String::new()
            } else {
                format!("{:0>8}", s.company)
            },
            postcode,
            CITY_NAME,
            CITY_CODE,
            "MD",
            "GB-LAE-NBC",
            "Northbridge City Council",
            code,
            title,
            communities[(n / 3) % communities.len()],
            if n % 5 == 0 { "No" } else { "Yes" },
            "2025-05-01T09:00:00Z",
        ];
        w.write_record(record)?;
    }
    w.flush()
}
