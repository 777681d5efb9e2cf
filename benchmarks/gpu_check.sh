#!/usr/bin/env bash
# Everything GPU-related in one go, on one GPU in under 5 minutes: bench at batch 64 / 512 / 2048 against the
# canonical loop (images/s, ratio, share of the bf16 peak; batch 512 with torch.compile), a short CUDA training
# of digits to a checkpoint and `sample` from it, the app's engine objects (Trainer pause/resume/stop, Sampler
# seeds/directions/interpolation) on CUDA, a 1-process NCCL torchrun run, the GAN step (every loss) and the
# VAE step (when gan_demo/families/vae.py exists) on CUDA, 100 ring8 runs stacked in one run pool against a solo run,
# and 16 digits DCGANs (fp32) stacked in one run pool against a solo run (fp32 and bf16 autocast).
#
# Each check runs in its own process under its own timeout; one failing does not stop the others. Results:
# OUT/<check>.json and OUT/summary.json (pass/fail and figures per check), and a table on stdout.
#
#   bash benchmarks/gpu_check.sh                          # on the GPU machine (its python3 has torch)
#   GPU_CHECK_DEVICE=cpu bash benchmarks/gpu_check.sh     # the same checks, tiny, on a CPU (gloo for torchrun)
#
# Settings (environment): GPU_CHECK_DEVICE cuda|cpu (default cuda), GPU_CHECK_OUT (default runs/gpu_check),
# GPU_CHECK_NPROC (torchrun processes, default 1), PYTHON (default python3).
# Needs torch, torchvision, numpy, pillow, safetensors, scikit-learn, tqdm; no gradio, no network.
set -u
cd "$(dirname "$0")/.." || exit 2
PYTHON="${PYTHON:-python3}"
DEVICE="${GPU_CHECK_DEVICE:-cuda}"
OUT="${GPU_CHECK_OUT:-runs/gpu_check}"
NPROC="${GPU_CHECK_NPROC:-1}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$OUT" && rm -f "$OUT"/*.json

# check name and its time limit in seconds (sized for an H200; the CPU variant needs far less)
CHECKS="env:60 bench_64:240 bench_512:240 bench_2048:180 bench_512_compile:240 train_sample:240 engine:180 torchrun:240 gan_step:240 vae_step:120 pool:240 pool_images:240"
start=$(date +%s)
for entry in $CHECKS; do
    name="${entry%%:*}" limit="${entry##*:}"
    echo "== $name (limit ${limit}s)" >&2
    timeout --kill-after=10 "$limit" "$PYTHON" benchmarks/gpu_check.py "$name" --device "$DEVICE" --out "$OUT" \
        --nproc "$NPROC" >"$OUT/$name.log" 2>&1
    rc=$?
    [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && echo "   $name: killed after ${limit}s" >&2
    [ -f "$OUT/$name.json" ] || echo "   $name: no result, see $OUT/$name.log" >&2
done
echo "== all checks: $(( $(date +%s) - start ))s on $DEVICE" >&2
"$PYTHON" benchmarks/gpu_check.py summary --device "$DEVICE" --out "$OUT"
