"""Times `gan-eval fake=A real=B dims=D` against `python -m pytorch_fid --dims D A B` on the same folders.

    python scripts/bench_eval.py [--n 200] [--dims 64] [--batch-size 50] [--source digits|random] [--repeats 1]

The folders hold n PNGs each: with --source digits, A the first n of scikit-learn's digits at 32x32 and B
the next n (random images when 2n exceeds the 1,797 digits); with --source random, uniform noise A and
brighter noise B. Both commands run as subprocesses in the same environment (set OMP_NUM_THREADS before
calling, as for any timing here), with the same batch size; gan-eval starts from an empty statistics
cache, so it computes the real features as pytorch-fid does, and does its KID and precision/recall too.

Weights: pytorch-fid's own file when torch hub's cache holds it (or --weights PATH), else a random-weight
file (convolutions re-initialised Kaiming-normal) in a temporary TORCH_HOME: then the numbers check the
plumbing and the speed, and are no real FID. The output says which.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from gan_runner.data.digits import Digits
from gan_runner.metrics.inception import (
    WEIGHTS_FILE, WEIGHTS_SHA256_PREFIX, hub_weights_path, sha256_of, write_random_weights,
)


def write_folders(root: Path, n: int, source: str) -> tuple[Path, Path]:
    digits = Digits(resolution=32).images
    if source == "digits" and 2 * n <= len(digits):
        a, b = digits[:n], digits[n : 2 * n]
    else:
        g = torch.Generator().manual_seed(0)
        a = (torch.rand(n, 3, 32, 32, generator=g) * 200).byte()
        b = (torch.rand(n, 3, 32, 32, generator=g) * 200 + 55).byte()
    folders = root / "A", root / "B"
    for folder, images in zip(folders, (a, b)):
        folder.mkdir()
        for i, image in enumerate(images):
            Image.fromarray(image.permute(1, 2, 0).squeeze(-1).numpy()).save(folder / f"{i:05d}.png")
    return folders


def weights_home(root: Path, weights: str | None) -> tuple[str, str]:
    """(TORCH_HOME for both tools, what the weights are)."""
    home = root / "torch"
    target = home / "hub" / "checkpoints" / WEIGHTS_FILE
    target.parent.mkdir(parents=True)
    if weights is None and hub_weights_path().is_file():
        weights = str(hub_weights_path())
    if weights is not None:
        target.symlink_to(Path(weights).resolve())
    else:
        write_random_weights(target)
    real = sha256_of(target).startswith(WEIGHTS_SHA256_PREFIX)
    what = ("pytorch-fid's weights" if real else "random weights (a plumbing and speed check, not a real FID)")
    return str(home), f"{what}, SHA-256 {sha256_of(target)[:12]}"


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return seconds, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="images in each folder")
    parser.add_argument("--dims", type=int, default=64, choices=[64, 192, 768, 2048])
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--source", choices=["digits", "random"], default="digits")
    parser.add_argument("--weights", help="a weights file (default: torch hub's cache, else random weights)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each command, alternating; the mean time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        a, b = write_folders(root, args.n, args.source)
        home, weights = weights_home(root, args.weights)
        env = {**os.environ, "TORCH_HOME": home}
        gan_eval = Path(sys.executable).parent / "gan-eval"
        ours = [str(gan_eval)] if gan_eval.is_file() else [sys.executable, "-m", "gan_runner.commands.evaluate"]
        times: dict[str, list[float]] = {"gan-eval": [], "pytorch_fid": []}
        for repeat in range(args.repeats):
            out, cache = root / f"r{repeat}.json", root / f"cache{repeat}"
            seconds, _ = timed([*ours, f"fake={a}", f"real={b}", f"dims={args.dims}",
                                f"batch_size={args.batch_size}", f"cache_dir={cache}", f"out={out}"], env)
            times["gan-eval"].append(seconds)
            fid_ours = json.loads(out.read_text())["fid"]
            seconds, stdout = timed([sys.executable, "-m", "pytorch_fid", "--dims", str(args.dims),
                                     "--batch-size", str(args.batch_size), str(a), str(b)], env)
            times["pytorch_fid"].append(seconds)
            fid_theirs = float(re.search(r"FID:\s+(\S+)", stdout).group(1))

    mean = {name: sum(t) / len(t) for name, t in times.items()}
    print(f"{args.n} + {args.n} PNGs ({args.source}, 32x32), dims={args.dims}, batch size {args.batch_size}, "
          f"{weights}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"{'CUDA' if torch.cuda.is_available() else 'CPU'}, mean of {args.repeats} run(s)\n")
    print("| command | seconds | FID |\n|---|---:|---:|")
    print(f"| `gan-eval fake=A real=B dims={args.dims}` | {mean['gan-eval']:.2f} | {fid_ours:.8f} |")
    print(f"| `python -m pytorch_fid --dims {args.dims} A B` | {mean['pytorch_fid']:.2f} | {fid_theirs:.8f} |")
    print(f"\nrelative difference of the FIDs: {abs(fid_ours - fid_theirs) / abs(fid_theirs):.2e}; "
          f"gan-eval time / pytorch_fid time: {mean['gan-eval'] / mean['pytorch_fid']:.2f} "
          "(gan-eval also computes KID and precision/recall)")


if __name__ == "__main__":
    main()
