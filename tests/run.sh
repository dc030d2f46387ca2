#!/usr/bin/env bash
# The project's test command (README): Rust unit, integration and end-to-end
# tests, then the analysts' readers (pyarrow, pandas, polars, DuckDB) on the
# demo's outputs. Creates .venv with tests/python/requirements.txt if needed.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked

echo "== demo outputs through pyarrow, pandas, polars and DuckDB"
demo_out="target/test-demo"
rm -rf "$demo_out"
cargo run --quiet --locked -p eqpipe -- --quiet demo --out "$demo_out" >/dev/null
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import pyarrow, duckdb, pandas, polars, pytest, openpyxl, nbclient, ipykernel, matplotlib" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi
EQPIPE_DEMO_OUT="$demo_out" .venv/bin/python -m pytest -q tests/python
