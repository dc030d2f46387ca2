//! Kernel benchmarks (`cargo bench -p eqpipe`): the host's per-row work
//! (contract validation, disclosure control), the workforce source's
//! pseudonymisation and classification, and the pay-gap measures.
//! The end-to-end figures against Polars and DuckDB come from
//! `examples/bench/run.sh`.

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eqpipe_engine::contracts::{Contracts, Validator};

const ROWS: usize = 65_536;

/// A `census_counts` batch as the Census source emits it: text columns with
/// a few distinct values each, integer counts.
fn census_batch(n: usize) -> RecordBatch {
    let text = |f: &dyn Fn(usize) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values((0..n).map(f)))
    };
    RecordBatch::try_from_iter([
        ("area_code", text(&|i| format!("E{:08}", i / 20))),
        ("area_name", text(&|i| format!("Output area {}", i / 20))),
        ("geography_level", text(&|_| "oa".into())),
        (
            "census_year",
            Arc::new(arrow_array::Int16Array::from(vec![2021i16; n])) as ArrayRef,
        ),
        ("table_code", text(&|_| "TS021".into())),
        ("topic", text(&|_| "Ethnic group".into())),
        ("category_label", text(&|i| format!("Category {}", i % 20))),
        (
            "category_level",
            Arc::new(arrow_array::UInt8Array::from(vec![1u8; n])) as ArrayRef,
        ),
        (
            "parent_label",
            text(&|_| "Total: All usual residents".into()),
        ),
        ("unit", text(&|_| "Person".into())),
        (
            "count",
            Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| i % 400))) as ArrayRef,
        ),
    ])
    .unwrap()
}

fn validation(c: &mut Criterion) {
    let contracts = Contracts::builtin();
    let batch = census_batch(ROWS);
    let mut g = c.benchmark_group("validate");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("census_counts_text_64k", |b| {
        let mut v = Validator::new(contracts.get("census_counts").unwrap());
        assert_eq!(v.validate(&batch).unwrap().batch.num_rows(), ROWS);
        b.iter(|| v.validate(&batch).unwrap())
    });
    g.finish();
}

fn disclosure(c: &mut Criterion) {
    let contracts = Contracts::builtin();
    let contract = contracts.get("pay_gap").unwrap();
    let mut g = c.benchmark_group("disclosure");
    for n in [1_000usize, 100_000] {
        let text = |f: &dyn Fn(usize) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values((0..n).map(f)))
        };
        // Tables of 100 groups (one per date, dimension and measure), a few
        // of them small.
        const DIMS: [&str; 3] = ["sex", "ethnicity", "disability"];
        const MEASURES: [&str; 10] = [
            "mean_hourly_gap_pct",
            "median_hourly_gap_pct",
            "mean_bonus_gap_pct",
            "median_bonus_gap_pct",
            "pct_receiving_bonus",
            "lower_quartile_pct",
            "lower_middle_quartile_pct",
            "upper_middle_quartile_pct",
            "upper_quartile_pct",
            "not_disclosed_pct",
        ];
        let batch = RecordBatch::try_from_iter([
            (
                "snapshot_date",
                Arc::new(arrow_array::Date32Array::from_iter_values(
                    (0..n).map(|i| 20_000 + (i / 3000) as i32),
                )) as ArrayRef,
            ),
            ("dimension", text(&|i| DIMS[(i / 1000) % 3].into())),
            ("measure", text(&|i| MEASURES[(i / 100) % 10].into())),
            ("group", text(&|i| format!("g{}", i % 100))),
            ("reference_group", text(&|_| "ref".into())),
            (
                "value",
                Arc::new(Float64Array::from_iter_values(
                    (0..n).map(|i| i as f64 / 7.0),
                )) as ArrayRef,
            ),
            (
                "numerator_n",
                Arc::new(Float64Array::from_iter_values(
                    (0..n).map(|i| (i % 97) as f64),
                )) as ArrayRef,
            ),
            (
                "denominator_n",
                Arc::new(Float64Array::from_iter_values(
                    (0..n).map(|i| (i % 97 + 50) as f64),
                )) as ArrayRef,
            ),
            (
                "suppressed",
                Arc::new(BooleanArray::from(vec![false; n])) as ArrayRef,
            ),
        ])
        .unwrap();
        let mut v = Validator::new(contract.clone());
        let batch = v.validate(&batch).unwrap().batch;
        assert_eq!(
            batch.num_rows(),
            n,
            "every generated row passes the contract"
        );
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(
            BenchmarkId::new("protect_pay_gap", n),
            &batch,
            |b, batch| {
                b.iter(|| {
                    eqpipe_engine::disclosure::protect(batch, &contract, &Default::default())
                        .unwrap()
                })
            },
        );
    }
    g.finish();
}

fn workforce(c: &mut Criterion) {
    let mut g = c.benchmark_group("workforce");
    g.throughput(Throughput::Elements(ROWS as u64));
    let mac = eqpipe_workforce::hmac_for(b"a benchmark key of some length");
    let ids: Vec<String> = (0..ROWS).map(|i| format!("E{i:09}")).collect();
    g.bench_function("pseudonymise_64k", |b| {
        let mut buf = [0u8; 64];
        b.iter(|| {
            let mut n = 0usize;
            for id in &ids {
                n += eqpipe_workforce::pseudonymise_with(&mac, id, &mut buf).len();
            }
            n
        })
    });
    let answers = [
        "White British",
        "Pakistani",
        "Indian",
        "African",
        "Caribbean",
        "Irish",
        "Prefer not to say",
        "",
    ];
    g.bench_function("classify_ethnic_group_64k", |b| {
        let mut cl = eqpipe_workforce::classify::Classifier::load(&[]).unwrap();
        b.iter(|| {
            let mut n = 0usize;
            for i in 0..ROWS {
                n += cl
                    .map_shared("ethnic_group", answers[i % answers.len()])
                    .value
                    .len();
            }
            n
        })
    });
    g.finish();
}

fn pay_gap(c: &mut Criterion) {
    use eqpipe_pay_gap::calc::{Comparison, Dimension, Employee, measures};
    let n = 100_000;
    let employees: Vec<Employee> = (0..n)
        .map(|i| Employee {
            category: Some(if i % 5 < 3 { 1 } else { 0 }),
            hourly: Some(11.0 + (i * 7919 % 3000) as f64 / 100.0),
            bonus: if i % 9 == 0 { 250.0 } else { 0.0 },
        })
        .collect();
    let dim = Dimension {
        reference: "M".into(),
        comparisons: vec![Comparison {
            label: "F".into(),
            categories: vec!["F".into()],
        }],
    };
    let categories = vec!["M".to_string(), "F".to_string()];
    let mut g = c.benchmark_group("pay_gap");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("gender_measures_100k", |b| {
        b.iter(|| measures(&dim, &categories, &employees))
    });
    g.finish();
}

criterion_group!(kernels, validation, disclosure, workforce, pay_gap);
criterion_main!(kernels);
