#!/usr/bin/env bash
# Benchmark: normalising a canonical workforce CSV into Parquet with eqpipe
# (validation, classification mapping and pseudonymisation included), next
# to Polars (scan_csv -> sink_parquet, zstd) and DuckDB (COPY ... TO parquet)
# on the same file. Prints wall time, rows per second and peak RSS for each.
#
#   bash examples/bench/workforce.sh [ROWS]        # default 1,000,000 rows
#
# Needs: a release build (the script builds it), /usr/bin/time, and the
# Python venv of tests/run.sh (polars, duckdb), created if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
rows="${1:-1000000}"
work="target/bench/workforce-$rows"
mkdir -p "$work"

cargo build --release --quiet -p eqpipe
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import polars, duckdb" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi

csv="$work/workforce.csv"
if [ ! -f "$csv" ]; then
  echo "generating $rows rows..."
  .venv/bin/python - "$csv" "$rows" <<'PY'
import random, sys
path, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(2021)
eth = ["White British", "Pakistani", "Indian", "African", "Caribbean", "Irish", "Other White", "Prefer not to say", ""]
dis = ["No", "Yes", "", "Prefer not to say"]
with open(path, "w") as f:
    f.write("employee_id,snapshot_date,org_unit,grade,sex,ethnic_group,disability,age,contract_hours,hourly_pay,bonus_pay,start_date,leaver_date\n")
    for i in range(n):
        f.write(f"E{i:09d},2025-03-31,Unit {i % 40},G{1 + i % 10},{'F' if rnd.random() < 0.6 else 'M'},"
                f"{rnd.choice(eth)},{rnd.choice(dis)},{18 + i % 48},{37 if i % 4 else 22.5},{11 + rnd.random() * 30:.2f},0,2015-04-01,\n")
PY
fi
size=$(du -h "$csv" | cut -f1)
echo "input: $csv ($rows rows, $size)"

cat > "$work/pipeline.toml" <<TOML
output_dir = "out"
[[sources]]
name = "hr"
plugin = "workforce"
[sources.options]
path = "workforce.csv"
pseudonymisation_key_env = "BENCH_KEY"
TOML

measure() { # label, command...
  local label="$1"; shift
  local t0 t1 rss
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$work/rss" "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
  t1=$(date +%s.%N)
  rss=$(tail -1 "$work/rss")
  awk -v l="$label" -v a="$t0" -v b="$t1" -v r="$rss" -v n="$rows" \
    'BEGIN { s = b - a; printf "%-8s %8.2f s  %12.0f rows/s  %8.1f MB peak RSS\n", l, s, n / s, r / 1024 }'
}

rm -rf "$work/out"
BENCH_KEY=benchmark-key-0123456789 measure eqpipe target/release/eqpipe -q run --force --config "$work/pipeline.toml"
measure polars .venv/bin/python -c "import polars as pl; pl.scan_csv('$csv', infer_schema_length=10000).sink_parquet('$work/polars.parquet', compression='zstd')"
measure duckdb .venv/bin/python -c "import duckdb; duckdb.connect().execute(\"COPY (SELECT * FROM read_csv_auto('$csv')) TO '$work/duckdb.parquet' (FORMAT parquet, COMPRESSION zstd)\")"
