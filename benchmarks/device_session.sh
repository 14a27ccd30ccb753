#!/usr/bin/env bash
# One GPU session's work (2026-11-27), run by the device tool from the repo root: the
# full-profile runs that take hours on 2 CPU cores, as parallel processes on one GPU
# (small scans and MLPs are latency-bound, so processes overlap):
#   - music, the registered full profile at 12,000 steps: one process per (cell, dataset),
#     joined afterwards by experiments.music_merge (keys depend on the names, so the
#     pieces repeat one run over all of them);
#   - music, JSB-only variants of the LSTM/GRU at 12,000 steps (exploration; valid split
#     decides);
#   - gan_mixture with tanh networks: every variant (unrolled_k10 included) on the ring
#     and the grid, one process per variant group, and the stability sweep in two
#     processes by discriminator depth (keys depend on the depth alone).
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
job() {  # name, module, flags...: one background process with the deadline
  local name=$1 module=$2; shift 2
  timeout $deadline python3 -m "experiments.$module" --workdir $runs/$name "$@" \
    > $runs/$name.log 2>&1 &
}
for cell in tanh lstm gru; do
  job music_jsb_$cell music --config.num_steps=12000 --config.cells="('$cell',)" \
    --config.data_path=$jsb --config.chorales=False
  job music_chorales_$cell music --config.num_steps=12000 --config.cells="('$cell',)"
done
job var_lstm_2layer music --config.num_steps=12000 --config.cells="('lstm',)" \
  --config.data_path=$jsb --config.chorales=False --config.num_layers=2
job var_lstm_transpose6 music --config.num_steps=12000 --config.cells="('lstm',)" \
  --config.data_path=$jsb --config.chorales=False --config.transpose_max=6
job var_gru_h384 music --config.num_steps=12000 --config.cells="('gru',)" \
  --config.data_path=$jsb --config.chorales=False --config.hidden_dim=384
nosweep=--config.stability_sweep=False
job gan_k10 gan_mixture --config.variants="('unrolled_k10',)" $nosweep
job gan_k5 gan_mixture --config.variants="('unrolled_k5',)" $nosweep
job gan_mbd gan_mixture --config.variants="('minibatch_discrimination',)" $nosweep
job gan_rest gan_mixture \
  --config.variants="('gan_minimax','gan_nonsaturating','wgan_clip','wgan_gp')" $nosweep
for depths in "(1,2)" "(3,4)"; do
  job gan_sweep_${depths:1:1} gan_mixture --config.datasets="('ring',)" \
    --config.variants="('gan_nonsaturating',)" --config.stability_disc_depths="$depths"
done
sleep 60; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv | tee -a "$out/devices.txt"
wait
echo "all done after $(( $(date +%s) - start )) s"
for f in $runs/*.log; do echo "== $f"; grep -vE "loop.py|^\s*$" $f | tail -3; done
tar -C $runs --exclude='checkpoints' --exclude='runs' --exclude='stability' --exclude='*.jsonl' \
  -czf "$out/runs.tar.gz" .
ls -la "$out"
