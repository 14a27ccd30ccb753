#!/usr/bin/env bash
# The GPU check: the test suite, the main job (quick profile) and the benchmarks on the
# accelerator JAX finds, each one's output in its own file under OUT_DIR.
#
#   bash benchmarks/device_check.sh OUT_DIR
#
# Run it from the repository root. $PYTHON (default python3) needs a GPU build of JAX and
# the `test` extra (PyTorch, the `bench` extra, is optional: without it the benchmarks
# skip their PyTorch peers). When WHEELS names a folder of wheels, they are installed
# first into a temporary folder put on PYTHONPATH: for a machine whose Python lacks some
# of the dependencies and has no network. $STEP_TIMEOUT (seconds, default 1800) bounds
# each step. Exits 2 when JAX finds no GPU; otherwise 1 when any step fails, else 0.
# Written: OUT_DIR/devices.txt (JAX, devices, GPU), tests.log, reproduce.log with the
# main job's REPORT.md and report.json, benchmarks.log with the benchmarks' JSON records
# and reports under OUT_DIR/bench/ (`python -m benchmarks.run_all`), summary.txt.
set -uo pipefail
if [[ $# -ne 1 ]]; then
  echo "usage: bash benchmarks/device_check.sh OUT_DIR" >&2
  exit 64
fi
out=$1
py=${PYTHON:-python3}
limit=${STEP_TIMEOUT:-1800}
mkdir -p "$out" || exit 1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

if [[ -n "${WHEELS:-}" ]]; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$scratch/site" "$WHEELS"/*.whl || exit 1
  export PYTHONPATH="$scratch/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
# A fresh data cache unless GENJAX_CACHE_DIR names one.
export PYTHONUNBUFFERED=1 GENJAX_CACHE_DIR="${GENJAX_CACHE_DIR:-$scratch/genjax_cache}"
# Several pytest workers share the GPU: none may take most of its memory up front.
export XLA_PYTHON_CLIENT_PREALLOCATE=false

"$py" -c "import jax; print('jax', jax.__version__, jax.devices())" > "$out/devices.txt" 2>&1
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$out/devices.txt"
fi
cat "$out/devices.txt"
if ! "$py" -c "import jax, sys; sys.exit(not jax.devices('gpu'))" > /dev/null 2>&1; then
  echo "JAX finds no GPU: nothing to check" | tee "$out/summary.txt"
  exit 2
fi

failed=0
step() {  # name, log file, command...
  local name=$1 log=$2 start=$SECONDS rc
  shift 2
  timeout "$limit" "$@" > "$log" 2>&1
  rc=$?
  echo "$name: rc=$rc, $((SECONDS - start)) s" | tee -a "$out/summary.txt"
  tail -5 "$log"
  [[ $rc -eq 0 ]] || failed=1
}

: > "$out/summary.txt"
step tests "$out/tests.log" "$py" -m pytest -q -p no:cacheprovider -n 4 tests
step reproduce "$out/reproduce.log" \
  "$py" -m experiments.reproduce --workdir "$scratch/reproduce" --profile quick
cp "$scratch/reproduce/REPORT.md" "$scratch/reproduce/report.json" "$out/" 2> /dev/null
step benchmarks "$out/benchmarks.log" \
  "$py" -m benchmarks.run_all --out "$out/bench" --repeats 5
exit "$failed"
