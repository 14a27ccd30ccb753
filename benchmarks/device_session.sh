#!/usr/bin/env bash
# One GPU session's work, run by the device tool from the repo root:
#   - the cuDNN LSTM fast path against the scan (tests/test_rnn_cudnn.py, GPU tests enabled);
#   - benchmarks.lstm_step on the GPU (scan, flax, genjax cuDNN, torch cuDNN);
#   - full-profile runs in the background, side by side on the one GPU (small scans are
#     latency-bound, so they overlap): long_range, and music on the standard JSB file in
#     three settings (the report keeps the one with the best valid NLL).
# Needs, carried: .whl (wheels the image lacks), .devdata (the JSB file, the chorale cache).
# Usage there: bash benchmarks/device_session.sh "$OUT" DEADLINE_SECONDS
set -uo pipefail
out=${1:-/tmp/device_out}
deadline=${2:-500}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit 1
export PYTHONUNBUFFERED=1 GENJAX_CACHE_DIR=$PWD/.devdata/cache XLA_PYTHON_CLIENT_PREALLOCATE=false
start=$(date +%s)
python3 -c "import jax; print('jax', jax.__version__, jax.devices())" 2>&1 | tee "$out/devices.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$out/devices.txt"
runs=/tmp/runs
mkdir -p $runs
jsb=.devdata/jsb_chorales_quarter.json
timeout $deadline python3 -m experiments.long_range --workdir $runs/long_range \
  > $runs/long_range.log 2>&1 &
music() {  # name, extra flags
  local name=$1; shift
  timeout $deadline python3 -m experiments.music --workdir $runs/$name \
    --config.data_path=$jsb "$@" > $runs/$name.log 2>&1 &
}
music music_a
music music_b --config.hidden_dim=384 --config.input_dropout=0.3
music music_c --config.transpose_max=0
python3 -m pytest -q -p no:cacheprovider tests/test_rnn_cudnn.py tests/test_music.py \
  > "$out/tests.log" 2>&1
echo "tests rc=$?"; tail -3 "$out/tests.log"
timeout 240 python3 -m benchmarks.lstm_step --repeats 5 --steps 20 > $runs/lstm_bench.txt 2>&1
echo "bench rc=$?"; tail -25 $runs/lstm_bench.txt
wait
echo "all done after $(( $(date +%s) - start )) s"
for f in $runs/*.log; do echo "== $f"; grep -vE "loop.py" $f | tail -4; done
tar -C $runs --exclude='checkpoints' --exclude='*.jsonl' -czf "$out/runs.tar.gz" .
ls -la "$out"
