#!/usr/bin/env bash
# The GPU check for a session lent an accelerator: the test suite, the main job
# (quick profile) and the loop benchmark on the device's JAX. Python packages the
# device image lacks travel as wheels in .whl/ (see the device tool's README).
# Usage there: bash benchmarks/device_check.sh "$OUT"
set -uo pipefail
out=${1:-/tmp/device_out}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit 1
export PYTHONUNBUFFERED=1 GENJAX_CACHE_DIR=/tmp/genjax_cache
# Several pytest workers share the GPU: no worker may grab 75% of its memory up front.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
python3 -c "import jax; print('jax', jax.__version__, jax.devices())" 2>&1 | tee "$out/devices.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$out/devices.txt"
( time python3 -m pytest -q -p no:cacheprovider -n 4 tests ) > "$out/tests.log" 2>&1
echo "tests rc=$?"; tail -5 "$out/tests.log"
( time python3 -m experiments.reproduce --workdir /tmp/reproduce --profile quick ) \
  > "$out/reproduce.log" 2>&1
echo "reproduce rc=$?"; tail -6 "$out/reproduce.log"
cp /tmp/reproduce/REPORT.md /tmp/reproduce/report.json "$out/" 2>/dev/null
python3 -m benchmarks.train_loop_overhead --repeats 5 > "$out/bench.txt" 2>&1
cat "$out/bench.txt" | tail -5
