#!/usr/bin/env bash
# One GPU session's work (2026-11-27, the second lent that day), run by the device tool
# from the repo root, everything in one call:
#   1. the two benchmarks that need the GPU to themselves: benchmarks.gan_unrolled (issue
#      4; the H200 try of an earlier session was cut after compiling) and
#      benchmarks.lstm_step (its hand-written-backward candidate had no GPU timing);
#   2. the adding problem at T = 600 (issue 5; Bai et al. 2018's length), one process per
#      cell side by side: small scans are latency-bound, so processes overlap. A 300-step
#      pilot of all three measures the steps per second they reach together; the real run
#      then takes as many steps (at most 10,000) as the time left allows. The compilation
#      cache carries the pilot's compiled steps over to the real run;
#   3. meanwhile, the RNN tests that differ on a GPU (fused backward, cuDNN, cells).
# Needs, carried: .whl (wheels the image lacks: ml_collections, tensorboardX).
# Usage there: bash benchmarks/device_session.sh "$OUT" BUDGET_SECONDS
set -uo pipefail
out=${1:-/tmp/device_out}
budget=${2:-540}
mkdir -p "$out"
start=$(date +%s)
left() { echo $((budget - ($(date +%s) - start))); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit 1
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
export JAX_COMPILATION_CACHE_DIR=/tmp/jax_cache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
python3 -c "import jax; print('jax', jax.__version__, jax.devices())" 2>&1 | tee "$out/devices.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$out/devices.txt"

# 1. Benchmarks, alone on the GPU.
timeout 110 python3 -m benchmarks.gan_unrolled --repeats 5 --steps 20 > "$out/gan_unrolled.txt" 2>&1
echo "gan_unrolled rc=$? at $(($(date +%s) - start)) s"
timeout 70 python3 -m benchmarks.lstm_step --repeats 5 --steps 20 > "$out/lstm_step.txt" 2>&1
echo "lstm_step rc=$? at $(($(date +%s) - start)) s"

# 2. T = 600.
t600() {  # cell, steps, dir
  python3 -m experiments.long_range --workdir "$3/$1" --config.lengths='(600,)' \
    --config.hidden_dim=128 --config.adding_steps="$2" --config.copy_lengths='()' \
    --config.cells="('$1',)" --config.tbptt_seeds=0 --config.sgd_seeds=0 > "$3/$1.log" 2>&1
}
mkdir -p /tmp/pilot /tmp/runs
( timeout 400 python3 -m pytest -q -p no:cacheprovider tests/test_rnn_fused.py \
    tests/test_rnn_cudnn.py tests/test_rnn_cells.py > "$out/tests_gpu.log" 2>&1
  echo "tests rc=$?" >> "$out/tests_gpu.log" ) &
pids=()
for cell in tanh lstm gru; do t600 $cell 300 /tmp/pilot & pids+=($!); done
wait "${pids[@]}"
echo "pilot done at $(($(date +%s) - start)) s"
rate=$(grep -h "step 300/300" /tmp/pilot/*.log | sed -E 's/.*\| ([0-9.]+) steps\/s.*/\1/' \
  | sort -g | head -1)
steps=$(python3 -c "print(max(500, min(10000, int(float('${rate:-0}' or 0) * ($(left) - 60) / 500) * 500)))")
echo "slowest pilot: ${rate:-?} steps/s; $(left) s left; real run: $steps steps" | tee "$out/t600_plan.txt"
grep -h "step 300/300\|seconds_adding" /tmp/pilot/*.log >> "$out/t600_plan.txt"
pids=()
for cell in tanh lstm gru; do
  timeout $(($(left) - 5)) bash -c "$(declare -f t600); t600 $cell $steps /tmp/runs" & pids+=($!)
done
sleep 30; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv >> "$out/devices.txt"
wait
echo "all done at $(($(date +%s) - start)) s"
for f in /tmp/runs/*.log; do echo "== $f"; grep -vE "^\s*$" "$f" | tail -4; done
tar -C /tmp/runs --exclude='checkpoints' -czf "$out/t600.tar.gz" .
ls -la "$out"
