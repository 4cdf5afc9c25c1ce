"""Peak host memory (RSS) of FID.__call__, the training loop's FID path, for n generated 3 x 128 x 128 images.

    PYTHONPATH=. OMP_NUM_THREADS=1 python scripts/bench_fid_memory.py [--n 5000 20000] [--dims 64] [--json FILE]

(PYTHONPATH names the checkout to measure: without it, Python imports the installed gan_runner. The output
says which files it measured.)

Each n is measured in a fresh subprocess (this script with --child), so that one measurement's peak never
hides in another's. The child builds everything first (a tiny generator, a random-weight Inception, the real
images' reference statistics), then resets the kernel's peak-RSS counter (`echo 5 > /proc/self/clear_refs`)
and calls the metric as the training loop does, `metric(sample, dataset)`; the peak is VmHWM of
/proc/self/status afterwards. ru_maxrss (the process's whole life, imports and set-up included) is printed
too. What grows with n: the generated images when they are held all at once (n x 3 x 128 x 128 float32, 197
KB an image), or only the features (n x dims float32) when they stream.

- The generator: z (64-d) -> a linear layer to 3 x 8 x 8 -> bilinear upsampling to 128 x 128 -> tanh; it
  costs next to nothing, so the time is Inception's and the memory the pipeline's.
- The sampler: the training loop's, as each version builds it: sample.draw_batches(G, 64, n, seed=2) where
  the measured code has it (n -> batches of 500), else sample.draw(G, 64, n, seed=2) (n -> one tensor).
- The network: pytorch-fid's Inception structure with random weights (convolutions re-initialised
  Kaiming-normal, as tests/test_fid.py makes its file) in a temporary TORCH_HOME, at --dims (64 by default:
  the first block, about 0.025 s an image on one CPU thread, where dims=2048 takes about 0.18 s). Nothing is
  substituted for it: the real forward pass runs, only its weights are random, so the scores are no FID
  anyone should quote.
- The reference: 256 random real images at 128 x 128 (reference=train), their statistics and features
  computed before the reset; KID and precision/recall are on, as by default.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

Z_DIM, RESOLUTION, REAL_IMAGES = 64, 128, 256


class TinyGenerator(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(Z_DIM, 3 * 8 * 8)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        coarse = self.linear(z).view(-1, 3, 8, 8)
        return torch.nn.functional.interpolate(coarse, size=RESOLUTION, mode="bilinear").tanh()


class RealImages:
    """The reference=train dataset FID asks for: uint8 images and their shape."""

    shape = (3, RESOLUTION, RESOLUTION)

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(1)
        self.images = (torch.rand(REAL_IMAGES, *self.shape, generator=g) * 255).to(torch.uint8)


def write_random_weights(torch_home: Path) -> None:
    from gan_runner.metrics.inception import WEIGHTS_FILE, write_random_weights as write

    write(torch_home / "hub" / "checkpoints" / WEIGHTS_FILE)


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(n: int, dims: int, cache_dir: str) -> dict:
    """One measurement, in this (fresh) process."""
    import gan_runner
    from gan_runner.commands import sample as sampling
    from gan_runner.metrics.fid import FID

    torch.manual_seed(0)
    generator = TinyGenerator().eval()
    if hasattr(sampling, "draw_batches"):
        sampler = "draw_batches(G, 64, n, seed=2): batches of 500"

        def sample(count: int):
            return sampling.draw_batches(generator, Z_DIM, count, seed=2)
    else:
        sampler = "draw(G, 64, n, seed=2): all n at once"

        def sample(count: int):
            return sampling.draw(generator, Z_DIM, count, seed=2)

    dataset = RealImages()
    metric = FID(n_samples=n, reference="train", dims=dims, batch_size=50, cache_dir=cache_dir, device="cpu")
    metric.check(dataset)
    metric.reference_statistics(dataset)
    metric.network()
    before_kb = status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS: the peak of what follows
    started = time.time()
    scores = metric(sample, dataset)
    return {
        "n": n, "dims": dims, "code": str(Path(gan_runner.__file__).parent), "sampler": sampler,
        "rss_before_call_mb": before_kb / 1024, "peak_rss_during_call_mb": status_kb("VmHWM") / 1024,
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "seconds": round(time.time() - started, 1), "fid": scores[metric.names()["fid"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[5000, 20000], help="generated images, one child each")
    parser.add_argument("--dims", type=int, default=64, help="Inception feature block (64, 192, 768, 2048)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.dims, args.cache_dir)))
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_fid_memory_") as root:
        write_random_weights(Path(root) / "torch")
        environment = {**os.environ, "TORCH_HOME": str(Path(root) / "torch")}
        print(f"random-weight Inception (Kaiming-normal convolutions), dims={args.dims}; generator 3 x {RESOLUTION} "
              f"x {RESOLUTION}; {REAL_IMAGES} real images; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
        for n in args.n:
            cache = Path(root) / f"cache_{n}"  # each child computes its reference alike, before the reset
            command = [sys.executable, __file__, "--child", str(n), "--dims", str(args.dims), "--cache-dir", str(cache)]
            done = subprocess.run(command, env=environment, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"n={n}: the child failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(result)
            print(f"n={n:6d}  peak RSS during FID.__call__ {result['peak_rss_during_call_mb']:8.0f} MB "
                  f"(RSS before it {result['rss_before_call_mb']:.0f} MB; process ru_maxrss "
                  f"{result['ru_maxrss_mb']:.0f} MB)  {result['seconds']:.0f} s  fid {result['fid']:.4g}", flush=True)
        print(f"code measured: {results[0]['code']}; sampler: {results[0]['sampler']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
