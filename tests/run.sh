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
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import pyarrow, duckdb, pandas, polars, pytest, openpyxl, nbclient, ipykernel, matplotlib, geopandas" 2>/dev/null; then
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

cargo test --workspace --locked

echo "== the Python plugin SDK"
.venv/bin/python -m pytest -q plugins/sdk-python/tests

echo "== demo outputs through pyarrow, pandas, polars and DuckDB"
demo_out="target/test-demo"
rm -rf "$demo_out"
cargo run --quiet --locked -p eqpipe -- --quiet demo --out "$demo_out" >/dev/null
EQPIPE_DEMO_OUT="$demo_out" .venv/bin/python -m pytest -q tests/python
