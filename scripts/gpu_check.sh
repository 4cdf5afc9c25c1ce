#!/usr/bin/env bash
# The GPU check: one prepared command, under 8 minutes on one GPU. Tests never need a GPU; this shows that the
# code does what it should on one, and how fast. Keep its output in docs/gpu.md with the date and the card.
#
#   bash scripts/gpu_check.sh [OUT_DIR]           # a machine with CUDA and the project installed
#   # the lent GPU machine (no package index there): here, once, ../shared/device/prepare.sh; then, there,
#   source .device/setup.sh && bash scripts/gpu_check.sh
#
# It runs, each with its own time limit, printing as it goes:
#   1. the tests of the core, the architectures and the presets on this machine, the CUDA ones included
#      (steps under torch.cuda.set_sync_debug_mode("error"), a conditional run resumed on CUDA);
#   2. scripts/bench_step.py on CUDA at 32x32: a plain loop against gan-runner's step, fp32 / bf16 / compile;
#   3. a 2,000-step SNGAN run (+experiment=sngan, ResNet, n_critic 5) in fp32 and in bf16 on 2,000 generated
#      32x32 RGB images (coloured digits), with FID against them from a random-weight Inception: a plumbing
#      check, not a FID to quote; then the fp32 run resumed for 100 more steps;
#   4. the default digits run under torchrun with one process (NCCL) against plain gan-run: the steps per
#      second of each (issue: within 5 %);
# and prints one table of the runs at the end. Checkpoints and the made-up inputs are deleted afterwards.
set -u
OUT=${OUT:-${1:-outputs/gpu_check}}
mkdir -p "$OUT"
export TORCH_HOME="$OUT/torch_home"
export PYTHONWARNINGS=ignore
started=$(date +%s)
elapsed() { echo "[$(($(date +%s) - started)) s]"; }

echo "== machine $(date -u +%Y-%m-%d)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'available', torch.cuda.is_available())"

echo "== 1. tests $(elapsed)"
# The tests that touch the GPU path (the whole suite runs in CI on a CPU and took 145 s there on this check).
timeout 150 python3 -m pytest -q -p no:cacheprovider -rs tests/test_core.py tests/test_arch_modern.py \
  -k "cuda or synchronise or precision or fp16 or compiled or fetch" 2>&1 | tail -8

echo "== 2. bench_step (32x32, batch 64, CUDA) $(elapsed)"
timeout 200 python3 scripts/bench_step.py --devices cuda --resolution 32 --iters 300 --warmup 30 \
  --variants fp32 bf16 compile 2>&1 | tail -9

echo "== 3. SNGAN on generated images, FID from a random-weight Inception (plumbing) $(elapsed)"
python3 - "$OUT/images" "$TORCH_HOME" <<'PY'
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_digits

from gan_runner.data import to_uint8_images
from gan_runner.metrics.inception import WEIGHTS_FILE, fid_inception_structure

images, torch_home = Path(sys.argv[1]), Path(sys.argv[2])
images.mkdir(parents=True, exist_ok=True)
digits = torch.from_numpy(load_digits().images).float().unsqueeze(1) / 16
grey = (to_uint8_images(digits, 32, channels=1).float() / 255).numpy()
rng = np.random.default_rng(0)
for i in range(2000):  # a digit, coloured: background one random colour, strokes another
    back, ink = rng.uniform(0, 1, (2, 3, 1, 1))
    picture = (back * (1 - grey[i % len(grey)]) + ink * grey[i % len(grey)]).clip(0, 1)
    Image.fromarray((picture.transpose(1, 2, 0) * 255).round().astype(np.uint8)).save(images / f"{i:04d}.png")
torch.manual_seed(0)
net = fid_inception_structure()
for module in net.modules():
    if isinstance(module, torch.nn.Conv2d):  # torchvision's default initialisation makes the features vanish
        torch.nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
(torch_home / "hub" / "checkpoints").mkdir(parents=True, exist_ok=True)
torch.save(net.state_dict(), torch_home / "hub" / "checkpoints" / WEIGHTS_FILE)
print(f"2,000 images in {images}; random Inception weights in {torch_home}")
PY
# Both precisions side by side: the steps are bound by Python's kernel launches (12.5 steps/s in fp32 on an
# H100, 2026-11-26), so two processes share the GPU with little loss, and the check stays under 8 minutes.
for precision in fp32 bf16; do
  (timeout 240 gan-run +experiment=sngan dataset=image_folder dataset.root="$OUT/images" dataset.resolution=32 \
    train.steps=2000 train.precision=$precision train.log_every=500 train.sample_every=1000 \
    train.checkpoint_every=1000 metrics=fid metrics.n_samples=5000 metrics.cache_dir="$OUT/fid_cache_$precision" \
    logger=none hydra.run.dir="$OUT/sngan_$precision" > "$OUT/sngan_$precision.log" 2>&1
   echo "sngan $precision: exit $? $(elapsed)") &
done
wait
timeout 60 gan-run resume="$OUT/sngan_fp32" train.steps=2100 > "$OUT/sngan_fp32_resume.log" 2>&1
echo "sngan fp32 resumed to 2,100 steps: exit $? $(elapsed)"

echo "== 4. torchrun with one process (NCCL) against plain gan-run: digits, 3,000 steps $(elapsed)"
# The torchrun path on a GPU (NCCL joins a group of one, LOCAL_RANK picks the GPU, process 0 writes) costs nothing.
for launcher in plain torchrun; do
  prefix=""
  [ $launcher = torchrun ] && prefix="python3 -m torch.distributed.run --standalone --nproc_per_node=1 --no-python"
  timeout 100 $prefix gan-run logger=none train.steps=3000 train.sample_every=100000 \
    hydra.run.dir="$OUT/digits_$launcher" > "$OUT/digits_$launcher.log" 2>&1
  echo "digits $launcher: exit $? $(elapsed)"
done
python3 - "$OUT" <<'PY'
import json
import statistics
import sys
from pathlib import Path

speeds = {}
for launcher in ("plain", "torchrun"):
    rows = Path(sys.argv[1], f"digits_{launcher}", "metrics.jsonl")
    if rows.is_file():  # the median of the rows' steps per second, the first (warm-up) left out
        values = [r["speed/steps_per_s"] for r in map(json.loads, rows.read_text().splitlines()) if "speed/steps_per_s" in r]
        speeds[launcher] = statistics.median(values[1:])
for launcher, speed in speeds.items():
    print(f"digits {launcher}: {speed:.0f} steps/s (median of the log rows)")
if len(speeds) == 2:
    print(f"torchrun N=1 / plain: {speeds['torchrun'] / speeds['plain']:.3f} (target: within 5 %)")
PY

echo "== table $(elapsed)"
python3 - "$OUT" <<'PY'
import json
import sys
from pathlib import Path

print("| run | status | steps | wall time (start-up, FID included) | fid5k (random weights) | last losses |")
print("|---|---|---:|---:|---:|---|")
for name in ("sngan_fp32", "sngan_bf16"):
    path = Path(sys.argv[1]) / name / "summary.json"
    if not path.is_file():
        print(f"| {name} | no summary | | | | |")
        continue
    s = json.loads(path.read_text())
    fid = s["metrics"].get("fid5k_train")
    losses = ", ".join(f"{k} {v:.3f}" for k, v in s["final_losses"].items() if k.startswith("loss/"))
    print(f"| {name} | {s['status']} | {s['step']} | {s['wall_time_s']:.1f} s | "
          f"{'' if fid is None else f'{fid:.2f}'} | {losses} |")
PY
find "$OUT" -name "*.pt" -delete
rm -rf "$OUT/images" "$OUT/torch_home" "$OUT"/fid_cache_*  # inputs, not results
echo "== done $(elapsed)"
