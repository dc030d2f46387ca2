#!/usr/bin/env bash
# The performance benchmark, in one command: generates the data, runs eqpipe
# (release build) and the same work in Polars and DuckDB (installed from PyPI
# into .venv), and prints throughput, peak RSS and the ratios side by side.
#
#   bash examples/bench/run.sh            # the full sizes of issue #8 (about 20 minutes)
#   bash examples/bench/run.sh --quick    # a tenth of the sizes, to try it out
#
# Sections (each can be run alone: run.sh workforce|memory|paygap|census|profile|demo):
#   workforce  normalising a canonical workforce CSV (5,000,000 rows, ~700 MB):
#              eqpipe (CSV read, mapping, classification onto Census 2021,
#              HMAC pseudonymisation, contract validation, zstd Parquet) vs
#              Polars scan_csv().sink_parquet() and DuckDB COPY ... TO parquet
#   memory     peak RSS normalising a 5 GB CSV (monthly snapshots of the same
#              staff: every row distinct), against the 512 MB target
#   paygap     the pay-gap indicator (gender) over those 5,000,000 employees vs
#              the equivalent DuckDB SQL on the same Parquet
#   census     every Census 2021 count table published for output areas, for
#              all 188,880 OAs of England and Wales, to census_counts (rows/s)
#   profile    the same tables for every OA and the community profile of
#              every OA (a national OA profile), timed end to end
#   demo       the built-in demo, end to end
#   python     a Python process plugin (the SDK) emitting 1,000,000 rows:
#              the protocol's throughput, typed and as text the host parses
#   lake       300 partners committing to one Delta table at once, 16 writers at
#              a time, on a single-node Ceph RGW started for it (tests/s3/rgw.sh;
#              Debian's radosgw, ceph-mon, ceph-osd): commit latency, races lost
#              and made again, every partner's file kept (not in the default set)
#
# Generated data and outputs go to target/bench/ (reused between runs).
# Needs /usr/bin/time; ../shared/data beside the repository (census section).
set -euo pipefail
cd "$(dirname "$0")/../.."

scale=1
sections=()
for a in "$@"; do
  case "$a" in
    --quick) scale=10 ;;
    workforce|memory|paygap|census|profile|demo|python|lake) sections+=("$a") ;;
    *) echo "usage: $0 [--quick] [workforce|memory|paygap|census|profile|demo|python|lake]..." >&2; exit 2 ;;
  esac
done
[ ${#sections[@]} -eq 0 ] && sections=(workforce memory paygap census profile demo python)

rows=$((5000000 / scale))
big_gb=$((5))
[ "$scale" -ne 1 ] && big_gb=1
oas=$((188880 / scale))
bench="target/bench"
mkdir -p "$bench"

cargo build --release --quiet -p eqpipe
eqpipe="$PWD/target/release/eqpipe"
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import polars, duckdb" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi
py=.venv/bin/python
$py -c "import eqpipe_plugin" 2>/dev/null || .venv/bin/pip install --quiet --disable-pip-version-check -e plugins/sdk-python

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "eqpipe $("$eqpipe" --version | awk '{print $2}'), $($py -c 'import polars, duckdb; print("polars", polars.__version__ + ", duckdb", duckdb.__version__)')"
echo

# measure LABEL ROWS COMMAND...: wall time, rows/s, peak RSS, CPU seconds
# (user + system); sets $secs, $rss_mb, $cpu.
measure() {
  local label="$1" n="$2"; shift 2
  local t0 t1 log="$bench/last.err"
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M %U %S" -o "$bench/rss" "$@" >/dev/null 2>"$log" || { cat "$log"; exit 1; }
  t1=$(date +%s.%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  rss_mb=$(awk '{ v = $1 } END { printf "%.0f", v / 1024 }' "$bench/rss")
  cpu=$(awk '{ u = $2; s = $3 } END { printf "%.2f", u + s }' "$bench/rss")
  awk -v l="$label" -v s="$secs" -v r="$rss_mb" -v n="$n" -v c="$cpu" \
    'BEGIN { if (n > 0) printf "  %-34s %8.2f s  %12.0f rows/s  %7d MB peak RSS  %6.2f CPU-s\n", l, s, n / s, r, c;
             else printf "  %-34s %8.2f s  %19s  %7d MB peak RSS  %6.2f CPU-s\n", l, s, "", r, c }'
}
# median A B C
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

gen_workforce() { # path rows [months]: monthly snapshots of the same staff
  $py - "$@" <<'PY'
import random, sys
path, n = sys.argv[1], int(sys.argv[2])
months = int(sys.argv[3]) if len(sys.argv) > 3 else 1
rnd = random.Random(2021)
eth = ["White British", "Pakistani", "Indian", "African", "Caribbean", "Irish", "Other White", "Prefer not to say", ""]
dis = ["No", "Yes", "", "Prefer not to say"]
rows = []
for i in range(n):
    rows.append((f"E{i:09d}", f"Unit {i % 40},G{1 + i % 10},{'F' if rnd.random() < 0.6 else 'M'},"
                 f"{rnd.choice(eth)},{rnd.choice(dis)},{18 + i % 48},{37 if i % 4 else 22.5},"
                 f"{11 + rnd.random() * 30:.2f},{0 if i % 9 else 250},2015-04-01,,Y\n"))
with open(path, "w") as f:
    f.write("employee_id,snapshot_date,org_unit,grade,sex,ethnic_group,disability,age,contract_hours,hourly_pay,bonus_pay,start_date,leaver_date,full_pay_relevant\n")
    for m in range(months):
        y, mo = 2025 - (m // 12), 3 - (m % 12)
        if mo <= 0:
            y, mo = y - 1, mo + 12
        day = {2: 28, 4: 30, 6: 30, 9: 30, 11: 30}.get(mo, 31)
        snap = f"{y}-{mo:02d}-{day}"
        f.writelines(f"{e},{snap},{rest}" for e, rest in rows)
PY
}

workforce_config() { # dir csv
  cat > "$1/pipeline.toml" <<TOML
output_dir = "out"
[[sources]]
name = "hr"
plugin = "workforce"
[sources.options]
path = "$2"
pseudonymisation_key_env = "BENCH_KEY"
TOML
}
export BENCH_KEY=benchmark-key-0123456789

# The workforce normalisation against Polars and DuckDB on the same file:
# three rounds, the three tools alternated within each, and the medians.
workforce_at() {
  local n="$1" w="$bench/workforce-$1"
  mkdir -p "$w"
  local csv="$PWD/$w/workforce.csv" big="$PWD/$bench/workforce-$rows/workforce.csv"
  if [ ! -f "$csv" ]; then
    if [ "$n" -lt "$rows" ] && [ -f "$big" ]; then head -n $((n + 1)) "$big" > "$csv"
    else echo "  generating $n rows..."; gen_workforce "$csv" "$n"; fi
  fi
  echo "== workforce: $n rows, $(du -h "$csv" | cut -f1) CSV (3 rounds, alternated)"
  workforce_config "$w" "$csv"
  local es=() ec=() ps=() pc=() ds=() dc=()
  for round in 1 2 3; do
    rm -rf "$w/out"
    measure "eqpipe (validate, classify, HMAC)" "$n" "$eqpipe" -q run --force --config "$w/pipeline.toml"
    es+=("$secs"); ec+=("$cpu")
    measure "polars scan_csv -> sink_parquet" "$n" $py -c "import polars as pl; pl.scan_csv('$csv', infer_schema_length=10000).sink_parquet('$w/polars.parquet', compression='zstd')"
    ps+=("$secs"); pc+=("$cpu")
    measure "duckdb COPY -> parquet" "$n" $py -c "import duckdb; duckdb.connect().execute(\"COPY (SELECT * FROM read_csv_auto('$csv')) TO '$w/duckdb.parquet' (FORMAT parquet, COMPRESSION zstd)\")"
    ds+=("$secs"); dc+=("$cpu")
  done
  local e p d
  e=$(median "${es[@]}"); p=$(median "${ps[@]}"); d=$(median "${ds[@]}")
  echo "  medians: eqpipe $e s ($(median "${ec[@]}") CPU-s), polars $p s ($(median "${pc[@]}") CPU-s), duckdb $d s ($(median "${dc[@]}") CPU-s)"
  echo "  eqpipe / polars time: $(ratio "$e" "$p") (target <= 1.00)   eqpipe / duckdb time: $(ratio "$e" "$d") (target < 1.00)"
  echo
}

section_workforce() {
  workforce_at "$rows"
  workforce_at $((rows / 5))
}

section_memory() {
  local w="$bench/memory-${big_gb}gb"
  mkdir -p "$w"
  local csv="$PWD/$w/workforce.csv"
  # About 78 bytes a row: months of snapshots of $rows staff.
  local months=$(( (big_gb * 1024 * 1024 * 1024) / (78 * rows) ))
  [ "$months" -lt 1 ] && months=1
  [ -f "$csv" ] || { echo "  generating $months monthly snapshots of $rows staff..."; gen_workforce "$csv" "$rows" "$months"; }
  local n
  n=$(( $(wc -l < "$csv") - 1 ))
  echo "== memory: $(du -h "$csv" | cut -f1) CSV, $n rows (monthly snapshots of $rows staff, every row distinct)"
  workforce_config "$w" "$csv"
  rm -rf "$w/out"
  measure "eqpipe" "$n" "$eqpipe" -q run --force --config "$w/pipeline.toml"
  echo "  peak RSS $rss_mb MB (target < 512 MB)"
  echo
}

section_paygap() {
  local w="$bench/workforce-$rows"
  [ -d "$w/out/restricted/datasets/workforce" ] || section_workforce
  echo "== pay gap (gender) over $rows employees"
  cat > "$w/paygap.toml" <<TOML
output_dir = "out"
[[indicators]]
plugin = "pay-gap"
[indicators.options]
snapshot_date = "2025-03-31"
dimensions = ["sex"]
TOML
  measure "eqpipe pay-gap (whole run)" "$rows" "$eqpipe" -q run --force --config "$w/paygap.toml"
  local e=$secs
  local step
  step=$($py -c "
import json, glob, os
m = max(glob.glob('$w/out/runs/*.json'), key=os.path.getmtime)
print(json.load(open(m))['indicators'][0]['duration_ms'] / 1000)")
  echo "  of which the pay-gap step: ${step} s"
  local files="$w/out/restricted/datasets/workforce/*/part-0.parquet"
  measure "duckdb SQL (same measures)" "$rows" $py - <<PY
import duckdb
duckdb.sql("""
WITH w AS (
  SELECT sex, hourly_pay, bonus_pay, full_pay_relevant FROM read_parquet('$files')
  WHERE snapshot_date = DATE '2025-03-31' AND (leaver_date IS NULL OR leaver_date > snapshot_date)
    AND sex IN ('F', 'M')),
h AS (SELECT sex, hourly_pay FROM w WHERE full_pay_relevant AND hourly_pay IS NOT NULL),
pay AS (SELECT sex, avg(hourly_pay) AS mean, median(hourly_pay) AS median, count(*) AS n FROM h GROUP BY sex),
bonus AS (SELECT sex, avg(bonus_pay) FILTER (WHERE bonus_pay > 0) AS mean, median(bonus_pay) FILTER (WHERE bonus_pay > 0) AS median,
                 count(*) FILTER (WHERE bonus_pay > 0) AS paid, count(*) AS n FROM w GROUP BY sex),
q AS (SELECT sex, ntile(4) OVER (ORDER BY hourly_pay) AS quartile FROM h),
quart AS (SELECT quartile, count(*) FILTER (WHERE sex = 'F') AS women, count(*) AS n FROM q GROUP BY quartile)
SELECT
  (SELECT (max(mean) FILTER (WHERE sex='M') - max(mean) FILTER (WHERE sex='F')) / max(mean) FILTER (WHERE sex='M') * 100 FROM pay) AS mean_gap,
  (SELECT (max(median) FILTER (WHERE sex='M') - max(median) FILTER (WHERE sex='F')) / max(median) FILTER (WHERE sex='M') * 100 FROM pay) AS median_gap,
  (SELECT (max(mean) FILTER (WHERE sex='M') - max(mean) FILTER (WHERE sex='F')) / max(mean) FILTER (WHERE sex='M') * 100 FROM bonus) AS bonus_mean_gap,
  (SELECT (max(median) FILTER (WHERE sex='M') - max(median) FILTER (WHERE sex='F')) / max(median) FILTER (WHERE sex='M') * 100 FROM bonus) AS bonus_median_gap,
  (SELECT list(paid * 100.0 / n ORDER BY sex) FROM bonus) AS pct_bonus,
  (SELECT list(women * 100.0 / n ORDER BY quartile) FROM quart) AS quartiles
""").fetchall()
PY
  local d=$secs
  echo "  eqpipe / duckdb time (whole runs): $(ratio "$e" "$d") (target <= 1.50)"
  echo
}

gen_census() { # dir oas: every OA count table, each OA with the England and Wales row
  local w="$1" n="$2" ref=../shared/data/census2021/reference
  mkdir -p "$w/zips"
  [ -f "$w/tables.txt" ] && return
  echo "  generating every OA count table for $n output areas..."
  $py - "$ref/ts-cell-metadata.csv" "$w" "$n" <<'PY'
import csv, sys, zipfile, io
meta, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
tables = {}
with open(meta, encoding="utf-8-sig") as f:
    for r in csv.DictReader(f):
        if r["oa"] == "TRUE" and r["Measure"] == "Count":
            tables.setdefault(r["Table_ID"], []).append(r)
cells = 0
for t, cs in tables.items():
    # Every OA gets the England and Wales row: the published hierarchy holds.
    head = '"date","geography","geography code",' + ",".join(
        '"' + f'{c["Cell_Label_ONS_Prefix"]}: {c["Cell_Label_ONS"]}'.replace('"', '""') + '"' for c in cs)
    counts = ",".join(c["EW_Count"] for c in cs)
    buf = io.StringIO()
    buf.write(head + "\n")
    for i in range(n):
        buf.write(f'2021,Output area {i},E{i:08d},{counts}\n')
    with zipfile.ZipFile(f"{out}/zips/census2021-{t}.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr(f"census2021-{t}-oa.csv", buf.getvalue())
    cells += len(cs)
with open(f"{out}/tables.txt", "w") as f:
    f.write("\n".join(t.upper() for t in tables) + "\n")
print(f"  {len(tables)} tables, {cells} cells, {cells * n:,} census_counts rows")
PY
}

census_config() { # dir [indicator toml]
  local tables
  tables=$(awk '{printf "%s\"%s\"", (NR > 1 ? ", " : ""), $1}' "$1/tables.txt")
  cat > "$1/pipeline.toml" <<TOML
output_dir = "out"
[[sources]]
name = "census"
plugin = "ons-census"
[sources.options]
base_url = "$PWD/$1/zips"
tables = [$tables]
geography = "oa"
${2:-}
TOML
}

report_steps() { # out dir: rows and rows/s of each step of the last run
  $py - "$1" <<'PY'
import json, glob, os, sys
m = json.load(open(max(glob.glob(f"{sys.argv[1]}/runs/*.json"), key=os.path.getmtime)))
for s in m["sources"] + m["indicators"]:
    rows = sum(d.get("rows", 0) for d in s["datasets"].values())
    secs = s["duration_ms"] / 1000
    print(f"  step {s['name']}: {rows:,} rows in {secs:.2f} s = {rows / max(secs, 1e-3):,.0f} rows/s ({s['status']})")
PY
}

section_census() {
  [ -d ../shared/data/census2021/reference ] || { echo "== census: skipped (../shared/data is missing)"; return; }
  local w="$bench/census-oa-$oas"
  gen_census "$w" "$oas"
  census_config "$w"
  echo "== census: $(wc -l < "$w/tables.txt") OA count tables x $oas output areas to census_counts (target > 1,000,000 rows/s)"
  rm -rf "$w/out"
  measure "eqpipe census (whole run)" 0 "$eqpipe" -q run --force --config "$w/pipeline.toml"
  report_steps "$w/out"
  echo
}

section_profile() {
  [ -d ../shared/data/census2021/reference ] || { echo "== profile: skipped (../shared/data is missing)"; return; }
  local w="$bench/census-oa-$oas"
  gen_census "$w" "$oas"
  census_config "$w" $'[[indicators]]\nplugin = "community-profile"\n[indicators.options]\nparents = false'
  echo "== profile: every OA count table for $oas output areas, then the community profile of every area, end to end"
  rm -rf "$w/out"
  measure "eqpipe census + profile (end to end)" 0 "$eqpipe" -q run --force --config "$w/pipeline.toml"
  report_steps "$w/out"
  echo
}

section_python() {
  local w="$bench/python" n=$((1000000 / scale))
  mkdir -p "$w"
  cat > "$w/rows.py" <<'PY'
import sys
import pyarrow as pa
from eqpipe_plugin import Source, run

class Rows(Source):
    name = "bench-rows"
    version = "1.0.0"
    produces = [{"name": "bench_rows", "version": 1, "columns": [
        {"name": "area_code", "type": "utf8", "categorical": True},
        {"name": "month", "type": "date"},
        {"name": "group", "type": "utf8", "categorical": True},
        {"name": "count", "type": "int64", "min": 0}]}]
    config_schema = {"type": "object", "properties": {"rows": {"type": "integer"}, "text": {"type": "boolean"}}}

    def run(self, ctx):
        n, text, chunk = ctx.options["rows"], ctx.options.get("text", False), 65536
        for start in range(0, n, chunk):
            k = min(chunk, n - start)
            i = range(start, start + k)
            areas = [f"E0501{j % 9000:04d}" for j in i]
            groups = [("White", "Asian", "Black", "Mixed", "Other")[j % 5] for j in i]
            if text:
                t = pa.table({"area_code": areas, "month": [f"2026-{1 + j % 12:02d}-01" for j in i],
                              "group": groups, "count": [f"{j % 5000:,}" for j in i]})
            else:
                t = pa.table({"area_code": areas,
                              "month": pa.array([20454 + 30 * (j % 12) for j in i], pa.int32()).cast(pa.date32()),
                              "group": groups, "count": pa.array([j % 5000 for j in i], pa.int64())})
            ctx.emit("bench_rows", t)
            ctx.check_cancelled()

if __name__ == "__main__":
    run(Rows())
PY
  echo "== python: a process plugin on the Python SDK emitting $n rows (Arrow IPC over a pipe, validated, zstd Parquet)"
  for mode in typed text; do
    local text=false; [ "$mode" = text ] && text=true
    cat > "$w/pipeline.toml" <<TOML
[[sources]]
name = "rows"
command = ["$PWD/$py", "$PWD/$w/rows.py"]
[sources.options]
rows = $n
text = $text
TOML
    rm -rf "$w/out"
    measure "eqpipe python ($mode)" "$n" "$eqpipe" --quiet run --config "$w/pipeline.toml" --out "$w/out" --force
  done
  echo
}

section_demo() {
  echo "== demo, end to end"
  rm -rf "$bench/demo"
  measure "eqpipe demo" 0 "$eqpipe" -q demo --out "$bench/demo"
  echo
}

section_lake() {
  local partners=$((300 / scale)) writers=16
  echo "== lake: $partners partners' commits to one Delta table on Ceph RGW, $writers at a time"
  local r="$bench/rgw"
  bash tests/s3/rgw.sh start "$r" >/dev/null
  (
    set -a
    # shellcheck disable=SC1091
    . "$r/env"
    set +a
    cargo bench --quiet -p eqpipe-publish --bench lake_commits -- "$partners" "$writers" 2>/dev/null
  ) || { bash tests/s3/rgw.sh stop "$r"; return 1; }
  bash tests/s3/rgw.sh stop "$r"
  echo
}

for s in "${sections[@]}"; do "section_$s"; done
