#!/usr/bin/env bash
# The GPU check: one prepared command, under 8 minutes on one GPU. Tests never need a GPU; this shows that the
# code does what it should on one, and how fast. Keep its output in docs/gpu.md with the date and the card.
#
#   bash scripts/gpu_check.sh [OUT_DIR]           # a machine with CUDA and the project installed
#   # the lent GPU machine (no package index there): here, once, ../shared/device/prepare.sh; then, there,
#   source .device/setup.sh && bash scripts/gpu_check.sh
#
# It runs, each with its own time limit, printing as it goes; first the timed parts, each alone on the GPU:
#   1. scripts/bench_step.py on CUDA at 32x32: a plain loop against gan-runner's step, eager in fp32 and bf16, and
#      recorded as a CUDA graph (train.cuda_graph) in fp32 and bf16 (torch.compile, slower here, is left out);
#   2. scripts/bench_fid.py: the FID (with IS, KID, precision/recall) of 50,000 generated images as a run computes
#      it, with a random-weight Inception (the time is the real network's; the score is no FID to quote);
#   3. the default digits run (metrics off, eager: a graph records one process only) under torchrun with one
#      process (NCCL) against plain gan-run, three alternating pairs: the steps per second of each (issue: within 5 %);
# then side by side (their steps are bound by Python's kernel launches, so they share the GPU with little loss):
#   4. the tests of the GPU path: steps under torch.cuda.set_sync_debug_mode("error") in fp32/bf16/fp16, a
#      conditional run resumed on CUDA, the ResNet/SAGAN/BigGAN steps, a compiled run against the eager one, a
#      graphed run against the eager one, graphed steps (lazy phases) without synchronisation, a graphed resume;
#   5. a 2,000-step SNGAN run (experiment=sngan, ResNet, n_critic 5, train.cuda_graph) in fp32 and in bf16 on
#      2,000 generated 32x32 RGB images (coloured digits), with FID against them from a random-weight Inception: a plumbing
#      check, not a FID to quote; then the fp32 run resumed for 100 more steps;
#   6. scripts/profile_step.py on SNGAN and DCGAN at 32x32, eager and graphed: where a step's time goes;
# and prints one table of the runs; last, alone again, 7. scripts/bench_packing.py: 12 small runs one after another
# and packed K = 2, 4, 8 on the GPU (study.jobs_per_gpu), as runs per hour; 8. the new architectures at 256 and
# 1024 (the papers' widths, batch 4, made-up images): scripts/bench_modconv.py's fused and unfused modulated
# convolution, then gan-run's steps per second of experiment=stylegan2 fused and unfused and of experiment=progan
# grown to full size; 9. experiment=cyclegan's steps per second at 256 (made-up unpaired images). Checkpoints and the
# made-up inputs are deleted afterwards.
# A dry run on a CPU (plumbing only): DEVICE=cpu BENCH_ITERS=3 SNGAN_STEPS=20 SNGAN_FID_N=100 DIGITS_STEPS=200 FID_N=200 \
#   SNGAN_OVERRIDES="arch.generator.width=8 arch.discriminator.width=8" ARCH_RES=16 ARCH_STEPS=12 ARCH_CHANNEL_BASE=256 \
#   bash scripts/gpu_check.sh
set -u
DEVICE=${DEVICE:-cuda} BENCH_ITERS=${BENCH_ITERS:-1000} FID_N=${FID_N:-50000} DIGITS_STEPS=${DIGITS_STEPS:-2000}
SNGAN_STEPS=${SNGAN_STEPS:-2000} SNGAN_FID_N=${SNGAN_FID_N:-5000} SNGAN_OVERRIDES=${SNGAN_OVERRIDES:-}
ARCH_RES=${ARCH_RES:-256 1024} ARCH_STEPS=${ARCH_STEPS:-40} ARCH_CHANNEL_BASE=${ARCH_CHANNEL_BASE:-32768}
GRAPH=$([ "$DEVICE" = cuda ] && echo true || echo false)  # CUDA graphs: only on CUDA
OUT=${OUT:-${1:-outputs/gpu_check}}  # the device machine sets OUT: then the files are written there
mkdir -p "$OUT"
export TORCH_HOME="$OUT/torch_home"
export PYTHONWARNINGS=ignore
started=$(date +%s)
elapsed() { echo "[$(($(date +%s) - started)) s]"; }

echo "== machine $(date -u +%Y-%m-%d)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'available', torch.cuda.is_available())"

echo "== 1. bench_step (32x32, batch 64, $DEVICE) $(elapsed)"
timeout 200 python3 scripts/bench_step.py --devices "$DEVICE" --resolution 32 --iters "$BENCH_ITERS" --warmup 30 \
  --variants fp32 bf16 graph bf16-graph 2>&1 | grep -v "^W1\|^ *warn" | tail -11

echo "== 2. FID of $FID_N generated images (random-weight Inception: the time only) $(elapsed)"
timeout 90 python3 scripts/bench_fid.py --n "$FID_N" --batch-size 50 --device "$DEVICE" 2>&1 \
  | tr '\r' '\n' | grep -v "Inception features\|singular\|not pytorch-fid\|^ *$"

echo "== 3. torchrun with one process against plain gan-run: digits, $DIGITS_STEPS steps, three pairs $(elapsed)"
# The torchrun path on a GPU (NCCL joins a group of one, LOCAL_RANK picks the GPU, process 0 writes) costs nothing.
# Three alternating pairs, no metric: one pair's rows differed by 10 % where their wall times were equal.
for pair in 1 2 3; do
  for launcher in plain torchrun; do
    prefix=""
    [ $launcher = torchrun ] && prefix="python3 -m torch.distributed.run --standalone --nproc_per_node=1 --no-python"
    timeout 60 $prefix gan-run logger=none metrics=none train.steps="$DIGITS_STEPS" train.sample_every=100000 \
      train.device="$DEVICE" train.cuda_graph=false hydra.run.dir="$OUT/digits_${launcher}_$pair" > "$OUT/digits_${launcher}_$pair.log" 2>&1
    echo "digits $launcher (pair $pair): exit $? $(elapsed)"
  done
done
python3 - "$OUT" <<'PY'
import json
import statistics
import sys
from pathlib import Path

speeds = {"plain": [], "torchrun": []}
for launcher in speeds:
    for pair in (1, 2, 3):
        rows = Path(sys.argv[1], f"digits_{launcher}_{pair}", "metrics.jsonl")
        if rows.is_file():  # the median of the rows' steps per second, the first (warm-up) left out
            values = [r["speed/steps_per_s"] for r in map(json.loads, rows.read_text().splitlines())
                      if "speed/steps_per_s" in r]
            speeds[launcher].append(statistics.median(values[1:]))
for launcher, values in speeds.items():
    print(f"digits {launcher}: {', '.join(f'{v:.0f}' for v in values)} steps/s (medians of each run's rows)")
if all(speeds.values()):
    ratio = statistics.mean(speeds["torchrun"]) / statistics.mean(speeds["plain"])
    print(f"torchrun N=1 / plain: {ratio:.3f} (target: within 5 %)")
PY

echo "== 4. tests and 5. SNGAN, side by side $(elapsed)"
python3 - "$OUT/images" "$TORCH_HOME" <<'PY'
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_digits

from gan_runner.data import to_uint8_images
from gan_runner.metrics.inception import WEIGHTS_FILE, write_random_weights

images, torch_home = Path(sys.argv[1]), Path(sys.argv[2])
images.mkdir(parents=True, exist_ok=True)
digits = torch.from_numpy(load_digits().images).float().unsqueeze(1) / 16
grey = (to_uint8_images(digits, 32, channels=1).float() / 255).numpy()
rng = np.random.default_rng(0)
for i in range(2000):  # a digit, coloured: background one random colour, strokes another
    back, ink = rng.uniform(0, 1, (2, 3, 1, 1))
    picture = (back * (1 - grey[i % len(grey)]) + ink * grey[i % len(grey)]).clip(0, 1)
    Image.fromarray((picture.transpose(1, 2, 0) * 255).round().astype(np.uint8)).save(images / f"{i:04d}.png")
write_random_weights(torch_home / "hub" / "checkpoints" / WEIGHTS_FILE)
print(f"2,000 images in {images}; random Inception weights in {torch_home}")
PY
# The tests that touch the GPU path (the whole suite runs in CI on a CPU).
(timeout 240 python3 -m pytest -q -p no:cacheprovider -rs tests/test_core.py tests/test_arch_modern.py \
  -k "cuda or synchronise or precision or fp16 or compiled or fetch or graph" > "$OUT/tests.log" 2>&1
 echo "tests: exit $? $(elapsed)") &
for precision in fp32 bf16; do
  (timeout 270 gan-run experiment=sngan dataset=image_folder dataset.root="$OUT/images" dataset.resolution=32 \
    train.steps="$SNGAN_STEPS" train.precision=$precision train.log_every=500 train.sample_every=1000 \
    train.checkpoint_every=1000 train.device="$DEVICE" train.cuda_graph="$GRAPH" metrics=fid \
    metrics.n_samples="$SNGAN_FID_N" metrics.cache_dir="$OUT/fid_cache_$precision" logger=none \
    hydra.run.dir="$OUT/sngan_$precision" $SNGAN_OVERRIDES \
    > "$OUT/sngan_$precision.log" 2>&1
   echo "sngan $precision: exit $? $(elapsed)") &
done
# Where a step's time goes (torch.profiler, scripts/profile_step.py), for the next round of speed work.
(for args in "experiment=sngan train.cuda_graph=false" "experiment=sngan train.cuda_graph=$GRAPH" \
             "experiment=dcgan train.cuda_graph=false" "experiment=dcgan train.cuda_graph=$GRAPH"; do
   timeout 90 python3 scripts/profile_step.py --top 12 $args dataset=image_folder dataset.root="$OUT/images" \
     dataset.resolution=32 train.device="$DEVICE" $SNGAN_OVERRIDES 2>&1 | grep -v "^USDT\|^ERROR\|^W1"
 done > "$OUT/profiles.txt"
 echo "profiles: done $(elapsed)") &
wait
tail -12 "$OUT/tests.log"
cp "$OUT/sngan_fp32/summary.json" "$OUT/sngan_fp32/summary_2000.json" 2>/dev/null  # the resume rewrites it
timeout 60 gan-run resume="$OUT/sngan_fp32" train.steps=$((SNGAN_STEPS + 100)) > "$OUT/sngan_fp32_resume.log" 2>&1
echo "sngan fp32 resumed for 100 more steps: exit $? $(elapsed)"

echo "== profiles (scripts/profile_step.py, side by side with the runs above)"
cat "$OUT/profiles.txt"

echo "== table $(elapsed)"
python3 - "$OUT" <<'PY'
import json
import statistics
import sys
from pathlib import Path

print("| run | status | steps | steps/s (median of the rows) | wall time (start-up, FID included) | "
      "FID (random weights) | last losses |")
print("|---|---|---:|---:|---:|---:|---|")
out = Path(sys.argv[1])
for name, run, summary in (("sngan fp32", "sngan_fp32", "summary_2000.json"), ("sngan bf16", "sngan_bf16", "summary.json"),
                           ("sngan fp32, resumed", "sngan_fp32", "summary.json")):
    path = out / run / summary
    if not path.is_file():
        print(f"| {name} | no summary | | | | | |")
        continue
    s = json.loads(path.read_text())
    rows = [json.loads(line) for line in (out / run / "metrics.jsonl").read_text().splitlines()]
    speeds = [r["speed/steps_per_s"] for r in rows if "speed/steps_per_s" in r and r["step"] <= s["step"]]
    fid = next((value for key, value in s["metrics"].items() if key.startswith("fid")), None)
    losses = ", ".join(f"{k} {v:.3f}" for k, v in s["final_losses"].items() if k.startswith("loss/"))
    print(f"| {name} | {s['status']} | {s['step']} | {statistics.median(speeds) if speeds else float('nan'):.1f} | "
          f"{s['wall_time_s']:.1f} s | {'' if fid is None else f'{fid:.2f}'} | {losses} |")
PY
echo "== 7. many small runs on one GPU: 12 digits DCGAN-32 runs, one after another and packed (last: it may be cut) $(elapsed)"
timeout 240 python3 scripts/bench_packing.py --runs 12 --steps 300 --ks 1 2 4 8 2>&1 | grep -v "^K="
echo "== 8. StyleGAN2 and progressive growing at ${ARCH_RES}: modulated convolution fused and unfused, steps per second $(elapsed)"
timeout 100 python3 scripts/bench_modconv.py --device "$DEVICE" --resolutions $ARCH_RES --batches 4 16 \
  --channel-base "$ARCH_CHANNEL_BASE" --width 512 --w-dim 512 --steps 10 --warm-up 3 2>&1 | tail -8
for res in $ARCH_RES; do
  python3 -c "import sys, numpy as np; from PIL import Image; from pathlib import Path; d = Path(sys.argv[1]); \
d.mkdir(parents=True, exist_ok=True); [Image.fromarray(np.random.default_rng(i).integers(0, 256, (int(sys.argv[2]),) * 2 + \
(3,), dtype=np.uint8)).save(d / f'{i}.png') for i in range(16)]" "$OUT/arch_images_$res" "$res"
  for run in "stylegan2 experiment=stylegan2 arch.generator.fused_modconv=true" \
             "stylegan2_unfused experiment=stylegan2 arch.generator.fused_modconv=false" \
             "progan experiment=progan game.initial_resolution=$res game.batch_sizes=null"; do
    set -- $run; name=$1; shift
    timeout 60 gan-run "$@" dataset=image_folder dataset.root="$OUT/arch_images_$res" dataset.resolution="$res" \
      train.batch_size=4 train.steps="$ARCH_STEPS" train.log_every=10 train.device="$DEVICE" metrics=none logger=none \
      health=none hydra.run.dir="$OUT/arch_${name}_$res" > "$OUT/arch_${name}_$res.log" 2>&1
    python3 -c "import json, sys, statistics; rows = [json.loads(l) for l in open(sys.argv[1])]; \
s = [r['speed/steps_per_s'] for r in rows if 'speed/steps_per_s' in r][1:]; \
print(f'{sys.argv[2]} at {sys.argv[3]}, batch 4: ' + (f'{statistics.median(s):.2f} steps/s' if s else 'no speed rows'))" \
      "$OUT/arch_${name}_$res/metrics.jsonl" "$name" "$res" 2>/dev/null || echo "$name at $res: failed (see $OUT/arch_${name}_$res.log)"
  done
done
echo "== 9. CycleGAN (experiment=cyclegan: two ResNet generators, two PatchGANs, batch 1) at 256, steps per second $(elapsed)"
python3 -c "import sys, numpy as np; from PIL import Image; from pathlib import Path; [(Path(sys.argv[1], f) \
.mkdir(parents=True, exist_ok=True), [Image.fromarray(np.random.default_rng(i + 100 * k).integers(0, 256, (286, 286, 3), \
dtype=np.uint8)).save(Path(sys.argv[1], f, f'{i}.png')) for i in range(8)]) for k, f in enumerate(['trainA', 'trainB', \
'testA', 'testB'])]" "$OUT/cycle_images"
timeout 90 gan-run experiment=cyclegan dataset.root="$OUT/cycle_images" dataset.prepared_dir="$OUT/cycle_prepared" \
  train.steps="$ARCH_STEPS" train.log_every=10 train.device="$DEVICE" metrics=none logger=none health=none \
  hydra.run.dir="$OUT/cyclegan_256" > "$OUT/cyclegan_256.log" 2>&1
python3 -c "import json, sys, statistics; rows = [json.loads(l) for l in open(sys.argv[1])]; \
s = [r['speed/steps_per_s'] for r in rows if 'speed/steps_per_s' in r][1:]; \
print('cyclegan at 256, batch 1: ' + (f'{statistics.median(s):.2f} steps/s' if s else 'no speed rows'))" \
  "$OUT/cyclegan_256/metrics.jsonl" 2>/dev/null || echo "cyclegan at 256: failed (see $OUT/cyclegan_256.log)"
find "$OUT" -name "*.pt" -delete
rm -rf "$OUT/images" "$OUT"/arch_images_* "$OUT/cycle_images" "$OUT/cycle_prepared" "$OUT/torch_home" "$OUT"/fid_cache_*
echo "== done $(elapsed)"
