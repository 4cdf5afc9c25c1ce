"""How long a resumed run takes to reach its place in the data order.

    python scripts/bench_resume.py [--d-steps 250000] [--resolution 128] [--batch-size 64] [--replay]

A resumed run continues the seeded data order at batch `d_steps` (the discriminator steps done). It skips
whole epochs by drawing their permutations only and builds no image before its own first batch; earlier
versions replayed every past batch (indexing and converting each to floats). Prints the time to the first
batch by skipping, and with --replay also by replaying (as before; minutes at these sizes), and checks that
both give the same batch. The digits are upsampled to --resolution so that batches cost what 128x128 ones do.
"""

from __future__ import annotations

import argparse
import time

import torch

from gan_runner.data.digits import Digits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--d-steps", type=int, default=250_000)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--replay", action="store_true", help="also time replaying every batch (slow)")
    args = parser.parse_args()
    dataset = Digits(args.resolution)
    print(f"digits at {args.resolution}x{args.resolution}, batch {args.batch_size}, resuming at D step {args.d_steps}")

    started = time.perf_counter()
    skipped, _ = next(dataset.batches(args.batch_size, torch.Generator().manual_seed(0), start=args.d_steps))
    print(f"skip (this version): first batch after {time.perf_counter() - started:.2f} s")
    if args.replay:
        started = time.perf_counter()
        batches = dataset.batches(args.batch_size, torch.Generator().manual_seed(0))
        for _ in range(args.d_steps):
            next(batches)
        replayed, _ = next(batches)
        print(f"replay (earlier versions): first batch after {time.perf_counter() - started:.2f} s; "
              f"same batch: {torch.equal(skipped, replayed)}")


if __name__ == "__main__":
    main()
