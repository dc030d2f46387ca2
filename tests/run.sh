#!/usr/bin/env bash
# The project's test command (README): Rust unit, integration and end-to-end
# tests, then the analysts' readers (pyarrow, pandas, polars, DuckDB) on the
# demo's outputs. Creates .venv with tests/python/requirements.txt and the
# Python plugin SDK if needed.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Python the process plugin tests and the readers' tests use: a venv
# with tests/python/requirements.txt and the plugin SDK (editable, so it is
# always this checkout's).
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import pyarrow, duckdb, pandas, polars, pytest, openpyxl, nbclient, ipykernel, matplotlib, geopandas, deltalake" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi
if ! .venv/bin/python -c "import eqpipe_plugin, sys; sys.exit(0 if 'plugins/sdk-python' in eqpipe_plugin.__file__ else 1)" 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check -e plugins/sdk-python
fi
export EQPIPE_PYTHON="$PWD/.venv/bin/python"
# CI's environment has backtraces on, and plugin processes inherit it: test
# with it on everywhere so a dying plugin's last words are read as CI reads
# them.
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

# A real S3 server for the lake's tests: a single-node Ceph RADOS Gateway
# on loopback (Debian's radosgw, ceph-mon, ceph-osd), stopped when this
# script ends. Without the packages the object-storage tests are skipped,
# unless EQPIPE_REQUIRE_S3=1.
rgw_dir="$PWD/target/test-rgw"
if command -v radosgw >/dev/null 2>&1 && command -v ceph-mon >/dev/null 2>&1; then
  trap 'bash tests/s3/rgw.sh stop "$rgw_dir"' EXIT
  bash tests/s3/rgw.sh start "$rgw_dir"
  set -a
  # shellcheck disable=SC1091
  . "$rgw_dir/env"
  set +a
elif [ "${EQPIPE_REQUIRE_S3:-0}" = 1 ]; then
  echo "EQPIPE_REQUIRE_S3=1 but radosgw/ceph-mon are missing (apt-get install radosgw ceph-mon ceph-osd)" >&2
  exit 1
else
  echo "skipped: the object-storage lake tests need radosgw, ceph-mon and ceph-osd (set EQPIPE_REQUIRE_S3=1 to make this an error)"
fi

cargo test --workspace --locked

echo "== the Python plugin SDK"
.venv/bin/python -m pytest -q plugins/sdk-python/tests

echo "== demo outputs through pyarrow, pandas, polars and DuckDB"
demo_out="target/test-demo"
demo_lake="target/test-demo-lake"
rm -rf "$demo_out" "$demo_lake"
cargo run --quiet --locked -p eqpipe -- --quiet demo --out "$demo_out" --lake "$demo_lake" >/dev/null
EQPIPE_DEMO_OUT="$demo_out" EQPIPE_DEMO_LAKE="$demo_lake" .venv/bin/python -m pytest -q tests/python
if [ -n "${EQPIPE_TEST_S3_ENDPOINT:-}" ]; then
  echo "== the demo into Ceph RGW, read back by deltalake, polars and DuckDB"
  s3_out="target/test-demo-s3"
  s3_lake="s3://$EQPIPE_TEST_S3_BUCKET/demo-$(date +%s)"
  rm -rf "$s3_out"
  # The store's standard variables, as an analyst's or a Job's environment has them.
  AWS_ACCESS_KEY_ID="$EQPIPE_TEST_S3_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$EQPIPE_TEST_S3_SECRET_ACCESS_KEY" \
    AWS_ENDPOINT="$EQPIPE_TEST_S3_ENDPOINT" AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
    cargo run --quiet --locked -p eqpipe -- --quiet demo --out "$s3_out" --lake "$s3_lake" >/dev/null 2>"$s3_out.log" || test $? = 4
  if grep -rl "$EQPIPE_TEST_S3_SECRET_ACCESS_KEY" "$s3_out" "$s3_out.log"; then
    echo "the lake's secret key is in the files above" >&2
    exit 1
  fi
  EQPIPE_DEMO_OUT="$s3_out" EQPIPE_DEMO_LAKE="$s3_lake" .venv/bin/python -m pytest -q tests/python/test_lake.py tests/python/test_notebooks.py -k lake
fi

# The report as a reader with assistive technology meets it: axe-core's
# WCAG 2.1 A and AA rules in headless Chromium on every page the demo wrote
# (maps, evidence packs, the pay gap benchmark among them). The checker is
# first shown failing on a page with known faults, so a pass means something.
echo "== the demo report through axe-core in headless Chromium"
chromium_bin="${EQPIPE_CHROMIUM:-$(command -v chromium || true)}"
if command -v npm >/dev/null 2>&1 && [ -n "$chromium_bin" ]; then
  if [ ! -d tests/a11y/node_modules/axe-core ] || [ ! -d tests/a11y/node_modules/playwright-core ]; then
    (cd tests/a11y && npm ci --silent --no-audit --no-fund)
  fi
  if node tests/a11y/axe.mjs tests/a11y/fixtures/bad "$chromium_bin" >/tmp/eqpipe-axe-bad.log 2>&1; then
    cat /tmp/eqpipe-axe-bad.log
    echo "axe-core found nothing wrong on tests/a11y/fixtures/bad, which has known faults: the check cannot be trusted" >&2
    exit 1
  fi
  node tests/a11y/axe.mjs "$demo_out/report" "$chromium_bin"
elif [ "${EQPIPE_REQUIRE_BROWSER:-0}" = 1 ]; then
  echo "EQPIPE_REQUIRE_BROWSER=1 but npm or chromium is missing: the accessibility check cannot run" >&2
  exit 1
else
  echo "skipped: needs npm and chromium (set EQPIPE_REQUIRE_BROWSER=1 to make this an error)"
fi
