#!/usr/bin/env bash
# The bench on the lent 16-core machine (../shared/DEVICE.md), in one go: its time is short.
#
#   benchmarks/device.sh prepare   # here: the wheels it lacks, pinned to .venv's versions, in .whl/
#   benchmarks/device.sh run       # there (run tool, carry [".whl"]): make train at 1M on all its
#                                  # cores and the hand-written feature query; RESULTS.json to $OUT
#   python benchmarks/run.py --merge <files_at>/RESULTS.json   # here: a row per machine
set -euo pipefail
cd "$(dirname "$0")/.."

# what the 16-core machine's Python 3.12 lacks (it has numpy, pandas, scikit-learn, scipy, pyarrow)
WHEELS="duckdb mlflow mlflow-skinny mlflow-tracing alembic sqlalchemy mako hydra-core omegaconf
  hydra-joblib-launcher fast_hdbscan fastcluster databricks-sdk google-auth pyasn1 pyasn1-modules
  cachetools fastapi starlette pydantic pydantic-core annotated-types typing-inspection uvicorn
  opentelemetry-api opentelemetry-proto opentelemetry-sdk opentelemetry-semantic-conventions
  importlib-metadata gitpython gitdb smmap sqlparse python-dotenv cryptography cffi pycparser"

prepare() {
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
  mkdir -p .whl
  for p in $WHEELS; do
    v=$(.venv/bin/python -c "from importlib.metadata import version; print(version('$p'))")
    .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
      --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$p==$v"
  done
  .venv/bin/python -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3  # sdist only
  du -sh .whl
}

run() {
  site=$(mktemp -d)
  python3 -m pip install -q --no-index --no-deps --target "$site" .whl/*.whl
  export PYTHONPATH="$site:$PWD/src:$PWD" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
  # the data first, or the first measurement's time includes generating it
  python3 -c "from benchmarks.datasets import bench_dataset as b; b(1000000, 'data/bench')"
  python3 benchmarks/run.py --stages features_duckdb,train --sizes 1000000 --timeout 200
  cp benchmarks/RESULTS.json "${OUT:?the run tool sets OUT}/RESULTS.json"
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: $0 prepare|run (see the comment at the top)" >&2; exit 2 ;;
esac
